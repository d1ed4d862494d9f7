package vm

import (
	"context"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// applyPending moves the pending changes of a stopped VM into its
// current settings. It reports whether anything changed; the caller
// saves.
func (s *Service) applyPending(ctx context.Context, c *conf, log api.TaskLog) (bool, error) {
	return c.File.ApplyPending(
		func(key, old, now string) { s.replaced(ctx, c, key, old, now, log) },
		func(key, old string, force bool) { s.detached(ctx, c, key, old, force, log) })
}

// replaced handles a drive whose value changed: if the volume changed,
// the old one is kept as unusedN.
func (s *Service) replaced(ctx context.Context, c *conf, key, old, now string, log api.TaskLog) {
	if !vmconf.IsDriveKey(key) {
		return
	}
	od, err1 := vmconf.ParseDrive(key, old)
	nd, err2 := vmconf.ParseDrive(key, now)
	if err1 != nil || err2 != nil || od.File == nd.File {
		return
	}
	s.detached(ctx, c, key, old, false, log)
}

// detached handles a drive taken out of the configuration: its own disk
// becomes unusedN (or is removed with force); a CD-ROM or someone else's
// volume is just dropped.
func (s *Service) detached(ctx context.Context, c *conf, key, value string, force bool, log api.TaskLog) {
	if isUnusedKey(key) {
		// Deleting an unused disk's entry deletes the disk, as on Proxmox
		// VE; a volume still named elsewhere (a snapshot) stays.
		if s.ownedBy(ctx, value, c.VMID) && !referenced(c, value) {
			if err := s.freeVolume(ctx, value); err != nil {
				log.Warnf("removing %s: %v", value, err)
			} else {
				log.Printf("removed %s", value)
			}
		}
		return
	}
	if !vmconf.IsDriveKey(key) {
		return
	}
	d, err := vmconf.ParseDrive(key, value)
	if err != nil || d.IsCDROM() || !s.ownedBy(ctx, d.File, c.VMID) {
		return
	}
	if force || d.IsCloudInit() {
		if err := s.freeVolume(ctx, d.File); err != nil {
			log.Warnf("removing %s: %v", d.File, err)
		} else {
			log.Printf("removed %s", d.File)
		}
		return
	}
	addUnused(c.File.Main, d.File)
}

// referenced reports whether a volume is still named by the
// configuration: its current drives, pending values or snapshots.
func referenced(c *conf, volid string) bool {
	for _, v := range volumesOf(c.File) {
		if v == volid {
			return true
		}
	}
	return false
}

// addUnused records a volume as unusedN unless it is already referenced.
func addUnused(sec *guestconf.Section, volid string) string {
	free := -1
	for i := range 256 {
		k := "unused" + strconv.Itoa(i)
		v, ok := sec.Get(k)
		if ok && v == volid {
			return k
		}
		if !ok && free < 0 {
			free = i
		}
	}
	if free < 0 {
		return ""
	}
	k := "unused" + strconv.Itoa(free)
	_ = sec.Set(k, volid)
	return k
}
