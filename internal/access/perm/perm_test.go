package perm

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/privs"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// now is the fixed clock of every test: after dave's expiry (1000),
// before erin's (2000000000).
const now = 1750000000

func load(t *testing.T, name string) *Evaluator {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings := usercfg.Parse(data)
	if len(warnings) != 0 {
		t.Fatalf("%s: %q", name, warnings)
	}
	return New(cfg, WithClock(func() int64 { return now }))
}

// set builds a privilege set from role names ("role:PVEAuditor") and
// privilege names.
func set(t *testing.T, items ...string) privs.Set {
	t.Helper()
	var s privs.Set
	for _, it := range items {
		if r, ok := strings.CutPrefix(it, "role:"); ok {
			rs, ok := privs.BuiltinSet(r)
			if !ok {
				t.Fatalf("no role %s", r)
			}
			s |= rs
			continue
		}
		p, err := privs.SetOf(it)
		if err != nil {
			t.Fatal(err)
		}
		s |= p
	}
	return s
}

func user(id string) Subject  { return Subject{UserID: id} }
func token(id string) Subject { return Subject{TokenID: id} }

type privCase struct {
	why  string
	who  Subject
	path string
	want []string // see set; nil means nothing at all
}

func runPrivCases(t *testing.T, e *Evaluator, cases []privCase) {
	t.Helper()
	for _, tc := range cases {
		got := e.Privileges(tc.who, tc.path)
		if want := set(t, tc.want...); got != want {
			t.Errorf("%s: %+v on %s\n got  %v\n want %v", tc.why, tc.who, tc.path, got, want)
		}
	}
}

func TestInheritanceRules(t *testing.T) {
	e := load(t, "inherit.cfg")
	runPrivCases(t, e, []privCase{
		{"group grant on / propagates", user("alice@pve"), "/vms/100", []string{"role:Administrator"}},
		{"group grant on / applies on /", user("alice@pve"), "/", []string{"role:Administrator"}},
		{"non-propagating group grant applies on its path", user("bob@pve"), "/storage", []string{"role:PVEDatastoreAdmin"}},
		{"non-propagating grant does not reach below", user("bob@pve"), "/storage/local", []string{"role:PVEAuditor"}},
		{"groups at one level: union replaces inheritance", user("bob@pve"), "/nodes/pve1", []string{"role:PVESysAdmin", "role:PVESDNUser"}},
		{"user grant beats group grant on the same level", user("bob@pve"), "/sdn/zones/z1", []string{"role:PVESDNUser"}},
		{"deeper user grant replaces inherited roles", user("bob@pve"), "/vms/900", []string{"VM.Console", "VM.PowerMgmt"}},
		{"sibling path keeps the inherited roles", user("bob@pve"), "/vms/901", []string{"role:PVEAuditor"}},
		{"NoAccess cancels the inherited role", user("nina@pve"), "/vms/900", nil},
		{"NoAccess next to another group's grant", user("nina@pve"), "/storage/nfs", nil},
		{"NoAccess from one group cancels another group's role", user("bob@pve"), "/storage/nfs", nil},
		{"NoAccess propagates", user("nina@pve"), "/mapping/usb/stick", nil},
		{"a deeper grant lifts an inherited NoAccess", user("nina@pve"), "/mapping/pci/gpu", []string{"role:PVEMappingUser"}},
		{"user grant that stops here wins here", user("frank@pve"), "/vms", []string{"role:PVEVMAdmin"}},
		{"below it, the group grant of that level counts", user("frank@pve"), "/vms/901", []string{"role:PVEVMUser"}},
		{"non-propagating user grant on the object itself", user("frank@pve"), "/vms/902", []string{"role:PVEVMAdmin"}},
		{"custom role", user("frank@pve"), "/vms/904", []string{"Permissions.Modify"}},
		{"path is normalised", user("bob@pve"), "storage//", []string{"role:PVEDatastoreAdmin"}},
		{"malformed path gives nothing", user("alice@pve"), "/vms/../x", nil},
		{"no grant at all", user("joe@pve"), "/storage/local", nil},
	})
}

