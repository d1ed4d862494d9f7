package dir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Path resolves a volume name to its file (or directory, for
// subvolumes) and what the name says about the volume.
func (s *Store) Path(volname string) (string, storage.Vol, error) {
	v, err := storage.ParseFileVolname(volname)
	if err != nil {
		return "", v, s.errorf("%v", err)
	}
	if v.Content == storage.Images || v.Content == storage.Rootdir {
		return filepath.Join(s.ImageDir(v.VMID), v.Name), v, nil
	}
	dir, err := s.ContentDir(v.Content)
	if err != nil {
		return "", v, err
	}
	return filepath.Join(dir, v.Name), v, nil
}

// ImageName returns name after checking that it is a valid image name of
// vmid in format, or, when name is empty, the first free
// <vm|subvol>-<vmid>-disk-<n>.<format> among taken.
func ImageName(taken []string, vmid int, name, format string) (string, error) {
	if name == "" {
		prefix := "vm"
		if format == "subvol" {
			prefix = "subvol"
		}
		return storage.NextDiskName(taken, vmid, prefix, "."+format)
	}
	if err := storage.CheckImageName(name, vmid, format); err != nil {
		return "", err
	}
	return name, nil
}

// TakenNames lists the entries of vmid's image directory.
func (s *Store) TakenNames(vmid int) ([]string, error) {
	entries, err := os.ReadDir(s.ImageDir(vmid))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, s.errorf("read the images of guest %d: %v", vmid, err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

// CreateImage creates a new image of vmid: name (or the next free name)
// is checked, reserved with an exclusive create (so two allocations never
// get the same name and nothing existing is overwritten) and handed to
// fill, which makes the content; if fill fails the reservation is
// removed. mkdir reserves a directory instead of a file. names lists the
// names taken for vmid; nil reads the image directory.
func (s *Store) CreateImage(vmid int, name, format string, mkdir bool, names func() ([]string, error), fill func(path string) error) (string, error) {
	if vmid <= 0 {
		return "", s.errorf("invalid guest id %d", vmid)
	}
	if names == nil {
		names = func() ([]string, error) { return s.TakenNames(vmid) }
	}
	dir := s.ImageDir(vmid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", s.errorf("create the image directory of guest %d: %v", vmid, err)
	}
	for try := 0; ; try++ {
		taken, err := names()
		if err != nil {
			return "", err
		}
		n, err := ImageName(taken, vmid, name, format)
		if err != nil {
			return "", s.errorf("%v", err)
		}
		path := filepath.Join(dir, n)
		if mkdir {
			err = os.Mkdir(path, 0o755)
		} else {
			var f *os.File
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640); err == nil {
				err = f.Close()
			}
		}
		if errors.Is(err, fs.ErrExist) {
			if name == "" && try < 10 {
				continue // another allocation took the name meanwhile
			}
			return "", s.errorf("volume %d/%s already exists", vmid, n)
		}
		if err != nil {
			return "", s.errorf("create %s: %v", path, err)
		}
		if err := fill(path); err != nil {
			_ = os.RemoveAll(path)
			return "", err
		}
		return fmt.Sprintf("%d/%s", vmid, n), nil
	}
}

// preallocOption is qemu-img's -o value for a new image of format:
// qcow2 defaults to metadata, raw to off (where metadata means off).
func (s *Store) preallocOption(format string) (string, error) {
	p := s.prealloc
	switch format {
	case "qcow2":
		if p == "" {
			p = "metadata"
		}
	case "raw":
		if p == "" || p == "metadata" {
			p = "off"
		}
	default:
		return "", nil
	}
	return "preallocation=" + p, nil
}

// kib renders a size for qemu-img in KiB, rounded up, as Proxmox VE
// passes sizes.
func kib(size int64) string { return strconv.FormatInt((size+1023)/1024, 10) + "K" }

// Alloc creates a disk image with qemu-img (raw, qcow2, vmdk) or a
// directory (subvol, which takes no size: a directory has no quota).
func (s *Store) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format == "" {
		format = s.defaultFormat
	}
	if !slices.Contains(storage.ImageFormats, format) {
		return "", s.errorf("unsupported image format %q", format)
	}
	if size < 0 {
		return "", s.errorf("invalid size %d", size)
	}
	if format == "subvol" {
		if size != 0 {
			return "", s.errorf("a subvolume on this storage cannot have a size (no quota support); allocate it with size 0")
		}
		return s.CreateImage(vmid, name, format, true, nil, func(string) error { return nil })
	}
	return s.CreateImage(vmid, name, format, false, nil, func(path string) error {
		return s.qemuImgCreate(ctx, path, format, size)
	})
}

func (s *Store) qemuImgCreate(ctx context.Context, path, format string, size int64) error {
	opt, err := s.preallocOption(format)
	if err != nil {
		return err
	}
	args := []string{"create"}
	if opt != "" {
		args = append(args, "-o", opt)
	}
	args = append(args, "-f", format, path, kib(size))
	if _, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: args}); err != nil {
		return s.errorf("unable to create image %s: %v", path, err)
	}
	return nil
}

