package cfsfuse

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// handle is an open file. It holds the whole content in memory: a read
// handle the version it last read from the tree, a write handle the
// content being edited, which is stored as one write when it is flushed
// (close, fsync). Files in the tree are small (a megabyte by default), so
// whole copies are cheap, and they make each change atomic.
type handle struct {
	n        *node
	writable bool
	append   bool
	// pending: the file was created through this handle and the store
	// has not got it yet. Atomic so that lookups can ask without taking
	// mu, which may be held across a store round trip.
	pending atomic.Bool

	mu    sync.Mutex
	data  []byte // owned by the handle; the store's Entry.Data is a copy
	dirty bool   // changed since last stored
	// refused: the last attempt to store failed and its caller was told;
	// cleared by the next change.
	refused bool
	excl    bool  // created with O_EXCL: storing must not replace a file made meanwhile
	mtime   int64 // of data, for the attributes of a file the tree does not have
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A read from the start begins a new pass over the file: take the
	// current version then, so a file kept open and reread from the start
	// (by a daemon, say) is not stuck with the content it was opened
	// with, while one pass still reads one consistent version.
	if off == 0 && !h.writable && !h.dirty {
		h.refresh()
	}
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	// Copy, because a write may change data while go-fuse is still
	// sending the reply.
	n := copy(dest, h.data[off:])
	return fuse.ReadResultData(dest[:n]), 0
}

// refresh replaces the content by the tree's current version. If the file
// is gone, the handle keeps what it had, as an open file outlives its name.
func (h *handle) refresh() {
	p, ok := h.n.path()
	if !ok {
		return
	}
	if e, err := h.n.fs.tree.Get(p); err == nil && !e.Dir {
		h.data, h.mtime = e.Data, e.MTime
	}
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.append {
		// The kernel's offset for O_APPEND comes from its idea of the
		// size, which is the stored size, not this buffer's.
		off = int64(len(h.data))
	}
	end := off + int64(len(data))
	if off < 0 || end > int64(h.n.fs.maxFile) {
		return 0, syscall.EFBIG
	}
	if end > int64(len(h.data)) {
		h.data = resize(h.data, int(end))
	}
	copy(h.data[off:], data)
	h.dirty, h.refused = true, false
	return uint32(len(data)), 0
}

func (h *handle) truncate(size int) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.data = resize(h.data, size)
	h.dirty, h.refused = true, false
	return 0
}

// Flush runs on every close(2) of the file (also of each dup), so its
// error is what close returns: a write the store refuses fails there,
// visibly, instead of being lost.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return h.flush(ctx) }

// flush stores the content if it changed.
func (h *handle) flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty {
		return 0
	}
	p, ok := h.n.path()
	if !ok {
		// Unlinked while open: the content has nowhere to go.
		h.dirty = false
		h.pending.Store(false)
		return 0
	}
	// Clone, because the buffer keeps changing after this returns and
	// the store may hold on to the op.
	op := cfs.Write(p, slices.Clone(h.data))
	if h.excl && h.pending.Load() {
		op = op.If(cfs.Cond{MustNotExist: true})
	}
	if errno := h.n.fs.apply(ctx, op); errno != 0 {
		h.refused = true
		return errno
	}
	h.dirty = false
	h.pending.Store(false)
	return 0
}

// Release runs when the last reference to the open file is gone. Changes
// made after the last flush (through a shared mapping written back late)
// are stored here; an error can no longer reach anyone, so it is logged.
// Content the store refused at close is not offered again: the caller was
// told it failed, and a later success would contradict that.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	defer h.n.removeHandle(h)
	h.mu.Lock()
	retry := h.dirty && !h.refused
	h.mu.Unlock()
	if !retry {
		return 0
	}
	if errno := h.flush(ctx); errno != 0 {
		p, _ := h.n.path()
		h.n.fs.log.Warn("cfsfuse: changes to a closed file were not stored", "path", p, "err", errno.Error())
		return errno
	}
	return 0
}

// attr describes the handle's content as a file at p.
func (h *handle) attr(p string, out *fuse.Attr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fillAttr(out, p, false, len(h.data), h.mtime)
}

// snapshot returns a copy of the content for another handle.
func (h *handle) snapshot() ([]byte, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.data), h.mtime
}