func TestUsersAndRoot(t *testing.T) {
	e := load(t, "inherit.cfg")
	runPrivCases(t, e, []privCase{
		{"root holds everything despite a NoAccess grant", user("root@pam"), "/", []string{"role:Administrator"}},
		{"root everywhere", user("root@pam"), "/vms/1/deeper", []string{"role:Administrator"}},
		{"disabled user", user("carol@pve"), "/", nil},
		{"expired user", user("dave@pve"), "/vms/100", nil},
		{"user with a future expiry", user("erin@pve"), "/vms/100", []string{"role:Administrator"}},
		{"unknown user", user("ghost@pve"), "/", nil},
		{"empty subject", Subject{}, "/", nil},
	})
	for _, tc := range []struct {
		user string
		at   int64
		want bool
	}{
		{"root@pam", now, true},
		{"alice@pve", now, true},
		{"carol@pve", now, false},
		{"dave@pve", 999, true},
		{"dave@pve", 1000, true}, // the expiry second itself still counts
		{"dave@pve", 1001, false},
		{"ghost@pve", now, false},
	} {
		if got := e.UserEnabled(tc.user, tc.at); got != tc.want {
			t.Errorf("UserEnabled(%s, %d) = %v", tc.user, tc.at, got)
		}
	}
	// root@pam works even when user.cfg does not mention it.
	empty := New(usercfg.New())
	if !empty.Has(user("root@pam"), "/", privs.All()...) || !empty.UserEnabled("root@pam", 0) {
		t.Error("root@pam not all-powerful in an empty configuration")
	}
}

func TestTokens(t *testing.T) {
	e := load(t, "inherit.cfg")
	runPrivCases(t, e, []privCase{
		{"user baseline", user("joe@pve"), "/vms/901", []string{"role:PVEVMAdmin"}},
		{"token without privsep = its user", token("joe@pve!full"), "/vms/901", []string{"role:PVEVMAdmin"}},
		{"token without privsep, user id given too", Subject{UserID: "joe@pve", TokenID: "joe@pve!full"}, "/vms/901", []string{"role:PVEVMAdmin"}},
		{"privsep token: intersection with the user", token("joe@pve!mon"), "/vms/901", []string{"VM.Audit", "VM.GuestAgent.Audit"}},
		{"privsep token never exceeds its user", token("joe@pve!mon"), "/storage/local", nil},
		{"privsep token without grants", token("joe@pve!later"), "/vms/901", nil},
		{"expired token", token("joe@pve!old"), "/vms/901", nil},
		{"unknown token", token("joe@pve!nope"), "/vms/901", nil},
		{"token and user disagree", Subject{UserID: "bob@pve", TokenID: "joe@pve!full"}, "/vms/901", nil},
		{"token of a disabled user", token("carol@pve!tk"), "/", nil},
		{"root token without privsep", token("root@pam!all"), "/", []string{"role:Administrator"}},
		{"root token with privsep: its own grants", token("root@pam!rtok"), "/vms/1", []string{"role:PVEAuditor"}},
		{"malformed token id", token("joe@pve"), "/", nil},
	})
}

func TestPools(t *testing.T) {
	e := load(t, "pools.cfg")
	runPrivCases(t, e, []privCase{
		{"guest gets the pool's roles", user("pat@pve"), "/vms/100", []string{"role:PVEVMUser"}},
		{"pool path itself", user("pat@pve"), "/pool/dev", []string{"role:PVEVMUser"}},
		{"nested pool: own grant replaces the parent's", user("pat@pve"), "/vms/200", []string{"role:PVEVMAdmin"}},
		{"nested pool inherits the parent's propagating grant", user("pat@pve"), "/vms/250", []string{"role:PVEVMUser"}},
		{"non-propagating pool grant reaches its direct members", user("pat@pve"), "/vms/300", []string{"role:PVEDatastoreUser"}},
		{"but not the members of nested pools", user("pat@pve"), "/vms/301", nil},
		{"guest in no pool", user("pat@pve"), "/vms/900", nil},
		{"storage in two pools gets both", user("pat@pve"), "/storage/local", []string{"role:PVEVMUser", "role:PVEDatastoreUser"}},
		{"storage in one pool", user("pat@pve"), "/storage/nfs", []string{"role:PVEDatastoreUser"}},
		{"only /vms/<id> and /storage/<id> are pool members", user("pat@pve"), "/vms/100/x", nil},
		{"pool roles add to the path's roles", user("nina@pve"), "/vms/100", []string{"role:PVEAuditor", "role:PVEVMUser"}},
		{"pool roles cannot lift NoAccess on the guest", user("nina@pve"), "/vms/101", nil},
		{"NoAccess on the pool overrules the guest's roles", user("nina@pve"), "/vms/200", nil},
		{"NoAccess on a pool reaches nested pools", user("nina@pve"), "/vms/250", nil},
		// Like Proxmox VE, the roles a user holds on /pool/<id> include what
		// it inherits from "/", and they fill in next to a narrower grant
		// on the guest itself.
		{"inherited roles arrive through the pool", user("bob@pve"), "/vms/101", []string{"role:PVETemplateUser", "role:PVEAuditor"}},
		{"same grant outside a pool", user("bob@pve"), "/vms/900", []string{"role:PVETemplateUser"}},
		{"pool roles next to a storage grant", user("bob@pve"), "/storage/local", []string{"role:PVEDatastoreAdmin", "role:PVEAuditor"}},
		{"privsep token: its own pool grants, intersected", token("pat@pve!ci"), "/vms/300", []string{"role:PVEDatastoreUser"}},
		{"privsep token: user lacks it", token("pat@pve!ci"), "/vms/301", nil},
		{"privsep token: no token grant", token("pat@pve!ci"), "/vms/100", nil},
	})
}

