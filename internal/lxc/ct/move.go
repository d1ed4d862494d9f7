package ct

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Moving a volume of a container: to another storage, which copies it
// (the container must be stopped, since nothing stops it from writing
// meanwhile), or to another container on this node, which renames it to
// its new owner. The copy machinery here serves full clones too.

// lockMove is the lock a move holds on the container, as Proxmox VE's.
const lockMove = "disk"

// movePlan is a checked move of one volume to another storage.
type movePlan struct {
	key    string
	mp     *ctconf.MountPoint // nil for an unusedN entry
	src    *ctVolume
	target string
	size   int64
	uid    int
	gid    int
	del    bool
	kibps  float64
}

func (s *Service) moveVolumeTask(ctx context.Context, c *api.Call, in *api.CTMoveVolumeParams) (api.Task, error) {
	reassign := (in.TargetVMID != 0 && in.TargetVMID != in.VMID) || in.TargetVolume != ""
	switch {
	case reassign && in.Storage != "":
		return api.Task{}, api.ParamError("storage", "give either a storage to move the volume to or a container to give it to (target-vmid), not both")
	case !reassign && in.Storage == "":
		return api.Task{}, api.ParamError("storage", "give the storage to move the volume to, or a container to give it to with target-vmid")
	}
	if reassign {
		if err := s.reassign(ctx, c, in, nil); err != nil {
			return api.Task{}, err
		}
		return ctTask("move_volume", in.VMID, func(ctx context.Context, log api.TaskLog) error {
			return s.reassign(ctx, c, in, log)
		}), nil
	}
	cf, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.planMove(ctx, c, cf, in); err != nil {
		return api.Task{}, err
	}
	return ctTask("move_volume", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.moveVolume(ctx, c, in, log)
	}), nil
}

// planMove checks a move to another storage against the configuration.
// It runs for the call, so that mistakes fail the call, and again in
// the task as the lock is taken.
func (s *Service) planMove(ctx context.Context, c *api.Call, cf *guestconf.Config, in *api.CTMoveVolumeParams) (*movePlan, error) {
	if err := s.repo.CheckLock(cf, false); err != nil {
		return nil, err
	}
	if err := s.repo.CheckDigest(cf, in.Digest); err != nil {
		return nil, err
	}
	value, ok := cf.Main().Get(in.Volume)
	if !ok {
		return nil, errNoVolume(cf.VMID, in.Volume)
	}
	if _, pending := cf.File.Pending.Get(in.Volume); pending {
		return nil, api.Errorf(http.StatusInternalServerError, "%s has a pending change; apply it (restart the container) or revert it first", in.Volume)
	}
	if marked, _ := cf.File.IsPendingDelete(in.Volume); marked {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is pending removal; apply or revert that first", in.Volume)
	}
	if _, running := s.running(cf.VMID); running {
		return nil, api.Errorf(http.StatusInternalServerError, "CT %d is running: stop it to move %s to another storage", cf.VMID, in.Volume)
	}
	if cf.Main().Value("template") == "1" {
		return nil, api.Errorf(http.StatusInternalServerError, "CT %d is a template; linked clones depend on its volumes staying where they are", cf.VMID)
	}
	p := &movePlan{key: in.Volume, target: in.Storage, del: in.Delete}
	volid := value
	if !ctconf.IsUnusedKey(in.Volume) {
		mp, err := ctconf.ParseMountPoint(in.Volume, value)
		if err != nil {
			return nil, api.ParamError("volume", "%v", err)
		}
		if !mp.IsVolume() {
			return nil, api.Errorf(http.StatusInternalServerError, "%s is the host path %s, not a storage volume; it cannot be moved", in.Volume, mp.Volume)
		}
		p.mp, volid = mp, mp.Volume
	}
	src, err := s.openVolume(ctx, in.Volume, volid)
	if err != nil {
		return nil, err
	}
	src.mp, p.src = p.mp, src
	if src.vol.IsBase {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is a template's base volume; linked clones depend on it staying where it is", volid)
	}
	if in.Delete && inSnapshots(cf.File, volid) {
		return nil, api.Errorf(http.StatusInternalServerError, "you can't move a volume with snapshots and delete the source")
	}
	cfg, _, err := s.o.Storage.Open(ctx, in.Storage)
	if err != nil {
		return nil, api.ParamError("storage", "%v", err)
	}
	if !cfg.Holds(storage.Rootdir) {
		return nil, api.ParamError("storage", "storage '%s' does not hold container volumes (content rootdir)", in.Storage)
	}
	if src.Storage == in.Storage {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is on storage '%s' already", in.Volume, in.Storage)
	}
	if err := checkSpace(c, in.Storage); err != nil {
		return nil, err
	}
	if p.size, err = s.volumeSize(ctx, src, ""); err != nil {
		return nil, err
	}
	if _, err := s.copyFormat(cfg, src.format(), p.size); err != nil {
		return nil, fmt.Errorf("%s: %w", in.Volume, err)
	}
	p.uid, p.gid = rootOwner(cf.Main())
	p.kibps = s.bandwidthLimit(ctx, c, "move", in.BWLimit, src.Storage, in.Storage)
	return p, nil
}

