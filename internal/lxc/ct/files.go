package ct

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
)

// pct push and pull work on the files of a running container from the
// host, through the root directory of its init (/proc/<pid>/root), which
// shows the container's own mounts. No program of the container runs,
// so a container without a shell or cat works as well, and nothing
// inside can interfere. The container's files are untrusted: every path
// is resolved with openat2 as if that directory were "/" (symbolic links
// and ".." cannot lead out of it, and the kernel's magic links such as
// /proc/<pid>/root are refused), and files are only ever created and
// renamed relative to a directory opened that way.

// resolveFlags resolve a path inside a container's root directory.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openIn opens path inside the directory root as if root were "/".
// flags are open(2)'s; O_CLOEXEC is added.
func openIn(root, p string, flags int) (int, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return -1, &os.PathError{Op: "open", Path: p, Err: errors.New("the path contains a NUL byte")}
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the container's root directory: %w", err)
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, p, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: explainResolve(err)}
	}
	return fd, nil
}

// explainResolve words the errors of a resolution refused for safety.
func explainResolve(err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w (symbolic links loop, or one leads through a kernel link such as /proc/<pid>/root, which is not followed)", err)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%w (the path leads out of the container's files)", err)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w (this kernel lacks openat2, which safe access to container files needs)", err)
	}
	return err
}

// isExecutableIn reports whether path inside root is a regular file that
// someone may execute.
func isExecutableIn(root, p string) bool {
	fd, err := openIn(root, p, unix.O_PATH)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0
}

// readIn reads the regular file path inside root, refusing one larger
// than max bytes. It returns the content and the permission bits.
func readIn(root, p string, max int64) ([]byte, uint32, error) {
	fd, err := openIn(root, p, unix.O_PATH)
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, 0, fmt.Errorf("%s is a %s, not a regular file", p, fileKind(st.Mode))
	}
	tooBig := func(size int64) error {
		return fmt.Errorf("%s has %d bytes, more than the %d (%d MiB) that can be read at once", p, size, max, max>>20)
	}
	if st.Size > max {
		return nil, 0, tooBig(st.Size)
	}
	// Opened for reading only now that it is known to be a regular file:
	// opening a fifo or a device could block or act on hardware.
	f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, 0, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, 0, &os.PathError{Op: "read", Path: p, Err: err}
	}
	if int64(len(data)) > max { // it grew meanwhile
		return nil, 0, tooBig(int64(len(data)))
	}
	return data, st.Mode & 0o7777, nil
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "special file"
}

// writeIn writes r to the file path inside root, replacing what is
// there (a symbolic link is replaced, not followed), with owner uid:gid
// (host ids) and permission bits perm. The content goes to a temporary
// file in the same directory first, which is renamed over the target
// only once complete: a failed upload leaves the old file as it was.
func writeIn(root, p string, r io.Reader, uid, gid int, perm uint32) (err error) {
	dir, base := path.Split(p)
	if base == "" || base == "." || base == ".." || !path.IsAbs(p) {
		return fmt.Errorf("'%s' names no file: give an absolute path ending in a file name", p)
	}
	dfd, err := openIn(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%s is a directory; give the path of the file to write", p)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := ".hearth-push-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create a file in", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer func() {
		if err != nil {
			f.Close()
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	// The owner first: a change of owner clears the set-id bits.
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return &os.PathError{Op: "chown", Path: p, Err: err}
	}
	if err := unix.Fchmod(fd, perm); err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	if err := f.Sync(); err != nil {
		return &os.PathError{Op: "sync", Path: p, Err: err}
	}
	if err := f.Close(); err != nil {
		return &os.PathError{Op: "close", Path: p, Err: err}
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		return &os.PathError{Op: "rename onto", Path: p, Err: err}
	}
	return nil
}

// parsePerms reads push's perms: octal (644, 0644) or hexadecimal with a
// 0x prefix; empty is 0644.
func parsePerms(s string) (uint32, error) {
	if s == "" {
		return 0o644, nil
	}
	var n uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err = strconv.ParseUint(h, 16, 32)
	} else {
		n, err = strconv.ParseUint(s, 8, 32)
	}
	if err != nil || n > 0o7777 {
		return 0, api.ParamError("perms", "'%s' is no permission mode: give octal digits up to 7777 (such as 644) or 0x and hexadecimal digits up to 0xfff", s)
	}
	return uint32(n), nil
}

// lookupID finds name in the text of a passwd or group file and returns
// the numeric id in its third field.
func lookupID(data []byte, name string) (int, bool) {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		fields := bytes.SplitN(line, []byte(":"), 4)
		if len(fields) < 3 || string(fields[0]) != name {
			continue
		}
		id, err := strconv.ParseUint(string(fields[2]), 10, 32)
		if err != nil {
			continue
		}
		return int(id), true
	}
	return 0, false
}

