package privs

import (
	"strings"
	"testing"
)

// The privilege set of every built-in role, pinned literally. The admin
// guide describes the roles in words only; these sets follow the way
// Proxmox VE 9 derives them (see category in roles.go). Changing a role is a
// compatibility decision: update this table on purpose.
var wantRoles = map[string]string{
	"Administrator": strings.Join(All(), ","),
	"NoAccess":      "",
	"PVEAdmin": "Datastore.Allocate,Datastore.AllocateSpace,Datastore.AllocateTemplate,Datastore.Audit," +
		"Group.Allocate,Mapping.Audit,Mapping.Modify,Mapping.Use,Pool.Allocate,Pool.Audit," +
		"Realm.AllocateUser,SDN.Allocate,SDN.Audit,SDN.Use,Sys.Audit,Sys.Console,Sys.Syslog," +
		"User.Modify,VM.Allocate,VM.Audit,VM.Backup,VM.Clone,VM.Config.CDROM,VM.Config.CPU," +
		"VM.Config.Cloudinit,VM.Config.Disk,VM.Config.HWType,VM.Config.Memory,VM.Config.Network," +
		"VM.Config.Options,VM.Console,VM.GuestAgent.Audit,VM.GuestAgent.FileRead," +
		"VM.GuestAgent.FileSystemMgmt,VM.GuestAgent.FileWrite,VM.GuestAgent.Unrestricted," +
		"VM.Migrate,VM.PowerMgmt,VM.Replicate,VM.Snapshot,VM.Snapshot.Rollback",
	"PVEAuditor":        "Datastore.Audit,Mapping.Audit,Pool.Audit,SDN.Audit,Sys.Audit,VM.Audit,VM.GuestAgent.Audit",
	"PVEDatastoreAdmin": "Datastore.Allocate,Datastore.AllocateSpace,Datastore.AllocateTemplate,Datastore.Audit",
	"PVEDatastoreUser":  "Datastore.AllocateSpace,Datastore.Audit",
	"PVEMappingAdmin":   "Mapping.Audit,Mapping.Modify,Mapping.Use",
	"PVEMappingUser":    "Mapping.Audit,Mapping.Use",
	"PVEPoolAdmin":      "Pool.Allocate,Pool.Audit",
	"PVEPoolUser":       "Pool.Audit",
	"PVESDNAdmin":       "SDN.Allocate,SDN.Audit,SDN.Use",
	"PVESDNUser":        "SDN.Audit,SDN.Use",
	"PVESysAdmin":       "Sys.Audit,Sys.Console,Sys.Syslog",
	"PVETemplateUser":   "VM.Audit,VM.Clone",
	"PVEUserAdmin":      "Group.Allocate,Realm.AllocateUser,User.Modify",
	"PVEVMAdmin": "VM.Allocate,VM.Audit,VM.Backup,VM.Clone,VM.Config.CDROM,VM.Config.CPU," +
		"VM.Config.Cloudinit,VM.Config.Disk,VM.Config.HWType,VM.Config.Memory,VM.Config.Network," +
		"VM.Config.Options,VM.Console,VM.GuestAgent.Audit,VM.GuestAgent.FileRead," +
		"VM.GuestAgent.FileSystemMgmt,VM.GuestAgent.FileWrite,VM.GuestAgent.Unrestricted," +
		"VM.Migrate,VM.PowerMgmt,VM.Replicate,VM.Snapshot,VM.Snapshot.Rollback",
	"PVEVMUser": "VM.Audit,VM.Backup,VM.Config.CDROM,VM.Config.Cloudinit,VM.Console," +
		"VM.GuestAgent.Audit,VM.GuestAgent.FileSystemMgmt,VM.PowerMgmt",
}

func TestBuiltinRolePrivileges(t *testing.T) {
	if got, want := len(BuiltinRoles()), len(wantRoles); got != want {
		t.Errorf("%d built-in roles, want %d: %v", got, want, BuiltinRoles())
	}
	for name, want := range wantRoles {
		got, ok := BuiltinRole(name)
		if !ok {
			t.Errorf("%s: not a built-in role", name)
			continue
		}
		if s := strings.Join(got, ","); s != want {
			t.Errorf("%s =\n  %s\nwant\n  %s", name, s, want)
		}
		if !IsBuiltin(name) || !IsReserved(name) {
			t.Errorf("%s: IsBuiltin/IsReserved false", name)
		}
	}
}

// What the admin guide says in words, checked against the sets.
func TestBuiltinRolesMatchTheirDescriptions(t *testing.T) {
	set := func(name string) Set {
		s, ok := BuiltinSet(name)
		if !ok {
			t.Fatalf("no role %s", name)
		}
		return s
	}
	// PVEAdmin: everything except system settings, realms and permissions.
	rootOnly := mustSet(SysPowerMgmt, SysModify, SysIncoming, SysAccessNetwork, RealmAllocate, PermissionsModify)
	if got := set(RolePVEAdmin); got != Full().Minus(rootOnly) {
		t.Errorf("PVEAdmin = %v", got)
	}
	// PVEAuditor: read only, i.e. only *.Audit privileges, and all of them.
	for _, p := range All() {
		if strings.HasSuffix(p, ".Audit") != set(RolePVEAuditor).Has(p) {
			t.Errorf("PVEAuditor and %s disagree", p)
		}
	}
	// Every role but Administrator lacks Permissions.Modify.
	for _, r := range BuiltinRoles() {
		if r != RoleAdministrator && set(r).Has(PermissionsModify) {
			t.Errorf("%s has Permissions.Modify", r)
		}
	}
	// User roles are subsets of the matching admin role; admin roles of PVEAdmin.
	for _, pair := range [][2]string{
		{RolePVEVMUser, RolePVEVMAdmin}, {RolePVEDatastoreUser, RolePVEDatastoreAdmin},
		{RolePVEPoolUser, RolePVEPoolAdmin}, {RolePVESDNUser, RolePVESDNAdmin},
		{RolePVEMappingUser, RolePVEMappingAdmin}, {RolePVETemplateUser, RolePVEVMAdmin},
		{RolePVEVMAdmin, RolePVEAdmin}, {RolePVESysAdmin, RolePVEAdmin}, {RolePVEUserAdmin, RolePVEAdmin},
	} {
		if !set(pair[1]).Contains(set(pair[0])) {
			t.Errorf("%s is not a subset of %s", pair[0], pair[1])
		}
	}
}

func TestRoleNameQueries(t *testing.T) {
	for _, tc := range []struct {
		name              string
		builtin, reserved bool
	}{
		{"Administrator", true, true},
		{"NoAccess", true, true},
		{"PVEVMUser", true, true},
		{"PVECustom", false, true},
		{"PVESysUser", false, true}, // Proxmox VE has no such role
		{"VM_Power-only", false, false},
		{"administrator", false, false},
	} {
		if IsBuiltin(tc.name) != tc.builtin || IsReserved(tc.name) != tc.reserved {
			t.Errorf("%s: IsBuiltin=%v IsReserved=%v", tc.name, IsBuiltin(tc.name), IsReserved(tc.name))
		}
	}
	if _, ok := BuiltinRole("Custom"); ok {
		t.Error("BuiltinRole(Custom) ok")
	}
}