// moveVolume copies a volume of a stopped container to another storage
// while the container is locked, then points the configuration at the
// copy; the old volume is removed, or kept as unusedN.
func (s *Service) moveVolume(ctx context.Context, c *api.Call, in *api.CTMoveVolumeParams, log api.TaskLog) (err error) {
	var p *movePlan
	_, err = s.repo.Edit(ctx, in.VMID, func(cf *guestconf.Config) error {
		var err error
		if p, err = s.planMove(ctx, c, cf, in); err != nil {
			return err
		}
		return cf.Main().Set("lock", lockMove)
	})
	if err != nil {
		return err
	}
	locked := true
	defer func() {
		if locked {
			if cerr := s.repo.ClearLock(context.WithoutCancel(ctx), in.VMID, lockMove); cerr != nil {
				log.Warnf("%v", cerr)
			}
		}
	}()
	log.Printf("moving %s (%s) to storage '%s'", p.key, p.src.ID, p.target)
	volid, err := s.copyVolume(ctx, copyJob{src: p.src, vmid: in.VMID, target: p.target, size: p.size,
		uid: p.uid, gid: p.gid, kibps: p.kibps}, log)
	if err != nil {
		return fmt.Errorf("%s: %w", p.key, err)
	}
	keep, snapshots := !p.del, false
	_, err = s.repo.Edit(context.WithoutCancel(ctx), in.VMID, func(cf *guestconf.Config) error {
		if l := cf.Main().Value("lock"); l != lockMove {
			return fmt.Errorf("CT %d: expected lock '%s', found '%s'", in.VMID, lockMove, l)
		}
		value := volid
		if p.mp != nil {
			mp := *p.mp
			mp.Volume = volid
			if p.size > 0 {
				mp.Size = ctconf.Some(p.size)
			}
			value = mp.String()
		}
		if err := cf.Main().Set(p.key, value); err != nil {
			return err
		}
		snapshots = inSnapshots(cf.File, p.src.ID)
		if keep && !snapshots {
			addUnused(cf.Main(), p.src.ID)
		}
		cf.Main().Delete("lock")
		return nil
	})
	if err != nil {
		if ferr := s.freeVolume(context.WithoutCancel(ctx), volid); ferr != nil {
			log.Warnf("removing %s: %v", volid, ferr)
		}
		return err
	}
	locked = false
	switch {
	case snapshots:
		log.Printf("the old volume %s stays for the snapshots that use it", p.src.ID)
	case keep:
		log.Printf("the old volume %s is kept as an unused volume", p.src.ID)
	default:
		if ferr := p.src.st.Free(context.WithoutCancel(ctx), p.src.Name); ferr != nil {
			log.Warnf("removing the old volume %s: %v", p.src.ID, ferr)
		} else {
			log.Printf("removed the old volume %s", p.src.ID)
		}
	}
	log.Printf("%s moved to %s", p.key, volid)
	return nil
}