// ImageInfo is what qemu-img says about an image file.
type ImageInfo struct {
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	Format      string `json:"format"`
	Backing     string `json:"backing-filename"`
	Snapshots   []struct {
		Name string `json:"name"`
	} `json:"snapshots"`
}

// HasSnapshot reports whether the image has an internal snapshot snap.
func (i ImageInfo) HasSnapshot(snap string) bool {
	for _, s := range i.Snapshots {
		if s.Name == snap {
			return true
		}
	}
	return false
}

// QemuImgInfo runs qemu-img info on an image of a known format. The
// format is given so that a raw image holding a qcow2 header is never
// taken for a qcow2 file with someone else's backing file.
func (s *Store) QemuImgInfo(ctx context.Context, path, format string) (ImageInfo, error) {
	res, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: []string{"info", "--output=json", "-f", format, path}})
	if err != nil {
		return ImageInfo{}, s.errorf("read image information of %s: %v", path, err)
	}
	var info ImageInfo
	if err := json.Unmarshal(res.Stdout, &info); err != nil {
		return ImageInfo{}, s.errorf("parse qemu-img info of %s: %v", path, err)
	}
	return info, nil
}

var backingRE = regexp.MustCompile(`^\.\./([1-9][0-9]*)/([^/]+)$`)

// ImageVolume describes the image at path named by v: sizes and backing
// file from qemu-img, or nothing but the time for a subvolume directory.
func (s *Store) ImageVolume(ctx context.Context, path string, v storage.Vol) (storage.Volume, error) {
	st, err := os.Stat(path)
	if err != nil {
		return storage.Volume{}, s.errorf("volume %s does not exist", storage.FileVolname(v))
	}
	vol := storage.Volume{Volname: storage.FileVolname(v), Content: v.Content, Format: v.Format, VMID: v.VMID, CTime: ctime(st)}
	if v.Format == "subvol" {
		return vol, nil
	}
	info, err := s.QemuImgInfo(ctx, path, v.Format)
	if err != nil {
		return storage.Volume{}, err
	}
	vol.Size, vol.Used = info.VirtualSize, info.ActualSize
	if m := backingRE.FindStringSubmatch(info.Backing); m != nil {
		vol.Parent = m[1] + "/" + m[2]
		if v.Base == "" {
			// A listing finds the base from the file; name the clone with it.
			id, _ := strconv.Atoi(m[1])
			v.Base, v.BaseVMID = m[2], id
			vol.Volname = storage.FileVolname(v)
		}
	}
	return vol, nil
}

func ctime(st fs.FileInfo) int64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Ctim.Sec
	}
	return st.ModTime().Unix()
}

// Volume reports one volume.
func (s *Store) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	path, v, err := s.Path(volname)
	if err != nil {
		return storage.Volume{}, err
	}
	if v.Content == storage.Images || v.Content == storage.Rootdir {
		vol, err := s.ImageVolume(ctx, path, v)
		if err != nil {
			return vol, err
		}
		vol.Volname = volname
		return vol, nil
	}
	return s.fileVolume(path, v)
}

