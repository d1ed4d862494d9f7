package ldap

import (
	"reflect"
	"slices"
	"testing"
)

// FuzzParseSyncOptions feeds arbitrary strings to ParseSyncOptions. It
// must not panic; what it accepts must hold only known values, and
// String must render it so that it parses back to the same options.
func FuzzParseSyncOptions(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseSyncOptions(s)
		if err != nil {
			return
		}
		switch o.Scope {
		case "", ScopeUsers, ScopeGroups, ScopeBoth:
		default:
			t.Fatalf("scope %q accepted from %q", o.Scope, s)
		}
		if !slices.IsSorted(o.RemoveVanished) || len(slices.Compact(slices.Clone(o.RemoveVanished))) != len(o.RemoveVanished) {
			t.Fatalf("remove-vanished %v from %q is not sorted and unique", o.RemoveVanished, s)
		}
		for _, v := range o.RemoveVanished {
			if v != VanishedACL && v != VanishedEntry && v != VanishedProperties {
				t.Fatalf("remove-vanished value %q accepted from %q", v, s)
			}
		}
		again, err := ParseSyncOptions(o.String())
		if err != nil {
			t.Fatalf("String %q of %q does not parse: %v", o.String(), s, err)
		}
		if !reflect.DeepEqual(again, o) {
			t.Fatalf("%q -> %+v -> %q -> %+v", s, o, o.String(), again)
		}
	})
}
