package btrfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/dir"
)

// Store is a btrfs storage. It is a dir.Store for everything kept as
// plain files (and for qcow2 or vmdk files found in images/) and handles
// raw images and subvolumes with btrfs itself.
type Store struct {
	*dir.Store
	run      runner.Runner
	nocow    bool
	prealloc string
}

// fsNoCOWFlag is the inode flag chattr +C sets (FS_NOCOW_FL).
const fsNoCOWFlag = 0x00800000

// NewStore makes the btrfs store of cfg on path.
func NewStore(cfg storage.Config, env storage.Env, path string) (*Store, error) {
	ds, err := dir.NewStore(cfg, env, path)
	if err != nil {
		return nil, err
	}
	s := &Store{Store: ds, run: ds.Env().Runner}
	if f := ds.DefaultFormat(); f != "raw" && f != "subvol" {
		return nil, s.errorf("format %s is not available: btrfs storages hold raw images and subvolumes", f)
	}
	if v, ok := cfg.Get("nocow"); ok {
		switch strings.ToLower(v) {
		case "1", "yes", "on", "true":
			s.nocow = true
		case "0", "no", "off", "false":
		default:
			return nil, s.errorf("nocow: %q is not a boolean", v)
		}
	}
	s.prealloc, _ = cfg.Get("preallocation")
	return s, nil
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("storage '%s': "+format, append([]any{s.Config().ID}, args...)...)
}

func (s *Store) warn(msg string, args ...any) {
	if l := s.Env().Log; l != nil {
		l.Warn(msg, append([]any{"storage", s.Config().ID}, args...)...)
	}
}

// btrfs runs one btrfs command quietly, as Proxmox VE does.
func (s *Store) btrfs(ctx context.Context, args ...string) error {
	_, err := s.run.Run(ctx, runner.Cmd{Name: "btrfs", Args: append([]string{"-q"}, args...)})
	return err
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Activate does what the dir type does, then makes sure the path really
// is on btrfs, so that no subvolume command runs on another file system.
func (s *Store) Activate(ctx context.Context) error {
	if err := s.Store.Activate(ctx); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.Root(), &st); err != nil {
		return s.errorf("statfs %s: %v", s.Root(), err)
	}
	if st.Type != unix.BTRFS_SUPER_MAGIC {
		return s.errorf("'%s' is not on a btrfs file system", s.Root())
	}
	return nil
}

// subvolOf is the subvolume of an image: the name without .raw for raw
// images (which hold disk.raw), the name itself for subvolumes.
func (s *Store) subvolOf(v storage.Vol) string {
	name := v.Name
	if v.Format == "raw" {
		name = strings.TrimSuffix(name, ".raw")
	}
	return filepath.Join(s.ImageDir(v.VMID), name)
}

func snapPath(sub, snap string) string { return sub + "@" + snap }

// dataPath is what a guest uses in a (snapshot) subvolume of v.
func dataPath(sub string, v storage.Vol) string {
	if v.Format == "raw" {
		return filepath.Join(sub, "disk.raw")
	}
	return sub
}

// image parses volname; ours says btrfs handles it (a raw image or a
// subvolume), otherwise it is a file the dir code handles.
func (s *Store) image(volname string) (v storage.Vol, sub string, ours bool, err error) {
	v, err = storage.ParseFileVolname(volname)
	if err != nil {
		return v, "", false, s.errorf("%v", err)
	}
	ours = (v.Content == storage.Images || v.Content == storage.Rootdir) && (v.Format == "raw" || v.Format == "subvol") && v.Base == ""
	return v, s.subvolOf(v), ours, nil
}

// snapshotsOf lists the snapshot subvolumes (<sub>@<name>) of sub.
func snapshotsOf(sub string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Dir(sub))
	if err != nil {
		return nil, err
	}
	var out []string
	prefix := filepath.Base(sub) + "@"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join(filepath.Dir(sub), e.Name()))
		}
	}
	return out, nil
}

// create makes a new image subvolume of vmid: it picks or checks the
// name, lets mk create the subvolume (btrfs refuses to create over an
// existing one) and fill its content; if fill fails the subvolume goes.
func (s *Store) create(ctx context.Context, vmid int, name, format string, mk, fill func(sub string) error) (string, error) {
	if vmid <= 0 {
		return "", s.errorf("invalid guest id %d", vmid)
	}
	imgDir := s.ImageDir(vmid)
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return "", s.errorf("create the image directory of guest %d: %v", vmid, err)
	}
	for try := 0; ; try++ {
		taken, err := s.TakenNames(vmid)
		if err != nil {
			return "", err
		}
		n, err := dir.ImageName(taken, vmid, name, format)
		if err != nil {
			return "", s.errorf("%v", err)
		}
		sub := s.subvolOf(storage.Vol{Name: n, VMID: vmid, Format: format})
		if exists(sub) || exists(filepath.Join(imgDir, n)) {
			if name == "" && try < 10 {
				continue
			}
			return "", s.errorf("volume %d/%s already exists", vmid, n)
		}
		if err := mk(sub); err != nil {
			return "", s.errorf("create %d/%s: %v", vmid, n, err)
		}
		if fill != nil {
			if err := fill(sub); err != nil {
				if derr := s.btrfs(ctx, "subvolume", "delete", "--", sub); derr != nil {
					s.warn("could not remove a half-made subvolume", "subvolume", sub, "error", derr)
				}
				return "", err
			}
		}
		return fmt.Sprintf("%d/%s", vmid, n), nil
	}
}

