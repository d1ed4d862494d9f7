package ct

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

func (s *Service) destroyTask(_ context.Context, _ *api.Call, in *api.CTDestroyParams) (api.Task, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if err := s.repo.CheckLock(c, false); err != nil {
		return api.Task{}, err
	}
	if c.Main().Value("protection") == "1" {
		return api.Task{}, api.Errorf(http.StatusInternalServerError, "can't remove CT %d - protection mode enabled", in.VMID)
	}
	if _, running := s.running(in.VMID); running && !in.Force {
		return api.Task{}, api.Errorf(http.StatusInternalServerError, "CT %d is running - destroy failed", in.VMID)
	}
	return ctTask("vzdestroy", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.destroy(ctx, in, log)
	}), nil
}

// volumesOf lists every volume a configuration refers to (mount points
// that are storage volumes, unused volumes) in the current state, the
// pending changes and the snapshots.
func volumesOf(f *guestconf.File) []string {
	seen := map[string]bool{}
	var out []string
	add := func(sec *guestconf.Section) {
		if sec == nil {
			return
		}
		mps := ctconf.MountPoints(sectionValues(sec))
		for _, mp := range mps {
			if mp.IsBind() || mp.IsDevice() || seen[mp.Volume] {
				continue
			}
			seen[mp.Volume] = true
			out = append(out, mp.Volume)
		}
		for _, k := range sec.Keys() {
			if strings.HasPrefix(k, "unused") {
				v := sec.Value(k)
				if vol, _, _ := strings.Cut(v, ","); !seen[vol] {
					seen[vol] = true
					out = append(out, vol)
				}
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

// ownedBy reports whether a volume id names a volume of vmid (not a
// template's base or another guest's volume).
func ownedBy(volid string, vmid int) bool {
	_, name, err := storage.ParseVolumeID(volid)
	if err != nil {
		return false
	}
	base := name[strings.LastIndexByte(name, '/')+1:]
	id := strconv.Itoa(vmid)
	return strings.HasPrefix(base, "subvol-"+id+"-") || strings.HasPrefix(base, "vm-"+id+"-") ||
		strings.HasPrefix(base, "basevol-"+id+"-") || strings.HasPrefix(base, "base-"+id+"-")
}

// destroy removes a container: it stops it first with force, then frees
// its own volumes and removes its configuration, its pool membership
// (with purge also its ACL entries) and its runtime directory.
func (s *Service) destroy(ctx context.Context, in *api.CTDestroyParams, log api.TaskLog) error {
	if _, running := s.running(in.VMID); running {
		if !in.Force {
			return api.Errorf(http.StatusInternalServerError, "CT %d is running - destroy failed", in.VMID)
		}
		if err := s.stop(ctx, in.VMID, false, log); err != nil {
			return err
		}
	}
	if _, err := s.repo.SetLock(ctx, in.VMID, "destroyed", false); err != nil {
		return err
	}
	unlock := s.repo.Lock(in.VMID)
	defer unlock()
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return err
	}
	for _, vol := range volumesOf(c.File) {
		if !ownedBy(vol, in.VMID) {
			continue
		}
		if err := s.freeVolume(ctx, vol); err != nil {
			log.Warnf("could not remove %s: %v", vol, err)
			continue
		}
		log.Printf("removed %s", vol)
	}
	if in.DestroyUnreferencedDisks {
		s.destroyUnreferenced(ctx, in.VMID, log)
	}
	if err := s.repo.Remove(ctx, c); err != nil {
		return err
	}
	if s.o.Pools != nil {
		if err := s.o.Pools.ForgetGuest(ctx, in.VMID, in.Purge); err != nil {
			log.Warnf("removing CT %d from its pool: %v", in.VMID, err)
		}
	}
	_ = os.RemoveAll(s.dir(in.VMID))
	s.mu.Lock()
	delete(s.cpu, in.VMID)
	s.mu.Unlock()
	log.Printf("CT %d destroyed", in.VMID)
	return nil
}

// destroyUnreferenced removes volumes of the container that its
// configuration does not name, on every enabled storage of this node
// that holds container volumes.
func (s *Service) destroyUnreferenced(ctx context.Context, vmid int, log api.TaskLog) {
	cfgs, err := s.o.Storage.Configs()
	if err != nil {
		log.Warnf("listing storages: %v", err)
		return
	}
	for _, cfg := range cfgs {
		if cfg.Disable || !cfg.OnNode(s.o.Node) || !cfg.Holds(storage.Rootdir) {
			continue
		}
		_, st, err := s.o.Storage.Open(ctx, cfg.ID)
		if err != nil {
			continue
		}
		vols, err := st.List(ctx, vmid, []storage.Content{storage.Rootdir})
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
