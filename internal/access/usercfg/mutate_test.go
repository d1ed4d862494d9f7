package usercfg

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/privs"
)

const fixture = `user:amy@pve:1:0::::::
token:amy@pve!ci:0:1::
user:bob@pve:1:0::::::

group:ops:amy@pve,bob@pve::
group:dev:amy@pve::

pool:lab::100,101:local:
pool:lab/a::102::

role:Custom:VM.Audit:

acl:1:/:@ops:PVEAuditor:
acl:1:/pool/lab:amy@pve:PVEVMUser:
acl:1:/vms:amy@pve!ci,bob@pve:Custom:
acl:1:/vms/100:amy@pve,@dev:PVEVMAdmin:
`

func load(t *testing.T) *Config {
	t.Helper()
	c, w := Parse([]byte(fixture))
	if len(w) != 0 {
		t.Fatalf("fixture warnings: %q", w)
	}
	return c
}

// aclText returns just the ACL section of Bytes.
func aclText(c *Config) string {
	s := string(c.Bytes())
	return s[strings.LastIndex(s, "\n\n")+2:]
}

func TestDeleteUserRemovesMembershipsAndGrants(t *testing.T) {
	c := load(t)
	must(t, c.DeleteUser("amy@pve"))
	if _, ok := c.Users["amy@pve"]; ok {
		t.Fatal("user still there")
	}
	if !reflect.DeepEqual(c.Groups["ops"].Members, []string{"bob@pve"}) || len(c.Groups["dev"].Members) != 0 {
		t.Errorf("memberships: ops=%v dev=%v", c.Groups["ops"].Members, c.Groups["dev"].Members)
	}
	want := "acl:1:/:@ops:PVEAuditor:\nacl:1:/vms:bob@pve:Custom:\nacl:1:/vms/100:@dev:PVEVMAdmin:\n"
	if got := aclText(c); got != want {
		t.Errorf("acl:\n%s\nwant:\n%s", got, want)
	}
	if err := c.DeleteUser("amy@pve"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	c.EnsureRootUser()
	if err := c.DeleteUser(RootUser); err == nil {
		t.Error("deleted root@pam")
	}
}

func TestAddUser(t *testing.T) {
	c := load(t)
	must(t, c.AddUser(User{ID: "cat@pve", Enable: true, Comment: "new: hire", Groups: []string{"dev"},
		Tokens: map[string]*Token{"tk": {Privsep: true}}}))
	if !reflect.DeepEqual(c.Groups["dev"].Members, []string{"amy@pve", "cat@pve"}) ||
		!reflect.DeepEqual(c.Users["cat@pve"].Groups, []string{"dev"}) {
		t.Error("group membership not recorded both ways")
	}
	if tok, ok := c.Token("cat@pve!tk"); !ok || tok.ID != "tk" || !tok.Privsep {
		t.Errorf("token = %+v %v", tok, ok)
	}
	if !strings.Contains(string(c.Bytes()), "user:cat@pve:1:0::::new%3A hire::\ntoken:cat@pve!tk:0:1::\n") {
		t.Errorf("Bytes:\n%s", c.Bytes())
	}
	for _, tc := range []struct {
		u    User
		want string
	}{
		{User{ID: "cat@pve"}, "already exists"},
		{User{ID: "bad"}, "is not a user id"},
		{User{ID: "x@pve", Groups: []string{"nope"}}, "group nope: does not exist"},
		{User{ID: "x@pve", Email: "a:b"}, "may not contain ':'"},
		{User{ID: "x@pve", Keys: "k\n"}, "may not contain ':'"},
		{User{ID: "x@pve", Email: " a@b"}, "white space"},
		{User{ID: "x@pve", Tokens: map[string]*Token{"1": {}}}, "token name \"1\" is not valid"},
	} {
		if err := c.AddUser(tc.u); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddUser(%+v) = %v, want %q", tc.u, err, tc.want)
		}
	}
}

