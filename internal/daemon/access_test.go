package daemon

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// session is a logged-in API client for one user or token.
type session struct {
	td  *testDaemon
	hdr map[string]string
}

func (td *testDaemon) loginAs(t *testing.T, user, password string) *session {
	t.Helper()
	r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {user}, "password": {password}})
	if r.code != 200 {
		t.Fatalf("login %s: %s %s", user, r.status, r.raw)
	}
	data := r.body["data"].(map[string]any)
	return &session{td: td, hdr: map[string]string{"Cookie": "PVEAuthCookie=" + data["ticket"].(string), "CSRFPreventionToken": data["CSRFPreventionToken"].(string)}}
}

func (td *testDaemon) withToken(id, secret string) *session {
	return &session{td: td, hdr: map[string]string{"Authorization": "PVEAPIToken=" + id + "=" + secret}}
}

// form sends a call with form-encoded parameters (in the query for GET).
func (td *testDaemon) form(t *testing.T, hdr map[string]string, method, path string, v url.Values) result {
	t.Helper()
	h := map[string]string{}
	for k, x := range hdr {
		h[k] = x
	}
	if method == "GET" || method == "DELETE" {
		if len(v) > 0 {
			path += "?" + v.Encode()
		}
		return td.call(t, method, path, nil, h)
	}
	h["Content-Type"] = "application/x-www-form-urlencoded"
	return td.call(t, method, path, strings.NewReader(v.Encode()), h)
}

func (s *session) do(t *testing.T, method, path string, v url.Values) result {
	t.Helper()
	return s.td.form(t, s.hdr, method, path, v)
}

// must fails the test unless the call succeeded.
func (s *session) must(t *testing.T, method, path string, v url.Values) result {
	t.Helper()
	r := s.do(t, method, path, v)
	if r.code != 200 {
		t.Fatalf("%s %s %v: %s %s", method, path, v, r.status, r.raw)
	}
	return r
}

// vmids lists the guests of GET /cluster/resources?type=vm.
func (s *session) vmids(t *testing.T) []int {
	t.Helper()
	r := s.must(t, "GET", "/cluster/resources", url.Values{"type": {"vm"}})
	var ids []int
	for _, x := range r.body["data"].([]any) {
		ids = append(ids, int(x.(map[string]any)["vmid"].(float64)))
	}
	sort.Ints(ids)
	return ids
}

func writeGuest(t *testing.T, td *testDaemon, node string, vmid int, name string) {
	t.Helper()
	path := "nodes/" + node + "/qemu-server/" + strconv.Itoa(vmid) + ".conf"
	if _, err := td.store.Apply(context.Background(), cfs.Write(path, []byte("name: "+name+"\nmemory: 512\n"))); err != nil {
		t.Fatal(err)
	}
}

