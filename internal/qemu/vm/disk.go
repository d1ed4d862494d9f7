package vm

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// diskRoutes binds the disk endpoints (resize, move_disk, unlink) and the
// two direct doors into a running QEMU (sendkey, monitor).
func (s *Service) diskRoutes() []api.Route {
	return []api.Route{
		api.VMResize.Handle(s.resizeTask),
		api.VMMoveDisk.Handle(s.moveDiskTask),
		api.VMUnlink.Handle(s.unlink),
		api.VMSendKey.Handle(s.sendKey),
		api.VMMonitor.Handle(s.monitor),
	}
}

// checkSkipLock refuses skiplock to everyone but root@pam: a lock
// protects a half-done operation, and only root may override that.
func checkSkipLock(c *api.Call, skip bool) error {
	if skip && c != nil && (c.User != api.RootUser || c.Token != "") {
		return api.ParamError("skiplock", "only root@pam may use skiplock")
	}
	return nil
}

// errNoDisk is Proxmox VE's error for a disk key the VM does not have.
func errNoDisk(key string) error {
	return api.Errorf(http.StatusInternalServerError, "disk '%s' does not exist", key)
}

// inSnapshots reports whether a snapshot of the VM refers to volid.
func inSnapshots(f *guestconf.File, volid string) bool {
	for _, name := range f.SnapshotNames() {
		sec := f.Snapshot(name)
		for _, k := range sec.Keys() {
			if volumeOf(k, sec.Value(k)) == volid {
				return true
			}
		}
	}
	return false
}

// volumeOf returns the volume a configuration key refers to: the file of
// a drive, the value of unusedN; "" for other keys.
func volumeOf(key, value string) string {
	switch {
	case isUnusedKey(key):
		return value
	case vmconf.IsDriveKey(key):
		if d, err := vmconf.ParseDrive(key, value); err == nil {
			return d.File
		}
	}
	return ""
}

// resizePlan is a checked resize of one disk.
type resizePlan struct {
	drive   *vmconf.Drive
	vol     *volume
	cur     int64 // bytes now
	size    int64 // bytes after
	running bool
	node    string // the drive's top block node in the running QEMU
}

// planResize checks a resize against the configuration and works out
// the new size. It runs when the call comes in, so that mistakes fail
// the call, and again inside the task under the VM's lock.
func (s *Service) planResize(ctx context.Context, c *api.Call, cf *conf, in *api.VMResizeParams) (*resizePlan, error) {
	if err := checkLock(cf, in.SkipLock); err != nil {
		return nil, err
	}
	if err := checkDigest(cf, in.Digest); err != nil {
		return nil, err
	}
	value, ok := cf.Main().Get(in.Disk)
	if !ok {
		return nil, errNoDisk(in.Disk)
	}
	d, err := vmconf.ParseDrive(in.Disk, value)
	if err != nil {
		return nil, api.ParamError("disk", "%v", err)
	}
	switch {
	case d.IsCDROM():
		return nil, api.Errorf(http.StatusInternalServerError, "you can't resize a cdrom")
	case in.Disk == "efidisk0" || in.Disk == "tpmstate0":
		return nil, api.Errorf(http.StatusInternalServerError, "%s has the fixed size its firmware or TPM expects and cannot be resized", in.Disk)
	case isPath(d.File):
		return nil, api.Errorf(http.StatusInternalServerError, "%s is the host path %s, not a storage volume; grow it on the host", in.Disk, d.File)
	}
	v, err := s.openVolume(ctx, d.File)
	if err != nil {
		return nil, err
	}
	if err := checkAllocate(c, v.Storage); err != nil {
		return nil, err
	}
	if v.vol.IsBase {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is a template's base volume; linked clones depend on its size", d.File)
	}
	if v.vol.Format == "qcow2" && inSnapshots(cf.File, d.File) {
		return nil, api.Errorf(http.StatusInternalServerError, "can't resize volume: %s if snapshot exists", in.Disk)
	}
	p := &resizePlan{drive: d, vol: v}
	if _, p.running = s.paths(cf.VMID).running(); p.running {
		// QEMU holds the image open and locked, so its own view is the
		// one to read (qemu-img would be refused the lock).
		pr, err := s.watch(ctx, cf.VMID)
		if err != nil || pr == nil {
			return nil, fmt.Errorf("VM %d: cannot reach QEMU: %v", cf.VMID, err)
		}
		ld, err := findLiveDrive(ctx, pr.qmp, in.Disk)
		if err != nil {
			return nil, err
		}
		p.node, p.cur = ld.top, ld.size
	} else {
		info, err := v.st.Volume(ctx, v.Name)
		if err != nil {
			return nil, err
		}
		p.cur = info.Size
	}
	if p.cur <= 0 {
		return nil, api.Errorf(http.StatusInternalServerError, "Could not determine current size of volume '%s'", d.File)
	}
	if p.size, err = resizeTarget(p.cur, in.Size); err != nil {
		return nil, api.ParamError("size", "%v", err)
	}
	return p, nil
}

