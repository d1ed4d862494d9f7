package cfsfuse

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// node is a file or directory of the tree. It stores no path: the path is
// where go-fuse's inode tree has the node, which follows renames made
// through the mount, and every call asks the store about that path, so
// the node never holds a stale copy of the tree.
type node struct {
	fs.Inode
	fs *fsys

	mu      sync.Mutex
	handles map[*handle]struct{} // open files of this node
}

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeOpendirer = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
)

// path returns the node's path in the tree ("" for the root). ok is false
// once the node was unlinked or replaced: it then has no path, and
// nothing must be written on its behalf.
func (n *node) path() (p string, ok bool) {
	var segs []string
	in := n.EmbeddedInode()
	for !in.IsRoot() {
		name, parent := in.Parent()
		if parent == nil {
			return "", false
		}
		segs = append(segs, name)
		in = parent
	}
	slices.Reverse(segs)
	return strings.Join(segs, "/"), true
}

// child returns the inode for name with the given type and number,
// reusing the one go-fuse already has so that its open files stay
// attached to it.
func (n *node) child(ctx context.Context, name string, mode uint32, ino uint64) *fs.Inode {
	want := fs.StableAttr{Mode: mode, Ino: ino}
	if ch := n.GetChild(name); ch != nil && ch.StableAttr() == want {
		return ch
	}
	return n.NewInode(ctx, &node{fs: n.fs}, want)
}

// pendingChild returns the child called name, and its creating handle,
// if it is a file this mount created that is not stored yet. The store
// does not know it, but the process that created it (and others) must
// see it until it is closed.
func (n *node) pendingChild(name string) (*node, *handle) {
	in := n.GetChild(name)
	if in == nil {
		return nil, nil
	}
	ch, _ := in.Operations().(*node)
	if ch == nil {
		return nil, nil
	}
	h := ch.pending()
	if h == nil {
		return nil, nil
	}
	return ch, h
}

func (n *node) addHandle(h *handle) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.handles == nil {
		n.handles = map[*handle]struct{}{}
	}
	n.handles[h] = struct{}{}
}

func (n *node) removeHandle(h *handle) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.handles, h)
}

// pending returns an open handle that created the file and has not
// stored it yet, or nil.
func (n *node) pending() *handle {
	n.mu.Lock()
	defer n.mu.Unlock()
	for h := range n.handles {
		if h.pending.Load() {
			return h
		}
	}
	return nil
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	dir, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	if dir == "" {
		if target, ok := n.fs.links[name]; ok {
			return n.link(ctx, name, target, &out.Attr), 0
		}
	}
	p := join(dir, name)
	if errno := checkName(name, p); errno != 0 {
		if errno == syscall.EINVAL {
			// A name the tree cannot hold is simply not in it.
			errno = syscall.ENOENT
		}
		return nil, errno
	}
	e, err := n.fs.tree.Get(p)
	if err != nil {
		if ch, h := n.pendingChild(name); ch != nil {
			h.attr(p, &out.Attr)
			return ch.EmbeddedInode(), 0
		}
		return nil, toErrno(err)
	}
	n.fs.fillEntryAttr(&out.Attr, e)
	mode := modeOf(e)
	return n.child(ctx, name, mode, n.fs.inos.get(p, mode)), 0
}

func modeOf(e cfs.Entry) uint32 {
	if e.Dir {
		return syscall.S_IFDIR
	}
	return syscall.S_IFREG
}

func (n *node) link(ctx context.Context, name, target string, out *fuse.Attr) *fs.Inode {
	l := &link{target: target, mtime: n.fs.mounted.Unix()}
	l.fill(out)
	want := fs.StableAttr{Mode: syscall.S_IFLNK, Ino: n.fs.inos.get(name, syscall.S_IFLNK)}
	if ch := n.GetChild(name); ch != nil && ch.StableAttr() == want {
		return ch
	}
	return n.NewInode(ctx, l, want)
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	p, ok := n.path()
	if ok {
		e, err := n.fs.tree.Get(p)
		if err == nil && e.Dir == n.IsDir() {
			n.fs.fillEntryAttr(&out.Attr, e)
			return 0
		}
	}
	// Not (or no longer) in the tree: a file created here and not stored
	// yet, or one removed while it was open, is described by its handle.
	h, _ := f.(*handle)
	if h == nil {
		h = n.pending()
	}
	if h == nil {
		return syscall.ENOENT
	}
	h.attr(p, &out.Attr)
	return 0
}

