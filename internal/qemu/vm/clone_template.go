package vm

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Turning a VM into a template renames each of its disks to a base
// volume (vm-100-disk-0 → base-100-disk-0), which the storage makes
// read-only, and marks the configuration with template: 1; start then
// refuses the VM. A disk on a storage without linked clones (plain LVM,
// iSCSI LUNs, host paths) cannot become a base volume; as on Proxmox VE
// the conversion is refused, but here before anything is renamed, so a
// refused VM is left exactly as it was: move such disks to a storage
// with linked clones first.

// baseConversion is one disk a template conversion renames.
type baseConversion struct {
	key   string
	drive *vmconf.Drive
	vol   *volume
	cl    storage.Cloner
}

func (s *Service) templateTask(ctx context.Context, _ *api.Call, in *api.VMTemplateParams) (api.Task, error) {
	cf, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.planTemplate(ctx, cf, in.Disk); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmtemplate", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.makeTemplate(ctx, in.VMID, in.Disk, log)
	}), nil
}

// planTemplate checks that the VM as read in cf can become a template
// (or, with disk, that this disk can become a base volume) and lists the
// disks to rename.
func (s *Service) planTemplate(ctx context.Context, cf *conf, disk string) ([]baseConversion, error) {
	vmid := cf.VMID
	if err := checkLock(cf, false); err != nil {
		return nil, err
	}
	if len(cf.File.SnapshotNames()) > 0 {
		return nil, api.Errorf(http.StatusInternalServerError, "unable to create a template of VM %d: it has snapshots; delete them first", vmid)
	}
	if cf.Main().Value("template") == "1" && disk == "" {
		return nil, api.Errorf(http.StatusInternalServerError, "VM %d is already a template", vmid)
	}
	if _, running := s.paths(vmid).running(); running {
		return nil, api.Errorf(http.StatusInternalServerError, "VM %d is running: stop it before turning it into a template", vmid)
	}
	var out []baseConversion
	found := false
	for _, key := range vmconf.DriveKeys() {
		v, ok := cf.Main().Get(key)
		if !ok || (disk != "" && key != disk) {
			continue
		}
		found = true
		d, err := vmconf.ParseDrive(key, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if keepsDrive(d) || d.IsCloudInit() {
			if disk != "" {
				return nil, api.ParamError("disk", "%s is a CD-ROM or cloud-init drive, not a disk", key)
			}
			continue
		}
		if isPath(d.File) {
			return nil, api.Errorf(http.StatusInternalServerError, "%s: %s is a host path, which cannot become a base volume; detach it first", key, d.File)
		}
		vol, err := s.openVolume(ctx, d.File)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if vol.vol.IsBase {
			continue // converted before
		}
		if vol.vol.VMID != vmid {
			return nil, api.Errorf(http.StatusInternalServerError, "%s: volume %s belongs to VM %d; only the VM's own disks can become base volumes", key, d.File, vol.vol.VMID)
		}
		cl, ok := vol.st.(storage.Cloner)
		p, known := s.o.Storage.Plugin(vol.cfg.Type)
		if !ok || !known || !p.Info().LinkedClones {
			return nil, api.Errorf(http.StatusInternalServerError, "%s: storage '%s' of type %s cannot hold template base volumes "+
				"(it has no linked clones); move the disk to a storage that has them first", key, vol.Storage, vol.cfg.Type)
		}
		out = append(out, baseConversion{key: key, drive: d, vol: vol, cl: cl})
	}
	if disk != "" && !found {
		return nil, api.ParamError("disk", "VM %d has no drive %s", vmid, disk)
	}
	return out, nil
}

// makeTemplate converts the VM under its mutex: renaming is quick, and
// nothing else may start the VM or clone it meanwhile. Pending changes
// are applied first, as a start would, so the template is the VM as it
// would boot next.
func (s *Service) makeTemplate(ctx context.Context, vmid int, disk string, log api.TaskLog) error {
	unlock := s.lock(vmid)
	defer unlock()
	cf, err := s.load(vmid)
	if err != nil {
		return err
	}
	if _, err := s.planTemplate(ctx, cf, disk); err != nil {
		return err
	}
	changed, err := s.applyPending(ctx, cf, log)
	if err != nil {
		return err
	}
	convs, err := s.planTemplate(ctx, cf, disk)
	if err != nil {
		return err
	}
	var failed error
	done := 0
	for _, cv := range convs {
		name, err := cv.cl.CreateBase(ctx, cv.vol.Name)
		if err != nil {
			failed = fmt.Errorf("%s: %w", cv.key, err)
			break
		}
		nd := *cv.drive
		nd.File = cv.vol.Storage + ":" + name
		if err := cf.Main().Set(cv.key, nd.String()); err != nil {
			failed = err
			break
		}
		log.Printf("%s: %s is now the base volume %s", cv.key, cv.vol.ID, nd.File)
		done++
	}
	// Renamed volumes exist only under their new names: record them
	// even when a later disk failed.
	if failed == nil || done > 0 {
		if err := cf.Main().Set("template", "1"); err != nil {
			return err
		}
		changed = true
	}
	if changed || done > 0 {
		if err := s.save(ctx, cf); err != nil {
			return err
		}
	}
	if failed != nil {
		return failed
	}
	log.Printf("VM %d is a template", vmid)
	return nil
}