// reassign gives a volume of a container to another container of this
// node (or moves it to another key of the same one), as Proxmox VE's
// move_volume with target-vmid does: the storage renames the volume to
// its new owner and both configurations change. With a nil log it only
// checks. Both containers' mutexes are held throughout, the lower id's
// first, so two reassignments between the same pair never deadlock.
func (s *Service) reassign(ctx context.Context, c *api.Call, in *api.CTMoveVolumeParams, log api.TaskLog) error {
	dstID := in.TargetVMID
	if dstID == 0 {
		dstID = in.VMID
	}
	dstKey := in.TargetVolume
	if dstKey == "" {
		dstKey = in.Volume
	}
	for _, id := range []int{min(in.VMID, dstID), max(in.VMID, dstID)} {
		unlock := s.repo.Lock(id)
		defer unlock()
		if in.VMID == dstID {
			break
		}
	}
	src, err := s.repo.Load(in.VMID)
	if err != nil {
		return err
	}
	dst := src
	if dstID != in.VMID {
		if c != nil && c.Perm != nil && !c.Perm.Has("/vms/"+strconv.Itoa(dstID), "VM.Config.Disk") {
			return &api.Denied{Path: "/vms/" + strconv.Itoa(dstID), Priv: "VM.Config.Disk"}
		}
		if dst, err = s.repo.Load(dstID); err != nil {
			return api.ParamError("target-vmid", "CT %d is not on this node: %v", dstID, err)
		}
	}
	rp, err := s.planReassign(ctx, src, dst, in.Volume, dstKey, in.Digest, in.TargetDigest)
	if err != nil || log == nil {
		return err
	}
	newID := rp.v.ID
	if dstID != in.VMID {
		name, err := rp.ren.Rename(ctx, rp.v.Name, dstID, "")
		if err != nil {
			return fmt.Errorf("%s: giving %s to CT %d: %w", in.Volume, rp.v.ID, dstID, err)
		}
		newID = rp.v.Storage + ":" + name
		log.Printf("%s: %s renamed to %s", in.Volume, rp.v.ID, newID)
	}
	value := newID
	if rp.mp != nil && !ctconf.IsUnusedKey(dstKey) {
		mp := *rp.mp
		mp.Volume = newID
		value = mp.String()
	}
	src.Main().Delete(in.Volume)
	if _, running := s.running(dstID); running && !ctconf.IsUnusedKey(dstKey) {
		// A running container mounts new volumes at its next start.
		if err := dst.File.Pending.Set(dstKey, value); err != nil {
			return err
		}
		log.Printf("CT %d is running: %s is mounted at its next start", dstID, dstKey)
	} else if err := dst.Main().Set(dstKey, value); err != nil {
		return err
	}
	// The target is written first: should the source fail after it, the
	// volume is still named by a configuration.
	if err := s.repo.Save(ctx, dst); err != nil {
		if newID != rp.v.ID {
			_, name, _ := storage.ParseVolumeID(newID)
			if _, rerr := rp.ren.Rename(context.WithoutCancel(ctx), name, in.VMID, rp.v.vol.Name); rerr != nil {
				log.Warnf("giving %s back to CT %d: %v", newID, in.VMID, rerr)
			}
		}
		return err
	}
	if dst != src {
		if err := s.repo.Save(ctx, src); err != nil {
			return fmt.Errorf("CT %d has %s now as %s, but CT %d still names it as %s (remove that line by hand): %w",
				dstID, newID, dstKey, in.VMID, in.Volume, err)
		}
	}
	log.Printf("%s of CT %d is %s of CT %d now", in.Volume, in.VMID, dstKey, dstID)
	return nil
}

// reassignPlan is a checked reassignment.
type reassignPlan struct {
	mp  *ctconf.MountPoint // nil when the source key is unusedN
	v   *ctVolume
	ren storage.Renamer
}

