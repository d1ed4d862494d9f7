package dir

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// qcow2Backing reads the backing file name from a qcow2 header without
// starting a process: magic "QFI\xfb", then (big-endian) the version, the
// offset of the name at byte 8 and its length at byte 16. Files that are
// not qcow2 have none.
func qcow2Backing(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return "", nil
	}
	if string(h[:4]) != "QFI\xfb" {
		return "", nil
	}
	off := binary.BigEndian.Uint64(h[8:16])
	n := binary.BigEndian.Uint32(h[16:20])
	if off == 0 || n == 0 {
		return "", nil
	}
	if n > 1023 {
		return "", fmt.Errorf("%s: backing file name of %d bytes is longer than qcow2 allows", path, n)
	}
	name := make([]byte, n)
	if _, err := f.ReadAt(name, int64(off)); err != nil {
		return "", fmt.Errorf("%s: read the backing file name: %w", path, err)
	}
	return string(name), nil
}

// ClonesOf lists the linked clones (as volume names) whose qcow2 files
// name the base volume v as their backing file.
func (s *Store) ClonesOf(v storage.Vol) ([]string, error) {
	base := filepath.Join(s.root, s.subdirs[storage.Images])
	owners, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, s.errorf("read %s: %v", base, err)
	}
	want := fmt.Sprintf("../%d/%s", v.VMID, v.Name)
	var out []string
	for _, o := range owners {
		if _, err := strconv.Atoi(o.Name()); err != nil || !o.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(base, o.Name(), "*.qcow2"))
		for _, f := range files {
			b, err := qcow2Backing(f)
			if err != nil {
				return nil, s.errorf("%v", err)
			}
			if b == want {
				out = append(out, fmt.Sprintf("%d/%s/%s/%s", v.VMID, v.Name, o.Name(), filepath.Base(f)))
			}
		}
	}
	return out, nil
}

// CreateBase turns a guest's image into a template's base: renamed from
// vm- to base- and made read-only (mode 0444, and immutable where the
// file system allows). A subvolume keeps its name: a directory cannot be
// the backing file of a clone, so it only stays as it is.
func (s *Store) CreateBase(ctx context.Context, volname string) (string, error) {
	path, v, err := s.Path(volname)
	if err != nil {
		return "", err
	}
	if v.Content != storage.Images && v.Content != storage.Rootdir {
		return "", s.errorf("%s is not a disk image", volname)
	}
	if v.IsBase {
		return "", s.errorf("%s is already a base volume", volname)
	}
	if _, err := os.Stat(path); err != nil {
		return "", s.errorf("volume %s does not exist", volname)
	}
	if v.Format == "subvol" {
		return volname, nil
	}
	nv := v
	nv.Name = strings.Replace(v.Name, "vm-", "base-", 1)
	if !strings.HasPrefix(v.Name, "vm-") {
		return "", s.errorf("%s cannot become a base volume: its name does not start with vm-", volname)
	}
	newPath := filepath.Join(filepath.Dir(path), nv.Name)
	if err := RenameNoReplace(path, newPath); err != nil {
		return "", s.errorf("rename %s to %s: %v", volname, nv.Name, err)
	}
	if err := os.Chmod(newPath, 0o444); err != nil {
		s.warn("could not make the base volume read-only", "volume", nv.Name, "error", err)
	}
	if _, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "chattr", Args: []string{"+i", newPath}}); err != nil {
		s.warn("could not make the base volume immutable", "volume", nv.Name, "error", err)
	}
	return storage.FileVolname(nv), nil
}

