package privs

import (
	"fmt"
	"math/bits"
	"strings"
)

// Set is a set of privileges. The zero value is the empty set. A Set is a
// plain value: copying it copies the set, and == compares two sets.
type Set uint64

// fullSet holds every known privilege.
const fullSet = Set(1)<<len(names) - 1

// Full returns the set of every privilege (what Administrator grants).
func Full() Set { return fullSet }

// SetOf builds a set from privilege names. An unknown name is an error
// that names it; duplicates are fine.
func SetOf(list ...string) (Set, error) {
	var s Set
	for _, n := range list {
		i := index(n)
		if i < 0 {
			return 0, fmt.Errorf("unknown privilege %q", n)
		}
		s |= 1 << i
	}
	return s, nil
}

// mustSet is SetOf for the package's own tables, whose names are constants.
func mustSet(list ...string) Set {
	s, err := SetOf(list...)
	if err != nil {
		panic(err)
	}
	return s
}

// Has reports whether the set holds the named privilege.
func (s Set) Has(name string) bool {
	i := index(name)
	return i >= 0 && s&(1<<i) != 0
}

// HasAll reports whether every named privilege is in the set. An empty
// list is trivially held.
func (s Set) HasAll(list ...string) bool {
	for _, n := range list {
		if !s.Has(n) {
			return false
		}
	}
	return true
}

// HasAny reports whether at least one named privilege is in the set.
func (s Set) HasAny(list ...string) bool {
	for _, n := range list {
		if s.Has(n) {
			return true
		}
	}
	return false
}

// With returns the set plus the named privileges; unknown names are
// ignored because callers only pass the package's constants.
func (s Set) With(list ...string) Set {
	for _, n := range list {
		if i := index(n); i >= 0 {
			s |= 1 << i
		}
	}
	return s
}

// Union returns the privileges in s or t.
func (s Set) Union(t Set) Set { return s | t }

// Intersect returns the privileges in both s and t.
func (s Set) Intersect(t Set) Set { return s & t }

// Minus returns the privileges in s but not in t.
func (s Set) Minus(t Set) Set { return s &^ t }

// Contains reports whether every privilege of t is also in s.
func (s Set) Contains(t Set) bool { return t&^s == 0 }

// IsEmpty reports whether the set holds no privilege.
func (s Set) IsEmpty() bool { return s == 0 }

// Len returns the number of privileges in the set.
func (s Set) Len() int { return bits.OnesCount64(uint64(s & fullSet)) }

// Names returns the privileges in the set, sorted.
func (s Set) Names() []string {
	out := make([]string, 0, s.Len())
	for i, n := range names {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String returns the privileges comma-joined and sorted, the way user.cfg
// and the API's privs fields list them.
func (s Set) String() string { return strings.Join(s.Names(), ",") }
