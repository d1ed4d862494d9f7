package vm

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// vmstateInternal is the vmstate value of a snapshot whose memory Hearth
// saved inside the qcow2 images of the VM's disks (QMP snapshot-save: the
// RAM goes into the internal snapshot of the first qcow2 disk, in drive
// key order, next to the disk contents of the same instant).
//
// Proxmox VE writes the memory to a volume of its own and names that
// volume here. Keeping it inside the image instead needs no second
// storage, no allocation sized to the RAM and no Proxmox VE-specific
// QEMU commands, and deleting the disk snapshot deletes the memory with
// it. The marker is deliberately not a volume id: Proxmox VE reading
// this file drops the value it cannot parse and sees a disk-only
// snapshot, which it can still roll back and delete, whereas a volume id
// pointing at the disk would make it free the disk along with the
// snapshot.
const vmstateInternal = "1"

// Lock values of the snapshot operations, as Proxmox VE names them.
const (
	lockSnapshot       = "snapshot"
	lockSnapshotDelete = "snapshot-delete"
	lockRollback       = "rollback"
)

// snapshotOnlyKeys are keys of a snapshot section that describe the
// snapshot rather than the VM, and keys of the main section that do not
// belong in a snapshot: each snapshot has its own description, unused
// volumes are not part of any state, and the saved memory of a
// hibernated VM is not the snapshot's.
var snapshotOnlyKeys = []string{"lock", "description", "snaptime", "snapstate", "vmstate", "runningmachine", "runningcpu"}

// copySettings copies the VM settings of a section into another, leaving
// out the snapshot-only keys and unused volumes.
func copySettings(from, to *guestconf.Section) error {
	for _, k := range from.Keys() {
		if isUnusedKey(k) || slices.Contains(snapshotOnlyKeys, k) {
			continue
		}
		if err := to.Set(k, from.Value(k)); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// checkSnapshotName refuses names the API cannot give a new snapshot.
func checkSnapshotName(name string) error {
	switch {
	case name == "current" || strings.EqualFold(name, "pending"):
		return api.ParamError("snapname", "unable to use snapshot name '%s' (reserved name)", name)
	case len(name) > api.SnapshotNameMax:
		return api.ParamError("snapname", "snapshot name '%s' is longer than %d characters", name, api.SnapshotNameMax)
	}
	if err := guestconf.CheckSnapshotName(name); err != nil {
		return api.ParamError("snapname", "%v", err)
	}
	return nil
}

// checkSnapshotCreate checks that a VM can take a snapshot named name
// now: not locked, not a template, the name free, every disk able.
func (s *Service) checkSnapshotCreate(ctx context.Context, c *conf, name string) ([]snapDisk, error) {
	if err := checkLock(c, false); err != nil {
		return nil, err
	}
	if c.Main().Value("template") == "1" {
		return nil, api.Errorf(http.StatusInternalServerError, "you can't take a snapshot if it's a template")
	}
	if c.File.Snapshot(name) != nil {
		return nil, api.Errorf(http.StatusInternalServerError, "snapshot name '%s' already used", name)
	}
	disks, problems := s.diskSnapshots(ctx, c.Main())
	if len(problems) > 0 {
		return nil, api.Errorf(http.StatusInternalServerError, "%v", joinProblems(problems))
	}
	return disks, nil
}

func (s *Service) snapshotCreateTask(ctx context.Context, _ *api.Call, in *api.SnapshotCreateParams) (api.Task, error) {
	if err := checkSnapshotName(in.SnapName); err != nil {
		return api.Task{}, err
	}
	c, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.checkSnapshotCreate(ctx, c, in.SnapName); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmsnapshot", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.snapshotCreate(ctx, in.VMID, in.SnapName, in.Description, in.VMState, log)
	}), nil
}

