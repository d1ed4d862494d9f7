package guestconf

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// DescriptionKey is the key under which a section keeps its description.
// The file stores it as the '#' lines at the top of the section rather
// than as a key line, but to the API it is a key like any other (it can
// be pending, deleted, copied into a snapshot), so Section treats it as
// one.
const DescriptionKey = "description"

// keyPattern is the shape of a configuration key: a name made of letters,
// '_' and '-' with an optional index (net0, scsi12, amd-sev). Proxmox VE
// reads nothing else as a key line.
var keyPattern = regexp.MustCompile(`^[a-z][a-z_-]*[0-9]*$`)

// rawKeyPattern is the shape of a raw LXC key that a container
// configuration may carry through to LXC.
var rawKeyPattern = regexp.MustCompile(`^lxc\.[a-z0-9_.-]+$`)

// space is the whitespace that the reader trims around values; Proxmox VE
// matches these bytes with \s when it reads a file.
const space = " \t\n\v\f\r"

// RawKey is one raw LXC setting of a container (lxc.mount.entry, …).
type RawKey struct {
	Key, Value string
}

// Section is one part of a guest configuration file: the main section,
// the pending changes, the cloud-init record or one snapshot. Keys are
// written sorted whatever order they were set in. Raw LXC keys are kept
// apart, in their own order, because LXC allows a key several times and
// the order of e.g. device rules matters to it.
//
// The zero value is an empty section ready to use; a nil *Section reads
// as empty.
type Section struct {
	values map[string]string
	raw    []RawKey
}

// NewSection returns an empty section.
func NewSection() *Section { return &Section{} }

// CheckKey reports whether key can be stored with Set: a lower-case
// letter, then letters, '_' or '-', then optional digits. The pending
// delete list and the digest are not keys of their own (see
// File.AddPendingDelete and Digest), and raw LXC keys go through
// AppendRaw.
func CheckKey(key string) error {
	switch {
	case key == "delete":
		return fmt.Errorf("invalid key %q: the pending delete list is kept with AddPendingDelete", key)
	case key == "digest":
		return fmt.Errorf("invalid key %q: the digest is computed from the file and never stored in it", key)
	case strings.HasPrefix(key, "lxc."):
		return fmt.Errorf("invalid key %q: raw LXC keys are kept with AppendRaw", key)
	case !keyPattern.MatchString(key):
		return fmt.Errorf("invalid key %q: a key is a lower-case letter followed by letters, '_' or '-' and optional digits", key)
	}
	return nil
}

// Get returns the value of key and whether it is set.
func (s *Section) Get(key string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.values[key]
	return v, ok
}

// Value returns the value of key, or "" when it is not set.
func (s *Section) Value(key string) string {
	v, _ := s.Get(key)
	return v
}

// Has reports whether key is set.
func (s *Section) Has(key string) bool {
	_, ok := s.Get(key)
	return ok
}

// Set stores a value. Values other than the description are single lines
// without surrounding whitespace, since the file has no way to keep
// either: Set trims the whitespace (as reading the file back would) and
// refuses line breaks and values left empty, which the file cannot hold
// (delete the key instead). The description may span lines.
func (s *Section) Set(key, value string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if key != DescriptionKey {
		value = strings.Trim(value, space)
		if strings.Contains(value, "\n") {
			return fmt.Errorf("value of %q has a line break; configuration values are single lines", key)
		}
		if value == "" {
			return fmt.Errorf("value of %q is empty; delete the key instead of setting it to nothing", key)
		}
	}
	if s.values == nil {
		s.values = map[string]string{}
	}
	s.values[key] = value
	return nil
}

// Delete removes key and reports whether it was set.
func (s *Section) Delete(key string) bool {
	if s == nil {
		return false
	}
	_, ok := s.values[key]
	delete(s.values, key)
	return ok
}

// Keys returns the keys that are set, sorted (the description included),
// without the raw LXC keys.
func (s *Section) Keys() []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.values))
}

// Len returns the number of keys set, raw LXC keys not counted.
func (s *Section) Len() int {
	if s == nil {
		return 0
	}
	return len(s.values)
}

// IsEmpty reports whether the section holds nothing at all.
func (s *Section) IsEmpty() bool {
	return s == nil || len(s.values) == 0 && len(s.raw) == 0
}

// Raw returns a copy of the raw LXC keys in file order.
func (s *Section) Raw() []RawKey {
	if s == nil {
		return nil
	}
	return slices.Clone(s.raw)
}

// AppendRaw adds a raw LXC key after the existing ones. The same key may
// appear several times; the value may be empty but is a single line.
// Only container files carry raw keys: a virtual machine's file is
// written without them.
func (s *Section) AppendRaw(key, value string) error {
	if !rawKeyPattern.MatchString(key) {
		return fmt.Errorf("invalid raw LXC key %q: it is \"lxc.\" followed by lower-case letters, digits, '.', '_' or '-'", key)
	}
	value = strings.Trim(value, space)
	if strings.Contains(value, "\n") {
		return fmt.Errorf("value of %q has a line break; configuration values are single lines", key)
	}
	s.raw = append(s.raw, RawKey{Key: key, Value: value})
	return nil
}

// DeleteRaw removes every occurrence of a raw LXC key and returns how
// many there were.
func (s *Section) DeleteRaw(key string) int {
	if s == nil {
		return 0
	}
	n := len(s.raw)
	s.raw = slices.DeleteFunc(s.raw, func(r RawKey) bool { return r.Key == key })
	return n - len(s.raw)
}

// Clone returns a deep copy; a nil section clones to an empty one.
func (s *Section) Clone() *Section {
	c := &Section{}
	if s == nil {
		return c
	}
	if len(s.values) > 0 {
		c.values = maps.Clone(s.values)
	}
	c.raw = slices.Clone(s.raw)
	return c
}

// Equal reports whether both sections hold the same keys and raw keys;
// nil and empty sections are equal.
func (s *Section) Equal(o *Section) bool { return s.equal(o, true) }

func (s *Section) equal(o *Section, withRaw bool) bool {
	var sv, ov map[string]string
	var sr, or []RawKey
	if s != nil {
		sv, sr = s.values, s.raw
	}
	if o != nil {
		ov, or = o.values, o.raw
	}
	return maps.Equal(sv, ov) && (!withRaw || slices.Equal(sr, or))
}
