package cifs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// The fixtures are written from the documented formats (proc(5) for the
// mount table, smbclient(1) for share lists): neither a kernel CIFS
// client nor smbclient and a server are on this machine.
type node struct {
	rec   *runner.Recorder
	env   storage.Env
	root  string
	state string
	p     Plugin
}

func newNode(t *testing.T, mounted bool) *node {
	t.Helper()
	root, state := t.TempDir(), filepath.Join(t.TempDir(), "state")
	table := "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	if mounted {
		data, err := os.ReadFile("testdata/mountinfo.tmpl")
		if err != nil {
			t.Fatal(err)
		}
		table = strings.ReplaceAll(string(data), "@ROOT@", root)
	}
	mi := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(mi, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &runner.Recorder{}
	return &node{rec: rec, root: root, state: state, p: Plugin{MountInfo: mi},
		env: storage.Env{Node: "n1", Runner: rec, MountRoot: root, StateDir: state}}
}

func config(id, secret string, props map[string]string) storage.Config {
	p := map[string]string{"server": "10.0.0.11", "share": "VMData", "content": "backup"}
	for k, v := range props {
		p[k] = v
	}
	return storage.Config{ID: id, Type: "cifs", Props: p, Secret: secret, Content: []storage.Content{storage.Backup}}
}

func (n *node) open(t *testing.T, cfg storage.Config) *Store {
	t.Helper()
	s, err := n.p.Open(cfg, n.env)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Store)
}

func (n *node) expand(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.NewReplacer("@ROOT@", n.root, "@STATE@", n.state).Replace(l)
	}
	return out
}

func TestActivatePlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      string
		secret  string
		props   map[string]string
		mounted bool
		want    []string
	}{{
		name: "guest login", id: "pub", props: map[string]string{"share": "public"},
		want: []string{
			"smbclient //10.0.0.11/public -d 0 -U Guest -N -c 'echo 1 0'",
			"mount -t cifs //10.0.0.11/public @ROOT@/pub -o soft -o guest,username=guest -o vers=default",
		},
	}, {
		name: "user, password file, domain, version, subdir, options", id: "backup", secret: "s3cr3t, with comma",
		props: map[string]string{"username": "anna", "domain": "CORP", "smbversion": "3.11", "subdir": "/data",
			"options": "noserverino,echo_interval=30"},
		want: []string{
			"smbclient //10.0.0.11/VMData -d 0 -m smb3 -U anna -A @STATE@/backup.cred -W CORP -c 'echo 1 0'",
			"mount -t cifs //10.0.0.11/VMData/data @ROOT@/backup -o soft -o username=anna -o credentials=@STATE@/backup.cred " +
				"-o domain=CORP -o vers=3.11 -o noserverino,echo_interval=30",
		},
	}, {
		name: "SMB 2.1 without domain", id: "old", secret: "pw", props: map[string]string{"username": "bob", "smbversion": "2.1"},
		want: []string{
			"smbclient //10.0.0.11/VMData -d 0 -m smb2 -U bob -A @STATE@/old.cred -c 'echo 1 0'",
			"mount -t cifs //10.0.0.11/VMData @ROOT@/old -o soft -o username=bob -o credentials=@STATE@/old.cred -o vers=2.1",
		},
	}, {
		name: "IPv6 server", id: "v6", props: map[string]string{"server": "fd00::11"},
		want: []string{
			"smbclient //fd00::11/VMData -d 0 -U Guest -N -c 'echo 1 0'",
			"mount -t cifs '//[fd00::11]/VMData' @ROOT@/v6 -o soft -o guest,username=guest -o vers=default",
		},
	}, {
		name: "already mounted, share names ignore case", id: "backup", secret: "pw", mounted: true,
		props: map[string]string{"username": "anna", "domain": "CORP", "share": "vmdata", "subdir": "/data"},
		want:  []string{"smbclient //10.0.0.11/vmdata -d 0 -U anna -A @STATE@/backup.cred -W CORP -c 'echo 1 0'"},
	}, {
		name: "another share on the mount point is not ours", id: "guest", mounted: true,
		want: []string{
			"smbclient //10.0.0.11/VMData -d 0 -U Guest -N -c 'echo 1 0'",
			"mount -t cifs //10.0.0.11/VMData @ROOT@/guest -o soft -o guest,username=guest -o vers=default",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.mounted)
			want := n.expand(tc.want)
			for _, l := range want {
				n.rec.On(l, "")
			}
			s := n.open(t, config(tc.id, tc.secret, tc.props))
			if err := s.Activate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := n.rec.Lines(); !reflect.DeepEqual(got, want) {
				t.Errorf("commands:\n got %q\nwant %q", got, want)
			}
			if _, err := os.Stat(filepath.Join(s.Root(), "dump")); err != nil {
				t.Errorf("layout: %v", err)
			}
		})
	}
}

