package ossetup

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// IDShift says which host ids stand for root inside the container. A
// privileged container uses the zero value; an unprivileged one with the
// default map uses {UID: 100000, GID: 100000}. Everything ossetup creates
// belongs to the container's root, so it is owned by these ids on the host.
type IDShift struct {
	UID, GID int
}

// maxFileSize bounds what ReadFile accepts: the files ossetup edits are
// small, and an untrusted tree must not make the host hook allocate
// without limit.
const maxFileSize = 64 << 20

// inRoot makes every lookup treat the container's root as "/": absolute
// symlinks and ".." stop at it, so nothing outside can be reached.
// /proc-style magic links are refused outright.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// RootFS gives file access confined to a container's root file system.
// The tree belongs to the container and may hold hostile symlinks, so
// paths are resolved by the kernel (openat2 with RESOLVE_IN_ROOT) rather
// than by string handling, and files are replaced by a temporary file
// renamed within the same directory instead of being written through.
//
// Paths given to its methods are container paths such as "/etc/hosts".
type RootFS struct {
	fd    int
	root  string
	shift IDShift
}

// OpenRoot opens the container root file system mounted at root (a host
// path the caller trusts). shift owns whatever RootFS creates.
func OpenRoot(root string, shift IDShift) (*RootFS, error) {
	if shift.UID < 0 || shift.GID < 0 {
		return nil, fmt.Errorf("id shift %d:%d: ids must not be negative", shift.UID, shift.GID)
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open container root %s: %w", root, err)
	}
	return &RootFS{fd: fd, root: root, shift: shift}, nil
}

