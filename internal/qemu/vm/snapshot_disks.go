package vm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// snapMethod is how the snapshot of one disk is kept.
type snapMethod int

const (
	// snapInternal: a qcow2 image keeps the snapshot inside itself.
	// qemu-img writes it while the VM is stopped; while it runs, QEMU
	// holds the image and must write it (QMP), which also keeps the
	// snapshot consistent with what the guest has written so far.
	snapInternal snapMethod = iota
	// snapStorage: the storage snapshots the volume (btrfs subvolume,
	// zfs dataset, rbd image, thin LV). QEMU knows nothing of it, so a
	// running VM is paused meanwhile.
	snapStorage
)

// snapDisk is one disk a snapshot covers.
type snapDisk struct {
	Key    string // drive key in the section, such as scsi0
	VolID  string
	Format string
	Method snapMethod
	vol    *volume
	snap   storage.Snapshotter
}

// snapshotsDisk reports whether a drive takes part in snapshots. CD-ROM
// drives (ISOs, the cloud-init image, which is generated anew at each
// start) and empty drives do not; every other drive does, the EFI vars
// and the TPM state included, as they belong to the guest's state.
func snapshotsDisk(d *vmconf.Drive) bool {
	return !d.IsCDROM() && !d.IsNone() && d.File != "cdrom" && !d.IsCloudInit()
}

// snapFormat is the image format of a drive's volume.
func snapFormat(d *vmconf.Drive, v *volume) string {
	switch {
	case d.Format != "":
		return d.Format
	case v.vol.Format != "":
		return v.vol.Format
	}
	return "raw"
}

// diskSnapshots finds the disks of a configuration section and how each
// keeps snapshots. Every disk that cannot is one entry of problems,
// naming the disk, its format and the storage type: the caller refuses
// (create, rollback) or, when forced, warns and goes on (delete).
func (s *Service) diskSnapshots(ctx context.Context, sec *guestconf.Section) (disks []snapDisk, problems []error) {
	for _, key := range vmconf.DriveKeys() {
		value, ok := sec.Get(key)
		if !ok {
			continue
		}
		d, err := vmconf.ParseDrive(key, value)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", key, err))
			continue
		}
		if !snapshotsDisk(d) {
			continue
		}
		if isPath(d.File) {
			problems = append(problems, fmt.Errorf("%s: %s is a host path, not a volume on a storage; only storage volumes can have snapshots", key, d.File))
			continue
		}
		v, err := s.openVolume(ctx, d.File)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", key, err))
			continue
		}
		disk, err := s.snapDiskOf(key, d, v)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		disks = append(disks, disk)
	}
	return disks, problems
}

// snapDiskOf decides how a volume keeps snapshots, or why it cannot:
// qcow2 images keep them inside on any file storage; other formats need
// a storage type that snapshots them (Info.Snapshots).
func (s *Service) snapDiskOf(key string, d *vmconf.Drive, v *volume) (snapDisk, error) {
	format := snapFormat(d, v)
	var formats []string
	if p, ok := s.o.Storage.Plugin(v.cfg.Type); ok {
		formats = p.Info().Snapshots
	}
	_, isFile := v.st.(storage.FileStore)
	sn, hasSnap := v.st.(storage.Snapshotter)
	fail := func(why string) error {
		return fmt.Errorf("snapshot feature is not available: %s (%s) is a %s volume on storage '%s' of type %s, %s",
			key, d.File, format, v.Storage, v.cfg.Type, why)
	}
	switch {
	case v.vol.IsBase:
		return snapDisk{}, fail("a template's base volume, which never changes")
	case !hasSnap || len(formats) == 0 && !isFile:
		return snapDisk{}, fail("which has no snapshots")
	case format == "qcow2" && (isFile || slices.Contains(formats, format)):
		method := snapInternal
		if key == "tpmstate0" {
			// The TPM emulator, not QEMU, has the state open: the image
			// is never a QEMU block node, so qemu-img handles it.
			method = snapStorage
		}
		return snapDisk{Key: key, VolID: d.File, Format: format, Method: method, vol: v, snap: sn}, nil
	case slices.Contains(formats, format):
		return snapDisk{Key: key, VolID: d.File, Format: format, Method: snapStorage, vol: v, snap: sn}, nil
	}
	allowed := slices.Clone(formats)
	if isFile && !slices.Contains(allowed, "qcow2") {
		allowed = append(allowed, "qcow2")
	}
	list := allowed[len(allowed)-1]
	if len(allowed) > 1 {
		list = strings.Join(allowed[:len(allowed)-1], ", ") + " or " + list
	}
	return snapDisk{}, fail("which keeps snapshots only of " + list + " volumes")
}

// joinProblems makes one error of the problems of diskSnapshots.
func joinProblems(problems []error) error {
	if len(problems) == 1 {
		return problems[0]
	}
	return errors.Join(problems...)
}

// byMethod splits disks into those with internal snapshots and the others.
func byMethod(disks []snapDisk) (internal, other []snapDisk) {
	for _, d := range disks {
		if d.Method == snapInternal {
			internal = append(internal, d)
		} else {
			other = append(other, d)
		}
	}
	return internal, other
}

// nodeNames returns the QEMU block node of each disk: the top node of
// its drive, which is a root node as blockdev-snapshot-internal-sync
// requires; QEMU passes snapshot calls through filter nodes down to the
// qcow2 format node. The running VM is asked, as a live move renames the
// nodes of the drive it moved.
func nodeNames(ctx context.Context, p *proc, disks []snapDisk) []string {
	out := make([]string, len(disks))
	for i, d := range disks {
		out[i] = liveNode(ctx, p, d.Key)
	}
	return out
}

// featureOK answers the feature check for one volume: snapshot needs a
// format the storage snapshots; clone (a linked clone) needs a template's
// base volume on a storage with linked clones; copy works on every
// current or base volume, and from a snapshot where snapshots can be read.
func (s *Service) featureOK(feature string, key string, d *vmconf.Drive, v *volume, fromSnap bool) bool {
	_, snapErr := s.snapDiskOf(key, d, v)
	switch feature {
	case "snapshot":
		return snapErr == nil
	case "clone":
		p, ok := s.o.Storage.Plugin(v.cfg.Type)
		_, cloner := v.st.(storage.Cloner)
		return ok && !fromSnap && v.vol.IsBase && p.Info().LinkedClones && cloner
	case "copy":
		if fromSnap {
			return snapErr == nil
		}
		return true
	}
	return false
}
