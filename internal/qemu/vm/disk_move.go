package vm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
	"github.com/hearth-virt/hearth/internal/qemu/qmp"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// movePlan is a checked move of one disk to another storage or format.
type movePlan struct {
	key     string
	drive   *vmconf.Drive // nil for an unusedN entry
	src     *volume
	size    int64 // bytes of the new volume
	target  string
	st      storage.Storage
	format  string
	del     bool
	kibps   float64 // bandwidth limit, 0 for none
	running bool    // the disk is copied by the running QEMU
}

func (s *Service) moveDiskTask(ctx context.Context, c *api.Call, in *api.VMMoveDiskParams) (api.Task, error) {
	if (in.TargetVMID != 0 && in.TargetVMID != in.VMID) || in.TargetDisk != "" || in.TargetDigest != "" {
		return api.Task{}, api.ParamError("target-vmid", "moving a disk to another VM or to another drive key is not supported yet; give a storage")
	}
	if in.Storage == "" {
		return api.Task{}, api.ParamError("storage", "give the storage to move the disk to")
	}
	cf, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.planMove(ctx, c, cf, in); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmmove", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.moveDisk(ctx, c, in, log)
	}), nil
}

// planMove checks a move against the configuration and picks the
// format and the size of the new volume. Like planResize it runs for
// the call and again in the task.
func (s *Service) planMove(ctx context.Context, c *api.Call, cf *conf, in *api.VMMoveDiskParams) (*movePlan, error) {
	if err := checkLock(cf, false); err != nil {
		return nil, err
	}
	if err := checkDigest(cf, in.Digest); err != nil {
		return nil, err
	}
	value, ok := cf.Main().Get(in.Disk)
	if !ok {
		return nil, errNoDisk(in.Disk)
	}
	if _, pending := cf.File.Pending.Get(in.Disk); pending {
		return nil, api.Errorf(http.StatusInternalServerError, "%s has a pending change; apply it (restart the VM) or revert it first", in.Disk)
	}
	if marked, _ := cf.File.IsPendingDelete(in.Disk); marked {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is pending removal; apply or revert that first", in.Disk)
	}
	p := &movePlan{key: in.Disk, target: in.Storage, del: in.Delete}
	file := value
	if vmconf.IsDriveKey(in.Disk) {
		d, err := vmconf.ParseDrive(in.Disk, value)
		if err != nil {
			return nil, api.ParamError("disk", "%v", err)
		}
		if d.IsCDROM() {
			return nil, api.Errorf(http.StatusInternalServerError, "you can't move a cdrom")
		}
		p.drive, file = d, d.File
	}
	if isPath(file) {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is the host path %s, not a storage volume; it cannot be moved", in.Disk, file)
	}
	src, err := s.openVolume(ctx, file)
	if err != nil {
		return nil, err
	}
	p.src = src
	if src.vol.IsBase {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is a template's base volume; linked clones depend on it staying where it is", file)
	}
	if in.Delete && inSnapshots(cf.File, file) {
		return nil, api.Errorf(http.StatusInternalServerError, "you can't move a disk with snapshots and delete the source")
	}
	if err := s.moveTarget(ctx, p, in.Format); err != nil {
		return nil, err
	}
	if src.Storage == p.target && p.format == src.vol.Format {
		return nil, api.Errorf(http.StatusInternalServerError, "you can't move to the same storage with same format")
	}
	if err := checkAllocate(c, p.target); err != nil {
		return nil, err
	}
	p.kibps = s.bandwidthLimit(ctx, c, "move", in.BWLimit, src.Storage, p.target)
	_, running := s.paths(cf.VMID).running()
	p.running = running && p.drive != nil
	if p.running {
		if in.Disk == "efidisk0" || in.Disk == "tpmstate0" {
			return nil, api.Errorf(http.StatusInternalServerError, "%s cannot be moved while the VM runs; stop it first", in.Disk)
		}
		pr, err := s.watch(ctx, cf.VMID)
		if err != nil || pr == nil {
			return nil, fmt.Errorf("VM %d: cannot reach QEMU: %v", cf.VMID, err)
		}
		ld, err := findLiveDrive(ctx, pr.qmp, in.Disk)
		if err != nil {
			return nil, err
		}
		p.size = ld.size
	} else {
		info, err := src.st.Volume(ctx, src.Name)
		if err != nil {
			return nil, err
		}
		p.size = info.Size
	}
	if p.size <= 0 && p.drive != nil && p.drive.Size.Set {
		p.size = p.drive.Size.V
	}
	if p.size <= 0 {
		return nil, api.Errorf(http.StatusInternalServerError, "cannot read the size of %s", file)
	}
	return p, nil
}