// Setattr truncates files. Modes and ownership are a policy, so only
// "changes" to what they already are succeed; that keeps tools that copy
// permissions onto a temporary file (sed -i, cp -p, editors) working.
// Times cannot be stored either (the store sets the mtime of every
// change), so setting them is accepted and has no effect.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p, ok := n.path()
	if m, set := in.GetMode(); set && (!ok || m != perm(p, n.IsDir())) {
		return syscall.EPERM
	}
	if uid, set := in.GetUID(); set && uid != 0 {
		return syscall.EPERM
	}
	if gid, set := in.GetGID(); set && gid != 0 {
		return syscall.EPERM
	}
	if size, set := in.GetSize(); set {
		if errno := n.truncate(ctx, f, p, ok, size); errno != 0 {
			return errno
		}
	}
	_, atime := in.GetATime()
	_, mtime := in.GetMTime()
	if atime || mtime {
		if errno := n.fs.writable(); errno != 0 {
			return errno
		}
	}
	return n.Getattr(ctx, f, out)
}

func (n *node) truncate(ctx context.Context, f fs.FileHandle, p string, ok bool, size uint64) syscall.Errno {
	if n.IsDir() {
		return syscall.EISDIR
	}
	if size > uint64(n.fs.maxFile) {
		return syscall.EFBIG
	}
	// ftruncate changes the open file, which is stored when it is closed.
	if h, _ := f.(*handle); h != nil && h.writable {
		return h.truncate(int(size))
	}
	if errno := n.fs.writable(); errno != 0 {
		return errno
	}
	if !ok {
		return syscall.ENOENT
	}
	e, err := n.fs.tree.Get(p)
	if err != nil {
		if h := n.pending(); h != nil {
			return h.truncate(int(size))
		}
		return toErrno(err)
	}
	if e.Dir {
		return syscall.EISDIR
	}
	return n.fs.apply(ctx, cfs.Write(p, resize(e.Data, int(size))))
}

// resize cuts b to size or extends it with zeros.
func resize(b []byte, size int) []byte {
	if size <= len(b) {
		return b[:size]
	}
	return append(b, make([]byte, size-len(b))...)
}

func (n *node) Opendir(ctx context.Context) syscall.Errno {
	p, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	e, err := n.fs.tree.Get(p)
	switch {
	case err != nil:
		return toErrno(err)
	case !e.Dir:
		return syscall.ENOTDIR
	}
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	kids, err := n.fs.tree.List(p)
	if err != nil {
		return nil, toErrno(err)
	}
	parentIno := uint64(rootIno)
	if _, parent := n.Parent(); parent != nil {
		parentIno = parent.StableAttr().Ino
	}
	out := make([]fuse.DirEntry, 0, len(kids)+len(n.fs.links)+2)
	out = append(out,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: n.StableAttr().Ino},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parentIno})
	seen := map[string]bool{}
	if p == "" {
		// The links shadow entries of the same name in the tree, as
		// Lookup does.
		for _, name := range slices.Sorted(maps.Keys(n.fs.links)) {
			seen[name] = true
			out = append(out, fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: n.fs.inos.get(name, syscall.S_IFLNK)})
		}
	}
	for _, e := range kids {
		name := e.Path[strings.LastIndexByte(e.Path, '/')+1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, fuse.DirEntry{Name: name, Mode: modeOf(e), Ino: n.fs.inos.get(e.Path, modeOf(e))})
	}
	// Sorted like the store's entries, so that listings are stable.
	kidInodes := n.Children()
	for _, name := range slices.Sorted(maps.Keys(kidInodes)) {
		ch := kidInodes[name]
		if cn, _ := ch.Operations().(*node); cn != nil && !seen[name] && cn.pending() != nil {
			out = append(out, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: ch.StableAttr().Ino})
		}
	}
	return fs.NewListDirStream(out), 0
}

