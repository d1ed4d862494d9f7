package privs

import (
	"reflect"
	"testing"
)

func TestSetOperations(t *testing.T) {
	a, err := SetOf(VMAudit, VMConsole, SysAudit, VMAudit)
	if err != nil {
		t.Fatal(err)
	}
	b := Set(0).With(VMConsole, DatastoreAudit)

	tests := []struct {
		name string
		got  Set
		want []string
	}{
		{"SetOf dedups and sorts", a, []string{SysAudit, VMAudit, VMConsole}},
		{"Union", a.Union(b), []string{DatastoreAudit, SysAudit, VMAudit, VMConsole}},
		{"Intersect", a.Intersect(b), []string{VMConsole}},
		{"Minus", a.Minus(b), []string{SysAudit, VMAudit}},
		{"With ignores unknown names", Set(0).With("Bogus", PoolAudit), []string{PoolAudit}},
		{"empty", 0, []string{}},
	}
	for _, tc := range tests {
		if got := tc.got.Names(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	if !a.Has(VMAudit) || a.Has(DatastoreAudit) || a.Has("Bogus") {
		t.Error("Has wrong")
	}
	if !a.HasAll(VMAudit, SysAudit) || a.HasAll(VMAudit, PoolAudit) || !a.HasAll() {
		t.Error("HasAll wrong")
	}
	if !a.HasAny(PoolAudit, VMAudit) || a.HasAny(PoolAudit) || a.HasAny() {
		t.Error("HasAny wrong")
	}
	if !a.Contains(a.Intersect(b)) || a.Contains(b) || !a.Contains(0) {
		t.Error("Contains wrong")
	}
	if a.Len() != 3 || Full().Len() != len(All()) || !Set(0).IsEmpty() || a.IsEmpty() {
		t.Error("Len/IsEmpty wrong")
	}
	if got := a.String(); got != "Sys.Audit,VM.Audit,VM.Console" {
		t.Errorf("String() = %q", got)
	}
	if _, err := SetOf(VMAudit, "VM.Monitor"); err == nil || err.Error() != `unknown privilege "VM.Monitor"` {
		t.Errorf("SetOf unknown: err = %v", err)
	}
}

func TestFullHoldsEveryPrivilege(t *testing.T) {
	f := Full()
	for _, n := range All() {
		if !f.Has(n) {
			t.Errorf("Full lacks %s", n)
		}
	}
	if !reflect.DeepEqual(f.Names(), All()) {
		t.Error("Full().Names() != All()")
	}
}
