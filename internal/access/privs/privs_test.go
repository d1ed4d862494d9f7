package privs

import (
	"sort"
	"strings"
	"testing"
)

func TestAllIsSortedUniqueAndComplete(t *testing.T) {
	all := All()
	if !sort.StringsAreSorted(all) {
		t.Fatalf("names not sorted: %v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate %q", all[i])
		}
	}
	// Every privilege Proxmox VE 9 accepts in a role (the admin guide's list
	// plus Sys.AccessNetwork, which the API schema uses).
	want := "Datastore.Allocate Datastore.AllocateSpace Datastore.AllocateTemplate Datastore.Audit " +
		"Group.Allocate Mapping.Audit Mapping.Modify Mapping.Use Permissions.Modify " +
		"Pool.Allocate Pool.Audit Realm.Allocate Realm.AllocateUser SDN.Allocate SDN.Audit SDN.Use " +
		"Sys.AccessNetwork Sys.Audit Sys.Console Sys.Incoming Sys.Modify Sys.PowerMgmt Sys.Syslog " +
		"User.Modify VM.Allocate VM.Audit VM.Backup VM.Clone VM.Config.CDROM VM.Config.CPU " +
		"VM.Config.Cloudinit VM.Config.Disk VM.Config.HWType VM.Config.Memory VM.Config.Network " +
		"VM.Config.Options VM.Console VM.GuestAgent.Audit VM.GuestAgent.FileRead " +
		"VM.GuestAgent.FileSystemMgmt VM.GuestAgent.FileWrite VM.GuestAgent.Unrestricted " +
		"VM.Migrate VM.PowerMgmt VM.Replicate VM.Snapshot VM.Snapshot.Rollback"
	if got := strings.Join(all, " "); got != want {
		t.Fatalf("All() =\n%s\nwant\n%s", got, want)
	}
	all[0] = "changed"
	if All()[0] == "changed" {
		t.Fatal("All returned the package table, not a copy")
	}
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"VM.Audit", true},
		{"VM.GuestAgent.Unrestricted", true},
		{"Sys.AccessNetwork", true},
		{"Permissions.Modify", true},
		{"VM.Monitor", false}, // dropped in Proxmox VE 9
		{"vm.audit", false},
		{"", false},
		{"VM", false},
		{"VM.Audit ", false},
	} {
		if got := Valid(tc.name); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