// moveTarget opens the target storage and picks the format: the one
// asked for, else the current one when the storage holds it, else the
// storage's default.
func (s *Service) moveTarget(ctx context.Context, p *movePlan, asked string) error {
	cfg, st, err := s.o.Storage.Open(ctx, p.target)
	if err != nil {
		return api.ParamError("storage", "%v", err)
	}
	if !cfg.Holds(storage.Images) {
		return api.ParamError("storage", "storage '%s' does not hold VM disk images (content images)", p.target)
	}
	plugin, ok := s.o.Storage.Plugin(cfg.Type)
	if !ok {
		return api.ParamError("storage", "storage '%s' has the unknown type %s", p.target, cfg.Type)
	}
	formats := plugin.Info().Formats
	format, ok := cloneFormat(p.key, asked, p.src.vol.Format, formats, s.defaultFormat(cfg))
	if !ok {
		return api.ParamError("format", "storage '%s' cannot hold %s images; it takes %s", p.target, format, strings.Join(formats, ", "))
	}
	p.st, p.format = st, format
	return nil
}

// moveDisk moves a disk under the VM's lock: a new volume is allocated
// on the target, filled (by qemu-img, or by the running QEMU, which
// switches the guest to it), the configuration points at it, and the
// old volume is removed or kept as unusedN.
func (s *Service) moveDisk(ctx context.Context, c *api.Call, in *api.VMMoveDiskParams, log api.TaskLog) (err error) {
	unlock := s.lock(in.VMID)
	defer unlock()
	cf, err := s.load(in.VMID)
	if err != nil {
		return err
	}
	p, err := s.planMove(ctx, c, cf, in)
	if err != nil {
		return err
	}
	volname, err := p.st.Alloc(ctx, in.VMID, "", p.format, p.size)
	if err != nil {
		return fmt.Errorf("%s: allocating %s on '%s': %w", in.Disk, vmconf.FormatSize(p.size), p.target, err)
	}
	volid := p.target + ":" + volname
	inUse := false
	defer func() {
		if err != nil && !inUse {
			if ferr := p.st.Free(context.WithoutCancel(ctx), volname); ferr != nil {
				log.Warnf("removing %s: %v", volid, ferr)
			}
		}
	}()
	log.Printf("moving %s from %s to %s (%s, %s)", in.Disk, p.src.ID, volid, p.format, vmconf.FormatSize(p.size))
	var oldNodes []string
	if p.running {
		if oldNodes, err = s.mirrorInto(ctx, cf, p, volid, log); err != nil {
			return err
		}
		// The guest writes to the new volume now: whatever happens
		// next, it must not be removed.
		inUse = true
	} else if err = s.copyVolume(ctx, p, volname, log); err != nil {
		return fmt.Errorf("%s: copying: %w", in.Disk, err)
	}
	if err = s.switchDisk(context.WithoutCancel(ctx), cf, p, volid); err != nil {
		if p.running {
			log.Warnf("the VM uses %s now, but the configuration could not be updated", volid)
		}
		return err
	}
	inUse = true
	keep := !p.del
	if p.running {
		// The old volume can only go once QEMU has let go of it.
		if derr := s.closeOldNodes(ctx, in.VMID, oldNodes); derr != nil {
			log.Warnf("%v", derr)
			if p.del {
				keep = true
				addUnused(cf.Main(), p.src.ID)
				if err := s.save(context.WithoutCancel(ctx), cf); err != nil {
					log.Warnf("recording %s as unused: %v", p.src.ID, err)
				}
			}
		}
	}
	switch {
	case keep && inSnapshots(cf.File, p.src.ID):
		log.Printf("the old volume %s stays for the snapshots that use it", p.src.ID)
	case keep:
		log.Printf("the old volume %s is kept as an unused disk", p.src.ID)
	default:
		if ferr := p.src.st.Free(context.WithoutCancel(ctx), p.src.Name); ferr != nil {
			log.Warnf("removing the old volume %s: %v", p.src.ID, ferr)
		} else {
			log.Printf("removed the old volume %s", p.src.ID)
		}
	}
	log.Printf("%s moved to %s", in.Disk, volid)
	return nil
}