func TestSetUserGroups(t *testing.T) {
	c := load(t)
	must(t, c.SetUserGroups("bob@pve", []string{"dev"}, true))
	if !reflect.DeepEqual(c.Users["bob@pve"].Groups, []string{"dev", "ops"}) {
		t.Errorf("append: %v", c.Users["bob@pve"].Groups)
	}
	must(t, c.SetUserGroups("bob@pve", []string{"dev"}, false))
	if !reflect.DeepEqual(c.Users["bob@pve"].Groups, []string{"dev"}) ||
		!reflect.DeepEqual(c.Groups["ops"].Members, []string{"amy@pve"}) {
		t.Errorf("replace: user %v, ops %v", c.Users["bob@pve"].Groups, c.Groups["ops"].Members)
	}
	if err := c.SetUserGroups("bob@pve", []string{"nope"}, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: %v", err)
	}
	if err := c.SetUserGroups("nobody@pve", nil, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestTokens(t *testing.T) {
	c := load(t)
	must(t, c.AddToken("bob@pve", Token{ID: "backup", Expire: 99}))
	if err := c.AddToken("bob@pve", Token{ID: "backup"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := c.AddToken("nobody@pve", Token{ID: "tk"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing user: %v", err)
	}
	if err := c.AddToken("bob@pve", Token{ID: "x"}); err == nil {
		t.Error("one-letter token name accepted")
	}
	must(t, c.DeleteToken("amy@pve", "ci"))
	if got := aclText(c); strings.Contains(got, "amy@pve!ci") {
		t.Errorf("token grant left behind:\n%s", got)
	}
	if err := c.DeleteToken("amy@pve", "ci"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestGroups(t *testing.T) {
	c := load(t)
	must(t, c.AddGroup(Group{ID: "new", Members: []string{"bob@pve"}, Comment: "c"}))
	if !reflect.DeepEqual(c.Users["bob@pve"].Groups, []string{"new", "ops"}) {
		t.Errorf("user groups: %v", c.Users["bob@pve"].Groups)
	}
	if err := c.AddGroup(Group{ID: "new"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := c.AddGroup(Group{ID: "x", Members: []string{"ghost@pve"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing member: %v", err)
	}
	if err := c.AddGroup(Group{ID: "a b"}); err == nil {
		t.Error("bad id accepted")
	}
	must(t, c.DeleteGroup("dev"))
	if !reflect.DeepEqual(c.Users["amy@pve"].Groups, []string{"ops"}) {
		t.Errorf("amy groups: %v", c.Users["amy@pve"].Groups)
	}
	if got := aclText(c); strings.Contains(got, "@dev") {
		t.Errorf("group grant left behind:\n%s", got)
	}
	if err := c.DeleteGroup("dev"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestRoles(t *testing.T) {
	c := load(t)
	must(t, c.AddRole("Power", privs.Set(0).With(privs.VMPowerMgmt)))
	for _, id := range []string{"Power", "PVEVMUser", "PVEMine", "NoAccess", "bad role"} {
		if err := c.AddRole(id, 0); err == nil {
			t.Errorf("AddRole(%q) accepted", id)
		}
	}
	if s, ok := c.RolePrivs("Power"); !ok || s.String() != "VM.PowerMgmt" {
		t.Errorf("RolePrivs(Power) = %v %v", s, ok)
	}
	if s, ok := c.RolePrivs("PVEPoolUser"); !ok || s.String() != "Pool.Audit" {
		t.Errorf("RolePrivs(PVEPoolUser) = %v %v", s, ok)
	}
	must(t, c.DeleteRole("Custom"))
	if got := aclText(c); strings.Contains(got, "Custom") {
		t.Errorf("role grant left behind:\n%s", got)
	}
	if err := c.DeleteRole("PVEAdmin"); err == nil {
		t.Error("deleted a built-in role")
	}
	if err := c.DeleteRole("Custom"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestPools(t *testing.T) {
	c := load(t)
	if err := c.AddPool(Pool{ID: "x/y"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing parent: %v", err)
	}
	if err := c.AddPool(Pool{ID: "other", VMs: []int{100}}); err == nil || !strings.Contains(err.Error(), "already belongs to pool lab") {
		t.Errorf("guest in two pools: %v", err)
	}
	if err := c.AddPool(Pool{ID: "other", Storages: []string{"1x"}}); err == nil {
		t.Error("bad storage accepted")
	}
	must(t, c.AddPool(Pool{ID: "lab/b", VMs: []int{200, 200}, Storages: []string{"nfs"}}))
	if err := c.AddPool(Pool{ID: "lab/b"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := c.AddPoolVM("lab/b", 100, false); err == nil {
		t.Error("moved a guest without move")
	}
	must(t, c.AddPoolVM("lab/b", 100, true))
	must(t, c.AddPoolVM("lab/b", 100, false)) // already there: no-op
	if p, _ := c.PoolOfVM(100); p != "lab/b" || !reflect.DeepEqual(c.Pools["lab"].VMs, []int{101}) {
		t.Errorf("move: pool %q, lab %v", p, c.Pools["lab"].VMs)
	}
	must(t, c.AddPoolStorage("lab/b", "zfs"))
	must(t, c.AddPoolStorage("lab/b", "zfs"))
	must(t, c.RemovePoolStorage("lab/b", "nfs"))
	if !reflect.DeepEqual(c.Pools["lab/b"].Storages, []string{"zfs"}) {
		t.Errorf("storages: %v", c.Pools["lab/b"].Storages)
	}
	if err := c.AddPoolStorage("nope", "zfs"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing pool: %v", err)
	}
	if err := c.DeletePool("lab"); err == nil {
		t.Error("deleted a pool with nested pools")
	}
	must(t, c.DeletePool("lab/a"))
	must(t, c.DeletePool("lab/b"))
	must(t, c.DeletePool("lab"))
	if got := aclText(c); strings.Contains(got, "/pool/lab") {
		t.Errorf("pool grant left behind:\n%s", got)
	}
	c.RemoveVM(100)
	if got := aclText(c); strings.Contains(got, "/vms/100") {
		t.Errorf("guest grant left behind:\n%s", got)
	}
}

func TestSetACL(t *testing.T) {
	c := load(t)
	must(t, c.SetACL("storage/local/", []string{"@dev", "bob@pve", "amy@pve!ci"}, []string{"PVEDatastoreUser"}, false, false))
	must(t, c.SetACL("/vms/100", []string{"amy@pve"}, []string{"PVEVMAdmin"}, true, true))
	want := "acl:1:/:@ops:PVEAuditor:\n" +
		"acl:1:/pool/lab:amy@pve:PVEVMUser:\n" +
		"acl:0:/storage/local:@dev,amy@pve!ci,bob@pve:PVEDatastoreUser:\n" +
		"acl:1:/vms:amy@pve!ci,bob@pve:Custom:\n" +
		"acl:1:/vms/100:@dev:PVEVMAdmin:\n"
	if got := aclText(c); got != want {
		t.Errorf("acl:\n%s\nwant:\n%s", got, want)
	}
	must(t, c.SetACL("/vms/100", []string{"@dev"}, []string{"PVEVMAdmin"}, true, true))
	if _, ok := c.ACL["/vms/100"]; ok {
		t.Error("emptied path not pruned")
	}
	must(t, c.SetACL("/nothing", []string{"@dev"}, []string{"PVEVMAdmin"}, true, true)) // deleting nothing is fine
	for _, tc := range []struct {
		path     string
		subjects []string
		roles    []string
	}{
		{"/vms/..", []string{"bob@pve"}, []string{"PVEAuditor"}},
		{"/vms", []string{"ghost@pve"}, []string{"PVEAuditor"}},
		{"/vms", []string{"@nogroup"}, []string{"PVEAuditor"}},
		{"/vms", []string{"bob@pve!none"}, []string{"PVEAuditor"}},
		{"/vms", []string{"bob@pve"}, []string{"NoSuchRole"}},
		{"/vms", []string{"not valid"}, []string{"PVEAuditor"}},
	} {
		if err := c.SetACL(tc.path, tc.subjects, tc.roles, true, false); err == nil {
			t.Errorf("SetACL(%q, %v, %v) accepted", tc.path, tc.subjects, tc.roles)
		}
	}
}

func TestEnsureRootUser(t *testing.T) {
	c := New()
	c.EnsureRootUser()
	if u := c.Users[RootUser]; u == nil || !u.Enable {
		t.Fatalf("root = %+v", u)
	}
	c.Users[RootUser].Email = "root@example.com"
	c.EnsureRootUser()
	if c.Users[RootUser].Email != "root@example.com" {
		t.Error("EnsureRootUser replaced an existing root")
	}
}