// target returns the path of a new entry called name in directory n,
// refusing names that are not allowed there.
func (n *node) target(name string) (string, syscall.Errno) {
	dir, ok := n.path()
	if !ok {
		return "", syscall.ENOENT
	}
	if _, isLink := n.fs.links[name]; isLink && dir == "" {
		return "", syscall.EEXIST
	}
	p := join(dir, name)
	if errno := checkName(name, p); errno != 0 {
		return "", errno
	}
	// The store creates missing parents on a write; a directory removed
	// meanwhile (by another node) must not come back that way.
	if dir != "" {
		if _, err := n.fs.tree.Get(dir); err != nil {
			return "", toErrno(err)
		}
	}
	return p, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.fs.writable(); errno != 0 {
		return nil, errno
	}
	p, errno := n.target(name)
	if errno != 0 {
		return nil, errno
	}
	if errno := n.fs.apply(ctx, cfs.Mkdir(p)); errno != 0 {
		return nil, errno
	}
	if e, err := n.fs.tree.Get(p); err == nil {
		n.fs.fillEntryAttr(&out.Attr, e)
	} else {
		fillAttr(&out.Attr, p, true, 0, time.Now().Unix())
	}
	return n.child(ctx, name, syscall.S_IFDIR, n.fs.inos.get(p, syscall.S_IFDIR)), 0
}

// Create opens a new file. Nothing is stored until the file is closed or
// synced, so the tree never shows it empty or half-written; until then it
// is visible through this mount only.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.fs.writable(); errno != 0 {
		return nil, nil, 0, errno
	}
	p, errno := n.target(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	h := &handle{writable: true, append: flags&syscall.O_APPEND != 0, mtime: time.Now().Unix()}
	// The kernel sends CREATE when its lookup found nothing, but another
	// node may have made the file since.
	switch e, err := n.fs.tree.Get(p); {
	case err == nil && e.Dir:
		return nil, nil, 0, syscall.EISDIR
	case err == nil && flags&syscall.O_EXCL != 0:
		return nil, nil, 0, syscall.EEXIST
	case err == nil:
		h.data, h.mtime = e.Data, e.MTime
		if flags&syscall.O_TRUNC != 0 {
			h.data, h.dirty = nil, true
		}
	case errors.Is(err, cfs.ErrNotFound):
		h.dirty, h.excl = true, flags&syscall.O_EXCL != 0
		h.pending.Store(true)
	default:
		return nil, nil, 0, toErrno(err)
	}
	ch := n.child(ctx, name, syscall.S_IFREG, n.fs.inos.get(p, syscall.S_IFREG))
	h.n = ch.Operations().(*node)
	h.n.addHandle(h)
	h.attr(p, &out.Attr)
	return ch, h, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if errno := n.fs.writable(); errno != 0 {
		return errno
	}
	dir, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	if _, isLink := n.fs.links[name]; isLink && dir == "" {
		return syscall.EPERM
	}
	p := join(dir, name)
	e, err := n.fs.tree.Get(p)
	switch {
	case err == nil && e.Dir:
		return syscall.EISDIR
	case err == nil:
		if errno := n.fs.apply(ctx, cfs.Delete(p)); errno != 0 {
			return errno
		}
	default:
		if ch, _ := n.pendingChild(name); ch == nil {
			return toErrno(err)
		}
	}
	// A file still open is now cut off from its path (go-fuse unlinks the
	// inode after this returns), so closing it stores nothing, as writes
	// to an unlinked file go nowhere.
	n.fs.inos.drop(p)
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if errno := n.fs.writable(); errno != 0 {
		return errno
	}
	dir, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	if _, isLink := n.fs.links[name]; isLink && dir == "" {
		return syscall.ENOTDIR
	}
	p := join(dir, name)
	e, err := n.fs.tree.Get(p)
	switch {
	case err != nil:
		return toErrno(err)
	case !e.Dir:
		return syscall.ENOTDIR
	}
	if errno := n.fs.apply(ctx, cfs.Delete(p)); errno != 0 {
		return errno
	}
	n.fs.inos.drop(p)
	return 0
}