// TestRoleOnOneGuest is the promise of access control: a new pve user
// with a role on /vms/100 sees that guest and nothing else, in the API
// and in the CLI, and cannot widen its own rights.
func TestRoleOnOneGuest(t *testing.T) {
	td := startDaemon(t, "alpha")
	for _, id := range []int{100, 101, 102} {
		writeGuest(t, td, "alpha", id, "guest"+strconv.Itoa(id))
	}
	admin := &session{td: td, hdr: td.login(t)}
	admin.must(t, "POST", "/access/users", url.Values{"userid": {"alice@pve"}, "password": {"alice-secret-1"}, "comment": {"helpdesk"}})
	admin.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"PVEVMUser"}, "users": {"alice@pve"}})

	alice := td.loginAs(t, "alice@pve", "alice-secret-1")
	if got := alice.vmids(t); len(got) != 1 || got[0] != 100 {
		t.Fatalf("alice sees guests %v, want only 100", got)
	}
	if got := admin.vmids(t); len(got) != 3 {
		t.Fatalf("admin sees guests %v, want all three", got)
	}
	perms := alice.must(t, "GET", "/access/permissions", nil).body["data"].(map[string]any)
	if _, ok := perms["/vms/100"].(map[string]any)["VM.Audit"]; !ok || len(perms) != 1 {
		t.Errorf("alice's permissions: %v", perms)
	}

	// Forbidden calls name the path and the privilege.
	r := alice.do(t, "GET", "/access/users/admin@pve", nil)
	if r.code != 403 || !strings.Contains(r.status, "/access/groups") || !strings.Contains(r.status, "User.Modify") {
		t.Errorf("reading another user: %s", r.status)
	}
	r = alice.do(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"Administrator"}, "users": {"alice@pve"}})
	if r.code != 403 || !strings.Contains(r.status, "/vms/100") || !strings.Contains(r.status, "Permissions.Modify") {
		t.Errorf("alice granting herself Administrator: %s", r.status)
	}

	// With VM.Allocate on her guest she may share it, but only with roles
	// whose privileges she holds there.
	admin.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"PVEVMAdmin"}, "users": {"alice@pve"}})
	admin.must(t, "POST", "/access/users", url.Values{"userid": {"bob@pve"}})
	alice.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"PVEVMUser"}, "users": {"bob@pve"}})
	r = alice.do(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"Administrator"}, "users": {"alice@pve"}})
	if r.code != 400 || !strings.Contains(r.raw, "cannot assign or remove role Administrator") {
		t.Errorf("alice granting more than she holds: %s %s", r.status, r.raw)
	}
	r = alice.do(t, "PUT", "/access/acl", url.Values{"path": {"/vms/101"}, "roles": {"PVEVMUser"}, "users": {"bob@pve"}})
	if r.code != 403 {
		t.Errorf("alice sharing a guest that is not hers: %s", r.status)
	}
	acl := admin.must(t, "GET", "/access/acl", nil).body["data"].([]any)
	if len(acl) != 4 { // admin on /; alice (two roles) and bob on /vms/100
		t.Errorf("ACL: %v", acl)
	}

	// Changes without the CSRF token are refused.
	noCSRF := &session{td: td, hdr: map[string]string{"Cookie": alice.hdr["Cookie"]}}
	if r := noCSRF.do(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"PVEVMUser"}, "users": {"bob@pve"}}); r.code != 401 {
		t.Errorf("change without CSRF token: %s", r.status)
	}

	// The CLI shows the same: pvesh against the node as alice.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("alice-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(td.Addr().String(), ":")
	out, code := runCLI(t, "pvesh", "get", "/cluster/resources", "--type", "vm", "--output-format", "json",
		"--host", host, "--port", port, "--user", "alice@pve", "--password-file", pw, "--fingerprint", td.id.Fingerprint())
	if code != 0 || !strings.Contains(out, `"vmid":100`) || strings.Contains(out, `"vmid":101`) {
		t.Errorf("pvesh as alice: exit %d: %s", code, out)
	}
}