// TestSecretNeverInArgv: the password reaches mount.cifs and smbclient
// only through a 0600 credentials file, in every command the type runs.
func TestSecretNeverInArgv(t *testing.T) {
	const secret = "Tr0ub4dor&3 pass"
	n := newNode(t, false)
	n.rec.OnPrefix("smbclient ", "")
	n.rec.OnPrefix("mount ", "")
	s := n.open(t, config("backup", secret, map[string]string{"username": "anna", "domain": "CORP"}))
	ctx := context.Background()
	if err := s.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Scan(ctx, n.env, "10.0.0.11", "anna", secret, "CORP"); err != nil {
		t.Fatal(err)
	}
	lines := n.rec.Lines()
	if len(lines) != 4 {
		t.Fatalf("commands: %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, secret) || strings.Contains(l, "Tr0ub4dor") {
			t.Errorf("the password is on a command line: %s", l)
		}
	}
	cred := filepath.Join(n.state, "backup.cred")
	st, err := os.Stat(cred)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v", st, err)
	}
	data, _ := os.ReadFile(cred)
	if want := "username=anna\npassword=" + secret + "\ndomain=CORP\n"; string(data) != want {
		t.Errorf("credentials file holds %q, want %q", data, want)
	}
	// The scan's temporary file is gone.
	entries, _ := os.ReadDir(n.state)
	if len(entries) != 1 {
		t.Errorf("state directory holds %v, want only the storage's credentials file", entries)
	}

	// Without a password the old file goes, and the login is a guest's.
	n.rec.Reset()
	s = n.open(t, config("backup", "", map[string]string{"username": "anna"}))
	if err := s.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cred); !os.IsNotExist(err) {
		t.Errorf("stale credentials file kept: %v", err)
	}
	if got := n.rec.Lines(); !strings.Contains(got[0], "-U Guest -N") {
		t.Errorf("check without a password: %q", got)
	}
}