// snapshotCreate takes a snapshot. The snapshot section is written first,
// marked snapstate: prepare, with the VM locked; then the disks are
// snapshotted; then the mark and the lock go and the current state's
// parent becomes the new snapshot. A failure removes what was made.
func (s *Service) snapshotCreate(ctx context.Context, vmid int, name, description string, withRAM bool, log api.TaskLog) (err error) {
	var disks []snapDisk
	_, err = s.edit(ctx, vmid, func(c *conf) error {
		var err error
		if disks, err = s.checkSnapshotCreate(ctx, c, name); err != nil {
			return err
		}
		sec := guestconf.NewSection()
		if err := copySettings(c.Main(), sec); err != nil {
			return err
		}
		_ = sec.Set("snapstate", "prepare")
		_ = sec.Set("snaptime", strconv.FormatInt(time.Now().Unix(), 10))
		if strings.TrimSpace(description) != "" {
			_ = sec.Set(guestconf.DescriptionKey, description)
		}
		if err := c.File.SetSnapshot(name, sec); err != nil {
			return api.ParamError("snapname", "%v", err)
		}
		return c.Main().Set("lock", lockSnapshot)
	})
	if err != nil {
		return err
	}
	log.Printf("snapshot '%s' of VM %d: %d disk(s)", name, vmid, len(disks))
	defer func() {
		if err != nil {
			s.abandonSnapshot(context.WithoutCancel(ctx), vmid, name, log)
		}
	}()
	p, err := s.watch(ctx, vmid)
	if err != nil {
		return err
	}
	extra := map[string]string{}
	switch {
	case p == nil:
		if withRAM {
			log.Printf("VM %d is not running: the snapshot holds the disks only", vmid)
		}
		err = s.snapshotStopped(ctx, disks, name, log)
	case withRAM:
		extra, err = s.snapshotWithRAM(ctx, p, disks, name, log)
	default:
		err = s.snapshotRunning(ctx, p, disks, name, log)
	}
	if err != nil {
		return err
	}
	_, err = s.edit(ctx, vmid, func(c *conf) error {
		if l := c.Main().Value("lock"); l != lockSnapshot {
			return fmt.Errorf("VM %d: expected lock '%s', found '%s'", vmid, lockSnapshot, l)
		}
		sec := c.File.Snapshot(name)
		if sec == nil {
			return fmt.Errorf("snapshot '%s' vanished from the configuration", name)
		}
		sec.Delete("snapstate")
		for k, v := range extra {
			_ = sec.Set(k, v)
		}
		c.Main().Delete("lock")
		return c.Main().Set("parent", name)
	})
	if err != nil {
		// The disks have their snapshots but the configuration does not
		// say so; dropping them as well keeps the two in agreement.
		s.dropDiskSnapshots(context.WithoutCancel(ctx), vmid, disks, name, log)
		return err
	}
	log.Printf("snapshot '%s' taken", name)
	return nil
}

// abandonSnapshot removes the section of a snapshot that failed and the
// lock it held.
func (s *Service) abandonSnapshot(ctx context.Context, vmid int, name string, log api.TaskLog) {
	_, err := s.edit(ctx, vmid, func(c *conf) error {
		if sec := c.File.Snapshot(name); sec != nil && sec.Value("snapstate") == "prepare" {
			c.File.DeleteSnapshot(name)
		}
		if c.Main().Value("lock") == lockSnapshot {
			c.Main().Delete("lock")
		}
		return nil
	})
	if err != nil {
		log.Warnf("cleaning up the configuration after the failed snapshot: %v", err)
	}
}

// snapshotStopped snapshots the volumes of a stopped VM one by one and
// undoes the ones made when one fails.
func (s *Service) snapshotStopped(ctx context.Context, disks []snapDisk, name string, log api.TaskLog) error {
	for i, d := range disks {
		if err := d.snap.Snapshot(ctx, d.vol.Name, name); err != nil {
			s.undoStorageSnapshots(context.WithoutCancel(ctx), disks[:i], name, log)
			return fmt.Errorf("%s: %w", d.Key, err)
		}
		log.Printf("%s: snapshot of %s taken", d.Key, d.VolID)
	}
	return nil
}