// TestTokensWithPrivilegeSeparation checks that a privilege-separated
// token holds only what its own ACL grants within its user's rights, and
// that the secret is shown once.
func TestTokensWithPrivilegeSeparation(t *testing.T) {
	td := startDaemon(t, "alpha")
	for _, id := range []int{100, 101} {
		writeGuest(t, td, "alpha", id, "g")
	}
	admin := &session{td: td, hdr: td.login(t)}
	admin.must(t, "POST", "/access/users", url.Values{"userid": {"carol@pve"}, "password": {"carol-secret"}})
	admin.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms"}, "roles": {"PVEAuditor"}, "users": {"carol@pve"}})
	carol := td.loginAs(t, "carol@pve", "carol-secret")

	sep := carol.must(t, "POST", "/access/users/carol@pve/token/ci", nil).body["data"].(map[string]any)
	full, secret := sep["full-tokenid"].(string), sep["value"].(string)
	if full != "carol@pve!ci" || len(secret) != 36 {
		t.Fatalf("token answer: %v", sep)
	}
	shared := carol.must(t, "POST", "/access/users/carol@pve/token/all", url.Values{"privsep": {"0"}}).body["data"].(map[string]any)

	tok := td.withToken(full, secret)
	if got := tok.vmids(t); len(got) != 0 {
		t.Errorf("privsep token without ACL sees %v", got)
	}
	// The token's own ACL counts only within the user's rights: Administrator
	// on /vms/101 gives it no more than carol's audit rights there.
	admin.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms/101"}, "roles": {"Administrator"}, "tokens": {full}})
	if got := tok.vmids(t); len(got) != 1 || got[0] != 101 {
		t.Errorf("privsep token with an ACL on 101 sees %v", got)
	}
	if r := tok.do(t, "GET", "/access/permissions", url.Values{"path": {"/vms/101"}}); !strings.Contains(r.raw, "VM.Audit") || strings.Contains(r.raw, "VM.Allocate") {
		t.Errorf("token permissions on /vms/101: %s", r.raw)
	}
	if got := td.withToken(shared["full-tokenid"].(string), shared["value"].(string)).vmids(t); len(got) != 2 {
		t.Errorf("token without privsep sees %v", got)
	}
	if r := tok.do(t, "GET", "/access/users/carol@pve/token/ci", nil); strings.Contains(r.raw, secret) {
		t.Error("the secret is shown again")
	}
	if r := td.withToken(full, "00000000-0000-0000-0000-000000000000").do(t, "GET", "/version", nil); r.code != 401 {
		t.Errorf("wrong secret: %s", r.status)
	}
	carol.must(t, "DELETE", "/access/users/carol@pve/token/ci", nil)
	if r := tok.do(t, "GET", "/version", nil); r.code != 401 {
		t.Errorf("deleted token: %s", r.status)
	}
	for _, line := range strings.Split(readLog(t, td), "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("a token secret is in the log: %s", line)
		}
	}
}