// maxAccountFile bounds the /etc/passwd or /etc/group read to resolve a
// name.
const maxAccountFile = 16 << 20

// idInside resolves push's user or group parameter, a name or a number,
// to the id inside the container; names are looked up in the
// container's own file (/etc/passwd or /etc/group).
func idInside(root, param, value, file string) (int, error) {
	if value == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(value, 10, 32); err == nil {
		return int(n), nil
	}
	data, _, err := readIn(root, file, maxAccountFile)
	if err != nil {
		return 0, api.ParamError(param, "cannot look up '%s' in the container: %v", value, err)
	}
	id, ok := lookupID(data, value)
	if !ok {
		return 0, api.ParamError(param, "'%s' is not in the container's %s; give a name listed there or a number", value, file)
	}
	return id, nil
}

// ownerOnHost resolves push's user and group to host ids: inside the
// container, then through its id map.
func ownerOnHost(root, user, group string, maps ctconf.IDMaps) (uid, gid int, err error) {
	u, err := idInside(root, "user", user, "/etc/passwd")
	if err != nil {
		return 0, 0, err
	}
	g, err := idInside(root, "group", group, "/etc/group")
	if err != nil {
		return 0, 0, err
	}
	uid, ok := maps.MapUID(u)
	if !ok {
		return 0, 0, api.ParamError("user", "user id %d is outside the container's id map", u)
	}
	gid, ok = maps.MapGID(g)
	if !ok {
		return 0, 0, api.ParamError("group", "group id %d is outside the container's id map", g)
	}
	return uid, gid, nil
}

// parseKernelIDMap parses /proc/<pid>/uid_map or gid_map: lines of the
// first id inside, the first id outside and the count.
func parseKernelIDMap(data []byte, kind byte) (ctconf.IDMaps, error) {
	var out ctconf.IDMaps
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("id map line %q: expected three numbers", line)
		}
		var n [3]int
		for i := range f {
			x, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map line %q: %q is no id", line, f[i])
			}
			n[i] = int(x)
		}
		out = append(out, ctconf.IDMap{Kind: kind, Inside: n[0], Host: n[1], N: n[2]})
	}
	return out, nil
}

// idMapsOf reads the user and group id maps of a running process: the
// ones its container really runs with, whatever its configuration says
// since. A privileged container's are the identity.
func idMapsOf(pid int) (ctconf.IDMaps, error) {
	var out ctconf.IDMaps
	for _, m := range []struct {
		file string
		kind byte
	}{{"uid_map", 'u'}, {"gid_map", 'g'}} {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + m.file)
		if err != nil {
			return nil, err
		}
		ms, err := parseKernelIDMap(data, m.kind)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// runningRoot returns the pid of a running container's init and its root
// directory.
func (s *Service) runningRoot(vmid int) (int, string, error) {
	if err := s.exists(vmid); err != nil {
		return 0, "", err
	}
	pid, ok := s.running(vmid)
	if !ok {
		return 0, "", errNotRunning(vmid)
	}
	return pid, procRoot(pid), nil
}

// ctFileError puts the container in front of an error about one of its
// files; parameter errors stay as they are.
func ctFileError(vmid int, err error) error {
	var pe *api.Error
	if err == nil || errors.As(err, &pe) {
		return err
	}
	return api.Errorf(http.StatusInternalServerError, "CT %d: %v", vmid, err)
}

func (s *Service) push(ctx context.Context, call *api.Call, in *api.CTPushParams) (any, error) {
	if call.Upload == nil {
		return nil, api.ParamError("file", "send the content as the multipart/form-data part 'file', after the other fields")
	}
	defer call.Upload.Close()
	perm, err := parsePerms(in.Perms)
	if err != nil {
		return nil, err
	}
	pid, root, err := s.runningRoot(in.VMID)
	if err != nil {
		return nil, err
	}
	maps, err := idMapsOf(pid)
	if err != nil {
		return nil, ctFileError(in.VMID, fmt.Errorf("reading its id map: %w", err))
	}
	uid, gid, err := ownerOnHost(root, in.User, in.Group, maps)
	if err != nil {
		return nil, err
	}
	return nil, ctFileError(in.VMID, writeIn(root, in.Path, ctxReader{ctx, call.Upload}, uid, gid, perm))
}

func (s *Service) pull(_ context.Context, _ *api.Call, in *api.CTPullParams) (api.CTFile, error) {
	_, root, err := s.runningRoot(in.VMID)
	if err != nil {
		return api.CTFile{}, err
	}
	data, mode, err := readIn(root, in.Path, api.CTPullMax)
	if err != nil {
		return api.CTFile{}, ctFileError(in.VMID, err)
	}
	return api.CTFile{Content: base64.StdEncoding.EncodeToString(data), Size: int64(len(data)), Mode: fmt.Sprintf("%04o", mode)}, nil
}

// ctxReader stops reading once the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