// undoStorageSnapshots deletes storage snapshots of a failed attempt.
func (s *Service) undoStorageSnapshots(ctx context.Context, disks []snapDisk, name string, log api.TaskLog) {
	for _, d := range disks {
		if err := d.snap.DeleteSnapshot(ctx, d.vol.Name, name); err != nil {
			log.Warnf("%s: removing the partial snapshot: %v", d.Key, err)
		}
	}
}

// internalSnapshotAction is a transaction action taking a qcow2 internal
// snapshot of a running drive.
func internalSnapshotAction(node, name string) map[string]any {
	return map[string]any{"type": "blockdev-snapshot-internal-sync", "data": map[string]any{"device": node, "name": name}}
}

// snapshotRunning snapshots the disks of a running VM without its memory.
// The guest's file systems are frozen through the agent when it is
// turned on, so that they are clean in the snapshot. qcow2 disks are
// snapshotted by QEMU in one transaction (all or none, at one instant);
// volumes the storage snapshots need the VM paused around them, so that
// all disks show the same instant.
func (s *Service) snapshotRunning(ctx context.Context, p *proc, disks []snapDisk, name string, log api.TaskLog) error {
	internal, other := byMethod(disks)
	if thaw := s.freezeGuest(ctx, p.vmid, log); thaw != nil {
		defer thaw()
	}
	if len(other) > 0 {
		resume, err := pauseVM(ctx, p)
		if err != nil {
			return err
		}
		defer resume(log)
	}
	if len(internal) > 0 {
		actions := make([]any, len(internal))
		for i, node := range nodeNames(ctx, p, internal) {
			actions[i] = internalSnapshotAction(node, name)
		}
		if err := p.qmp.Execute(ctx, "transaction", map[string]any{"actions": actions}, nil); err != nil {
			return fmt.Errorf("snapshot of the qcow2 disks: %w", err)
		}
		log.Printf("internal snapshots of %s taken by QEMU", diskKeys(internal))
	}
	if err := s.snapshotStopped(ctx, other, name, log); err != nil {
		s.deleteInternalRunning(context.WithoutCancel(ctx), p, internal, name, log)
		return err
	}
	return nil
}

// snapshotWithRAM saves the memory and device state of a running VM with
// its disks: QEMU's snapshot-save job writes internal snapshots of the
// qcow2 disks and puts the state into the first. Storage snapshots of
// other volumes are taken while the VM is paused for the save. It
// returns the keys the snapshot section gets.
func (s *Service) snapshotWithRAM(ctx context.Context, p *proc, disks []snapDisk, name string, log api.TaskLog) (map[string]string, error) {
	internal, other := byMethod(disks)
	if len(internal) == 0 {
		return nil, api.Errorf(http.StatusInternalServerError,
			"cannot save the memory of VM %d: it is kept inside a qcow2 disk, and the VM has none", p.vmid)
	}
	machine, err := p.qmp.CurrentMachine(ctx)
	if err != nil {
		return nil, err
	}
	if len(other) > 0 {
		resume, err := pauseVM(ctx, p)
		if err != nil {
			return nil, err
		}
		defer resume(log)
	}
	nodes := nodeNames(ctx, p, internal)
	log.Printf("saving the memory of VM %d into %s with the snapshot", p.vmid, internal[0].VolID)
	if err := p.qmp.SnapshotSave(ctx, "snapshot-save-"+name, name, nodes[0], nodes); err != nil {
		// The job stops at the first disk that fails and leaves the
		// snapshots made before it.
		s.deleteInternalRunning(context.WithoutCancel(ctx), p, internal, name, nil)
		return nil, fmt.Errorf("saving the VM state: %w", err)
	}
	log.Printf("internal snapshots of %s with the VM state taken by QEMU", diskKeys(internal))
	if err := s.snapshotStopped(ctx, other, name, log); err != nil {
		s.deleteInternalRunning(context.WithoutCancel(ctx), p, internal, name, log)
		return nil, err
	}
	extra := map[string]string{"vmstate": vmstateInternal}
	if machine != "" {
		extra["runningmachine"] = machine
	}
	return extra, nil
}

