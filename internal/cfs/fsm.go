package cfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Default size limits, as in pmxcfs.
const (
	DefaultMaxFileSize  = 1 << 20
	DefaultMaxTotalSize = 128 << 20
)

// node is one entry of the in-memory tree. Its fields other than kids never
// change after creation: a write makes a new node. That lets a snapshot
// hold on to nodes and stream them while later transactions are applied.
type node struct {
	dir     bool
	data    []byte
	version uint64
	mtime   int64
	kids    map[string]*node // directories only
}

func newDir(version uint64, mtime int64) *node {
	return &node{dir: true, version: version, mtime: mtime, kids: map[string]*node{}}
}

func (n *node) entry(p string) Entry {
	e := Entry{Path: p, Version: n.version, MTime: n.mtime, Dir: n.dir}
	if !n.dir {
		// A copy, so that callers can never reach into the tree.
		e.Data = append([]byte{}, n.data...)
	}
	return e
}

// sortedKids returns the names of a directory's children in byte order,
// the one order every node agrees on.
func (n *node) sortedKids() []string { return slices.Sorted(maps.Keys(n.kids)) }

// applyResult is what fsm.Apply hands back to raft, and raft hands to the
// ApplyFuture of the proposer on this node. Forwarded writes (a later
// step) will need to encode it to send it back to the follower.
type applyResult struct {
	version uint64
	err     error
}

// errUnknownCommand is the result of a log entry whose type this version
// does not know.
var errUnknownCommand = errors.New("cfs: unknown command type")

// fsm is the replicated state machine: the tree plus the global version.
// raft calls Apply, Snapshot and Restore from one goroutine; readers call
// get and list from any goroutine.
type fsm struct {
	log      *slog.Logger
	hub      *hub
	handlers map[cmdType]func(payload []byte) applyResult

	mu      sync.RWMutex
	root    *node
	version uint64
	total   int64 // sum of the sizes of all files

	// applied is the raft index of the last entry applied; appliedCh is
	// closed and replaced whenever it grows, waking waitApplied.
	idxMu     sync.Mutex
	applied   uint64
	appliedCh chan struct{}
}

func newFSM(log *slog.Logger, h *hub) *fsm {
	f := &fsm{log: log, hub: h, root: newDir(0, 0), appliedCh: make(chan struct{})}
	// The dispatch table. A later version adds its command types here and
	// nowhere else; older versions skip them (see Apply).
	f.handlers = map[cmdType]func([]byte) applyResult{
		cmdTxn: f.applyTxn,
	}
	return f
}

// Apply implements raft.FSM. It must give the same result on every node for
// the same entry, so it reads nothing but the entry and the tree: no clock,
// no randomness, no local configuration.
//
// An entry of an unknown command type is logged and skipped without
// changing the tree or the version. That lets a cluster be upgraded one
// node at a time, provided a new command type is only proposed once every
// node understands it.
func (f *fsm) Apply(l *raft.Log) any {
	defer f.setApplied(l.Index)
	t, payload, err := splitCommand(l.Data)
	if err != nil {
		f.log.Warn("cfs: skipping empty raft log entry", "index", l.Index)
		return applyResult{version: f.currentVersion(), err: err}
	}
	h, ok := f.handlers[t]
	if !ok {
		f.log.Warn("cfs: skipping raft log entry of unknown command type, probably written by a newer version",
			"type", int(t), "index", l.Index)
		return applyResult{version: f.currentVersion(), err: fmt.Errorf("%w %d", errUnknownCommand, t)}
	}
	return h(payload)
}

func (f *fsm) setApplied(index uint64) {
	f.idxMu.Lock()
	defer f.idxMu.Unlock()
	if index > f.applied || index == 0 {
		f.applied = index
		close(f.appliedCh)
		f.appliedCh = make(chan struct{})
	}
}

func (f *fsm) appliedIndex() uint64 {
	f.idxMu.Lock()
	defer f.idxMu.Unlock()
	return f.applied
}

