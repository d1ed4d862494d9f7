package vm

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

func (s *Service) destroyVM(_ context.Context, _ *api.Call, in *api.VMDestroyParams) (api.Task, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if err := checkLock(c, in.SkipLock); err != nil {
		return api.Task{}, err
	}
	if c.Main().Value("protection") == "1" {
		return api.Task{}, api.Errorf(http.StatusInternalServerError, "can't remove VM %d - protection mode enabled", in.VMID)
	}
	if _, running := s.paths(in.VMID).running(); running {
		return api.Task{}, api.Errorf(http.StatusInternalServerError, "VM %d is running - destroy failed", in.VMID)
	}
	return api.Task{Type: "qmdestroy", ID: strconv.Itoa(in.VMID), Run: func(ctx context.Context, log api.TaskLog) error {
		return s.destroy(ctx, in, log)
	}}, nil
}

// volumesOf lists every volume a configuration refers to, in the current
// state, the pending changes and the snapshots.
func volumesOf(f *guestconf.File) []string {
	seen := map[string]bool{}
	var out []string
	add := func(sec *guestconf.Section) {
		for _, k := range sec.Keys() {
			if !vmconf.IsDriveKey(k) && !isUnusedKey(k) && k != "vmstate" {
				continue
			}
			v := sec.Value(k)
			file := v
			if vmconf.IsDriveKey(k) {
				d, err := vmconf.ParseDrive(k, v)
				if err != nil {
					continue
				}
				file = d.File
			}
			if !seen[file] {
				seen[file] = true
				out = append(out, file)
			}
		}
	}
	add(f.Main)
	add(f.Pending)
	for _, name := range f.SnapshotNames() {
		add(f.Snapshot(name))
	}
	return out
}

func isUnusedKey(k string) bool {
	n, ok := cutPrefixInt(k, "unused")
	return ok && n >= 0 && n < 256
}

func cutPrefixInt(k, prefix string) (int, bool) {
	if len(k) <= len(prefix) || k[:len(prefix)] != prefix {
		return 0, false
	}
	n, err := strconv.Atoi(k[len(prefix):])
	return n, err == nil
}

// destroy removes a stopped VM: its own volumes, its configuration, its
// pool membership (and with purge its ACL entries).
func (s *Service) destroy(ctx context.Context, in *api.VMDestroyParams, log api.TaskLog) error {
	if _, err := s.setLock(ctx, in.VMID, "destroyed", in.SkipLock); err != nil {
		return err
	}
	unlock := s.lock(in.VMID)
	defer unlock()
	c, err := s.load(in.VMID)
	if err != nil {
		return err
	}
	if _, running := s.paths(in.VMID).running(); running {
		c.Main().Delete("lock")
		_ = s.save(ctx, c)
		return api.Errorf(http.StatusInternalServerError, "VM %d is running - destroy failed", in.VMID)
	}
	failed := 0
	for _, file := range volumesOf(c.File) {
		if !s.ownedBy(ctx, file, in.VMID) {
			continue
		}
		if err := s.freeVolume(ctx, file); err != nil {
			log.Warnf("could not remove %s: %v", file, err)
			failed++
			continue
		}
		log.Printf("removed %s", file)
	}
	if in.DestroyUnreferencedDisks {
		s.destroyUnreferenced(ctx, in.VMID, log)
	}
	if err := s.removeConf(ctx, c); err != nil {
		return err
	}
	if s.o.Pools != nil {
		if err := s.o.Pools.ForgetGuest(ctx, in.VMID, in.Purge); err != nil {
			log.Warnf("removing VM %d from its pool: %v", in.VMID, err)
		}
	}
	s.cleanupFiles(in.VMID)
	log.Printf("VM %d destroyed", in.VMID)
	return nil
}

// destroyUnreferenced removes disks of the VM that its configuration
// does not name (left over from failed operations), on every enabled
// storage of this node that holds disk images.
func (s *Service) destroyUnreferenced(ctx context.Context, vmid int, log api.TaskLog) {
	cfgs, err := s.o.Storage.Configs()
	if err != nil {
		log.Warnf("listing storages: %v", err)
		return
	}
	for _, cfg := range cfgs {
		if cfg.Disable || !cfg.OnNode(s.o.Node) || !(cfg.Holds(storage.Images) || cfg.Holds(storage.Rootdir)) {
			continue
		}
		_, st, err := s.o.Storage.Open(ctx, cfg.ID)
		if err != nil {
			continue
		}
		vols, err := st.List(ctx, vmid, []storage.Content{storage.Images})
		if err != nil {
			continue
		}
		for _, v := range vols {
			if v.VMID != vmid {
				continue
			}
			if err := st.Free(ctx, v.Volname); err != nil {
				log.Warnf("could not remove %s:%s: %v", cfg.ID, v.Volname, err)
				continue
			}
			log.Printf("removed unreferenced %s:%s", cfg.ID, v.Volname)
		}
	}
}
