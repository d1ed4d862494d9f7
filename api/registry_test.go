package api

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api/schema"
)

// TestDeclarationsAreConsistent checks every declaration against the rules
// the server, the CLI and the documents rely on.
func TestDeclarationsAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	names := map[string]string{}
	for _, e := range All() {
		key := e.Key()
		if seen[key] {
			t.Errorf("%s is declared twice", key)
		}
		seen[key] = true
		if prev, ok := names[e.Path+" "+e.Name]; ok {
			t.Errorf("%s and %s share the name %q", prev, key, e.Name)
		}
		names[e.Path+" "+e.Name] = key
		switch e.Method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			t.Errorf("%s: bad method", key)
		}
		if e.Name == "" || e.Description == "" {
			t.Errorf("%s: missing name or description", key)
		}
		if !strings.HasPrefix(e.Path, "/") || (len(e.Path) > 1 && strings.HasSuffix(e.Path, "/")) {
			t.Errorf("%s: path must start with / and not end with it", key)
		}
		for _, p := range e.PathParams() {
			s, ok := e.Params[p]
			if !ok {
				t.Errorf("%s: path parameter %q is not declared", key, p)
			} else if s.Optional {
				t.Errorf("%s: path parameter %q is optional", key, p)
			}
		}
		if e.ProxyTo != "" {
			if s, ok := e.Params[e.ProxyTo]; !ok || s.Format != "pve-node" {
				t.Errorf("%s: ProxyTo %q must name a pve-node parameter", key, e.ProxyTo)
			}
		}
		if e.Perm.Kind == PermCheck {
			for _, v := range placeholders(e.Perm.Path) {
				if _, ok := e.Params[v]; !ok {
					t.Errorf("%s: permission path uses undeclared parameter %q", key, v)
				}
			}
		}
		if e.InType() == nil || e.OutType() == nil {
			t.Errorf("%s: not declared through Declare", key)
		}
		for name, s := range e.Params {
			checkSchema(t, key+" param "+name, s)
		}
		checkSchema(t, key+" returns", &e.Returns)
		for _, c := range e.CLI {
			for _, a := range c.Args {
				_, param := e.Params[a]
				_, local := c.Local[a]
				if !param && !local {
					t.Errorf("%s: CLI %s %s: argument %q is neither a parameter nor a local option", key, c.Tool, c.Cmd, a)
				}
			}
			for _, f := range c.FileParams {
				if p, ok := e.Params[f]; !ok || p.Type != schema.String {
					t.Errorf("%s: CLI %s %s: file parameter %q is not a string parameter", key, c.Tool, c.Cmd, f)
				}
			}
			for f := range c.Fixed {
				if _, ok := e.Params[f]; !ok {
					t.Errorf("%s: CLI %s %s: fixed %q is not a parameter", key, c.Tool, c.Cmd, f)
				}
			}
		}
	}
}

// TestHandlersBind binds a dummy handler to every declaration, which
// checks that each input struct matches its parameters.
func TestHandlersBind(t *testing.T) {
	for _, e := range All() {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", e.Key(), r)
				}
			}()
			if e.Params == nil && e.InType() != reflect.TypeFor[NoParams]() {
				t.Errorf("%s: no parameters but input type %s", e.Key(), e.InType())
			}
			if e.InType() != reflect.TypeFor[Params]() {
				if _, err := schema.NewBinder(e.InType(), e.Params); err != nil {
					t.Errorf("%s: %v", e.Key(), err)
				}
			}
		}()
	}
}