// closeOldNodes closes the block nodes a live move replaced.
func (s *Service) closeOldNodes(ctx context.Context, vmid int, nodes []string) error {
	ctx = context.WithoutCancel(ctx)
	pr, err := s.watch(ctx, vmid)
	if err != nil || pr == nil {
		return fmt.Errorf("closing the old volume in QEMU: the VM is not reachable (%v)", err)
	}
	return dropNodes(ctx, pr.qmp, nodes...)
}

// copyVolume copies the source of a stopped VM's disk into the new
// volume with qemu-img, over the protocol nodes of both volumes so that
// it works alike on every storage type.
func (s *Service) copyVolume(ctx context.Context, p *movePlan, volname string, log api.TaskLog) error {
	sa, err := p.src.st.Attach(ctx, p.src.Name, "")
	if err != nil {
		return err
	}
	da, err := p.st.Attach(ctx, volname, "")
	if err != nil {
		return err
	}
	da.Format = p.format
	args := []string{"convert", "-p", "-n", "-O", p.format}
	if p.kibps > 0 {
		args = append(args, "-r", strconv.FormatInt(int64(p.kibps*1024), 10))
	}
	args = append(args, imageSpec(sa), imageSpec(da))
	_, err = s.o.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: args, Stdout: &progressWriter{log: log}})
	return err
}

// switchDisk points the configuration at the new volume and keeps the
// old one as unusedN, unless it goes away or snapshots still use it.
func (s *Service) switchDisk(ctx context.Context, cf *conf, p *movePlan, volid string) error {
	value := volid
	if p.drive != nil {
		nd := *p.drive
		nd.File = volid
		if _, isFile := p.st.(storage.FileStore); isFile || (p.format == "raw" && p.drive.Format == "") {
			// File storages carry the format in the volume name.
			nd.Format = ""
		} else {
			nd.Format = p.format
		}
		value = nd.String()
	}
	if err := cf.Main().Set(p.key, value); err != nil {
		return err
	}
	if !p.del && !inSnapshots(cf.File, p.src.ID) {
		addUnused(cf.Main(), p.src.ID)
	}
	return s.save(ctx, cf)
}

// mirrorInto copies a disk of the running VM into the new volume with a
// mirror job and switches the guest's drive over to it. The new volume
// is opened as a format node with the options a start would give it;
// when the drive has an I/O limit filter on top, the format node below
// it is what is replaced, so the filter keeps its name and limits (a
// drive without one gets a top node of a new name). It returns the old
// nodes, to be closed once the configuration is saved.
func (s *Service) mirrorInto(ctx context.Context, cf *conf, p *movePlan, volid string, log api.TaskLog) ([]string, error) {
	pr, err := s.watch(ctx, cf.VMID)
	if err != nil || pr == nil {
		return nil, errNotRunning(cf.VMID)
	}
	q := pr.qmp
	ld, err := findLiveDrive(ctx, q, p.key)
	if err != nil {
		return nil, err
	}
	// QEMU mirrors from a root node only. Below an I/O limit filter the
	// job reads through the filter and replaces the format node under it.
	source, replaces, base := ld.top, "", "drive-"+p.key
	if ld.drv == "throttle" {
		if replaces, err = formatNodeUnder(ctx, q, p.key); err != nil {
			return nil, err
		}
		base = "fmt-" + p.key
	}
	node, err := s.openTarget(ctx, cf, q, p, volid, base)
	if err != nil {
		return nil, err
	}
	id := "move-" + p.key
	sub, unsubscribe := q.SubscribeJob(id)
	defer unsubscribe()
	err = q.BlockdevMirror(ctx, qmp.MirrorOptions{JobID: id, Device: source, Target: node, Replaces: replaces,
		Sync: "full", Speed: int64(p.kibps * 1024)})
	if err != nil {
		_ = q.BlockdevDel(context.WithoutCancel(ctx), node)
		return nil, fmt.Errorf("%s: starting the copy: %w", p.key, err)
	}
	stop := jobProgress(ctx, q, id, log)
	err = q.WaitJobStatus(ctx, sub, id, "ready")
	if err == nil {
		err = q.JobComplete(ctx, id)
		if err == nil {
			// Once asked to complete, the job finishes in QEMU whatever
			// happens to this task; its outcome says whether the guest
			// switched, so wait for it even when the task is stopped.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			err = q.WaitJob(wctx, sub, id)
			cancel()
			stop()
			if err != nil {
				_ = q.BlockdevDel(context.WithoutCancel(ctx), node)
				return nil, fmt.Errorf("%s: switching to the new volume: %w", p.key, err)
			}
			log.Printf("%s: the VM uses %s now", p.key, volid)
			replaced := cmp.Or(replaces, source)
			return []string{replaced, protocolNodeOf(replaced)}, nil
		}
	}
	stop()
	s.abandonJob(ctx, q, sub, id, log)
	_ = q.BlockdevDel(context.WithoutCancel(ctx), node)
	return nil, fmt.Errorf("%s: copying: %w", p.key, err)
}