// planReassign checks a reassignment with Proxmox VE's rules: no root
// file system on either side, an unused volume becomes only an unused
// one, the target key is free, neither container is a template or
// locked, the volume is a storage volume of its own that no snapshot
// uses, and a mounted volume leaves a stopped container only.
func (s *Service) planReassign(ctx context.Context, src, dst *guestconf.Config, srcKey, dstKey, digest, dstDigest string) (*reassignPlan, error) {
	switch {
	case srcKey == "rootfs" || dstKey == "rootfs":
		return nil, api.ParamError("target-volume", "a root file system cannot be given to another container or key; "+
			"move it to another storage instead")
	case ctconf.IsUnusedKey(srcKey) && !ctconf.IsUnusedKey(dstKey):
		return nil, api.ParamError("target-volume", "an unused volume has no mount path and can only become an unused volume (unusedN)")
	case src == dst && srcKey == dstKey:
		return nil, api.ParamError("target-volume", "%s of CT %d is where it is already", srcKey, src.VMID)
	}
	for _, cf := range []*guestconf.Config{src, dst} {
		if err := s.repo.CheckLock(cf, false); err != nil {
			return nil, err
		}
		if cf.Main().Value("template") == "1" {
			return nil, api.Errorf(http.StatusInternalServerError, "CT %d is a template; volumes neither leave nor join a template", cf.VMID)
		}
	}
	if err := s.repo.CheckDigest(src, digest); err != nil {
		return nil, err
	}
	if err := s.repo.CheckDigest(dst, dstDigest); err != nil {
		return nil, err
	}
	value, ok := src.Main().Get(srcKey)
	if !ok {
		return nil, errNoVolume(src.VMID, srcKey)
	}
	if _, taken := dst.Main().Get(dstKey); taken {
		return nil, api.ParamError("target-volume", "CT %d has %s already", dst.VMID, dstKey)
	}
	if _, taken := dst.File.Pending.Get(dstKey); taken {
		return nil, api.ParamError("target-volume", "CT %d has a pending %s already", dst.VMID, dstKey)
	}
	rp := &reassignPlan{}
	volid := value
	if !ctconf.IsUnusedKey(srcKey) {
		mp, err := ctconf.ParseMountPoint(srcKey, value)
		if err != nil {
			return nil, api.ParamError("volume", "%v", err)
		}
		if !mp.IsVolume() {
			return nil, api.Errorf(http.StatusInternalServerError, "%s is the host path %s; only storage volumes move to another container", srcKey, mp.Volume)
		}
		if _, running := s.running(src.VMID); running {
			return nil, api.Errorf(http.StatusInternalServerError, "CT %d is running and mounts %s; stop it, or detach the volume first", src.VMID, srcKey)
		}
		rp.mp, volid = mp, mp.Volume
	}
	if inSnapshots(src.File, volid) {
		return nil, api.Errorf(http.StatusInternalServerError, "a snapshot of CT %d uses %s; it cannot move to another container", src.VMID, volid)
	}
	v, err := s.openVolume(ctx, srcKey, volid)
	if err != nil {
		return nil, err
	}
	rp.v = v
	if v.vol.VMID != src.VMID {
		return nil, api.Errorf(http.StatusInternalServerError, "%s: volume %s belongs to guest %d, not to CT %d", srcKey, volid, v.vol.VMID, src.VMID)
	}
	if src != dst {
		ren, ok := v.st.(storage.Renamer)
		if !ok {
			return nil, api.Errorf(http.StatusInternalServerError, "storage '%s' of type %s cannot rename volumes, so %s cannot change owner", v.Storage, v.cfg.Type, volid)
		}
		rp.ren = ren
	}
	return rp, nil
}

// copyJob is one volume copy: the data of src (of its snapshot snap, if
// set) into a new volume of vmid on storage target, of size bytes (0: a
// subvolume without size), whose top directory uid:gid owns.
type copyJob struct {
	src    *ctVolume
	snap   string
	vmid   int
	target string
	size   int64
	uid    int
	gid    int
	kibps  float64 // bandwidth limit; 0 for none
}

// copyFormat picks the format of a copy on a storage: the source's when
// the storage holds it as it is (a subvolume with a size only where
// subvolumes have one), else what a new volume of that size gets there.
func (s *Service) copyFormat(cfg storage.Config, srcFormat string, size int64) (string, error) {
	return copyFormatOf(cfg, s.info(cfg).Formats, srcFormat, size)
}

// copyFormatOf is copyFormat for a storage type holding formats.
func copyFormatOf(cfg storage.Config, formats []string, srcFormat string, size int64) (string, error) {
	sized := subvolsHaveSize(cfg.Type)
	switch {
	case srcFormat == "subvol" && slices.Contains(formats, "subvol") && (size == 0 || sized):
		return "subvol", nil
	case srcFormat == "raw" && slices.Contains(formats, "raw"):
		return "raw", nil
	case size == 0 || sized:
		if !slices.Contains(formats, "subvol") {
			return "", fmt.Errorf("storage '%s' of type %s cannot hold a container volume without a size (a directory); "+
				"give the volume a size first or choose a storage with subvolumes", cfg.ID, cfg.Type)
		}
		return "subvol", nil
	case !slices.Contains(formats, "raw"):
		return "", fmt.Errorf("storage '%s' of type %s cannot hold container volumes", cfg.ID, cfg.Type)
	}
	return "raw", nil
}