func placeholders(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

func checkSchema(t *testing.T, where string, s *schema.Schema) {
	t.Helper()
	if s.Format != "" && !schema.HasFormat(s.Format) {
		t.Errorf("%s: unknown format %q", where, s.Format)
	}
	if s.Pattern != "" {
		// Patterns must be set through schema.Pat/WithPattern so they are
		// compiled once; a bad one would panic there.
		if _, err := s.Parse(""); err != nil && strings.Contains(err.Error(), "schema error") {
			t.Errorf("%s: %v", where, err)
		}
	}
	if s.Default != nil {
		if err := s.Check(s.Default); err != nil {
			t.Errorf("%s: default %#v does not fit: %v", where, s.Default, err)
		}
	}
	for name, p := range s.Properties {
		checkSchema(t, where+"."+name, p)
	}
	if s.Items != nil {
		checkSchema(t, where+"[]", s.Items)
	}
}

func TestPermissionCheck(t *testing.T) {
	c := &Call{User: "alice@pve", Perm: fakePerm{"/nodes/n1": {"Sys.Audit"}}}
	params := map[string]any{"node": "n1", "userid": "alice@pve"}
	tests := []struct {
		rule Permission
		want string
	}{
		{Public(), ""},
		{AnyUser(""), ""},
		{Perm("/nodes/{node}", "Sys.Audit"), ""},
		{Perm("/nodes/{node}", "Sys.Audit", "Sys.Modify"), "Permission check failed (/nodes/n1, Sys.Modify)"},
		{PermAny("/nodes/{node}", "Sys.Modify", "Sys.Audit"), ""},
		{PermAny("/", "Sys.Modify", "Sys.Audit"), "Permission check failed (/, Sys.Modify|Sys.Audit)"},
		{And(Perm("/nodes/{node}", "Sys.Audit"), Perm("/", "Sys.Audit")), "Permission check failed (/, Sys.Audit)"},
		{Or(Perm("/", "Sys.Audit"), Perm("/nodes/{node}", "Sys.Audit")), ""},
		{Self("userid", Perm("/access", "User.Modify")), ""},
		{RootOnly(), "Permission check failed (/, root@pam)"},
	}
	for _, tt := range tests {
		err := tt.rule.Check(c, params)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.rule.Describe(), got, tt.want)
		}
	}
	other := &Call{User: "bob@pve", Perm: fakePerm{}}
	if Self("userid", Perm("/access", "User.Modify")).Check(other, params) == nil {
		t.Error("Self let another user through")
	}
}

type fakePerm map[string][]string

func (f fakePerm) Has(path string, privs ...string) bool {
	for _, p := range privs {
		found := false
		for _, h := range f[path] {
			found = found || h == p
		}
		if !found {
			return false
		}
	}
	return true
}

func (f fakePerm) HasAny(path string, privs ...string) bool {
	for _, p := range privs {
		if f.Has(path, p) {
			return true
		}
	}
	return false
}

type groupPerm struct {
	fakePerm
	groups map[string][]string
}

func (g groupPerm) GroupsOf(u string) []string { return g.groups[u] }

func TestUserAndModifyRules(t *testing.T) {
	c := &Call{User: "helpdesk@pve", Perm: groupPerm{
		fakePerm: fakePerm{
			"/access/realm/ldap":       {"Realm.AllocateUser"},
			"/access/groups/support":   {"User.Modify"},
			"/vms/100":                 {"VM.Allocate"},
			"/storage/local":           {"Datastore.Audit"},
			"/access/groups/customers": {"Sys.Audit"},
		},
		groups: map[string][]string{"amy@ldap": {"support"}, "bob@ldap": {"admins"}},
	}}
	userGroup := UserGroup("userid", []string{"User.Modify"}, "", "")
	createWithGroups := UserGroup("userid", []string{"User.Modify"}, "groups", "create")
	tests := []struct {
		name   string
		rule   Permission
		params map[string]any
		want   string
	}{
		{"realm of the user", UserRealm("userid", "Realm.AllocateUser"), map[string]any{"userid": "amy@ldap"}, ""},
		{"other realm", UserRealm("userid", "Realm.AllocateUser"), map[string]any{"userid": "amy@pve"}, "Permission check failed (/access/realm/pve, Realm.AllocateUser)"},
		{"a group of the user", userGroup, map[string]any{"userid": "amy@ldap"}, ""},
		{"no group of the user", userGroup, map[string]any{"userid": "bob@ldap"}, "Permission check failed (/access/groups, User.Modify)"},
		{"create into an allowed group", createWithGroups, map[string]any{"userid": "new@ldap", "groups": "support"}, ""},
		{"create into a foreign group", createWithGroups, map[string]any{"userid": "new@ldap", "groups": "support,admins"}, "Permission check failed (/access/groups/admins, User.Modify)"},
		{"create without groups", createWithGroups, map[string]any{"userid": "new@ldap"}, "Permission check failed (/access/groups, User.Modify)"},
		{"modify a guest's ACL with VM.Allocate", PermModifyOn("{path}"), map[string]any{"path": "/vms/100"}, ""},
		{"modify a storage ACL without Datastore.Allocate", PermModifyOn("{path}"), map[string]any{"path": "/storage/local"}, "Permission check failed (/storage/local, Permissions.Modify|Datastore.Allocate)"},
	}
	for _, tt := range tests {
		err := tt.rule.Check(c, tt.params)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := fmt.Sprint(UserGroup("userid", []string{"User.Modify"}, "groups", "update").PVE()["check"]); got != "[userid-group [User.Modify] groups_param update]" {
		t.Errorf("PVE shape: %s", got)
	}
}