// Rename is one transaction in the store, so the target is replaced
// atomically, which is what editors rely on when they save through a
// temporary file.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := n.fs.writable(); errno != 0 {
		return errno
	}
	if flags&^unix.RENAME_NOREPLACE != 0 {
		// RENAME_EXCHANGE and RENAME_WHITEOUT have no counterpart in the
		// store.
		return syscall.EINVAL
	}
	np, _ := newParent.(*node)
	if np == nil {
		return syscall.EXDEV
	}
	fromDir, ok1 := n.path()
	toDir, ok2 := np.path()
	if !ok1 || !ok2 {
		return syscall.ENOENT
	}
	_, fromLink := n.fs.links[name]
	_, toLink := n.fs.links[newName]
	if (fromLink && fromDir == "") || (toLink && toDir == "") {
		return syscall.EPERM
	}
	from, to := join(fromDir, name), join(toDir, newName)
	if errno := checkName(newName, to); errno != 0 {
		return errno
	}
	if from == to {
		return 0
	}
	// A file created here but not stored yet (still open) has nothing the
	// store could move; store what it has so far, and the rest follows
	// when it is closed, under the new name.
	if _, h := n.pendingChild(name); h != nil {
		if errno := h.flush(ctx); errno != 0 {
			return errno
		}
	}
	src, err := n.fs.tree.Get(from)
	if err != nil {
		return toErrno(err)
	}
	ops := []cfs.Op{cfs.Rename(from, to)}
	switch dst, err := n.fs.tree.Get(to); {
	case err != nil && !errors.Is(err, cfs.ErrNotFound):
		return toErrno(err)
	case err != nil:
	case flags&unix.RENAME_NOREPLACE != 0:
		return syscall.EEXIST
	case src.Dir && !dst.Dir:
		return syscall.ENOTDIR
	case !src.Dir && dst.Dir:
		return syscall.EISDIR
	case src.Dir:
		// rename(2) replaces an empty directory; the store's rename does
		// not, so remove it in the same transaction (ENOTEMPTY if it is
		// not empty).
		ops = []cfs.Op{cfs.Delete(to), cfs.Rename(from, to)}
	}
	if errno := n.fs.apply(ctx, ops...); errno != 0 {
		return errno
	}
	n.fs.inos.move(from, to)
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	trunc := flags&syscall.O_TRUNC != 0
	h := &handle{
		n:        n,
		writable: flags&syscall.O_ACCMODE != syscall.O_RDONLY || trunc,
		append:   flags&syscall.O_APPEND != 0,
	}
	if h.writable {
		if errno := n.fs.writable(); errno != 0 {
			return nil, 0, errno
		}
	}
	e, err := n.fs.tree.Get(p)
	switch {
	case err == nil && e.Dir:
		return nil, 0, syscall.EISDIR
	case err == nil:
		h.data, h.mtime = e.Data, e.MTime
	default:
		// Opened again while its creator still has it open.
		ph := n.pending()
		if ph == nil {
			return nil, 0, toErrno(err)
		}
		h.data, h.mtime = ph.snapshot()
	}
	if trunc {
		h.data, h.dirty = nil, true
	}
	n.addHandle(h)
	// Direct I/O keeps the page cache out: every read is answered from the
	// handle, so one open file reads one consistent version, and a new
	// open sees the tree as it is now.
	return h, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if h, _ := f.(*handle); h != nil {
		return h.flush(ctx)
	}
	// Directories: every change is committed before it returns.
	return 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize, out.Frsize = 4096, 4096
	out.NameLen = cfs.MaxSegmentLen
	return 0
}

// link is one of the virtual symbolic links at the root.
type link struct {
	fs.Inode
	target string
	mtime  int64
}

var (
	_ fs.NodeReadlinker = (*link)(nil)
	_ fs.NodeGetattrer  = (*link)(nil)
)

func (l *link) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}

func (l *link) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.fill(&out.Attr)
	return 0
}

func (l *link) fill(out *fuse.Attr) {
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Size = uint64(len(l.target))
	t := uint64(max(l.mtime, 0))
	out.Mtime, out.Ctime, out.Atime = t, t, t
}