// TestUsersGroupsRolesPools walks the administration calls and their
// refusals.
func TestUsersGroupsRolesPools(t *testing.T) {
	td := startDaemon(t, "alpha")
	writeGuest(t, td, "alpha", 200, "web")
	admin := &session{td: td, hdr: td.login(t)}

	admin.must(t, "POST", "/access/groups", url.Values{"groupid": {"ops"}, "comment": {"operators"}})
	admin.must(t, "POST", "/access/users", url.Values{"userid": {"dave@pve"}, "groups": {"ops"}, "email": {"dave@example.com"}})
	g := admin.must(t, "GET", "/access/groups/ops", nil).body["data"].(map[string]any)
	if m := g["members"].([]any); len(m) != 1 || m[0] != "dave@pve" {
		t.Errorf("group members: %v", g)
	}
	for _, bad := range []struct {
		v    url.Values
		want string
	}{
		{url.Values{"userid": {"dave@pve"}}, "already exists"},
		{url.Values{"userid": {"erin@nowhere"}}, "realm nowhere does not exist"},
		{url.Values{"userid": {"erin@pve"}, "groups": {"missing"}}, "group missing"},
		{url.Values{"userid": {"erin@pam"}, "password": {"long enough pw"}}, "only be set for users of pve realms"},
		{url.Values{"userid": {"erin@pve"}, "email": {"not an address"}}, "email"},
	} {
		if r := admin.do(t, "POST", "/access/users", bad.v); r.code != 400 || !strings.Contains(r.raw, bad.want) {
			t.Errorf("create %v: %s %s (want 400 with %q)", bad.v, r.status, r.raw, bad.want)
		}
	}

	admin.must(t, "POST", "/access/roles", url.Values{"roleid": {"Backup"}, "privs": {"VM.Backup,Datastore.AllocateSpace"}})
	admin.must(t, "PUT", "/access/roles/Backup", url.Values{"privs": {"VM.Audit"}, "append": {"1"}})
	role := admin.must(t, "GET", "/access/roles/Backup", nil).body["data"].(map[string]any)
	if len(role) != 3 {
		t.Errorf("role after append: %v", role)
	}
	if r := admin.do(t, "PUT", "/access/roles/PVEAdmin", url.Values{"privs": {"VM.Audit"}}); r.code != 400 {
		t.Errorf("changing a built-in role: %s", r.status)
	}
	if r := admin.do(t, "POST", "/access/roles", url.Values{"roleid": {"X"}, "privs": {"VM.Fly"}}); r.code != 400 || !strings.Contains(r.raw, "VM.Fly") {
		t.Errorf("unknown privilege: %s %s", r.status, r.raw)
	}

	// A pool grants its roles on its guests.
	admin.must(t, "POST", "/pools", url.Values{"poolid": {"web"}})
	admin.must(t, "POST", "/pools", url.Values{"poolid": {"web/prod"}})
	admin.must(t, "PUT", "/pools", url.Values{"poolid": {"web/prod"}, "vms": {"200"}, "storage": {"local"}})
	admin.must(t, "PUT", "/access/acl", url.Values{"path": {"/pool/web"}, "roles": {"PVEVMUser"}, "groups": {"ops"}})
	admin.must(t, "PUT", "/access/password", url.Values{"userid": {"dave@pve"}, "password": {"dave-secret"}, "confirmation-password": {testPassword}})
	dave := td.loginAs(t, "dave@pve", "dave-secret")
	if got := dave.vmids(t); len(got) != 1 || got[0] != 200 {
		t.Errorf("dave sees %v through the pool", got)
	}
	p := admin.must(t, "GET", "/pools", url.Values{"poolid": {"web/prod"}}).body["data"].([]any)[0].(map[string]any)
	if len(p["members"].([]any)) != 2 {
		t.Errorf("pool members: %v", p)
	}
	if r := admin.do(t, "DELETE", "/pools", url.Values{"poolid": {"web/prod"}}); r.code != 500 || !strings.Contains(r.status, "not empty") {
		t.Errorf("deleting a full pool: %s", r.status)
	}
	if r := admin.do(t, "PUT", "/pools", url.Values{"poolid": {"web"}, "vms": {"200"}}); r.code != 400 || !strings.Contains(r.raw, "allow-move") {
		t.Errorf("moving without allow-move: %s %s", r.status, r.raw)
	}

	// Users change their own password only with the current one.
	if r := dave.do(t, "PUT", "/access/password", url.Values{"userid": {"dave@pve"}, "password": {"new-secret-9"}}); r.code != 400 {
		t.Errorf("password change without confirmation: %s", r.status)
	}
	dave.must(t, "PUT", "/access/password", url.Values{"userid": {"dave@pve"}, "password": {"new-secret-9"}, "confirmation-password": {"dave-secret"}})
	td.loginAs(t, "dave@pve", "new-secret-9")
	if r := dave.do(t, "PUT", "/access/password", url.Values{"userid": {"admin@pve"}, "password": {"hijacked-1"}, "confirmation-password": {"new-secret-9"}}); r.code != 403 {
		t.Errorf("changing another user's password: %s", r.status)
	}

	users := admin.must(t, "GET", "/access/users", url.Values{"full": {"1"}}).body["data"].([]any)
	if len(users) != 2 {
		t.Errorf("users: %v", users)
	}
	admin.must(t, "DELETE", "/access/users/dave@pve", nil)
	admin.must(t, "DELETE", "/access/groups/ops", nil)
	if acl := admin.must(t, "GET", "/access/acl", nil).body["data"].([]any); len(acl) != 1 {
		t.Errorf("ACL after deleting the group: %v", acl)
	}
	if r := admin.do(t, "POST", "/access/ticket", url.Values{"username": {"dave@pve"}, "password": {"new-secret-9"}}); r.code != 401 {
		t.Errorf("deleted user logs in: %s", r.status)
	}
}