// copyVolume makes the new volume of a copy job and returns its id. A
// volume that keeps its format travels as the storage layer's export
// stream (raw+size for images, tar+size for subvolumes) where both
// storages have them, else by copying its image or its files; one that
// changes format (a sized subvolume onto a storage whose subvolumes have
// no size) is made as a container volume there, and both file systems
// are mounted to copy the files. A failed copy leaves no new volume.
func (s *Service) copyVolume(ctx context.Context, j copyJob, log api.TaskLog) (string, error) {
	cfg, dst, err := s.o.Storage.Open(ctx, j.target)
	if err != nil {
		return "", err
	}
	format, err := s.copyFormat(cfg, j.src.format(), j.size)
	if err != nil {
		return "", err
	}
	if format != j.src.format() {
		return s.copyFiles(ctx, j, log)
	}
	if volid, ok, err := s.copyStream(ctx, j, dst, format, log); ok {
		return volid, err
	}
	name, err := dst.Alloc(ctx, j.vmid, "", format, j.size)
	if err != nil {
		return "", fmt.Errorf("allocating %s on '%s': %w", vmconf.FormatSize(j.size), j.target, err)
	}
	volid := j.target + ":" + name
	err = s.copyByPath(ctx, j, dst, name, format, log)
	if err != nil {
		if ferr := dst.Free(context.WithoutCancel(ctx), name); ferr != nil {
			log.Warnf("removing %s: %v", volid, ferr)
		}
		return "", err
	}
	return volid, nil
}

// streamFormats are the export streams every storage type reads, by
// volume format.
var streamFormats = map[string]string{"raw": "raw+size", "subvol": "tar+size"}

