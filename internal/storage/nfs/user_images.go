package nfs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/dir"
	"github.com/hearth-virt/hearth/internal/storage/nfs/nfs3"
)

// kib renders a size for qemu-img in KiB, rounded up, as Proxmox VE does.
func kib(size int64) string { return strconv.FormatInt((size+1023)/1024, 10) + "K" }

// imageNames lists the entries of vmid's image directory.
func (s *UserStore) imageNames(ctx context.Context, vmid int) ([]string, error) {
	entries, err := s.ls(ctx, strings.TrimPrefix(s.layout.ImageDir(vmid), "/"), false)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name)
	}
	return names, nil
}

// reserve creates the empty file of a new image of vmid exclusively, so
// two allocations never get the same name and nothing is overwritten,
// and returns its name.
func (s *UserStore) reserve(ctx context.Context, c *nfs3.Client, vmid int, name, format string) (string, error) {
	imgDir := strings.TrimPrefix(s.layout.ImageDir(vmid), "/")
	if err := c.MkdirAll(ctx, imgDir, 0o755); err != nil {
		return "", s.errorf("create the image directory of guest %d: %v", vmid, err)
	}
	for try := 0; ; try++ {
		taken, err := s.imageNames(ctx, vmid)
		if err != nil {
			return "", err
		}
		n, err := dir.ImageName(taken, vmid, name, format)
		if err != nil {
			return "", s.errorf("%v", err)
		}
		if unsafeURLRE.MatchString(n) {
			return "", s.errorf("%d/%s: names with '?', '#' or '%%' cannot be reached through an nfs:// URL", vmid, n)
		}
		err = c.Create(ctx, imgDir+"/"+n, 0o640)
		if errors.Is(err, fs.ErrExist) {
			if name == "" && try < 10 {
				continue // another allocation took the name meanwhile
			}
			return "", s.errorf("volume %d/%s already exists", vmid, n)
		}
		if err != nil {
			return "", s.errorf("create %d/%s: %v", vmid, n, err)
		}
		return n, nil
	}
}

// Alloc creates a raw, qcow2 or vmdk image with qemu-img through the
// nfs:// driver, over a file reserved with an exclusive create.
func (s *UserStore) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format == "" {
		format = s.layout.DefaultFormat()
	}
	switch format {
	case "raw", "qcow2", "vmdk":
	case "subvol":
		return "", s.errorf("container subvolumes need a mounted file system, and this node reaches NFS in userspace")
	default:
		return "", s.errorf("unsupported image format %q", format)
	}
	if vmid <= 0 || size < 0 {
		return "", s.errorf("invalid guest id %d or size %d", vmid, size)
	}
	c, err := s.client(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	n, err := s.reserve(ctx, c, vmid, name, format)
	if err != nil {
		return "", err
	}
	volname := strconv.Itoa(vmid) + "/" + n
	rel := strings.TrimPrefix(s.layout.ImageDir(vmid), "/") + "/" + n
	args := []string{"create"}
	if format == "qcow2" {
		args = append(args, "-o", "preallocation="+s.qcow2Prealloc())
	}
	args = append(args, "-f", format, s.url(rel), kib(size))
	if _, err := s.run(ctx, "qemu-img", args...); err != nil {
		if rerr := c.Remove(ctx, rel); rerr != nil && s.env.Log != nil {
			s.env.Log.Warn("could not remove a failed allocation", "storage", s.cfg.ID, "volume", volname, "error", rerr)
		}
		return "", s.errorf("unable to create image %s: %v", volname, err)
	}
	return volname, nil
}

// qcow2Prealloc is the preallocation of new qcow2 images. QEMU's nfs
// driver cannot preallocate data (falloc, full), so those fall back to
// metadata; raw images get no preallocation option at all, which the
// driver would refuse.
func (s *UserStore) qcow2Prealloc() string {
	switch s.prealloc {
	case "off":
		return "off"
	case "falloc", "full":
		if s.env.Log != nil {
			s.env.Log.Warn("preallocation of data is not available through QEMU's nfs driver; using metadata",
				"storage", s.cfg.ID, "preallocation", s.prealloc)
		}
	}
	return "metadata"
}

// clonesOf lists the images whose backing file is the base volume v.
func (s *UserStore) clonesOf(ctx context.Context, v storage.Vol) ([]string, error) {
	vols, err := s.listImages(ctx, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, vol := range vols {
		if vol.Parent == storage.FileVolname(storage.Vol{Content: storage.Images, VMID: v.VMID, Name: v.Name}) {
			out = append(out, vol.Volname)
		}
	}
	return out, nil
}

// Free removes a volume. A template's base volume is refused while a
// linked clone uses it, a protected backup is refused, and a backup's
// notes and log go with it.
func (s *UserStore) Free(ctx context.Context, volname string) error {
	rel, v, err := s.rel(volname)
	if err != nil {
		return err
	}
	if v.IsBase {
		clones, err := s.clonesOf(ctx, v)
		if err != nil {
			return err
		}
		if len(clones) > 0 {
			return s.errorf("base volume %s is still in use by linked clone %s", volname, strings.Join(clones, ", "))
		}
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if v.Content == storage.Backup {
		if _, err := c.Stat(ctx, rel+".protected"); err == nil {
			return s.errorf("backup %s is protected", volname)
		}
	}
	if err := c.Remove(ctx, rel); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if s.env.Log != nil {
				s.env.Log.Warn("volume to free does not exist", "storage", s.cfg.ID, "volume", volname)
			}
			return nil
		}
		return s.errorf("remove %s: %v", volname, err)
	}
	switch v.Content {
	case storage.Images:
		// Leave no empty guest directories behind; a full one stays.
		_ = c.Rmdir(ctx, path.Dir(rel))
	case storage.Backup:
		for _, extra := range backupCompanions(rel) {
			_ = c.Remove(ctx, extra)
		}
	}
	return nil
}