// waitApplied waits until the entry at index (or a later one) is applied,
// for at most timeout.
func (f *fsm) waitApplied(ctx context.Context, index uint64, timeout time.Duration) error {
	timer := time.NewTimer(max(timeout, time.Millisecond))
	defer timer.Stop()
	for {
		f.idxMu.Lock()
		applied, ch := f.applied, f.appliedCh
		f.idxMu.Unlock()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("cfs: the write was committed but this node has not applied it yet: %w", ctx.Err())
		case <-timer.C:
			return fmt.Errorf("cfs: the write was committed but this node has not applied it within the timeout: %w", context.DeadlineExceeded)
		}
	}
}

// reset empties the tree, for a node about to join another cluster.
func (f *fsm) reset() {
	f.mu.Lock()
	f.root, f.version, f.total = newDir(0, 0), 0, 0
	f.mu.Unlock()
	f.setApplied(0)
	f.hub.overflowAll(0)
}

func (f *fsm) currentVersion() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.version
}

// applyTxn applies a transaction: every op in order, or none of them. An
// op of a kind this version does not know refuses the whole transaction;
// skipping just that op would break the all-or-nothing promise.
func (f *fsm) applyTxn(payload []byte) applyResult {
	c, ops, err := decodeTxn(payload)
	if err != nil {
		// Store.Apply validates before proposing, so this is a damaged or
		// foreign entry; refusing it the same way everywhere keeps the
		// nodes in step.
		f.log.Warn("cfs: refusing malformed transaction", "err", err)
		return applyResult{version: f.currentVersion(), err: err}
	}
	t := &txn{f: f, mtime: c.MTime, maxFile: c.MaxFile, maxTotal: c.MaxTotal}
	if t.maxFile <= 0 {
		t.maxFile = DefaultMaxFileSize
	}
	if t.maxTotal <= 0 {
		t.maxTotal = DefaultMaxTotalSize
	}

	f.mu.Lock()
	t.version = f.version + 1
	t.startTotal = f.total
	err = t.run(ops)
	if err != nil {
		t.rollback()
		v := f.version
		f.mu.Unlock()
		return applyResult{version: v, err: err}
	}
	f.version = t.version
	f.mu.Unlock()

	// Outside the lock: readers woken by an event see the new tree.
	f.hub.publish(t.events)
	return applyResult{version: t.version}
}

// lookup returns the node at p, or nil. The caller holds f.mu.
func (f *fsm) lookup(p string) *node { return lookupIn(f.root, p) }

func lookupIn(root *node, p string) *node {
	n := root
	if p == "" {
		return n
	}
	for seg := range strings.SplitSeq(p, "/") {
		if !n.dir {
			return nil
		}
		if n = n.kids[seg]; n == nil {
			return nil
		}
	}
	return n
}

// checkPath accepts "" (the root) besides the paths ValidatePath accepts.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	return ValidatePath(p)
}

