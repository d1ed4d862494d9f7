package guestconf

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// Guest kinds, named as the API names them.
const (
	KindQemu = "qemu" // virtual machine, qemu-server/<vmid>.conf
	KindLXC  = "lxc"  // container, lxc/<vmid>.conf
)

// File is a parsed guest configuration: the current settings (Main),
// changes waiting for the next guest restart (Pending and the pending
// delete list), for virtual machines the settings the last cloud-init
// drive was built from (CloudInit), and the snapshots.
//
// Parse and Bytes are exact inverses on files this package writes, so a
// caller can read, change one key and write back without disturbing the
// rest. Snapshots and the delete list are reached through methods because
// they carry rules (valid names, parent links) that a plain map would not
// keep.
type File struct {
	kind string

	// Main holds the guest's current settings. Its "parent" key names the
	// snapshot the current state was taken from.
	Main *Section
	// Pending holds values that take effect when the guest restarts.
	Pending *Section
	// CloudInit records the values of the last generated cloud-init
	// drive, so that later changes can be told apart. Virtual machines
	// only: it is not written for containers.
	CloudInit *Section

	pendingDelete map[string]bool // key → forced
	snapshots     map[string]*Section
}

// PendingDelete is one key that will be removed at the next restart.
// Force asks for the removal even where it would otherwise be refused
// (such as a disk that is still in use).
type PendingDelete struct {
	Key   string
	Force bool
}

// New returns an empty configuration of the given kind.
func New(kind string) (*File, error) {
	if kind != KindQemu && kind != KindLXC {
		return nil, fmt.Errorf("unknown guest kind %q: use %q or %q", kind, KindQemu, KindLXC)
	}
	return &File{kind: kind, Main: &Section{}, Pending: &Section{}, CloudInit: &Section{}}, nil
}

// Kind returns KindQemu or KindLXC.
func (f *File) Kind() string { return f.kind }

// Digest returns the SHA-1 hex digest of a configuration file's bytes, as
// the API reports it and accepts back for optimistic locking. Compute it
// over the bytes as stored: a file edited by hand may differ from what
// Bytes would write for it.
func Digest(data []byte) string { return cfs.Digest(data) }

// Digest returns the digest of the file as Bytes writes it.
func (f *File) Digest() string { return Digest(f.Bytes()) }

// Clone returns a deep copy of the file.
func (f *File) Clone() *File {
	c := &File{
		kind:      f.kind,
		Main:      f.Main.Clone(),
		Pending:   f.Pending.Clone(),
		CloudInit: f.CloudInit.Clone(),
	}
	if len(f.pendingDelete) > 0 {
		c.pendingDelete = maps.Clone(f.pendingDelete)
	}
	if len(f.snapshots) > 0 {
		c.snapshots = make(map[string]*Section, len(f.snapshots))
		for name, s := range f.snapshots {
			c.snapshots[name] = s.Clone()
		}
	}
	return c
}

// Equal reports whether two files hold the same configuration. Parts
// that the kind does not write (cloud-init of a container, raw LXC keys of
// a virtual machine) do not count.
func (f *File) Equal(g *File) bool {
	raw := f.kind == KindLXC
	if f.kind != g.kind || !f.Main.equal(g.Main, raw) || !f.Pending.equal(g.Pending, raw) ||
		!maps.Equal(f.pendingDelete, g.pendingDelete) || len(f.snapshots) != len(g.snapshots) {
		return false
	}
	if f.kind == KindQemu && !f.CloudInit.equal(g.CloudInit, false) {
		return false
	}
	for name, s := range f.snapshots {
		o, ok := g.snapshots[name]
		if !ok || !s.equal(o, raw) {
			return false
		}
	}
	return true
}

// HasPending reports whether any change is pending, a value or a delete.
func (f *File) HasPending() bool {
	return !f.isEmpty(f.Pending) || len(f.pendingDelete) > 0
}

// isEmpty reports whether s would be written without a line, leaving
// aside what the kind does not write.
func (f *File) isEmpty(s *Section) bool {
	return s.IsEmpty() || f.kind == KindQemu && s.Len() == 0
}

// PendingDeletes returns the keys marked for removal, sorted by key.
func (f *File) PendingDeletes() []PendingDelete {
	out := make([]PendingDelete, 0, len(f.pendingDelete))
	for _, k := range slices.Sorted(maps.Keys(f.pendingDelete)) {
		out = append(out, PendingDelete{Key: k, Force: f.pendingDelete[k]})
	}
	return out
}

