package vm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// errNoSnapshot is Proxmox VE's error for a snapshot name the VM lacks.
func errNoSnapshot(name string) error {
	return api.Errorf(http.StatusInternalServerError, "snapshot '%s' does not exist", name)
}

// checkRollback checks that a VM can go back to snapshot name. A VM
// still locked by a rollback that failed half way may try again: that is
// how it gets out of the mixed state.
func (s *Service) checkRollback(ctx context.Context, c *conf, name string) (*guestconf.Section, []snapDisk, error) {
	if l := c.Main().Value("lock"); l != lockRollback {
		if err := checkLock(c, false); err != nil {
			return nil, nil, err
		}
	}
	if c.Main().Value("template") == "1" {
		return nil, nil, api.Errorf(http.StatusInternalServerError, "you can't rollback if vm is a template")
	}
	snap := c.File.Snapshot(name)
	if snap == nil {
		return nil, nil, errNoSnapshot(name)
	}
	if st := snap.Value("snapstate"); st != "" {
		return nil, nil, api.Errorf(http.StatusInternalServerError, "unable to rollback to incomplete snapshot (snapstate = %s)", st)
	}
	disks, problems := s.diskSnapshots(ctx, snap)
	if len(problems) > 0 {
		return nil, nil, api.Errorf(http.StatusInternalServerError, "%v", joinProblems(problems))
	}
	switch state := snap.Value("vmstate"); {
	case state == "":
	case state != vmstateInternal:
		return nil, nil, api.Errorf(http.StatusInternalServerError,
			"snapshot '%s' keeps its memory in volume %s (the Proxmox VE layout); Hearth cannot load such a state", name, state)
	default:
		if internal, _ := byMethod(disks); len(internal) == 0 {
			return nil, nil, api.Errorf(http.StatusInternalServerError, "snapshot '%s' has memory but no qcow2 disk that could hold it", name)
		}
	}
	return snap, disks, nil
}

func (s *Service) snapshotRollbackTask(ctx context.Context, _ *api.Call, in *api.SnapshotRollbackParams) (api.Task, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, _, err := s.checkRollback(ctx, c, in.SnapName); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmrollback", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.snapshotRollback(ctx, in.VMID, in.SnapName, in.Start, log)
	}), nil
}

// snapshotRollback returns a VM to a snapshot: the VM is stopped if it
// runs, each disk goes back through its storage, the main section is
// rebuilt from the snapshot section, and a snapshot with memory is
// resumed (otherwise start asks for a plain start).
func (s *Service) snapshotRollback(ctx context.Context, vmid int, name string, start bool, log api.TaskLog) (err error) {
	var snap *guestconf.Section
	var disks []snapDisk
	_, err = s.edit(ctx, vmid, func(c *conf) error {
		var err error
		if snap, disks, err = s.checkRollback(ctx, c, name); err != nil {
			return err
		}
		snap = snap.Clone()
		return c.Main().Set("lock", lockRollback)
	})
	if err != nil {
		return err
	}
	var rolled []string
	defer func() {
		// Once a disk went back, the VM's disks may disagree with each
		// other and with the configuration: the lock stays, so that the
		// VM does not start so, and the rollback can be run again.
		if err != nil && len(rolled) == 0 {
			if cerr := s.clearLock(context.WithoutCancel(ctx), vmid, lockRollback); cerr != nil {
				log.Warnf("%v", cerr)
			}
		}
	}()
	if _, running := s.paths(vmid).running(); running {
		log.Printf("stopping VM %d for the rollback", vmid)
		if err := s.stop(ctx, vmid, 0, true, log); err != nil {
			return err
		}
	}
	for _, d := range disks {
		if err := d.snap.Rollback(ctx, d.vol.Name, name); err != nil {
			err = fmt.Errorf("%s: %w", d.Key, err)
			if len(rolled) > 0 {
				err = fmt.Errorf("%w; %s already went back, so VM %d stays locked (%s): run the rollback again, or unlock it with qm unlock",
					err, strings.Join(rolled, ", "), vmid, lockRollback)
			}
			return err
		}
		rolled = append(rolled, d.Key)
		log.Printf("%s: %s rolled back to '%s'", d.Key, d.VolID, name)
	}
	withRAM := snap.Value("vmstate") == vmstateInternal
	_, err = s.edit(ctx, vmid, func(c *conf) error {
		if l := c.Main().Value("lock"); l != lockRollback {
			return fmt.Errorf("VM %d: expected lock '%s', found '%s'", vmid, lockRollback, l)
		}
		return s.applySnapshot(ctx, c, name, withRAM)
	})
	if err != nil {
		return err
	}
	log.Printf("configuration of VM %d restored from snapshot '%s'", vmid, name)
	switch {
	case withRAM:
		internal, _ := byMethod(disks)
		return s.resumeSnapshot(ctx, vmid, name, snap.Value("runningmachine"), internal, log)
	case start:
		return s.start(ctx, vmid, startOptions{}, log)
	}
	return nil
}