func (s *Store) mkSubvol(ctx context.Context) func(string) error {
	return func(sub string) error { return s.btrfs(ctx, "subvolume", "create", "--", sub) }
}

// Alloc creates a raw image in a subvolume of its own, or a subvolume. A
// sized subvolume gets a quota group limit, which needs quotas enabled
// on the file system.
func (s *Store) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format == "" {
		format = s.DefaultFormat()
	}
	if size < 0 {
		return "", s.errorf("invalid size %d", size)
	}
	switch format {
	case "subvol":
		return s.create(ctx, vmid, name, format, s.mkSubvol(ctx), func(sub string) error {
			if size == 0 {
				return nil
			}
			return s.limit(ctx, sub, size)
		})
	case "raw":
		return s.create(ctx, vmid, name, format, s.mkSubvol(ctx), func(sub string) error {
			return s.createRaw(filepath.Join(sub, "disk.raw"), size)
		})
	}
	return "", s.errorf("unsupported image format %q: btrfs storages hold raw images and subvolumes", format)
}

// createRaw makes disk.raw exclusively, without copy-on-write when nocow
// is set (the flag only takes on an empty file), and gives it its size:
// sparse, or allocated when preallocation asks for falloc or full (both
// reserve the extents on btrfs).
func (s *Store) createRaw(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return s.errorf("create %s: %v", path, err)
	}
	defer f.Close()
	if s.nocow {
		fd := int(f.Fd())
		flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		if err == nil {
			err = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsNoCOWFlag))
		}
		if err != nil {
			return s.errorf("turn off copy-on-write for %s: %v", path, err)
		}
	}
	size = (size + 1023) / 1024 * 1024
	if size == 0 {
		return nil
	}
	if s.prealloc == "falloc" || s.prealloc == "full" {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			return s.errorf("allocate %d bytes for %s: %v", size, path, err)
		}
		return nil
	}
	if err := f.Truncate(size); err != nil {
		return s.errorf("set the size of %s: %v", path, err)
	}
	return nil
}

// limit caps a subvolume's referenced space with its quota group.
func (s *Store) limit(ctx context.Context, sub string, size int64) error {
	if err := s.btrfs(ctx, "qgroup", "limit", strconv.FormatInt(size, 10), sub); err != nil {
		return s.errorf("cannot give subvolume %s a size of %d bytes (a size needs btrfs quotas: 'btrfs quota enable %s'; "+
			"otherwise use a subvolume without size or a raw image): %v", filepath.Base(sub), size, s.Root(), err)
	}
	return nil
}

// quota reads a subvolume's quota group: its limit and what it uses.
// Without quotas both are 0.
func (s *Store) quota(ctx context.Context, sub string) (limit, used int64) {
	res, err := s.run.Run(ctx, runner.Cmd{Name: "btrfs", Args: []string{"qgroup", "show", "-re", "--raw", "-f", sub}})
	if err != nil {
		return 0, 0
	}
	return parseQgroupShow(string(res.Stdout))
}

// parseQgroupShow reads the row of `btrfs qgroup show -re --raw -f`:
// qgroupid, referenced, exclusive, max referenced ("none" or bytes), …
func parseQgroupShow(out string) (limit, used int64) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "0/") {
			continue
		}
		used, _ = strconv.ParseInt(f[1], 10, 64)
		limit, _ = strconv.ParseInt(f[3], 10, 64) // "none" stays 0
		return limit, used
	}
	return 0, 0
}

// imageVolume describes a raw image or subvolume.
func (s *Store) imageVolume(ctx context.Context, v storage.Vol, sub string) (storage.Volume, error) {
	volname := storage.FileVolname(v)
	p := dataPath(sub, v)
	if !exists(p) {
		return storage.Volume{}, s.errorf("volume %s does not exist", volname)
	}
	if v.Format == "raw" {
		vol, err := s.ImageVolume(ctx, p, v)
		vol.Volname = volname
		return vol, err
	}
	vol, err := s.ImageVolume(ctx, sub, v)
	if err != nil {
		return vol, err
	}
	vol.Size, vol.Used = s.quota(ctx, sub)
	return vol, nil
}

