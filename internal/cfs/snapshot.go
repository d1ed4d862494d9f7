package cfs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// snapshotFormat is written into every snapshot; Restore refuses formats it
// does not know rather than guess.
const snapshotFormat = 1

// A snapshot is a stream of JSON values: one snapHeader, then one snapEntry
// per entry in pre-order with children sorted by name, so that a parent
// always comes before its children and equal trees give equal bytes.
type snapHeader struct {
	Format  int    `json:"format"`
	Version uint64 `json:"version"`
	Entries int    `json:"entries"`
	// Index is the raft index of the last entry in the snapshot, so that a
	// restored node knows which forwarded writes it has already applied.
	Index uint64 `json:"index,omitempty"`
}

type snapEntry struct {
	Path    string `json:"p"`
	Dir     bool   `json:"dir,omitempty"`
	Version uint64 `json:"v"`
	MTime   int64  `json:"m"`
	Data    []byte `json:"d,omitempty"`
}

// fsmSnapshot is a point-in-time list of the tree's nodes. Nodes are
// immutable apart from their child maps, which it does not use, so Persist
// can run while raft applies later entries.
type fsmSnapshot struct {
	version uint64
	index   uint64
	paths   []string
	nodes   []*node
}

// Snapshot implements raft.FSM. It only collects pointers under the read
// lock; the encoding happens in Persist, off the apply path.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.idxMu.Lock()
	index := f.applied
	f.idxMu.Unlock()
	s := &fsmSnapshot{version: f.version, index: index}
	for _, name := range f.root.sortedKids() {
		walk(f.root.kids[name], name, func(p string, n *node) {
			s.paths = append(s.paths, p)
			s.nodes = append(s.nodes, n)
		})
	}
	return s, nil
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.writeTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(snapHeader{Format: snapshotFormat, Version: s.version, Entries: len(s.nodes), Index: s.index}); err != nil {
		return err
	}
	for i, n := range s.nodes {
		e := snapEntry{Path: s.paths[i], Dir: n.dir, Version: n.version, MTime: n.mtime, Data: n.data}
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Release implements raft.FSMSnapshot; there is nothing to free.
func (s *fsmSnapshot) Release() {}

// Restore implements raft.FSM: it replaces the whole tree and the global
// version. The new tree is built aside and swapped in, so a damaged
// snapshot leaves the old tree in place. Every watcher gets an Overflow
// event because the change cannot be told path by path.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	root, version, total, index, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.root, f.version, f.total = root, version, total
	f.mu.Unlock()
	f.idxMu.Lock()
	f.applied = index
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.idxMu.Unlock()
	f.hub.overflowAll(version)
	return nil
}

func readSnapshot(r io.Reader) (root *node, version uint64, total int64, index uint64, err error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapHeader
	if err := dec.Decode(&h); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot header: %w", err)
	}
	if h.Format != snapshotFormat {
		return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot format %d is not supported (want %d)", h.Format, snapshotFormat)
	}
	root = newDir(0, 0)
	for i := 0; i < h.Entries; i++ {
		var e snapEntry
		if err := dec.Decode(&e); err != nil {
			return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot entry %d of %d: %w", i+1, h.Entries, err)
		}
		if err := ValidatePath(e.Path); err != nil {
			return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot entry %d: %w", i+1, err)
		}
		dir, name := splitParent(e.Path)
		parent := lookupIn(root, dir)
		switch {
		case parent == nil || !parent.dir:
			return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot entry %q comes without its parent directory", e.Path)
		case parent.kids[name] != nil:
			return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot entry %q appears twice", e.Path)
		case e.Dir && len(e.Data) > 0:
			return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot entry %q is a directory with data", e.Path)
		}
		if e.Dir {
			parent.kids[name] = newDir(e.Version, e.MTime)
		} else {
			parent.kids[name] = &node{data: e.Data, version: e.Version, mtime: e.MTime}
			total += int64(len(e.Data))
		}
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		return nil, 0, 0, 0, fmt.Errorf("cfs: snapshot has data after its %d entries", h.Entries)
	}
	return root, h.Version, total, h.Index, nil
}
