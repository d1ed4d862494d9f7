package usercfg

import (
	"reflect"
	"strings"
	"testing"
)

// base defines the objects the warning cases refer to.
const base = "user:u@pve:1:0::::::\ngroup:g:u@pve::\n"

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name  string
		lines string // appended to base, starting at line 3
		want  []string
		check func(t *testing.T, c *Config)
	}{
		{name: "unknown record type", lines: "domain:pve:\n",
			want: []string{`line 3: ignore line of unknown type "domain"`}},
		{name: "user without realm", lines: "user:nobody:1:0:\n",
			want: []string{`line 3: ignore user: "nobody" is not a user id: expected <user>@<realm>`}},
		{name: "user with bad realm", lines: "user:a@1x:1:0:\n",
			want: []string{`line 3: ignore user: user id "a@1x": "1x" is not a valid realm name`}},
		{name: "user with space in name", lines: "user:a b@pve:1:0:\n",
			want: []string{`line 3: ignore user: user id "a b@pve": the user name may not contain white space, control characters, ':', '/', ',' or ';'`}},
		{name: "user with comma in name", lines: "user:a,b@pve:1:0:\n",
			want: []string{`line 3: ignore user: user id "a,b@pve": the user name may not contain white space, control characters, ':', '/', ',' or ';'`}},
		{name: "user id too long", lines: "user:" + strings.Repeat("x", 61) + "@pve:1:0:\n",
			want: []string{`line 3: ignore user: user id "` + strings.Repeat("x", 61) + `@pve" is too long: at most 64 characters`}},
		{name: "user with non-numeric expire", lines: "user:v@pve:1:tomorrow:\n",
			want: []string{`line 3: ignore user v@pve: expire "tomorrow" is not a number`}},
		{name: "user with negative expire", lines: "user:v@pve:1:-5:\n",
			want: []string{`line 3: ignore user v@pve: expire "-5" is not a number`}},
		{name: "user with huge expire", lines: "user:v@pve:1:99999999999999999999:\n",
			want: []string{`line 3: ignore user v@pve: expire "99999999999999999999" is out of range`}},
		{name: "user defined twice", lines: "user:u@pve:0:0:::::\n",
			want: []string{`line 3: user u@pve is defined again; this line replaces the earlier one`},
			check: func(t *testing.T, c *Config) {
				if c.Users["u@pve"].Enable || !reflect.DeepEqual(c.Users["u@pve"].Groups, []string{"g"}) {
					t.Errorf("later user line should win and keep memberships: %+v", c.Users["u@pve"])
				}
			}},
		{name: "token with bad id", lines: "token:u@pve!1x:0:1::\ntoken:u@pve:0:1::\n",
			want: []string{
				`line 3: ignore token: token name "1x" is not valid: a letter, then letters, digits, '.', '-' or '_'`,
				`line 4: ignore token: "u@pve" is not a token id: expected <user>@<realm>!<token>`}},
		{name: "token with bad expire", lines: "token:u@pve!t1:soon:1::\n",
			want: []string{`line 3: ignore token u@pve!t1: expire "soon" is not a number`}},
		{name: "token of missing user", lines: "token:ghost@pve!t1:0:1::\n",
			want: []string{`line 3: ignore token ghost@pve!t1: user ghost@pve does not exist`}},
		{name: "token defined twice", lines: "token:u@pve!t1:0:1::\ntoken:u@pve!t1:5:0::\n",
			want: []string{`line 4: token u@pve!t1 is defined again; this line replaces the earlier one`},
			check: func(t *testing.T, c *Config) {
				if tok := c.Users["u@pve"].Tokens["t1"]; tok.Expire != 5 || tok.Privsep {
					t.Errorf("later token line should win: %+v", tok)
				}
			}},
		{name: "group with bad id", lines: "group:bad/name:u@pve::\n",
			want: []string{`line 3: ignore group: "bad/name" is not a valid group id: expected letters, digits, '.', '-' or '_'`}},
		{name: "group members invalid or missing", lines: "group:h:u@pve,nobody,ghost@pve::\n",
			want: []string{
				`line 3: ignore member of group h: "nobody" is not a user id: expected <user>@<realm>`,
				`line 3: ignore member ghost@pve of group h: user does not exist`},
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Groups["h"].Members, []string{"u@pve"}) {
					t.Errorf("members = %v", c.Groups["h"].Members)
				}
			}},
		{name: "role with bad id", lines: "role:Bad Role:VM.Audit:\n",
			want: []string{`line 3: ignore role: "Bad Role" is not a valid role id: expected letters, digits, '.', '-' or '_'`}},
		{name: "built-in role redefined", lines: "role:PVEVMUser:VM.Allocate:\n",
			want: []string{`line 3: ignore role PVEVMUser: built-in roles cannot be redefined`}},
		{name: "role with unknown privilege", lines: "role:R:VM.Audit,VM.Monitor:\n",
			want: []string{`line 3: ignore privilege of role R: unknown privilege "VM.Monitor"`},
			check: func(t *testing.T, c *Config) {
				if got := c.Roles["R"].Privs.String(); got != "VM.Audit" {
					t.Errorf("privs = %s", got)
				}
			}},
		{name: "pool with bad id", lines: "pool:a/b/c/d::::\npool:a b::::\n",
			want: []string{
				`line 3: ignore pool: "a/b/c/d" is not a valid pool id: expected up to three '/'-separated levels of letters, digits, '.', '-' or '_'`,
				`line 4: ignore pool: "a b" is not a valid pool id: expected up to three '/'-separated levels of letters, digits, '.', '-' or '_'`}},
		{name: "pool members invalid", lines: "pool:p::100,x1,-3,99999999999999999999:local,1bad,ok-:\n",
			want: []string{
				`line 3: ignore guest "x1" in pool p: not a valid guest id`,
				`line 3: ignore guest "-3" in pool p: not a valid guest id`,
				`line 3: ignore guest "99999999999999999999" in pool p: not a valid guest id`,
				`line 3: ignore storage "1bad" in pool p: not a valid storage id`,
				`line 3: ignore storage "ok-" in pool p: not a valid storage id`},
			check: func(t *testing.T, c *Config) {
				if p := c.Pools["p"]; !reflect.DeepEqual(p.VMs, []int{100}) || !reflect.DeepEqual(p.Storages, []string{"local"}) {
					t.Errorf("pool = %+v", p)
				}
			}},
		{name: "guest in two pools", lines: "pool:p::100:\npool:q::100,101:\n",
			want: []string{`line 4: ignore guest 100 in pool q: it already belongs to pool p`}},
		{name: "nested pool without parent", lines: "pool:x/y/z::300::\n",
			want: []string{
				`line 3: pool x/y/z has no parent pool x/y; added it`,
				`line 3: pool x/y/z has no parent pool x; added it`},
			check: func(t *testing.T, c *Config) {
				if c.Pools["x"] == nil || c.Pools["x/y"] == nil {
					t.Error("parents not added")
				}
			}},
		{name: "acl with bad path", lines: "acl:1::u@pve:PVEAuditor:\nacl:1:/vms/../x:u@pve:PVEAuditor:\nacl:1:/vms/1 0:u@pve:PVEAuditor:\n",
			want: []string{
				`line 3: ignore ACL: empty ACL path`,
				`line 4: ignore ACL: invalid ACL path "/vms/../x": component ".."`,
				`line 5: ignore ACL: invalid ACL path "/vms/1 0": only letters, digits, '.', '-', '_' and '/' are allowed`}},
		{name: "acl with bad and missing roles", lines: "acl:1:/vms:u@pve:PVEAuditor,Bad!,Nope:\n",
			want: []string{
				`line 3: ignore role in ACL on /vms: "Bad!" is not a valid role id: expected letters, digits, '.', '-' or '_'`,
				`line 3: ignore role Nope in ACL on /vms: role does not exist`},
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.ACL["/vms"].Users["u@pve"], Grants{"PVEAuditor": true}) {
					t.Errorf("acl = %+v", c.ACL["/vms"])
				}
			}},
		{name: "acl with bad and missing subjects", lines: "acl:0:/:u@pve,@g,@nogroup,ghost@pve,u@pve!gone,not a user:PVEAuditor:\n",
			want: []string{
				`line 3: ignore subject in ACL on /: @nogroup: does not exist`,
				`line 3: ignore subject in ACL on /: ghost@pve: does not exist`,
				`line 3: ignore subject in ACL on /: u@pve!gone: does not exist`,
				`line 3: ignore subject in ACL on /: invalid ACL subject "not": want user@realm, @group or user@realm!token`,
				`line 3: ignore subject in ACL on /: invalid ACL subject "a": want user@realm, @group or user@realm!token`,
				`line 3: ignore subject in ACL on /: invalid ACL subject "user": want user@realm, @group or user@realm!token`}},
		{name: "acl with nothing left", lines: "acl:1:/vms:ghost@pve:PVEAuditor:\nacl:1:/vms:u@pve::\n",
			want: []string{
				`line 3: ignore subject in ACL on /vms: ghost@pve: does not exist`,
				`line 3: ignore ACL on /vms: no valid subject or no valid role left`,
				`line 4: ignore ACL on /vms: no valid subject or no valid role left`},
			check: func(t *testing.T, c *Config) {
				if len(c.ACL) != 0 {
					t.Errorf("ACL = %+v", c.ACL)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, got := Parse([]byte(base + tc.lines))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	in := "user:a@pve:1:1700000000:First%20:%3ALast:a@x.org:multi%0Aline:key1:\n" +
		"token:a@pve!tk:1800000000:0:tok%25en:\n" +
		"user:b@example.com@oidc:0\n" +
		"group:g:a@pve b@example.com@oidc;a@pve:Gr%C3%BCppe:\n" +
		"pool:dev:Dev%3A pool:0100,200:local:\n" +
		"role:R:VM.Audit:\n" +
		"acl:yes:/vms/200:@g,a@pve!tk:R,PVEVMUser:\n"
	cfg, warnings := Parse([]byte(in))
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
	a := cfg.Users["a@pve"]
	wantA := &User{ID: "a@pve", Enable: true, Expire: 1700000000, Firstname: "First ", Lastname: ":Last",
		Email: "a@x.org", Comment: "multi\nline", Keys: "key1", Groups: []string{"g"},
		Tokens: map[string]*Token{"tk": {ID: "tk", Expire: 1800000000, Privsep: false, Comment: "tok%en"}}}
	if !reflect.DeepEqual(a, wantA) {
		t.Errorf("user a:\n %+v\nwant\n %+v", a, wantA)
	}
	if b := cfg.Users["b@example.com@oidc"]; b.Enable || b.Expire != 0 || !reflect.DeepEqual(b.Groups, []string{"g"}) {
		t.Errorf("user b: %+v", b)
	}
	if g := cfg.Groups["g"]; g.Comment != "Grüppe" || !reflect.DeepEqual(g.Members, []string{"a@pve", "b@example.com@oidc"}) {
		t.Errorf("group: %+v", g)
	}
	if p := cfg.Pools["dev"]; p.Comment != "Dev: pool" || !reflect.DeepEqual(p.VMs, []int{100, 200}) {
		t.Errorf("pool: %+v", p)
	}
	if id, ok := cfg.PoolOfVM(100); !ok || id != "dev" {
		t.Errorf("PoolOfVM(100) = %q %v", id, ok)
	}
	acl := cfg.ACL["/vms/200"]
	if !reflect.DeepEqual(acl.Groups["g"], Grants{"R": true, "PVEVMUser": true}) ||
		!reflect.DeepEqual(acl.Tokens["a@pve!tk"], Grants{"R": true, "PVEVMUser": true}) {
		t.Errorf("acl: %+v", acl)
	}
	// Writing escapes what needs escaping and nothing else (a '%' that is
	// not followed by two hex digits stays, as Proxmox VE writes it).
	want := "user:a@pve:1:1700000000:First%20:%3ALast:a@x.org:multi%0Aline:key1:\n" +
		"token:a@pve!tk:1800000000:0:tok%en:\n" +
		"user:b@example.com@oidc:0:0::::::\n\n" +
		"group:g:a@pve,b@example.com@oidc:Gr%C3%BCppe:\n\n" +
		"pool:dev:Dev%3A pool:100,200:local:\n\n" +
		"role:R:VM.Audit:\n\n" +
		"acl:1:/vms/200:@g,a@pve!tk:PVEVMUser,R:\n"
	if got := string(cfg.Bytes()); got != want {
		t.Errorf("Bytes:\n%s\nwant:\n%s", got, want)
	}
}

func TestACLPropagateOverride(t *testing.T) {
	// A later line for the same subject and role changes only its flag;
	// roles with different flags are written on separate lines.
	cfg, _ := Parse([]byte(base +
		"acl:1:/vms:u@pve:PVEVMUser,PVEAuditor:\n" +
		"acl:0:/vms:u@pve:PVEVMUser:\n"))
	want := "acl:0:/vms:u@pve:PVEVMUser:\nacl:1:/vms:u@pve:PVEAuditor:\n"
	if got := string(cfg.Bytes()); !strings.HasSuffix(got, "\n\n"+want) {
		t.Errorf("Bytes:\n%s\nwant suffix:\n%s", got, want)
	}
}

func TestACLsTreeOrder(t *testing.T) {
	cfg, _ := Parse([]byte(base +
		"acl:1:/vms-old:u@pve:PVEAuditor:\n" +
		"acl:1:/vms/100:u@pve:PVEAuditor:\n" +
		"acl:1:/vms:u@pve:PVEAuditor:\n" +
		"acl:1:/:u@pve:PVEAuditor:\n" +
		"acl:1:/vms.x:u@pve:PVEAuditor:\n"))
	got := cfg.ACLPaths()
	want := []string{"/", "/vms", "/vms/100", "/vms-old", "/vms.x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ACLPaths = %v, want %v", got, want)
	}
}