// deleteInternalRunning removes internal snapshots of a running VM's
// disks through QEMU. A nil log stays silent (undoing a step that may
// not have happened on every disk).
func (s *Service) deleteInternalRunning(ctx context.Context, p *proc, disks []snapDisk, name string, log api.TaskLog) []error {
	var errs []error
	for i, node := range nodeNames(ctx, p, disks) {
		err := p.qmp.Execute(ctx, "blockdev-snapshot-delete-internal-sync", map[string]any{"device": node, "name": name}, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", disks[i].Key, err))
			if log != nil {
				log.Warnf("%s: removing the snapshot: %v", disks[i].Key, err)
			}
		}
	}
	return errs
}

// dropDiskSnapshots removes a snapshot from every disk, through QEMU for
// the qcow2 disks of a running VM and through the storage otherwise.
func (s *Service) dropDiskSnapshots(ctx context.Context, vmid int, disks []snapDisk, name string, log api.TaskLog) {
	internal, other := byMethod(disks)
	if p, err := s.watch(ctx, vmid); err == nil && p != nil {
		s.deleteInternalRunning(ctx, p, internal, name, log)
	} else {
		s.undoStorageSnapshots(ctx, internal, name, log)
	}
	s.undoStorageSnapshots(ctx, other, name, log)
}

// pauseVM stops the CPUs of a running VM (QEMU flushes the disks when it
// does) and returns the function that lets it run again. A VM that was
// paused already stays paused.
func pauseVM(ctx context.Context, p *proc) (func(api.TaskLog), error) {
	st, err := p.qmp.QueryStatus(ctx)
	if err != nil {
		return nil, err
	}
	if st.Status != "running" {
		return func(api.TaskLog) {}, nil
	}
	if err := p.qmp.Execute(ctx, "stop", nil, nil); err != nil {
		return nil, fmt.Errorf("pausing VM %d: %w", p.vmid, err)
	}
	return func(log api.TaskLog) {
		if err := p.qmp.Execute(context.WithoutCancel(ctx), "cont", nil, nil); err != nil {
			log.Warnf("VM %d stays paused: resuming it failed: %v", p.vmid, err)
		}
	}, nil
}

// freezeGuest freezes the guest's file systems through the agent when it
// is turned on, and returns the thaw; nil when nothing was frozen. A
// guest that does not answer is snapshotted unfrozen, with a warning, as
// a crash-consistent snapshot beats none.
func (s *Service) freezeGuest(ctx context.Context, vmid int, log api.TaskLog) func() {
	c, err := s.load(vmid)
	if err != nil {
		return nil
	}
	a, err := vmconf.ParseAgent(c.Main().Value("agent"))
	if err != nil || !a.Enabled {
		return nil
	}
	ag := s.agentClient(vmid)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := ag.FSFreezeFreeze(fctx); err != nil {
		log.Warnf("the guest agent did not freeze the file systems (%v); the snapshot is taken without", err)
		// A freeze that timed out may still happen in the guest.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, _ = ag.FSFreezeThaw(tctx)
		cancel()
		return nil
	}
	return func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := ag.FSFreezeThaw(tctx); err != nil {
			log.Warnf("thawing the guest's file systems: %v", err)
		}
	}
}

func diskKeys(disks []snapDisk) string {
	keys := make([]string, len(disks))
	for i, d := range disks {
		keys[i] = d.Key
	}
	return strings.Join(keys, ", ")
}