func (f *fsm) get(p string) (Entry, error) {
	if err := checkPath(p); err != nil {
		return Entry{}, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := f.lookup(p)
	if n == nil {
		return Entry{}, &OpError{Op: "get", Path: p, Err: ErrNotFound}
	}
	return n.entry(p), nil
}

func (f *fsm) list(dir string) ([]Entry, error) {
	if err := checkPath(dir); err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := f.lookup(dir)
	switch {
	case n == nil:
		return nil, &OpError{Op: "list", Path: dir, Err: ErrNotFound}
	case !n.dir:
		return nil, &OpError{Op: "list", Path: dir, Err: ErrNotDir}
	}
	out := make([]Entry, 0, len(n.kids))
	for _, name := range n.sortedKids() {
		out = append(out, n.kids[name].entry(joinPath(dir, name)))
	}
	return out, nil
}

// undo records how to put back one child slot of a directory.
type undo struct {
	parent *node
	name   string
	old    *node // nil: the slot was empty
}

// txn applies the ops of one transaction in place and remembers how to
// undo them. Undoing in place is cheaper than copying the tree for every
// transaction, and readers never see the intermediate states because the
// write lock is held throughout.
type txn struct {
	f                 *fsm
	version           uint64
	mtime             int64
	maxFile, maxTotal int64
	startTotal        int64
	grewPath          string // last path that made the total larger
	undos             []undo
	events            []Event
}

func (t *txn) run(ops []Op) error {
	for _, o := range ops {
		var err error
		switch o.Kind {
		case OpWrite:
			err = t.write(o)
		case OpDelete:
			err = t.delete(o)
		case OpMkdir:
			err = t.mkdir(o)
		case OpRename:
			err = t.rename(o)
		default:
			err = fmt.Errorf("cfs: %w: unknown operation kind %d", ErrInvalid, o.Kind)
		}
		if err != nil {
			return err
		}
	}
	// Judged on the end state, so that a transaction which replaces big
	// files by others is not refused for its intermediate sum, and a tree
	// already above a lowered limit can still shrink.
	if f := t.f; f.total > t.maxTotal && f.total > t.startTotal {
		return &LimitError{Path: t.grewPath, Size: f.total, Limit: t.maxTotal, Total: true}
	}
	return nil
}

func (t *txn) rollback() {
	for i := len(t.undos) - 1; i >= 0; i-- {
		u := t.undos[i]
		if u.old == nil {
			delete(u.parent.kids, u.name)
		} else {
			u.parent.kids[u.name] = u.old
		}
	}
	t.f.total = t.startTotal
	t.undos, t.events = nil, nil
}

// setChild sets (or, with n nil, removes) a child and records the undo.
func (t *txn) setChild(parent *node, name string, n *node) {
	t.undos = append(t.undos, undo{parent: parent, name: name, old: parent.kids[name]})
	if n == nil {
		delete(parent.kids, name)
	} else {
		parent.kids[name] = n
	}
}

func (t *txn) addSize(p string, delta int) {
	t.f.total += int64(delta)
	if delta > 0 {
		t.grewPath = p
	}
}

func (t *txn) event(p string, k EventKind) {
	t.events = append(t.events, Event{Path: p, Kind: k, Version: t.version})
}

// parentOf returns the directory that holds p and p's last segment. With
// create, missing directories on the way are made, as for a write.
func (t *txn) parentOf(op, p string, create bool) (*node, string, error) {
	dir, name := splitParent(p)
	n := t.f.root
	if dir == "" {
		return n, name, nil
	}
	walked := ""
	for seg := range strings.SplitSeq(dir, "/") {
		walked = joinPath(walked, seg)
		c := n.kids[seg]
		switch {
		case c == nil && !create:
			return nil, "", &OpError{Op: op, Path: p, Err: ErrNotFound}
		case c == nil:
			c = newDir(t.version, t.mtime)
			t.setChild(n, seg, c)
			t.event(walked, EventWritten)
		case !c.dir:
			return nil, "", &OpError{Op: op, Path: p, Err: fmt.Errorf("%w: %q is a file", ErrNotDir, walked)}
		}
		n = c
	}
	return n, name, nil
}

func checkCond(p string, n *node, c Cond) error {
	conflict := func(check, have, want string) error {
		return &ConflictError{Path: p, Check: check, Have: have, Want: want}
	}
	if c.MustNotExist && n != nil {
		return conflict("existence", "present", "absent")
	}
	if c.Version != 0 {
		want := strconv.FormatUint(c.Version, 10)
		if n == nil {
			return conflict("version", "absent", want)
		}
		if n.version != c.Version {
			return conflict("version", strconv.FormatUint(n.version, 10), want)
		}
	}
	if c.Digest != "" {
		switch {
		case n == nil:
			return conflict("digest", "absent", c.Digest)
		case n.dir:
			return conflict("digest", "a directory", c.Digest)
		}
		if d := Digest(n.data); !strings.EqualFold(d, c.Digest) {
			return conflict("digest", d, c.Digest)
		}
	}
	return nil
}

func (t *txn) write(o Op) error {
	if err := checkCond(o.Path, t.f.lookup(o.Path), o.Cond); err != nil {
		return err
	}
	if int64(len(o.Data)) > t.maxFile {
		return &LimitError{Path: o.Path, Size: int64(len(o.Data)), Limit: t.maxFile}
	}
	parent, name, err := t.parentOf("write", o.Path, true)
	if err != nil {
		return err
	}
	old := parent.kids[name]
	oldSize := 0
	if old != nil {
		if old.dir {
			return &OpError{Op: "write", Path: o.Path, Err: ErrIsDir}
		}
		oldSize = len(old.data)
	}
	t.setChild(parent, name, &node{data: o.Data, version: t.version, mtime: t.mtime})
	t.addSize(o.Path, len(o.Data)-oldSize)
	t.event(o.Path, EventWritten)
	return nil
}

func (t *txn) delete(o Op) error {
	n := t.f.lookup(o.Path)
	if err := checkCond(o.Path, n, o.Cond); err != nil {
		return err
	}
	switch {
	case n == nil:
		return &OpError{Op: "delete", Path: o.Path, Err: ErrNotFound}
	case n.dir && len(n.kids) > 0:
		return &OpError{Op: "delete", Path: o.Path, Err: ErrNotEmpty}
	}
	parent, name, err := t.parentOf("delete", o.Path, false)
	if err != nil {
		return err
	}
	t.setChild(parent, name, nil)
	t.addSize(o.Path, -len(n.data))
	t.event(o.Path, EventDeleted)
	return nil
}

func (t *txn) mkdir(o Op) error {
	n := t.f.lookup(o.Path)
	if err := checkCond(o.Path, n, o.Cond); err != nil {
		return err
	}
	if n != nil {
		return &OpError{Op: "mkdir", Path: o.Path, Err: ErrExist}
	}
	parent, name, err := t.parentOf("mkdir", o.Path, true)
	if err != nil {
		return err
	}
	t.setChild(parent, name, newDir(t.version, t.mtime))
	t.event(o.Path, EventWritten)
	return nil
}

// rename follows POSIX rename(2) for files (an existing file target is
// replaced) but is stricter for directories: their target must not exist.
// Missing parents of the target are created, as for a write.
func (t *txn) rename(o Op) error {
	src := t.f.lookup(o.Path)
	if err := checkCond(o.Path, src, o.Cond); err != nil {
		return err
	}
	switch {
	case src == nil:
		return &OpError{Op: "rename", Path: o.Path, Err: ErrNotFound}
	case o.To == o.Path:
		return &OpError{Op: "rename", Path: o.Path, Err: fmt.Errorf("%w: source and target are the same", ErrInvalid)}
	case src.dir && underPrefix(o.To, o.Path):
		return &OpError{Op: "rename", Path: o.Path, Err: fmt.Errorf("%w: cannot move a directory below itself (to %q)", ErrInvalid, o.To)}
	}
	dst := t.f.lookup(o.To)
	switch {
	case dst != nil && src.dir:
		return &OpError{Op: "rename", Path: o.To, Err: ErrExist}
	case dst != nil && dst.dir:
		return &OpError{Op: "rename", Path: o.To, Err: ErrIsDir}
	}
	srcParent, srcName, err := t.parentOf("rename", o.Path, false)
	if err != nil {
		return err
	}
	dstParent, dstName, err := t.parentOf("rename", o.To, true)
	if err != nil {
		return err
	}
	t.setChild(srcParent, srcName, nil)
	if dst != nil {
		t.addSize(o.To, -len(dst.data))
	}
	walk(src, o.Path, func(p string, _ *node) { t.event(p, EventDeleted) })
	t.setChild(dstParent, dstName, t.moved(src, o.To))
	return nil
}

// moved copies a subtree for its new place. Moved entries take the new
// version, so that a Cond{Version} taken before the move cannot match the
// entry now found at that path; they keep their mtime, as rename(2) does.
func (t *txn) moved(n *node, p string) *node {
	c := &node{dir: n.dir, data: n.data, version: t.version, mtime: n.mtime}
	t.event(p, EventWritten)
	if n.dir {
		c.kids = make(map[string]*node, len(n.kids))
		for _, name := range n.sortedKids() {
			c.kids[name] = t.moved(n.kids[name], joinPath(p, name))
		}
	}
	return c
}

// walk visits n and everything below it in pre-order, children sorted.
func walk(n *node, p string, fn func(string, *node)) {
	fn(p, n)
	for _, name := range n.sortedKids() {
		walk(n.kids[name], joinPath(p, name), fn)
	}
}