func TestUnreachableAndRefused(t *testing.T) {
	ctx := context.Background()
	check := "smbclient //10.0.0.11/VMData -d 0 -U anna -A @STATE@/backup.cred -c 'echo 1 0'"
	for _, tc := range []struct {
		name, stderr string
		want         []string
	}{
		{"unreachable", "do_connect: Connection to 10.0.0.11 failed (Error NT_STATUS_HOST_UNREACHABLE)\n",
			[]string{"storage 'backup' is not online", "CIFS server 10.0.0.11 does not answer for share VMData", "NT_STATUS_HOST_UNREACHABLE"}},
		{"wrong password", "session setup failed: NT_STATUS_LOGON_FAILURE\n",
			[]string{"storage 'backup' is not online", "refused access to share VMData: NT_STATUS_LOGON_FAILURE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, true)
			n.rec.Fail(n.expand([]string{check})[0], 1, tc.stderr)
			s := n.open(t, config("backup", "pw", map[string]string{"username": "anna"}))
			st, err := s.Status(ctx)
			if st.Active || !errors.Is(err, netfs.ErrOffline) {
				t.Fatalf("Status: %+v, %v", st, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if err := s.Activate(ctx); !errors.Is(err, netfs.ErrOffline) {
				t.Errorf("Activate: %v", err)
			}
			for _, l := range n.rec.Lines() {
				if strings.HasPrefix(l, "mount") {
					t.Errorf("mounted anyway: %s", l)
				}
			}
		})
	}
}

func TestDeactivate(t *testing.T) {
	n := newNode(t, true)
	n.rec.On("umount "+n.root+"/backup", "")
	s := n.open(t, config("backup", "", map[string]string{"subdir": "/data"}))
	if err := s.Deactivate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := n.rec.Lines(); !reflect.DeepEqual(got, []string{"umount " + n.root + "/backup"}) {
		t.Errorf("commands %q", got)
	}
	// The same mount point without the subdir is another storage's mount.
	n.rec.Reset()
	s = n.open(t, config("backup", "", nil))
	if err := s.Deactivate(context.Background()); err != nil || len(n.rec.Lines()) != 0 {
		t.Errorf("Deactivate of a storage not mounted: %v, %q", err, n.rec.Lines())
	}
}

func TestScan(t *testing.T) {
	data, err := os.ReadFile("testdata/smbclient-L.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, false)
	n.rec.On("smbclient -m smb3 -d 0 -L 10.0.0.11 -N", string(data))
	shares, err := Scan(context.Background(), n.env, "10.0.0.11", "", "", "")
	want := []Share{{"VMData", "VM storage"}, {"public", ""}, {"print$", "Printer Drivers"}}
	if err != nil || !reflect.DeepEqual(shares, want) {
		t.Errorf("Scan: %+v, %v; want %+v", shares, err, want)
	}
	n.rec.OnPrefix("smbclient -m smb3 -d 0 -L 10.0.0.12 -U anna -A "+n.state+"/.scan-", "session setup failed: NT_STATUS_LOGON_FAILURE\n")
	if _, err := Scan(context.Background(), n.env, "10.0.0.12", "anna", "pw", ""); err == nil || !strings.Contains(err.Error(), "NT_STATUS_LOGON_FAILURE") {
		t.Errorf("Scan with a refused login: %v", err)
	}
	if _, err := Scan(context.Background(), n.env, "10.0.0.12", "anna", "", ""); err == nil {
		t.Error("Scan with a user and no password succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	n := newNode(t, false)
	for _, tc := range []struct {
		secret string
		props  map[string]string
	}{
		{"", map[string]string{"server": ""}},
		{"", map[string]string{"share": ""}},
		{"", map[string]string{"share": "a/b"}},
		{"", map[string]string{"subdir": "data"}},
		{"", map[string]string{"subdir": "/a/../b"}},
		{"", map[string]string{"smbversion": "1.0"}},
		{"", map[string]string{"username": "a,b"}},
		{"pw", nil}, // a password without a user
		{"two\nlines", map[string]string{"username": "anna"}},
	} {
		if _, err := n.p.Open(config("x", tc.secret, tc.props), n.env); err == nil {
			t.Errorf("Open with %v (secret %q) succeeded", tc.props, tc.secret)
		}
	}
	env := n.env
	env.StateDir = ""
	if _, err := n.p.Open(config("x", "pw", map[string]string{"username": "anna"}), env); err == nil {
		t.Error("Open with a password and no state directory succeeded")
	}
}

func TestInfo(t *testing.T) {
	info := Plugin{}.Info()
	for key, want := range map[string]storage.Option{
		"server": {Required: true, Fixed: true}, "share": {Required: true, Fixed: true}, "path": {Fixed: true},
		"subdir": {}, "username": {}, "password": {}, "domain": {}, "smbversion": {}, "options": {},
	} {
		if got, ok := info.Options[key]; !ok || got != want {
			t.Errorf("option %s: %+v (present %v), want %+v", key, got, ok, want)
		}
	}
	if _, ok := info.Options["export"]; ok {
		t.Error("cifs must not accept export")
	}
}