// TestUserCfgFromProxmoxVE loads a user.cfg as Proxmox VE writes it and
// checks that a change through the API writes it back identically apart
// from that change.
func TestUserCfgFromProxmoxVE(t *testing.T) {
	td := startDaemon(t, "alpha")
	admin := &session{td: td, hdr: td.login(t)}
	orig, err := td.store.Get("user.cfg")
	if err != nil {
		t.Fatal(err)
	}
	pveFile := string(orig.Data) + `user:root@pam:1:0:::root@example.com:::
user:jane@pve:1:1893456000:Jane:Doe:jane@example.com:Operations lead::
token:jane@pve!backup:0:1:nightly backup:
group:admins:jane@pve::
role:Auditors:Sys.Audit,VM.Audit:
pool:prod:production guests:300,301:local:
acl:1:/pool/prod:@admins:PVEVMAdmin:
acl:0:/storage/local:jane@pve!backup:PVEDatastoreUser:
`
	if _, err := td.store.Apply(context.Background(), cfs.Write("user.cfg", []byte(pveFile))); err != nil {
		t.Fatal(err)
	}
	admin.must(t, "POST", "/access/groups", url.Values{"groupid": {"tmp"}})
	admin.must(t, "DELETE", "/access/groups/tmp", nil)
	e, err := td.store.Get("user.cfg")
	if err != nil {
		t.Fatal(err)
	}
	// The file is written in canonical order, so compare it with the
	// canonical form of the original: every line kept, none added.
	got := strings.Split(strings.TrimSpace(string(e.Data)), "\n")
	want := strings.Split(strings.TrimSpace(pveFile), "\n")
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("user.cfg after a round trip through the API:\n%s\nwant the lines of:\n%s", e.Data, pveFile)
	}
}

// TestPveumCommands drives access control the way administrators do, with
// pveum on the node's root socket.
func TestPveumCommands(t *testing.T) {
	td := startDaemon(t, "alpha")
	writeGuest(t, td, "alpha", 100, "db")
	sock := "--socket=" + td.cfg.Socket
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("frank-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"pveum", "group", "add", "dba", "--comment", "database admins"},
		{"pveum", "user", "add", "frank@pve", "--groups", "dba", "--firstname", "Frank", "--password-file", pw},
		{"pveum", "role", "add", "DBOperator", "--privs", "VM.Audit,VM.PowerMgmt"},
		{"pveum", "acl", "modify", "/vms/100", "--roles", "DBOperator", "--groups", "dba"},
		{"pveum", "pool", "add", "databases"},
		{"pveum", "user", "token", "add", "frank@pve", "monitor", "--privsep", "0"},
	}
	for _, args := range steps {
		if out, code := runCLI(t, append(args, sock)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, out)
		}
	}
	checks := []struct {
		args []string
		want []string
	}{
		{[]string{"pveum", "user", "list"}, []string{"frank@pve", "Frank", "dba"}},
		{[]string{"pveum", "group", "list"}, []string{"dba", "frank@pve"}},
		{[]string{"pveum", "acl", "list"}, []string{"/vms/100", "DBOperator", "dba"}},
		{[]string{"pveum", "role", "list"}, []string{"DBOperator", "VM.PowerMgmt", "PVEVMAdmin"}},
		{[]string{"pveum", "user", "token", "list", "frank@pve"}, []string{"monitor"}},
		{[]string{"pveum", "user", "permissions", "frank@pve", "--path", "/vms/100"}, []string{"VM.PowerMgmt"}},
		{[]string{"pveum", "pool", "list"}, []string{"databases"}},
		{[]string{"pveum", "realm", "list"}, []string{"pam", "pve"}},
	}
	for _, c := range checks {
		out, code := runCLI(t, append(c.args, sock)...)
		for _, w := range c.want {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("%v: exit %d, want %q in:\n%s", c.args, code, w, out)
				break
			}
		}
	}
	td.loginAs(t, "frank@pve", "frank-secret")
	if out, code := runCLI(t, "pveum", "acl", "delete", "/vms/100", "--roles", "DBOperator", "--groups", "dba", sock); code != 0 {
		t.Errorf("acl delete: %d %s", code, out)
	}
	if out, _ := runCLI(t, "pveum", "acl", "list", sock); strings.Contains(out, "DBOperator") {
		t.Errorf("acl delete left the grant:\n%s", out)
	}
	if out, code := runCLI(t, "pveum", "user", "add", "frank@pve", sock); code == 0 || !strings.Contains(out, "already exists") {
		t.Errorf("adding a user twice: exit %d: %s", code, out)
	}
}