// applySnapshot makes the main section the snapshot's settings. The VM's
// description and its unused volumes stay, as they are not part of a
// state; disks of the VM the snapshot does not have become unused rather
// than forgotten; pending changes, made on top of the state being left,
// are dropped. keepLock keeps lock: rollback for the resume that follows.
func (s *Service) applySnapshot(ctx context.Context, c *conf, name string, keepLock bool) error {
	snap := c.File.Snapshot(name)
	if snap == nil {
		return errNoSnapshot(name)
	}
	old := c.Main()
	main := guestconf.NewSection()
	if err := copySettings(snap, main); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, v := range drivesOf(snap) {
		used[v.File] = true
	}
	for _, k := range old.Keys() {
		switch {
		case k == guestconf.DescriptionKey:
			_ = main.Set(k, old.Value(k))
		case isUnusedKey(k) && !used[old.Value(k)]:
			_ = main.Set(k, old.Value(k))
		}
	}
	for _, d := range drivesOf(old) {
		if !used[d.File] && !d.IsCDROM() && s.ownedBy(ctx, d.File, c.VMID) {
			addUnused(main, d.File)
		}
	}
	if err := main.Set("parent", name); err != nil {
		return err
	}
	if keepLock {
		_ = main.Set("lock", lockRollback)
	}
	c.File.Main = main
	for _, k := range c.File.Pending.Keys() {
		c.File.ClearPending(k)
	}
	for _, d := range c.File.PendingDeletes() {
		c.File.ClearPending(d.Key)
	}
	return nil
}

// drivesOf parses the drives of a section, skipping those that do not parse.
func drivesOf(sec *guestconf.Section) []*vmconf.Drive {
	var out []*vmconf.Drive
	for _, key := range vmconf.DriveKeys() {
		if v, ok := sec.Get(key); ok {
			if d, err := vmconf.ParseDrive(key, v); err == nil && !d.IsNone() {
				out = append(out, d)
			}
		}
	}
	return out
}

// resumeSnapshot starts a VM rolled back to a snapshot with memory and
// loads that memory, so that the guest goes on from the moment of the
// snapshot.
//
// The start path runs the CPUs as soon as QEMU is up, so the guest
// executes briefly before snapshot-load stops it, reverts the qcow2
// disks once more (which discards anything written meanwhile) and loads
// the memory. Starting QEMU with -loadvm, or leaving it paused until the
// load, would avoid that moment; that needs the start path to take such
// an option.
func (s *Service) resumeSnapshot(ctx context.Context, vmid int, name, machine string, internal []snapDisk, log api.TaskLog) error {
	defer func() {
		if err := s.clearLock(context.WithoutCancel(ctx), vmid, lockRollback); err != nil {
			log.Warnf("%v", err)
		}
	}()
	// Start with the CPUs stopped: the guest must not run before its
	// memory is the snapshot's.
	if err := s.start(ctx, vmid, startOptions{SkipLock: true, Machine: machine, Paused: true}, log); err != nil {
		return fmt.Errorf("starting VM %d to load the memory of snapshot '%s': %w", vmid, name, err)
	}
	p, err := s.watch(ctx, vmid)
	if err == nil && p == nil {
		err = errNotRunning(vmid)
	}
	if err == nil {
		nodes := nodeNames(ctx, p, internal)
		log.Printf("loading the memory of snapshot '%s' from %s", name, internal[0].VolID)
		err = p.qmp.SnapshotLoad(ctx, "snapshot-load-"+name, name, nodes[0], nodes)
	}
	if err == nil {
		err = p.qmp.Execute(ctx, "cont", nil, nil)
	}
	if err != nil {
		// A guest that booted afresh is not what was asked for.
		if serr := s.stop(context.WithoutCancel(ctx), vmid, 0, true, log); serr != nil {
			err = errors.Join(err, serr)
		}
		return fmt.Errorf("loading the memory of snapshot '%s': %w; VM %d is stopped, its disks and configuration are at the snapshot",
			name, err, vmid)
	}
	log.Printf("VM %d resumed at snapshot '%s'", vmid, name)
	return nil
}

