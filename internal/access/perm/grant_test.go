package perm

import (
	"errors"
	"reflect"
	"testing"
)

func TestCanGrant(t *testing.T) {
	inherit := load(t, "inherit.cfg")
	pools := load(t, "pools.cfg")
	for _, tc := range []struct {
		why       string
		e         *Evaluator
		who       Subject
		path      string
		roles     []string
		propagate bool
		want      error // nil, *DeniedError or *RoleError
	}{
		{"Permissions.Modify allows any role", inherit, user("alice@pve"), "/vms/900", []string{"PVEAdmin", "Administrator"}, true, nil},
		{"empty path means /access", inherit, user("alice@pve"), "", []string{"PVEUserAdmin"}, true, nil},
		{"VM.Allocate allows a subset on a guest", inherit, user("joe@pve"), "/vms/901", []string{"PVEVMUser", "PVETemplateUser"}, true, nil},
		{"NoAccess holds no privileges, so anyone allowed may hand it out", inherit, user("joe@pve"), "/vms/901", []string{"NoAccess"}, true, nil},
		{"but not a role with privileges the granter lacks", inherit, user("joe@pve"), "/vms/901", []string{"PVEVMUser", "PVEAdmin"}, false,
			&RoleError{Role: "PVEAdmin", Privilege: "Datastore.Allocate"}},
		{"unknown role", inherit, user("joe@pve"), "/vms/901", []string{"Nope"}, false, &RoleError{Role: "Nope", Unknown: true}},
		{"VM.Allocate does not cover /vms itself", inherit, user("joe@pve"), "/vms", []string{"PVEVMUser"}, false,
			&DeniedError{Path: "/vms", Privileges: []string{"Permissions.Modify"}}},
		{"storage needs Datastore.Allocate", inherit, user("joe@pve"), "/storage/local", []string{"PVEDatastoreUser"}, false,
			&DeniedError{Path: "/storage/local", Privileges: []string{"Permissions.Modify", "Datastore.Allocate"}}},
		{"pools need Pool.Allocate", pools, user("pat@pve"), "/pool/dev/web", []string{"PVEVMUser"}, false,
			&DeniedError{Path: "/pool/dev/web", Privileges: []string{"Permissions.Modify", "Pool.Allocate"}}},
		{"Datastore.Allocate allows a subset on a storage", pools, user("bob@pve"), "/storage/local", []string{"PVEDatastoreUser"}, true, nil},
		{"without propagation, a non-propagating grant suffices", inherit, user("frank@pve"), "/vms/902", []string{"PVEVMUser"}, false, nil},
		{"propagation needs propagating privileges", inherit, user("frank@pve"), "/vms/902", []string{"PVEVMUser"}, true,
			&RoleError{Role: "PVEVMUser", Privilege: "VM.Audit", Propagate: true}},
		{"Permissions.Modify that does not propagate keeps the subset rule", inherit, user("frank@pve"), "/vms/904", []string{"PVEVMUser"}, false,
			&RoleError{Role: "PVEVMUser", Privilege: "VM.Audit"}},
		{"it may still pass on itself", inherit, user("frank@pve"), "/vms/904", []string{"PermMod"}, false, nil},
		{"but not with propagation", inherit, user("frank@pve"), "/vms/904", []string{"PermMod"}, true,
			&RoleError{Role: "PermMod", Privilege: "Permissions.Modify", Propagate: true}},
		{"privsep token is limited to its own grants", inherit, token("joe@pve!mon"), "/vms/901", []string{"PVEAuditor"}, false,
			&DeniedError{Path: "/vms/901", Privileges: []string{"Permissions.Modify", "VM.Allocate"}}},
		{"disabled user", inherit, user("carol@pve"), "/", []string{"NoAccess"}, false,
			&DeniedError{Path: "/", Privileges: []string{"Permissions.Modify"}}},
		{"root may do anything", inherit, user("root@pam"), "/vms", []string{"Administrator"}, true, nil},
	} {
		err := tc.e.CanGrant(tc.who, tc.path, tc.roles, tc.propagate)
		if !reflect.DeepEqual(err, tc.want) {
			t.Errorf("%s: CanGrant = %#v (%v), want %#v", tc.why, err, err, tc.want)
		}
	}
	// A malformed path is an error of its own kind.
	err := inherit.CanGrant(user("alice@pve"), "/vms/..", []string{"NoAccess"}, false)
	var denied *DeniedError
	var roleErr *RoleError
	if err == nil || errors.As(err, &denied) || errors.As(err, &roleErr) {
		t.Errorf("bad path: %v", err)
	}
}

func TestGrantErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&DeniedError{Path: "/vms/100", Privileges: []string{"Permissions.Modify", "VM.Allocate"}}, "Permission check failed (/vms/100, Permissions.Modify|VM.Allocate)"},
		{&RoleError{Role: "X", Unknown: true}, "role X does not exist"},
		{&RoleError{Role: "PVEAdmin", Privilege: "Sys.Console"}, "cannot assign or remove role PVEAdmin: it needs Permissions.Modify, or holding Sys.Console yourself"},
		{&RoleError{Role: "R", Privilege: "VM.Audit", Propagate: true}, "cannot assign or remove role R with propagation: it needs Permissions.Modify, or holding VM.Audit with propagation yourself"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