// Volume reports one volume.
func (s *Store) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	v, sub, ours, err := s.image(volname)
	if err != nil || !ours {
		if err != nil {
			return storage.Volume{}, err
		}
		return s.Store.Volume(ctx, volname)
	}
	return s.imageVolume(ctx, v, sub)
}

// List returns the volumes of vmid (0: all) of the given content types.
func (s *Store) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	imgs, err := s.listImages(ctx, vmid)
	if err != nil {
		return nil, err
	}
	out := s.FilterImages(imgs, content)
	files, err := s.ListFiles(ctx, vmid, content)
	if err != nil {
		return nil, err
	}
	out = append(out, files...)
	storage.SortVolumes(out)
	return out, nil
}

// listImages finds raw images (subvolumes holding disk.raw), subvolumes
// (<name>.subvol) and image files; snapshots (<name>@<snap>) and
// half-made names are skipped.
func (s *Store) listImages(ctx context.Context, vmid int) ([]storage.Volume, error) {
	base, _ := s.ContentDir(storage.Images)
	owners, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, s.errorf("read %s: %v", base, err)
	}
	var out []storage.Volume
	for _, o := range owners {
		id, err := strconv.Atoi(o.Name())
		if err != nil || !o.IsDir() || (vmid != 0 && id != vmid) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(base, o.Name()))
		if err != nil {
			return nil, s.errorf("read the images of guest %d: %v", id, err)
		}
		for _, e := range entries {
			n := e.Name()
			if strings.Contains(n, "@") {
				continue
			}
			if e.IsDir() && !strings.Contains(n, ".") {
				n += ".raw"
			}
			v, err := storage.ParseFileVolname(o.Name() + "/" + n)
			if err != nil || (v.Content != storage.Images && v.Content != storage.Rootdir) {
				continue
			}
			var vol storage.Volume
			if e.IsDir() {
				vol, err = s.imageVolume(ctx, v, s.subvolOf(v))
			} else if v.Format != "subvol" && !(v.Format == "raw" && exists(s.subvolOf(v))) {
				vol, err = s.ImageVolume(ctx, filepath.Join(base, o.Name(), e.Name()), v)
			} else {
				continue
			}
			if err != nil {
				s.warn("skipping image in listing", "volume", o.Name()+"/"+n, "error", err)
				continue
			}
			out = append(out, vol)
		}
	}
	return out, nil
}

// Free removes an image's subvolume together with its snapshots.
func (s *Store) Free(ctx context.Context, volname string) error {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return err
	}
	if !ours {
		return s.Store.Free(ctx, volname)
	}
	if !exists(sub) {
		s.warn("volume to free does not exist", "volume", volname)
		return nil
	}
	snaps, err := snapshotsOf(sub)
	if err != nil {
		return s.errorf("find the snapshots of %s: %v", volname, err)
	}
	args := append(append([]string{"subvolume", "delete", "--"}, snaps...), sub)
	if err := s.btrfs(ctx, args...); err != nil {
		return s.errorf("free %s: %v", volname, err)
	}
	// Leave no empty guest directories behind.
	_ = os.Remove(s.ImageDir(v.VMID))
	return nil
}

// Resize changes a raw image with qemu-img, or a subvolume's quota limit.
func (s *Store) Resize(ctx context.Context, volname string, size int64) error {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return err
	}
	if !ours {
		return s.Store.Resize(ctx, volname, size)
	}
	if v.IsBase {
		return s.errorf("cannot resize %s: it is a template's base volume", volname)
	}
	p := dataPath(sub, v)
	if !exists(p) {
		return s.errorf("volume %s does not exist", volname)
	}
	if v.Format == "subvol" {
		return s.limit(ctx, sub, size)
	}
	if _, err := s.run.Run(ctx, runner.Cmd{Name: "qemu-img", Args: []string{"resize", "-f", "raw", p, strconv.FormatInt(size, 10)}}); err != nil {
		return s.errorf("resize %s: %v", volname, err)
	}
	return nil
}

// Attach gives the image file or subvolume directory, of a snapshot when
// snap is set.
func (s *Store) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return storage.Attachment{}, err
	}
	if !ours {
		return s.Store.Attach(ctx, volname, snap)
	}
	if snap != "" {
		if err := dir.CheckSnapName(snap); err != nil {
			return storage.Attachment{}, s.errorf("%v", err)
		}
		sub = snapPath(sub, snap)
	}
	p := dataPath(sub, v)
	if !exists(p) {
		if snap != "" {
			return storage.Attachment{}, s.errorf("%s has no snapshot %s", volname, snap)
		}
		return storage.Attachment{}, s.errorf("volume %s does not exist", volname)
	}
	return dir.FileAttachment(p, v), nil
}
