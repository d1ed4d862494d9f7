package ldap

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSyncOptions(t *testing.T) {
	tests := []struct {
		in   string
		want SyncOptions
	}{
		{"", SyncOptions{EnableNew: true}},
		{"scope=users", SyncOptions{Scope: ScopeUsers, EnableNew: true}},
		{"scope=groups,enable-new=0", SyncOptions{Scope: ScopeGroups}},
		{"scope=both,enable-new=1,remove-vanished=properties;acl;entry",
			SyncOptions{Scope: ScopeBoth, EnableNew: true, RemoveVanished: []string{"acl", "entry", "properties"}}},
		{"remove-vanished=none", SyncOptions{EnableNew: true}},
		{" scope=both , remove-vanished=entry ", SyncOptions{Scope: ScopeBoth, EnableNew: true, RemoveVanished: []string{"entry"}}},
		{"full=1", SyncOptions{EnableNew: true, RemoveVanished: []string{"entry", "properties"}}},
		{"full=1,purge=1", SyncOptions{EnableNew: true, RemoveVanished: []string{"acl", "entry", "properties"}}},
		{"purge=yes", SyncOptions{EnableNew: true, RemoveVanished: []string{"acl"}}},
		{"full=0,purge=0", SyncOptions{EnableNew: true}},
		// remove-vanished, when present, overrides the older flags.
		{"full=1,remove-vanished=acl", SyncOptions{EnableNew: true, RemoveVanished: []string{"acl"}}},
		{"remove-vanished=none,purge=1", SyncOptions{EnableNew: true}},
	}
	for _, tt := range tests {
		got, err := ParseSyncOptions(tt.in)
		if err != nil {
			t.Errorf("ParseSyncOptions(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSyncOptions(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseSyncOptionsRefusesNamingTheProblem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"scope", `"scope" is not key=value`},
		{"scope=all", `scope: "all" is not one of users, groups, both`},
		{"enable-new=maybe", `enable-new: "maybe" is not a boolean`},
		{"full=2", "full:"},
		{"purge=x", "purge:"},
		{"remove-vanished=users", `remove-vanished: "users" is not acl, entry or properties`},
		{"remove-vanished=acl,entry", `"entry" is not key=value`},
		{"remove-vanished=acl;;entry", `remove-vanished: "" is not acl`},
		{"remove-vanished=acl;acl", `"acl" listed twice`},
		{"remove-vanished=none;acl", `"none" is not acl`},
		{"scope=users,scope=both", "scope given twice"},
		{"dry-run=1", "dry-run: unknown option"},
	}
	for _, tt := range tests {
		_, err := ParseSyncOptions(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSyncOptions(%q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestSyncOptionsStringRoundTrips(t *testing.T) {
	for _, in := range []string{"", "scope=both", "enable-new=0,remove-vanished=acl;entry;properties,scope=users", "full=1,purge=1"} {
		o, err := ParseSyncOptions(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseSyncOptions(o.String())
		if err != nil || !reflect.DeepEqual(again, o) {
			t.Errorf("%q -> %q -> %+v, %v; want %+v", in, o.String(), again, err, o)
		}
	}
}