// Each built-in role, granted on "/", is exactly what the holder gets.
func TestBuiltinRolesAsEffectivePermissions(t *testing.T) {
	for _, role := range privs.BuiltinRoles() {
		cfg := usercfg.New()
		if err := cfg.AddUser(usercfg.User{ID: "x@pve", Enable: true}); err != nil {
			t.Fatal(err)
		}
		if err := cfg.SetACL("/", []string{"x@pve"}, []string{role}, true, false); err != nil {
			t.Fatal(err)
		}
		e := New(cfg)
		want, _ := privs.BuiltinSet(role)
		for _, path := range []string{"/", "/vms/100", "/storage/local", "/access/groups/g"} {
			if got := e.Privileges(user("x@pve"), path); got != want {
				t.Errorf("%s on %s: %v, want %v", role, path, got, want)
			}
		}
		if !e.Has(user("x@pve"), "/vms/100", want.Names()...) {
			t.Errorf("%s: Has false", role)
		}
	}
}

func TestHasAndHasAny(t *testing.T) {
	e := load(t, "inherit.cfg")
	bob := user("bob@pve")
	if !e.Has(bob, "/vms/900", privs.VMConsole, privs.VMPowerMgmt) || e.Has(bob, "/vms/900", privs.VMConsole, privs.VMAudit) {
		t.Error("Has")
	}
	if !e.Has(bob, "/vms/900") {
		t.Error("Has with no privileges should hold")
	}
	if !e.HasAny(bob, "/vms/900", privs.VMAudit, privs.VMConsole) || e.HasAny(bob, "/vms/900", privs.VMAudit) || e.HasAny(bob, "/vms/900") {
		t.Error("HasAny")
	}
}

func TestPrivilegeFlags(t *testing.T) {
	e := load(t, "inherit.cfg")
	held, prop := e.PrivilegeFlags(user("frank@pve"), "/vms/902")
	if held != set(t, "role:PVEVMAdmin") || prop != 0 {
		t.Errorf("non-propagating grant: held %v prop %v", held, prop)
	}
	held, prop = e.PrivilegeFlags(user("joe@pve"), "/vms/901")
	if held != prop || held != set(t, "role:PVEVMAdmin") {
		t.Errorf("propagating grant: held %v prop %v", held, prop)
	}
}

func TestPrivilegesUnder(t *testing.T) {
	e := load(t, "inherit.cfg")
	for _, tc := range []struct {
		who    Subject
		prefix string
		want   []string
	}{
		{user("bob@pve"), "/storage", []string{"role:PVEDatastoreAdmin"}},
		{user("bob@pve"), "/", []string{"role:PVEAuditor", "role:PVEDatastoreAdmin", "role:PVESysAdmin", "role:PVESDNUser", "VM.Console", "VM.PowerMgmt"}},
		{user("nina@pve"), "/mapping", []string{"role:PVEMappingUser"}},
		{user("joe@pve"), "/storage", nil},
		{user("joe@pve"), "/vms/901", []string{"role:PVEVMAdmin"}},
		{user("joe@pve"), "/vms/../", nil},
		{token("joe@pve!mon"), "/vms", []string{"VM.Audit", "VM.GuestAgent.Audit"}},
	} {
		if got, want := e.PrivilegesUnder(tc.who, tc.prefix), set(t, tc.want...); got != want {
			t.Errorf("%+v under %s:\n got  %v\n want %v", tc.who, tc.prefix, got, want)
		}
	}
}

func TestEvaluatorIgnoresLaterConfigChanges(t *testing.T) {
	cfg := usercfg.New()
	if err := cfg.AddUser(usercfg.User{ID: "x@pve", Enable: true}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetACL("/", []string{"x@pve"}, []string{"PVEAuditor"}, true, false); err != nil {
		t.Fatal(err)
	}
	e := New(cfg)
	cfg.ACL["/"].Users["x@pve"]["Administrator"] = true
	cfg.Users["x@pve"].Enable = false
	if got := e.Privileges(user("x@pve"), "/"); got != set(t, "role:PVEAuditor") {
		t.Errorf("evaluator saw a later change: %v", got)
	}
}

func TestConcurrentQueries(t *testing.T) {
	e := load(t, "pools.cfg")
	want := e.Privileges(user("nina@pve"), "/vms/100")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := e.Privileges(user("nina@pve"), "/vms/100"); got != want {
					t.Errorf("got %v", got)
					return
				}
				e.PrivilegesUnder(token("pat@pve!ci"), "/")
			}
		})
	}
	wg.Wait()
}