func (s *Service) resizeTask(ctx context.Context, c *api.Call, in *api.VMResizeParams) (api.Task, error) {
	if err := checkSkipLock(c, in.SkipLock); err != nil {
		return api.Task{}, err
	}
	cf, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.planResize(ctx, c, cf, in); err != nil {
		return api.Task{}, err
	}
	return vmTask("resize", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.resize(ctx, c, in, log)
	}), nil
}

// resize grows a disk. A stopped VM's volume is grown by its storage. In
// a running VM QEMU grows the image through the drive's top node, which
// also tells the guest; block storages must make room first, since
// QEMU cannot grow a device, while file images are left to QEMU alone:
// qemu-img would be refused the lock on an image in use, and for qcow2
// only the format layer may change its metadata.
func (s *Service) resize(ctx context.Context, c *api.Call, in *api.VMResizeParams, log api.TaskLog) error {
	unlock := s.lock(in.VMID)
	defer unlock()
	cf, err := s.load(in.VMID)
	if err != nil {
		return err
	}
	p, err := s.planResize(ctx, c, cf, in)
	if err != nil {
		return err
	}
	if p.size == p.cur {
		log.Printf("%s already has %s; nothing to do", in.Disk, vmconf.FormatSize(p.cur))
		return nil
	}
	if _, fileImage := p.vol.st.(storage.FileStore); !p.running || !fileImage {
		if err := p.vol.st.Resize(ctx, p.vol.Name, p.size); err != nil {
			return err
		}
	}
	if p.running {
		pr, err := s.watch(ctx, in.VMID)
		if err != nil || pr == nil {
			return fmt.Errorf("VM %d: cannot reach QEMU: %v", in.VMID, err)
		}
		if err := pr.qmp.BlockResize(ctx, p.node, p.size); err != nil {
			return fmt.Errorf("%s: growing the disk in QEMU: %w", in.Disk, err)
		}
	}
	p.drive.Size = vmconf.Opt[int64]{V: p.size, Set: true}
	if err := cf.Main().Set(in.Disk, p.drive.String()); err != nil {
		return err
	}
	if err := s.save(ctx, cf); err != nil {
		return err
	}
	log.Printf("%s: grown from %s to %s", in.Disk, vmconf.FormatSize(p.cur), vmconf.FormatSize(p.size))
	return nil
}

// unlink takes disks out of the configuration through the same path as
// deleting the keys with PUT …/config, so a running VM unplugs them and
// what cannot be unplugged stays pending. unusedN entries are volumes
// nothing uses: unlinking one removes the volume (update does that for
// every deleted unusedN).
func (s *Service) unlink(ctx context.Context, c *api.Call, in *api.VMUnlinkParams) (any, error) {
	ids := schema.SplitList(in.IDList)
	if len(ids) == 0 {
		return nil, api.ParamError("idlist", "give the disks to remove, such as scsi1 or unused0")
	}
	for _, k := range ids {
		if !vmconf.IsDriveKey(k) && !isUnusedKey(k) {
			return nil, api.ParamError("idlist", "'%s' is not a disk; give drive keys (scsi0, virtio1, efidisk0, …) or unusedN", k)
		}
	}
	r := &updateRequest{vmid: in.VMID, values: map[string]string{}, deletes: slices.Compact(ids), force: in.Force}
	clean, err := s.checkUpdate(ctx, c, r)
	if err != nil {
		return nil, err
	}
	return nil, s.update(ctx, c, r, clean, discardLog{})
}