// Clone makes a qcow2 linked clone of a base volume for vmid, whose
// backing file is the base, named relative to the clone's directory so
// the storage can be mounted elsewhere.
func (s *Store) Clone(ctx context.Context, volname string, vmid int, snap string) (string, error) {
	_, v, err := s.Path(volname)
	if err != nil {
		return "", err
	}
	switch {
	case snap != "":
		return "", s.errorf("cannot clone %s: linked clones of snapshots are not supported on this storage", volname)
	case v.Format == "subvol":
		return "", s.errorf("cannot clone %s: subvolumes cannot have linked clones on this storage", volname)
	case !v.IsBase || v.Base != "":
		return "", s.errorf("cannot clone %s: linked clones are made from template base volumes only", volname)
	}
	if _, err := os.Stat(filepath.Join(s.ImageDir(v.VMID), v.Name)); err != nil {
		return "", s.errorf("volume %s does not exist", volname)
	}
	backing := fmt.Sprintf("../%d/%s", v.VMID, v.Name)
	name, err := s.CreateImage(vmid, "", "qcow2", false, nil, func(path string) error {
		_, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: []string{"create", "-b", backing, "-F", v.Format, "-f", "qcow2", path}})
		if err != nil {
			return s.errorf("create a linked clone of %s: %v", volname, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%s/%s", v.VMID, v.Name, name), nil
}

// Rename moves a volume to another name, possibly of another guest. A
// linked clone keeps its base; a base is refused, since its clones name
// it.
func (s *Store) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	path, v, err := s.Path(volname)
	if err != nil {
		return "", err
	}
	if v.Content != storage.Images && v.Content != storage.Rootdir {
		return "", s.errorf("%s is not a disk image", volname)
	}
	if v.IsBase {
		return "", s.errorf("cannot rename %s: it is a template's base volume", volname)
	}
	if _, err := os.Stat(path); err != nil {
		return "", s.errorf("volume %s does not exist", volname)
	}
	var newName string
	for try := 0; ; try++ {
		taken, err := s.TakenNames(vmid)
		if err != nil {
			return "", err
		}
		if newName, err = ImageName(taken, vmid, name, v.Format); err != nil {
			return "", s.errorf("%v", err)
		}
		if err := os.MkdirAll(s.ImageDir(vmid), 0o755); err != nil {
			return "", s.errorf("create the image directory of guest %d: %v", vmid, err)
		}
		err = RenameNoReplace(path, filepath.Join(s.ImageDir(vmid), newName))
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrExist) {
			if name == "" && try < 10 {
				continue
			}
			return "", s.errorf("cannot rename %s: target volume %d/%s already exists", volname, vmid, newName)
		}
		return "", s.errorf("rename %s: %v", volname, err)
	}
	_ = os.Remove(filepath.Dir(path))
	nv := v
	nv.Name, nv.VMID = newName, vmid
	return storage.FileVolname(nv), nil
}

// RenameNoReplace renames from to to, failing with fs.ErrExist rather
// than replacing an existing target.
func RenameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// File systems without the flag: check, then rename.
		if _, err := os.Lstat(to); err == nil {
			return fs.ErrExist
		}
		return os.Rename(from, to)
	}
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	return err
}

// snapNameRE is what a snapshot may be called (Proxmox VE's snapshot
// names: a letter, then letters, digits, '-' and '_').
var snapNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,39}$`)

// CheckSnapName refuses snapshot names Proxmox VE would refuse.
func CheckSnapName(snap string) error {
	if !snapNameRE.MatchString(snap) {
		return fmt.Errorf("invalid snapshot name %q: a letter, then up to 39 letters, digits, '-' or '_'", snap)
	}
	return nil
}

func (s *Store) qcow2Snap(ctx context.Context, volname, snap, flag, what string) error {
	path, v, err := s.Path(volname)
	if err != nil {
		return err
	}
	if v.Format != "qcow2" {
		return s.errorf("cannot %s %s: snapshots need the qcow2 format on this storage", what, volname)
	}
	if err := CheckSnapName(snap); err != nil {
		return s.errorf("%v", err)
	}
	if _, err := os.Stat(path); err != nil {
		return s.errorf("volume %s does not exist", volname)
	}
	// qemu-img would take a second snapshot of the same name, or act on
	// none; ask first so the answer is clear.
	info, err := s.QemuImgInfo(ctx, path, "qcow2")
	if err != nil {
		return err
	}
	if has := info.HasSnapshot(snap); has && flag == "-c" {
		return s.errorf("snapshot %s of %s already exists", snap, volname)
	} else if !has && flag != "-c" {
		return s.errorf("cannot %s %s: %s has no snapshot %s", what, snap, volname, snap)
	}
	if _, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: []string{"snapshot", flag, snap, path}}); err != nil {
		return s.errorf("%s %s of %s: %v", what, snap, volname, err)
	}
	return nil
}

// Snapshot takes an internal qcow2 snapshot.
func (s *Store) Snapshot(ctx context.Context, volname, snap string) error {
	return s.qcow2Snap(ctx, volname, snap, "-c", "snapshot")
}

// Rollback returns a qcow2 image to an internal snapshot.
func (s *Store) Rollback(ctx context.Context, volname, snap string) error {
	return s.qcow2Snap(ctx, volname, snap, "-a", "roll back to")
}

// DeleteSnapshot removes an internal qcow2 snapshot.
func (s *Store) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	return s.qcow2Snap(ctx, volname, snap, "-d", "delete")
}