// IsPendingDelete reports whether key is marked for removal, and whether
// the removal is forced.
func (f *File) IsPendingDelete(key string) (marked, force bool) {
	force, marked = f.pendingDelete[key]
	return marked, force
}

// AddPendingDelete marks key for removal at the next restart. A pending
// new value for the same key is dropped: the later request wins.
func (f *File) AddPendingDelete(key string, force bool) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	f.Pending.Delete(key)
	if f.pendingDelete == nil {
		f.pendingDelete = map[string]bool{}
	}
	f.pendingDelete[key] = force
	return nil
}

// RemovePendingDelete unmarks key, keeping any pending value of it.
func (f *File) RemovePendingDelete(key string) {
	delete(f.pendingDelete, key)
}

// ClearPending forgets every pending change of key, value and delete
// alike, as when the change has been applied or reverted.
func (f *File) ClearPending(key string) {
	f.Pending.Delete(key)
	delete(f.pendingDelete, key)
}

// snapshotName is the shape of a snapshot section name (the pve-configid
// format). "pending" in any case is taken: it is the VM pending header.
var snapshotName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]+$`)

// CheckSnapshotName reports whether name can head a snapshot section: a
// letter followed by at least one letter, digit, '_' or '-', and not
// "pending". Limits of the API (length, reserved names such as
// "current") are for the API to check: files with such sections exist
// and are read as they are.
func CheckSnapshotName(name string) error {
	if !snapshotName.MatchString(name) {
		return fmt.Errorf("invalid snapshot name %q: a letter followed by letters, digits, '_' or '-' (two characters at least)", name)
	}
	if strings.EqualFold(name, "pending") {
		return fmt.Errorf("invalid snapshot name %q: the name is reserved for pending changes", name)
	}
	return nil
}

// Snapshot returns the named snapshot, or nil.
func (f *File) Snapshot(name string) *Section { return f.snapshots[name] }

// SnapshotNames returns the snapshot names sorted, the order in which
// they are written.
func (f *File) SnapshotNames() []string {
	return slices.Sorted(maps.Keys(f.snapshots))
}

// SetSnapshot stores s as the named snapshot, replacing any snapshot of
// that name. The section is kept, not copied: pass a Clone of Main to
// record the current state.
func (f *File) SetSnapshot(name string, s *Section) error {
	if err := CheckSnapshotName(name); err != nil {
		return err
	}
	if s == nil {
		s = &Section{}
	}
	if f.snapshots == nil {
		f.snapshots = map[string]*Section{}
	}
	f.snapshots[name] = s
	return nil
}

// DeleteSnapshot removes the named snapshot and reports whether it
// existed. Whatever pointed at it as parent (the main section and child
// snapshots) is relinked to its own parent, or loses the parent key when
// it had none, so that the tree stays connected.
func (f *File) DeleteSnapshot(name string) bool {
	snap, ok := f.snapshots[name]
	if !ok {
		return false
	}
	delete(f.snapshots, name)
	up, hasUp := snap.Get("parent")
	relink := func(s *Section) {
		if p, _ := s.Get("parent"); p != name {
			return
		}
		if hasUp {
			s.values["parent"] = up
		} else {
			s.Delete("parent")
		}
	}
	if f.Main != nil {
		relink(f.Main)
	}
	for _, s := range f.snapshots {
		relink(s)
	}
	return true
}

// SnapshotChain returns name followed by its ancestors, nearest first,
// following each snapshot's "parent" key: SnapshotChain of the main
// section's parent is the history of the current state. An empty name
// gives an empty chain. The walk ends at a snapshot without parent or
// whose parent is missing from the file (possible after hand edits); it
// fails when name itself is missing or the parents form a loop.
func (f *File) SnapshotChain(name string) ([]string, error) {
	if name == "" {
		return nil, nil
	}
	if _, ok := f.snapshots[name]; !ok {
		return nil, fmt.Errorf("no snapshot %q", name)
	}
	var chain []string
	seen := map[string]bool{}
	for name != "" {
		s, ok := f.snapshots[name]
		if !ok {
			break
		}
		if seen[name] {
			return nil, fmt.Errorf("snapshot parents loop at %q: %s", name, strings.Join(chain, " → "))
		}
		seen[name] = true
		chain = append(chain, name)
		name, _ = s.Get("parent")
	}
	return chain, nil
}

// SnapshotChildren returns the snapshots whose parent is name, sorted.
func (f *File) SnapshotChildren(name string) []string {
	var out []string
	for _, n := range f.SnapshotNames() {
		if p, _ := f.snapshots[n].Get("parent"); p == name {
			out = append(out, n)
		}
	}
	return out
}