// Close releases the root directory.
func (r *RootFS) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// rel turns a container path into one relative to the root fd.
func rel(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// split returns the parent directory and the last element of name; the
// last element is never "", "." or "..".
func split(name string) (dir, base string, err error) {
	c := path.Clean("/" + name)
	if c == "/" {
		return "", "", fmt.Errorf("%q names the root directory, not a file", name)
	}
	return path.Dir(c), path.Base(c), nil
}

// openat2 retries EAGAIN, which RESOLVE_IN_ROOT returns when a rename
// raced with the lookup.
func (r *RootFS) openat2(name string, flags uint64, mode uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Mode: mode, Resolve: inRoot}
	for range 16 {
		fd, err := unix.Openat2(r.fd, rel(name), &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// openDir opens a directory of the container for use as a *at base.
func (r *RootFS) openDir(name string) (int, error) {
	fd, err := r.openat2(name, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open directory", Path: name, Err: err}
	}
	return fd, nil
}

// ReadFile returns the content of a regular file. A missing file gives an
// error matching fs.ErrNotExist. FIFOs and devices are refused without
// blocking, so a hostile tree cannot hang the caller.
func (r *RootFS) ReadFile(name string) ([]byte, error) {
	fd, err := r.openat2(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return readRegular(f, name)
}

func readRegular(f *os.File, name string) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
	}
	return data, nil
}

// Stat returns information about name, following symlinks inside the root.
func (r *RootFS) Stat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := r.openat2(name, unix.O_PATH, 0)
	if err != nil {
		return st, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return st, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return st, nil
}

// Lstat returns information about name itself, not what a symlink there
// points to. Its parent directories are resolved inside the root.
func (r *RootFS) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	dir, base, err := split(name)
	if err != nil {
		return st, err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return st, err
	}
	defer unix.Close(dfd)
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return st, nil
}

// Exists says whether something is at name (following symlinks in root).
func (r *RootFS) Exists(name string) bool {
	_, err := r.Stat(name)
	return err == nil
}

// IsDir says whether name is a directory (following symlinks in root).
func (r *RootFS) IsDir(name string) bool {
	st, err := r.Stat(name)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// IsRegular says whether name is a regular file (following symlinks in root).
func (r *RootFS) IsRegular(name string) bool {
	st, err := r.Stat(name)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// Readlink returns the target of the symlink at name.
func (r *RootFS) Readlink(name string) (string, error) {
	dir, base, err := split(name)
	if err != nil {
		return "", err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return "", err
	}
	defer unix.Close(dfd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dfd, base, buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(buf[:n]), nil
}

// WriteFile replaces name with data and reports whether anything changed.
// An existing regular file keeps its owner and mode; otherwise the new
// file gets perm and belongs to the container's root. Whatever was at
// name before (a symlink included) is replaced, never written through.
func (r *RootFS) WriteFile(name string, data []byte, perm fs.FileMode) (bool, error) {
	dir, base, err := split(name)
	if err != nil {
		return false, err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return false, err
	}
	defer unix.Close(dfd)

	uid, gid, mode := r.shift.UID, r.shift.GID, uint32(perm.Perm())
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return false, fmt.Errorf("write %s: is a directory", name)
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG:
		uid, gid, mode = int(st.Uid), int(st.Gid), st.Mode&0o7777
		if same, err := sameContent(dfd, base, data); err != nil {
			return false, fmt.Errorf("compare %s: %w", name, err)
		} else if same {
			return false, nil
		}
	case err != nil && err != unix.ENOENT:
		return false, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}

	tmp, err := tempName(base)
	if err != nil {
		return false, err
	}
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false, &fs.PathError{Op: "create", Path: path.Join(dir, tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	err = writeAndSet(f, data, uid, gid, mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return false, fmt.Errorf("write %s: %w", name, err)
	}
	return true, nil
}

func sameContent(dfd int, base string, want []byte) (bool, error) {
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	have, err := readRegular(f, base)
	if err != nil {
		return false, err
	}
	return bytes.Equal(have, want), nil
}

func writeAndSet(f *os.File, data []byte, uid, gid int, mode uint32) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := fchown(int(f.Fd()), uid, gid); err != nil {
		return err
	}
	// Fchmod after chown: chown clears set-id bits.
	if err := unix.Fchmod(int(f.Fd()), mode); err != nil {
		return err
	}
	return f.Sync()
}

// fchown skips the call when nothing would change, so that tests running
// without root can use their own ids as the shift.
func fchown(fd, uid, gid int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	return unix.Fchown(fd, uid, gid)
}

func tempName(base string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	// Keep the name within NAME_MAX whatever the base is.
	if len(base) > 200 {
		base = base[:200]
	}
	return "." + base + ".hearth-" + hex.EncodeToString(b[:]), nil
}

// MkdirAll creates name and missing parents with perm, owned by the
// container's root. Existing directories are left as they are.
func (r *RootFS) MkdirAll(name string, perm fs.FileMode) error {
	c := path.Clean("/" + name)
	if c == "/" {
		return nil
	}
	if r.IsDir(c) {
		return nil
	}
	if err := r.MkdirAll(path.Dir(c), perm); err != nil {
		return err
	}
	return r.mkdir(c, perm)
}

func (r *RootFS) mkdir(name string, perm fs.FileMode) error {
	dir, base, err := split(name)
	if err != nil {
		return err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Mkdirat(dfd, base, 0o700); err != nil {
		if err == unix.EEXIST {
			// Something other than a directory, or a symlink that
			// resolves to nothing usable.
			if r.IsDir(name) {
				return nil
			}
			return fmt.Errorf("mkdir %s: exists and is not a directory", name)
		}
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	if err := fchown(fd, r.shift.UID, r.shift.GID); err != nil {
		return &fs.PathError{Op: "chown", Path: name, Err: err}
	}
	if err := unix.Fchmod(fd, uint32(perm.Perm())); err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	return nil
}

// Symlink makes name a symlink to target, replacing what was there, and
// reports whether anything changed.
func (r *RootFS) Symlink(target, name string) (bool, error) {
	dir, base, err := split(name)
	if err != nil {
		return false, err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return false, err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return false, fmt.Errorf("symlink %s: is a directory", name)
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		if n, err := unix.Readlinkat(dfd, base, buf); err == nil && string(buf[:n]) == target {
			return false, nil
		}
	}
	tmp, err := tempName(base)
	if err != nil {
		return false, err
	}
	if err := unix.Symlinkat(target, dfd, tmp); err != nil {
		return false, &fs.PathError{Op: "symlink", Path: path.Join(dir, tmp), Err: err}
	}
	err = r.lchown(dfd, tmp)
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return false, fmt.Errorf("symlink %s: %w", name, err)
	}
	return true, nil
}

func (r *RootFS) lchown(dfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if int(st.Uid) == r.shift.UID && int(st.Gid) == r.shift.GID {
		return nil
	}
	return unix.Fchownat(dfd, base, r.shift.UID, r.shift.GID, unix.AT_SYMLINK_NOFOLLOW)
}

// isNotExist reports whether err says a path is missing.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}
