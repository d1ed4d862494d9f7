package usercfg

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// Files as Proxmox VE writes them must come back byte for byte.
func TestCanonicalFilesRoundTripByteIdentical(t *testing.T) {
	files, err := filepath.Glob("testdata/canonical/*.cfg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no canonical files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings := Parse(in)
			if len(warnings) != 0 {
				t.Errorf("warnings on a canonical file: %q", warnings)
			}
			if out := cfg.Bytes(); !bytes.Equal(out, in) {
				t.Errorf("round trip changed the file:\n--- got\n%s\n--- want\n%s", out, in)
			}
		})
	}
}

// Hand-edited files are rewritten to canonical form; the expected output
// and warnings live next to the input (go test -update rewrites them).
func TestGoldenRewrite(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.in")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, f := range files {
		base := strings.TrimSuffix(f, ".in")
		t.Run(filepath.Base(base), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings := Parse(in)
			got := cfg.Bytes()
			gotWarn := []byte(strings.Join(warnings, "\n") + "\n")
			if *update {
				if err := os.WriteFile(base+".out", got, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(base+".warnings", gotWarn, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(base + ".out")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output:\n%s\nwant:\n%s", got, want)
			}
			wantWarn, err := os.ReadFile(base + ".warnings")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotWarn, wantWarn) {
				t.Errorf("warnings:\n%s\nwant:\n%s", gotWarn, wantWarn)
			}
			// The canonical output is a fixed point.
			again, w2 := Parse(got)
			if len(w2) != 0 || !bytes.Equal(again.Bytes(), got) {
				t.Errorf("canonical output not stable: warnings %q", w2)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	for _, in := range []string{"", "\n", "  \n\t\n\r\n"} {
		cfg, warnings := Parse([]byte(in))
		if len(warnings) != 0 {
			t.Errorf("%q: warnings %q", in, warnings)
		}
		if len(cfg.Users)+len(cfg.Groups)+len(cfg.Pools)+len(cfg.Roles)+len(cfg.ACL) != 0 {
			t.Errorf("%q: config not empty: %+v", in, cfg)
		}
		// Section separators are written even when every section is empty.
		if got := string(cfg.Bytes()); got != "\n\n\n\n" {
			t.Errorf("%q: Bytes() = %q", in, got)
		}
	}
}

func TestBytesSortsEverything(t *testing.T) {
	c := New()
	for _, id := range []string{"b@pve", "a@pve", "c@pam"} {
		if err := c.AddUser(User{ID: id, Enable: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range []string{"z1", "a1"} {
		if err := c.AddToken("a@pve", Token{ID: tok}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddGroup(Group{ID: "g", Members: []string{"c@pam", "a@pve"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPool(Pool{ID: "p", VMs: []int{101, 99, 1000}, Storages: []string{"zfs", "dir"}}); err != nil {
		t.Fatal(err)
	}
	c.Roles["R"] = &Role{ID: "R", Privs: mustPrivs(t, "VM.PowerMgmt", "VM.Audit")}
	must(t, c.SetACL("/vms", []string{"b@pve", "@g", "a@pve!z1"}, []string{"R", "PVEAuditor"}, true, false))
	must(t, c.SetACL("/vms", []string{"a@pve"}, []string{"PVEAuditor"}, true, false))
	must(t, c.SetACL("/", []string{"c@pam"}, []string{"NoAccess"}, false, false))
	want := `user:a@pve:1:0::::::
token:a@pve!a1:0:0::
token:a@pve!z1:0:0::
user:b@pve:1:0::::::
user:c@pam:1:0::::::

group:g:a@pve,c@pam::

pool:p::1000,101,99:dir,zfs:

role:R:VM.Audit,VM.PowerMgmt:

acl:0:/:c@pam:NoAccess:
acl:1:/vms:a@pve:PVEAuditor:
acl:1:/vms:@g,a@pve!z1,b@pve:PVEAuditor,R:
`
	if got := string(c.Bytes()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestBytesOmitsRootACLAndBuiltinRoles(t *testing.T) {
	cfg, _ := Parse([]byte("user:root@pam:1:0::::::\nacl:1:/:root@pam:Administrator:\n"))
	if _, ok := cfg.ACL["/"].Users[RootUser]; !ok {
		t.Fatal("parsed config lost the root ACL")
	}
	if got := string(cfg.Bytes()); got != "user:root@pam:1:0::::::\n\n\n\n\n" {
		t.Errorf("Bytes() = %q", got)
	}
}