// openTarget opens the new volume in QEMU as a format node over its
// protocol node, named <base>-<gen> over file-<key>-<gen>.
func (s *Service) openTarget(ctx context.Context, cf *conf, q *qmp.Client, p *movePlan, volid, base string) (string, error) {
	nd := *p.drive
	nd.File, nd.Format = volid, ""
	if _, isFile := p.st.(storage.FileStore); !isFile {
		nd.Format = p.format
	}
	in, err := s.hotInput(ctx, cf, p.key, nd.String())
	if err != nil {
		return "", err
	}
	blockdevs, _, err := cmdline.DriveObjects(in, p.key)
	if err != nil {
		return "", err
	}
	if len(blockdevs) < 2 {
		return "", fmt.Errorf("%s: no block nodes for %s", p.key, volid)
	}
	names, err := namedNodes(ctx, q)
	if err != nil {
		return "", err
	}
	gen := ""
	for gen == "" || names[base+"-"+gen] || names["file-"+p.key+"-"+gen] {
		gen = strconv.FormatInt(time.Now().UnixNano()&0xffffff, 36)
	}
	proto, format := maps.Clone(blockdevs[0]), maps.Clone(blockdevs[1])
	proto["node-name"] = "file-" + p.key + "-" + gen
	format["node-name"] = base + "-" + gen
	// Inline, so that closing the format node closes both.
	format["file"] = proto
	if err := q.BlockdevAdd(ctx, format); err != nil {
		return "", fmt.Errorf("%s: opening %s in QEMU: %w", p.key, volid, err)
	}
	return base + "-" + gen, nil
}

// abandonJob cancels a mirror that failed or was stopped before the
// switch and waits for it to end, so the target can be closed.
func (s *Service) abandonJob(ctx context.Context, q *qmp.Client, sub <-chan qmp.Event, id string, log api.TaskLog) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	jobs, err := q.QueryJobs(cctx)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if j.ID != id {
			continue
		}
		if j.Status != "concluded" {
			if err := q.Execute(cctx, "block-job-cancel", map[string]any{"device": id, "force": true}, nil); err != nil {
				log.Warnf("cancelling the copy: %v", err)
			}
		}
		if err := q.WaitJob(cctx, sub, id); err != nil && !errors.Is(err, qmp.ErrJobCancelled) {
			log.Warnf("the cancelled copy: %v", err)
		}
	}
}

// jobProgress reports a job's progress to the task log every second
// until the returned stop is called.
func jobProgress(ctx context.Context, q *qmp.Client, id string, log api.TaskLog) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			jobs, err := q.QueryJobs(ctx)
			if err != nil {
				continue
			}
			for _, j := range jobs {
				if j.ID == id && j.TotalProgress > 0 {
					log.Progress(j.CurrentProgress, j.TotalProgress)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
