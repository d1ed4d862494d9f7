package vm

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// stateStorage picks where the saved state of a hibernated VM goes: the
// call's choice, the VM's vmstatestorage, else the storage of its first
// disk, else local.
func (s *Service) stateStorage(c *conf, param string) string {
	if param != "" {
		return param
	}
	if v := c.Main().Value("vmstatestorage"); v != "" {
		return v
	}
	for _, key := range vmconf.DriveKeys() {
		v, ok := c.Main().Get(key)
		if !ok {
			continue
		}
		if d, err := vmconf.ParseDrive(key, v); err == nil && !d.IsCDROM() && !isPath(d.File) {
			if sid, _, err := storage.ParseVolumeID(d.File); err == nil {
				return sid
			}
		}
	}
	return "local"
}

// hibernate saves a running VM's state (memory and devices) to a volume
// and stops it; the next start resumes from there.
func (s *Service) hibernate(ctx context.Context, vmid int, target string, log api.TaskLog) (err error) {
	c, err := s.setLock(ctx, vmid, "suspending", false)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = s.clearLock(context.WithoutCancel(ctx), vmid, "suspending")
		}
	}()
	p, err := s.watch(ctx, vmid)
	if err != nil || p == nil {
		return errNotRunning(vmid)
	}
	memMiB := vmconf.DefaultMemoryMiB
	if m, err := vmconf.ParseMemory(c.Main().Value("memory")); err == nil && m.Current > 0 {
		memMiB = m.Current
	}
	cfg, st, err := s.o.Storage.Open(ctx, target)
	if err != nil {
		return err
	}
	if !cfg.Holds(storage.Images) {
		return fmt.Errorf("storage '%s' does not hold VM disk images, which saved states are", target)
	}
	// The state is at most the guest's memory plus device state; raw
	// images are sparse where the storage allows.
	size := int64(memMiB)<<20 + 256<<20
	name := fmt.Sprintf("vm-%d-state-suspend-%s", vmid, time.Now().Format("2006-01-02"))
	if _, ok := st.(storage.FileStore); ok {
		name += ".raw"
	}
	volname, err := st.Alloc(ctx, vmid, name, "raw", size)
	if err != nil {
		return fmt.Errorf("allocating the state volume: %w", err)
	}
	volid := target + ":" + volname
	a, err := st.Attach(ctx, volname, "")
	if err != nil || a.Path == "" {
		_ = st.Free(context.WithoutCancel(ctx), volname)
		return fmt.Errorf("the state volume %s has no local path", volid)
	}
	log.Printf("saving the state of VM %d to %s", vmid, volid)
	machine, _ := p.qmp.CurrentMachine(ctx)
	if err := p.qmp.Execute(ctx, "stop", nil, nil); err != nil {
		_ = st.Free(context.WithoutCancel(ctx), volname)
		return err
	}
	if err := p.qmp.Migrate(ctx, "exec:cat > "+shellQuote(a.Path)); err != nil {
		_ = p.qmp.Execute(context.WithoutCancel(ctx), "cont", nil, nil)
		_ = st.Free(context.WithoutCancel(ctx), volname)
		return fmt.Errorf("saving the state: %w", err)
	}
	info, err := p.qmp.WaitMigration(ctx)
	if err != nil || info.Status != "completed" {
		_ = p.qmp.Execute(context.WithoutCancel(ctx), "cont", nil, nil)
		_ = st.Free(context.WithoutCancel(ctx), volname)
		if err == nil {
			err = fmt.Errorf("migration ended as %s", info.Status)
		}
		return fmt.Errorf("saving the state: %w", err)
	}
	if info.RAM != nil {
		log.Printf("state saved (%d MiB)", int(math.Ceil(float64(info.RAM.Transferred)/(1<<20))))
	}
	if _, err := s.edit(ctx, vmid, func(c *conf) error {
		_ = c.Main().Set("lock", "suspended")
		_ = c.Main().Set("vmstate", volid)
		if machine != "" {
			_ = c.Main().Set("runningmachine", machine)
		}
		return nil
	}); err != nil {
		return err
	}
	pid, _ := s.paths(vmid).running()
	_ = p.qmp.Execute(ctx, "quit", nil, nil)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitExit(wctx, pid); err != nil {
		_ = kill(pid)
	}
	s.waitCleanup(ctx, p)
	return nil
}

// finishResume removes the saved state once a hibernated VM runs again.
// It runs inside start, which holds the VM's lock, so it works on the
// configuration start has loaded.
func (s *Service) finishResume(ctx context.Context, c *conf, log api.TaskLog) {
	state := c.Main().Value("vmstate")
	c.Main().Delete("vmstate")
	c.Main().Delete("runningmachine")
	if c.Main().Value("lock") == "suspended" {
		c.Main().Delete("lock")
	}
	if err := s.save(ctx, c); err != nil {
		log.Warnf("clearing the saved state from the configuration: %v", err)
		return
	}
	if state != "" {
		if err := s.freeVolume(ctx, state); err != nil {
			log.Warnf("removing the saved state %s: %v", state, err)
		}
	}
}