// backupCompanions are the files a backup archive brings along: its
// notes and its task log (named after the archive without extensions).
func backupCompanions(rel string) []string {
	stem := rel
	for _, ext := range []string{".zst", ".gz", ".lzo", ".vma", ".tar", ".tgz"} {
		stem = strings.TrimSuffix(stem, ext)
	}
	return []string{rel + ".notes", stem + ".log"}
}

// Resize grows a raw or qcow2 image (qemu-img resize through nfs://).
func (s *UserStore) Resize(ctx context.Context, volname string, size int64) error {
	rel, v, err := s.rel(volname)
	if err != nil {
		return err
	}
	if v.Content != storage.Images || (v.Format != "raw" && v.Format != "qcow2") {
		return s.errorf("cannot resize %s: only raw and qcow2 images can be resized", volname)
	}
	if v.IsBase {
		return s.errorf("cannot resize %s: it is a template's base volume", volname)
	}
	if _, err := s.run(ctx, "qemu-img", "resize", "-f", v.Format, s.url(rel), strconv.FormatInt(size, 10)); err != nil {
		return s.errorf("resize %s: %v", volname, err)
	}
	return nil
}

// Attach gives QEMU's nfs protocol node for images, ISO images and
// import files; there is no local path and no container mount.
func (s *UserStore) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	rel, v, err := s.rel(volname)
	if err != nil {
		return storage.Attachment{}, err
	}
	format := v.Format
	switch v.Content {
	case storage.Images:
		if snap != "" && v.Format != "qcow2" {
			return storage.Attachment{}, s.errorf("%s: %s volumes have no snapshots on this storage", volname, v.Format)
		}
	case storage.ISO:
		format = "raw"
	case storage.Import:
		if format == "ova" || format == "ovf" {
			return storage.Attachment{}, s.errorf("%s: an %s file is not a disk image", volname, format)
		}
	default:
		return storage.Attachment{}, s.errorf("%s: %s files cannot be attached to a guest", volname, v.Content)
	}
	c, err := s.client(ctx)
	if err != nil {
		return storage.Attachment{}, err
	}
	defer c.Close()
	if err := s.exists(ctx, c, rel, volname); err != nil {
		return storage.Attachment{}, err
	}
	return storage.Attachment{Format: format, Blockdev: map[string]any{
		"driver": "nfs",
		"server": map[string]any{"type": "inet", "host": s.server},
		"path":   s.export + "/" + rel,
	}}, nil
}

// snap runs qemu-img snapshot on a qcow2 image after checking, so that
// the answer to a duplicate or missing snapshot is clear.
func (s *UserStore) snap(ctx context.Context, volname, snap, flag, what string) error {
	rel, v, err := s.rel(volname)
	if err != nil {
		return err
	}
	if v.Content != storage.Images || v.Format != "qcow2" {
		return s.errorf("cannot %s %s: snapshots need the qcow2 format on this storage", what, volname)
	}
	if err := dir.CheckSnapName(snap); err != nil {
		return s.errorf("%v", err)
	}
	info, err := s.imgInfo(ctx, rel, "qcow2")
	if err != nil {
		return err
	}
	if has := info.HasSnapshot(snap); has && flag == "-c" {
		return s.errorf("snapshot %s of %s already exists", snap, volname)
	} else if !has && flag != "-c" {
		return s.errorf("cannot %s %s: %s has no snapshot %s", what, snap, volname, snap)
	}
	if _, err := s.run(ctx, "qemu-img", "snapshot", flag, snap, s.url(rel)); err != nil {
		return s.errorf("%s %s of %s: %v", what, snap, volname, err)
	}
	return nil
}

// Snapshot takes an internal qcow2 snapshot.
func (s *UserStore) Snapshot(ctx context.Context, volname, snap string) error {
	return s.snap(ctx, volname, snap, "-c", "snapshot")
}

// Rollback returns a qcow2 image to an internal snapshot.
func (s *UserStore) Rollback(ctx context.Context, volname, snap string) error {
	return s.snap(ctx, volname, snap, "-a", "roll back to")
}

// DeleteSnapshot removes an internal qcow2 snapshot.
func (s *UserStore) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	return s.snap(ctx, volname, snap, "-d", "delete")
}

// Rename moves an image to a new name, possibly of another guest. The
// target is reserved with an exclusive create and the image renamed over
// that placeholder, so an existing volume is never replaced.
func (s *UserStore) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	rel, v, err := s.rel(volname)
	if err != nil {
		return "", err
	}
	if v.Content != storage.Images {
		return "", s.errorf("cannot rename %s: only disk images can be renamed", volname)
	}
	if v.IsBase {
		return "", s.errorf("cannot rename %s: it is a template's base volume", volname)
	}
	if vmid == 0 {
		vmid = v.VMID
	}
	c, err := s.client(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := s.exists(ctx, c, rel, volname); err != nil {
		return "", err
	}
	n, err := s.reserve(ctx, c, vmid, name, v.Format)
	if err != nil {
		return "", err
	}
	target := strings.TrimPrefix(s.layout.ImageDir(vmid), "/") + "/" + n
	if err := c.Rename(ctx, rel, target); err != nil {
		_ = c.Remove(ctx, target)
		return "", s.errorf("rename %s: %v", volname, err)
	}
	_ = c.Rmdir(ctx, path.Dir(rel))
	nv := storage.Vol{Content: storage.Images, VMID: vmid, Name: n, Base: v.Base, BaseVMID: v.BaseVMID}
	return storage.FileVolname(nv), nil
}