// listImages lists the images and subvolumes below images/, of vmid
// only unless vmid is 0.
func (s *Store) listImages(ctx context.Context, vmid int) ([]storage.Volume, error) {
	base := filepath.Join(s.root, s.subdirs[storage.Images])
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
		names, err := s.TakenNames(id)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			v, err := storage.ParseFileVolname(o.Name() + "/" + n)
			if err != nil || (v.Content != storage.Images && v.Content != storage.Rootdir) {
				continue
			}
			vol, err := s.ImageVolume(ctx, filepath.Join(base, o.Name(), n), v)
			if err != nil {
				// An unreadable image does not hide the others.
				s.warn("skipping image in listing", "volume", o.Name()+"/"+n, "error", err)
				continue
			}
			out = append(out, vol)
		}
	}
	return out, nil
}

func (s *Store) warn(msg string, args ...any) {
	if s.env.Log != nil {
		s.env.Log.Warn(msg, append([]any{"storage", s.cfg.ID}, args...)...)
	}
}

// Resize grows (or shrinks, where qemu-img allows without --shrink) a
// raw or qcow2 image; other formats cannot be resized, as in Proxmox VE.
func (s *Store) Resize(ctx context.Context, volname string, size int64) error {
	path, v, err := s.Path(volname)
	if err != nil {
		return err
	}
	if v.Format != "raw" && v.Format != "qcow2" {
		return s.errorf("cannot resize %s: %s volumes cannot be resized", volname, v.Format)
	}
	if v.IsBase {
		return s.errorf("cannot resize %s: it is a template's base volume", volname)
	}
	if _, err := os.Stat(path); err != nil {
		return s.errorf("volume %s does not exist", volname)
	}
	if _, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: []string{"resize", "-f", v.Format, path, strconv.FormatInt(size, 10)}}); err != nil {
		return s.errorf("resize %s: %v", volname, err)
	}
	return nil
}

// Attach gives the file (or directory) of a volume. Snapshots of qcow2
// images live inside the file, so snap names nothing else there.
func (s *Store) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	path, v, err := s.Path(volname)
	if err != nil {
		return storage.Attachment{}, err
	}
	if snap != "" && v.Format != "qcow2" {
		return storage.Attachment{}, s.errorf("%s: %s volumes have no snapshots on this storage", volname, v.Format)
	}
	if _, err := os.Stat(path); err != nil {
		return storage.Attachment{}, s.errorf("volume %s does not exist", volname)
	}
	return FileAttachment(path, v), nil
}

// FileAttachment is how guests reach the file or directory of v.
func FileAttachment(path string, v storage.Vol) storage.Attachment {
	file := map[string]any{"driver": "file", "filename": path}
	switch {
	case v.Format == "subvol":
		return storage.Attachment{Path: path, Mount: &storage.Mount{Source: path, Bind: true}}
	case v.Format == "raw":
		return storage.Attachment{Path: path, Blockdev: file, Format: "raw", Mount: &storage.Mount{Source: path, Loop: true}}
	case v.Content == storage.Images || v.Content == storage.Rootdir:
		return storage.Attachment{Path: path, Blockdev: file, Format: v.Format}
	case v.Content == storage.ISO || v.Content == storage.Import:
		format := v.Format
		if format == "iso" || format == "img" {
			format = "raw"
		}
		return storage.Attachment{Path: path, Blockdev: file, Format: format}
	}
	return storage.Attachment{Path: path}
}

// Free removes a volume. A template's base volume is refused while a
// linked clone still uses it; a protected backup is refused.
func (s *Store) Free(ctx context.Context, volname string) error {
	path, v, err := s.Path(volname)
	if err != nil {
		return err
	}
	if v.Content != storage.Images && v.Content != storage.Rootdir {
		return s.freeFile(path, v)
	}
	if v.IsBase {
		clones, err := s.ClonesOf(v)
		if err != nil {
			return err
		}
		if len(clones) > 0 {
			return s.errorf("base volume %s is still in use by linked clone %s", volname, strings.Join(clones, ", "))
		}
		// Templates are made immutable; lift that before removing.
		if _, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "chattr", Args: []string{"-i", path}}); err != nil {
			s.warn("could not clear the immutable flag", "volume", volname, "error", err)
		}
	}
	if v.Format == "subvol" {
		if err := os.RemoveAll(path); err != nil {
			return s.errorf("remove %s: %v", volname, err)
		}
	} else if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.warn("volume to free does not exist", "volume", volname)
			return nil
		}
		return s.errorf("remove %s: %v", volname, err)
	}
	// Leave no empty guest directories behind.
	_ = os.Remove(filepath.Dir(path))
	return nil
}