// copyStream copies through the storages' export and import when both
// have the stream; ok is false when they do not.
func (s *Service) copyStream(ctx context.Context, j copyJob, dst storage.Storage, format string, log api.TaskLog) (volid string, ok bool, err error) {
	stream := streamFormats[format]
	ex, canExport := j.src.st.(storage.Exporter)
	im, canImport := dst.(storage.Exporter)
	if stream == "" || !canExport || !canImport || !slices.Contains(ex.ExportFormats(ctx, j.src.Name), stream) {
		return "", false, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := ex.Export(ctx, j.src.Name, stream, j.snap, pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	total := int64(0)
	if format == "raw" {
		total = j.size
	}
	name, err := im.Import(ctx, newMeter(ctx, pr, j.kibps, total, log), j.vmid, "", stream)
	if err == nil {
		// Let the export end on its own: the import may stop reading
		// before the stream's last padding.
		_, _ = io.Copy(io.Discard, pr)
	} else {
		cancel()
		pr.CloseWithError(err)
	}
	if eerr := <-errc; eerr != nil && err == nil {
		err = eerr
	}
	volid = j.target + ":" + name
	if err == nil && format == "subvol" && j.size > 0 {
		// An imported subvolume has no size yet; the storage gives it one.
		err = dst.Resize(ctx, name, j.size)
	}
	if err != nil {
		if name != "" {
			if ferr := dst.Free(context.WithoutCancel(ctx), name); ferr != nil {
				log.Warnf("removing %s: %v", volid, ferr)
			}
		}
		return "", true, err
	}
	return volid, true, nil
}

// copyByPath copies into an allocated volume of the same format: an
// image byte by byte, a subvolume file by file.
func (s *Service) copyByPath(ctx context.Context, j copyJob, dst storage.Storage, name, format string, log api.TaskLog) error {
	sa, err := j.src.st.Attach(ctx, j.src.Name, j.snap)
	if err != nil {
		return err
	}
	da, err := dst.Attach(ctx, name, "")
	if err != nil {
		return err
	}
	if sa.Path == "" || da.Path == "" {
		return fmt.Errorf("%s cannot be copied to storage '%s': the storages share no export stream and one has no local path", j.src.ID, j.target)
	}
	if format == "subvol" {
		return s.copyTree(ctx, sa.Path, da.Path, j.kibps)
	}
	return copyImage(ctx, sa.Path, da.Path, j.size, j.kibps, log)
}

// copyImage copies a raw image (file or device) into another. Into a
// regular file, blocks of zeros are skipped and stay holes; a device gets
// every block, as it may hold old data.
func copyImage(ctx context.Context, from, to string, size int64, kibps float64, log api.TaskLog) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	fi, err := out.Stat()
	if err != nil {
		return err
	}
	sparse := fi.Mode().IsRegular()
	r := newMeter(ctx, in, kibps, size, log)
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if !sparse || !allZero(buf[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					return err
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if sparse {
		if err := out.Truncate(off); err != nil {
			return err
		}
	}
	return out.Sync()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// copyFiles copies a volume into a new container volume of another
// format: the new volume is made as for a new container (a file system
// on an image, or a subvolume), both are mounted, and the files copied.
func (s *Service) copyFiles(ctx context.Context, j copyJob, log api.TaskLog) (volid string, err error) {
	volid, err = s.allocVolume(ctx, j.vmid, j.target, j.size, j.uid, j.gid, log)
	defer func() {
		if err != nil && volid != "" {
			if ferr := s.freeVolume(context.WithoutCancel(ctx), volid); ferr != nil {
				log.Warnf("removing %s: %v", volid, ferr)
			}
			volid = ""
		}
	}()
	if err != nil {
		return volid, err
	}
	dst, err := s.openVolume(ctx, j.src.Key, volid)
	if err != nil {
		return volid, err
	}
	from, release, err := s.mountVolume(ctx, j.src, j.snap, true)
	if err != nil {
		return volid, err
	}
	defer release()
	to, release2, err := s.mountVolume(ctx, dst, "", false)
	if err != nil {
		return volid, err
	}
	defer release2()
	log.Printf("%s: copying the files of %s (%s) into %s (%s)", j.src.Key, j.src.ID, j.src.format(), volid, dst.format())
	return volid, s.copyTree(ctx, from, to, j.kibps)
}

// mountVolume makes a volume's files reachable on the host: a subvolume
// is a directory already; an image or device is mounted on a temporary
// directory, the way the start hook mounts it. release unmounts.
func (s *Service) mountVolume(ctx context.Context, v *ctVolume, snap string, ro bool) (string, func(), error) {
	a, err := v.st.Attach(ctx, v.Name, snap)
	if err != nil {
		return "", nil, err
	}
	if a.Mount == nil {
		return "", nil, fmt.Errorf("volume %s cannot be mounted", v.ID)
	}
	if a.Mount.Bind {
		return a.Mount.Source, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "hearth-ct-copy-")
	if err != nil {
		return "", nil, err
	}
	plan := &hook.Plan{Root: dir, Mounts: []hook.Mount{{Key: v.Key, Source: a.Mount.Source, Target: "/",
		FSType: a.Mount.FSType, Loop: a.Mount.Loop, ReadOnly: ro, Options: a.Mount.Options}}}
	if err := hook.MountAll(plan); err != nil {
		_ = os.Remove(dir)
		return "", nil, fmt.Errorf("mounting %s: %w", v.ID, err)
	}
	return dir, func() {
		if err := hook.UnmountAll(dir); err != nil {
			s.o.Log.Warn("unmounting a copied volume", "volume", v.ID, "error", err)
			return
		}
		_ = os.Remove(dir)
	}, nil
}

// tarFlags keep what a container's files carry: numeric owners (shifted
// ones of unprivileged containers included), permissions, ACLs, the
// extended attributes containers use, holes; and stay on one file system.
var tarFlags = []string{"--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
	"--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored"}

// copyTree copies the files of one directory into another through a
// pair of tar processes, at most kibps KiB/s.
func (s *Service) copyTree(ctx context.Context, from, to string, kibps float64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		args := append(slices.Clone(tarFlags), "-C", from, "-cf", "-", ".")
		_, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "tar", Args: args, Stdout: pw})
		pw.CloseWithError(err)
		errc <- err
	}()
	args := append(slices.Clone(tarFlags), "-C", to, "-xf", "-")
	_, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "tar", Args: args, Stdin: newMeter(ctx, pr, kibps, 0, nil)})
	if err == nil {
		_, _ = io.Copy(io.Discard, pr)
	} else {
		cancel()
		pr.CloseWithError(err)
	}
	if serr := <-errc; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("copying the files of %s: %w", from, err)
	}
	return nil
}
