package vm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// fastKeys take effect at once even while the VM runs: they describe the
// VM to Hearth, not to the guest.
var fastKeys = []string{"name", "description", "onboot", "protection", "tags", "startup", "hotplug", "shares",
	"vmstatestorage", "hookscript", "lock"}

// update changes a VM's configuration. Every change is first written as
// pending; on a stopped VM the pending changes are applied at once, on a
// running VM those that can be applied live are (hot-plug), the others
// wait for the next start.
func (s *Service) update(ctx context.Context, c *api.Call, r *updateRequest, clean map[string]string, log api.TaskLog) (err error) {
	unlock := s.lock(r.vmid)
	defer unlock()
	cf, err := s.load(r.vmid)
	if err != nil {
		return err
	}
	if err := checkLock(cf, r.skipLock); err != nil {
		return err
	}
	if err := checkDigest(cf, r.digest); err != nil {
		return err
	}
	if cf.Main().Value("protection") == "1" && (slices.ContainsFunc(r.deletes, vmconf.IsDriveKey) && r.force) {
		return api.Errorf(500, "can't remove a disk of VM %d for good - protection mode enabled", r.vmid)
	}
	for _, k := range r.revert {
		cf.File.ClearPending(k)
	}
	// Allocate new disks now: the volume id, not the request, is what the
	// configuration keeps.
	var allocated []string
	defer func() {
		if err != nil {
			for _, v := range allocated {
				_ = s.freeVolume(context.WithoutCancel(ctx), v)
			}
		}
	}()
	newVols, err := s.allocNewDisks(ctx, c, r.vmid, clean, log)
	allocated = append(allocated, newVols...)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(clean) {
		cf.File.ClearPending(k)
		if cur, ok := cf.Main().Get(k); ok && cur == clean[k] {
			continue
		}
		if err := cf.File.Pending.Set(k, clean[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	for _, k := range r.deletes {
		if _, inMain := cf.Main().Get(k); !inMain {
			cf.File.ClearPending(k)
			continue
		}
		if err := cf.File.AddPendingDelete(k, r.force); err != nil {
			return err
		}
	}
	if _, running := s.paths(r.vmid).running(); !running {
		if _, err := s.applyPending(ctx, cf, log); err != nil {
			return err
		}
		return s.save(ctx, cf)
	}
	s.applyLive(ctx, cf, log)
	return s.save(ctx, cf)
}

// applyLive applies the pending changes a running VM can take now.
func (s *Service) applyLive(ctx context.Context, cf *conf, log api.TaskLog) {
	hp := vmconf.DefaultHotplug()
	if v, ok := cf.Main().Get("hotplug"); ok {
		if h, err := vmconf.ParseHotplug(v); err == nil {
			hp = h
		}
	}
	if v, ok := cf.File.Pending.Get("hotplug"); ok {
		if h, err := vmconf.ParseHotplug(v); err == nil {
			hp = h
		}
	}
	for _, d := range cf.File.PendingDeletes() {
		old, _ := cf.Main().Get(d.Key)
		var err error
		switch {
		case slices.Contains(fastKeys, d.Key):
		case strings.HasPrefix(d.Key, "unused"):
		case strings.HasPrefix(d.Key, "net") && hp.Network:
			err = s.unplugNIC(ctx, cf, d.Key)
		case vmconf.IsDriveKey(d.Key) && hp.Disk:
			err = s.unplugDrive(ctx, cf, d.Key)
		default:
			continue
		}
		if err != nil {
			log.Warnf("%s stays pending: %v", d.Key, err)
			continue
		}
		cf.File.RemovePendingDelete(d.Key)
		cf.Main().Delete(d.Key)
		s.detached(ctx, cf, d.Key, old, d.Force, log)
	}
	for _, k := range cf.File.Pending.Keys() {
		v := cf.File.Pending.Value(k)
		old, had := cf.Main().Get(k)
		var err error
		switch {
		case slices.Contains(fastKeys, k):
		case strings.HasPrefix(k, "unused"):
		case strings.HasPrefix(k, "net") && hp.Network:
			err = s.hotplugNIC(ctx, cf, k, old, v)
		case vmconf.IsDriveKey(k) && hp.Disk:
			err = s.hotplugDrive(ctx, cf, k, old, v)
		case k == "vcpus" && hp.CPU, k == "memory" && hp.Memory:
			err = s.hotplugCPUMem(ctx, cf, k, old, v)
		default:
			continue
		}
		if err != nil {
			log.Warnf("%s stays pending: %v", k, err)
			continue
		}
		_ = cf.Main().Set(k, v)
		cf.File.Pending.Delete(k)
		if had {
			s.replaced(ctx, cf, k, old, v, log)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