func (s *Service) checkSnapshotDelete(c *conf, name string) error {
	if err := checkLock(c, false); err != nil {
		return err
	}
	if c.Main().Value("template") == "1" {
		return api.Errorf(http.StatusInternalServerError, "you can't delete a snapshot if vm is a template")
	}
	if c.File.Snapshot(name) == nil {
		return errNoSnapshot(name)
	}
	return nil
}

func (s *Service) snapshotDeleteTask(_ context.Context, _ *api.Call, in *api.SnapshotDeleteParams) (api.Task, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if err := s.checkSnapshotDelete(c, in.SnapName); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmdelsnapshot", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.snapshotDelete(ctx, in.VMID, in.SnapName, in.Force, log)
	}), nil
}

// snapshotDelete removes a snapshot from every disk and then from the
// configuration, where what pointed at it is re-attached to its parent.
// The snapshot is marked snapstate: delete meanwhile. When a disk fails,
// the disks done so far leave the snapshot section, so that running the
// delete again only retries the rest; force goes on past failing disks
// and removes the section anyway.
func (s *Service) snapshotDelete(ctx context.Context, vmid int, name string, force bool, log api.TaskLog) (err error) {
	var snap *guestconf.Section
	var disks []snapDisk
	attached := map[string]string{} // volume id → drive key in the running configuration
	_, err = s.edit(ctx, vmid, func(c *conf) error {
		if err := s.checkSnapshotDelete(c, name); err != nil {
			return err
		}
		sec := c.File.Snapshot(name)
		var problems []error
		disks, problems = s.diskSnapshots(ctx, sec)
		if len(problems) > 0 && !force {
			return api.Errorf(http.StatusInternalServerError, "%v", joinProblems(problems))
		}
		for _, p := range problems {
			log.Warnf("%v; left as it is", p)
		}
		for _, d := range drivesOf(c.Main()) {
			attached[d.File] = d.Key
		}
		_ = sec.Set("snapstate", "delete")
		snap = sec.Clone()
		return c.Main().Set("lock", lockSnapshotDelete)
	})
	if err != nil {
		return err
	}
	var done []string
	defer func() {
		if err == nil {
			return
		}
		_, cerr := s.edit(context.WithoutCancel(ctx), vmid, func(c *conf) error {
			if sec := c.File.Snapshot(name); sec != nil {
				for _, k := range done {
					sec.Delete(k)
				}
			}
			if c.Main().Value("lock") == lockSnapshotDelete {
				c.Main().Delete("lock")
			}
			return nil
		})
		if cerr != nil {
			log.Warnf("cleaning up the configuration: %v", cerr)
		}
	}()
	p, err := s.watch(ctx, vmid)
	if err != nil {
		return err
	}
	for _, d := range disks {
		var derr error
		if key, ok := attached[d.VolID]; ok && p != nil && d.Method == snapInternal {
			// QEMU holds the image open; only it may change it.
			derr = p.qmp.Execute(ctx, "blockdev-snapshot-delete-internal-sync",
				map[string]any{"device": liveNode(ctx, p, key), "name": name}, nil)
		} else {
			derr = d.snap.DeleteSnapshot(ctx, d.vol.Name, name)
		}
		if derr != nil {
			if !force {
				return fmt.Errorf("%s: %w", d.Key, derr)
			}
			log.Warnf("%s: %v; the snapshot is removed from the configuration anyway", d.Key, derr)
		} else {
			log.Printf("%s: snapshot '%s' of %s deleted", d.Key, name, d.VolID)
		}
		done = append(done, d.Key)
	}
	if state := snap.Value("vmstate"); state != "" && state != vmstateInternal && s.ownedBy(ctx, state, vmid) {
		// A state volume of Proxmox VE's layout goes with its snapshot.
		if err := s.freeVolume(ctx, state); err != nil {
			if !force {
				return fmt.Errorf("removing the saved state %s: %w", state, err)
			}
			log.Warnf("removing the saved state %s: %v", state, err)
		}
	}
	_, err = s.edit(ctx, vmid, func(c *conf) error {
		c.File.DeleteSnapshot(name)
		if c.Main().Value("lock") == lockSnapshotDelete {
			c.Main().Delete("lock")
		}
		return nil
	})
	if err == nil {
		log.Printf("snapshot '%s' deleted", name)
	}
	return err
}
