package cfsfuse

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// fsys is the state shared by all nodes of one mount.
type fsys struct {
	tree    Tree
	log     *slog.Logger
	maxFile int
	// links maps the names of the virtual symbolic links at the root to
	// their targets. It is not changed after newFS.
	links   map[string]string
	mounted time.Time // mtime of the links, which exist since the mount
	inos    inoTable
}

func newFS(tree Tree, o Options) *fsys {
	f := &fsys{
		tree:    tree,
		log:     o.Logger,
		maxFile: o.MaxFileSize,
		links:   map[string]string{},
		mounted: time.Now(),
		inos:    inoTable{next: firstIno, m: map[string]inoEntry{}},
	}
	if o.Node != "" {
		// Relative targets, as pmxcfs has them, so that the links also
		// resolve when the mount is seen through another path (a bind
		// mount, a container).
		base := "nodes/" + o.Node
		f.links["local"] = base
		for _, d := range []string{"qemu-server", "lxc", "openvz"} {
			f.links[d] = base + "/" + d
		}
	}
	return f
}

func (f *fsys) newRoot() *node { return &node{fs: f} }

// writable refuses changes up front when there is no quorum, so that a
// change fails before any work (an editor's temp file, a buffered write)
// rather than at the end.
func (f *fsys) writable() syscall.Errno {
	if !f.tree.Quorate() {
		return syscall.EROFS
	}
	return 0
}

// apply commits ops and maps the outcome to an errno.
func (f *fsys) apply(ctx context.Context, ops ...cfs.Op) syscall.Errno {
	if _, err := f.tree.Apply(ctx, ops...); err != nil {
		f.log.Debug("cfsfuse: change refused", "op", ops[0].Kind.String(), "path", ops[0].Path, "err", err)
		return toErrno(err)
	}
	return 0
}

// toErrno maps the store's errors to what file system callers expect.
func toErrno(err error) syscall.Errno {
	var conflict *cfs.ConflictError
	var limit *cfs.LimitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cfs.ErrNoQuorum), errors.Is(err, cfs.ErrNotLeader):
		// pmxcfs turns read-only without quorum; so does the mount.
		return syscall.EROFS
	case errors.Is(err, cfs.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, cfs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, cfs.ErrIsDir):
		return syscall.EISDIR
	case errors.Is(err, cfs.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, cfs.ErrNotEmpty):
		return syscall.ENOTEMPTY
	case errors.As(err, &limit) && limit.Total:
		// The file would fit; the tree as a whole is full.
		return syscall.ENOSPC
	case errors.Is(err, cfs.ErrTooLarge):
		return syscall.EFBIG
	case errors.As(err, &conflict) && conflict.Check == "existence":
		// The only condition the mount sets: an O_EXCL create that lost
		// the race against another writer.
		return syscall.EEXIST
	case errors.Is(err, cfs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, context.Canceled):
		// The caller was interrupted (a signal); the write may still land.
		return syscall.EINTR
	}
	return syscall.EIO
}

// checkName refuses names the tree cannot hold before asking it, so that
// over-long names get the errno tools expect rather than EINVAL.
func checkName(name, full string) syscall.Errno {
	if len(name) > cfs.MaxSegmentLen || len(full) > cfs.MaxPathLen {
		return syscall.ENAMETOOLONG
	}
	if cfs.ValidatePath(full) != nil {
		return syscall.EINVAL
	}
	return 0
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// secret reports whether p lies in one of the directories pmxcfs keeps
// readable for root only: priv/ and nodes/<node>/priv/.
func secret(p string) bool {
	s := strings.SplitN(p, "/", 4)
	return s[0] == "priv" || (len(s) >= 3 && s[0] == "nodes" && s[2] == "priv")
}

// perm is the permission policy. Nothing is stored: the mode follows
// from the path alone, the same on every node, and cannot be changed.
func perm(p string, dir bool) uint32 {
	switch {
	case dir && secret(p):
		return 0o700
	case dir:
		return 0o755
	case secret(p):
		return 0o600
	}
	return 0o640
}

// fillAttr sets everything but the inode number, which go-fuse fills in
// from the node. Owner and group stay 0: everything belongs to root.
func fillAttr(out *fuse.Attr, p string, dir bool, size int, mtime int64) {
	out.Mode = perm(p, dir)
	// For directories, 1 tells find and friends not to derive the number
	// of subdirectories from the link count, which would cost a listing
	// on every stat to get right.
	out.Nlink = 1
	if dir {
		out.Mode |= syscall.S_IFDIR
	} else {
		out.Mode |= syscall.S_IFREG
		out.Size = uint64(size)
	}
	t := uint64(max(mtime, 0))
	out.Mtime, out.Ctime, out.Atime = t, t, t
	out.Mtimensec, out.Ctimensec, out.Atimensec = 0, 0, 0
	out.Blksize = 4096
}

func (f *fsys) fillEntryAttr(out *fuse.Attr, e cfs.Entry) {
	mtime := e.MTime
	if e.Path == "" && mtime == 0 {
		// The root was never created by a transaction, so it has no
		// time of its own; 1970 would look like an error.
		mtime = f.mounted.Unix()
	}
	fillAttr(out, e.Path, e.Dir, len(e.Data), mtime)
}

// rootIno is the root's inode number, the one FUSE reserves for it;
// firstIno is the first number handed out to other paths.
const (
	rootIno  = 1
	firstIno = 2
)

type inoEntry struct {
	ino  uint64
	mode uint32 // S_IFREG, S_IFDIR or S_IFLNK
}

// inoTable gives each path a stable inode number for as long as the
// mount lives, whatever the kernel forgets in between, so that tools that
// compare inode numbers (find, tar, cp, editors checking whether a file
// was replaced) see one file per path. A path whose type changes gets a
// new number, as does a path after a local unlink; a local rename moves
// the numbers along with the entries.
type inoTable struct {
	mu   sync.Mutex
	next uint64
	m    map[string]inoEntry
}

func (t *inoTable) get(p string, mode uint32) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[p]; ok && e.mode == mode {
		return e.ino
	}
	e := inoEntry{ino: t.next, mode: mode}
	t.next++
	t.m[p] = e
	return e.ino
}

// drop forgets p and everything below it.
func (t *inoTable) drop(p string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.m {
		if under(k, p) {
			delete(t.m, k)
		}
	}
}

// move gives the numbers of from and below to the same paths under to,
// replacing what to had.
func (t *inoTable) move(from, to string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.m {
		if under(k, to) {
			delete(t.m, k)
		}
	}
	moved := map[string]inoEntry{}
	for k, e := range t.m {
		if under(k, from) {
			moved[to+k[len(from):]] = e
			delete(t.m, k)
		}
	}
	for k, e := range moved {
		t.m[k] = e
	}
}

// under reports whether p is prefix or lies below it.
func under(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
