package vm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/qmp"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// mirrorJob is the copy of one disk of a running VM.
type mirrorJob struct {
	dp     diskPlan
	volid  string
	node   string // the target's node in the source's QEMU
	id     string // the block job id
	sub    <-chan qmp.Event
	cancel func()
	drive  *vmconf.Drive
	active bool
}

// mirrorDisks copies the disks of a running VM into new volumes through
// its QEMU: each new volume is opened as a block node and a mirror job
// fills it while the guest keeps writing. Once every job is in sync the
// guest's file systems are frozen (when its agent is turned on), the
// jobs are cancelled (which for a mirror in sync leaves the target
// complete as of that moment, without switching the guest over), and
// the guest thaws. record is called for each finished disk.
func (s *Service) mirrorDisks(ctx context.Context, p *clonePlan, record func(key string, d *vmconf.Drive) error, log api.TaskLog) (err error) {
	pr, err := s.watch(ctx, p.src)
	if err != nil {
		return err
	}
	if pr == nil {
		return errNotRunning(p.src)
	}
	q := pr.qmp
	var jobs []*mirrorJob
	defer func() {
		cleanup := context.WithoutCancel(ctx)
		for _, j := range jobs {
			if err != nil && j.active {
				_ = q.Execute(cleanup, "block-job-cancel", map[string]any{"device": j.id, "force": true}, nil)
				wctx, cancel := context.WithTimeout(cleanup, 30*time.Second)
				_ = q.WaitJob(wctx, j.sub, j.id)
				cancel()
			}
			j.cancel()
			if j.node != "" {
				if derr := q.BlockdevDel(cleanup, j.node); derr != nil {
					log.Warnf("%s: closing the copy in QEMU: %v", j.dp.key, derr)
				}
			}
		}
	}()
	for _, dp := range p.disks {
		if dp.kind != diskCopy {
			continue
		}
		j, err := s.startMirror(ctx, q, p, dp, record, log)
		if j != nil {
			jobs = append(jobs, j)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", dp.key, err)
		}
	}
	for _, j := range jobs {
		if err := q.WaitJobStatus(ctx, j.sub, j.id, "ready"); err != nil {
			j.active = false
			return fmt.Errorf("%s: copying: %w", j.dp.key, err)
		}
		log.Printf("%s: copy in sync", j.dp.key)
	}
	thaw := s.freezeForClone(ctx, p, log)
	var jobErr error
	for _, j := range jobs {
		// Without force, cancelling a mirror in sync ends it cleanly with
		// the target complete and the guest left on its own disk.
		if err := q.Execute(ctx, "block-job-cancel", map[string]any{"device": j.id}, nil); err != nil {
			jobErr = fmt.Errorf("%s: finishing the copy: %w", j.dp.key, err)
			break
		}
	}
	if jobErr == nil {
		for _, j := range jobs {
			err := q.WaitJob(ctx, j.sub, j.id)
			j.active = false
			if err != nil && !errors.Is(err, qmp.ErrJobCancelled) {
				jobErr = fmt.Errorf("%s: finishing the copy: %w", j.dp.key, err)
				break
			}
		}
	}
	thaw()
	if jobErr != nil {
		return jobErr
	}
	return nil
}

// startMirror allocates the target of one disk, opens it in QEMU and
// starts its mirror job. The returned job is set as soon as there is
// something to clean up.
func (s *Service) startMirror(ctx context.Context, q *qmp.Client, p *clonePlan, dp diskPlan, record func(string, *vmconf.Drive) error, log api.TaskLog) (*mirrorJob, error) {
	size, err := mirrorSize(ctx, q, dp)
	if err != nil {
		return nil, err
	}
	st, volname, err := s.allocClone(ctx, p.dst, dp, "", size)
	if err != nil {
		return nil, err
	}
	volid := dp.target + ":" + volname
	nd := newDrive(dp, volid, st, dp.format)
	if !nd.Size.Set {
		nd.Size = vmconf.Opt[int64]{V: size, Set: true}
	}
	// Recorded before the copy so that a failure removes it with the rest.
	if err := record(dp.key, nd); err != nil {
		return nil, err
	}
	a, err := st.Attach(ctx, volname, "")
	if err != nil {
		return nil, err
	}
	j := &mirrorJob{dp: dp, volid: volid, drive: nd, cancel: func() {},
		node: fmt.Sprintf("clone%d-%s", p.dst, dp.key), id: fmt.Sprintf("clone%d-%s", p.dst, dp.key)}
	if err := q.BlockdevAdd(ctx, map[string]any{"driver": dp.format, "node-name": j.node, "file": a.Blockdev}); err != nil {
		j.node = ""
		return j, fmt.Errorf("opening %s in QEMU: %w", volid, err)
	}
	j.sub, j.cancel = q.SubscribeJob(j.id)
	var speed int64
	if p.bwlimit > 0 {
		speed = int64(p.bwlimit * 1024)
	}
	log.Printf("%s: copying %s of the running VM to %s (%s, %s)", dp.key, dp.src.ID, volid, dp.format, vmconf.FormatSize(size))
	err = q.BlockdevMirror(ctx, qmp.MirrorOptions{JobID: j.id, Device: liveTop(ctx, q, dp.key), Target: j.node, Sync: "full", Speed: speed})
	if err != nil {
		return j, fmt.Errorf("starting the copy: %w", err)
	}
	j.active = true
	return j, nil
}

// freezeForClone freezes the guest's file systems through its agent, so
// the copies hold a consistent state of them, and returns the thaw.
// Without a turned-on, answering agent the copies are crash-consistent.
func (s *Service) freezeForClone(ctx context.Context, p *clonePlan, log api.TaskLog) func() {
	cf, err := s.load(p.src)
	if err != nil {
		return func() {}
	}
	a, err := vmconf.ParseAgent(cf.Main().Value("agent"))
	if err != nil || !a.Enabled {
		return func() {}
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ag := s.agentClient(p.src)
	if _, err := ag.FSFreezeFreeze(fctx); err != nil {
		log.Warnf("the guest agent did not freeze the file systems (%v); the copy is crash-consistent", err)
		return func() {}
	}
	return func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := ag.FSFreezeThaw(tctx); err != nil {
			log.Warnf("thawing the guest's file systems: %v", err)
		}
	}
}

// mirrorSize is the size of a running VM's disk as its QEMU sees it: the
// image is locked by QEMU, so tools cannot read it from outside.
func mirrorSize(ctx context.Context, q *qmp.Client, dp diskPlan) (int64, error) {
	nodes, err := q.QueryNamedBlockNodes(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the size of %s: %w", dp.src.ID, err)
	}
	for _, n := range nodes {
		if n.NodeName == liveTop(ctx, q, dp.key) && n.Image.VirtualSize > 0 {
			return n.Image.VirtualSize, nil
		}
	}
	if dp.drive.Size.Set && dp.drive.Size.V > 0 {
		return dp.drive.Size.V, nil
	}
	return 0, fmt.Errorf("QEMU does not know the size of %s (node %s)", dp.src.ID, liveTop(ctx, q, dp.key))
}
