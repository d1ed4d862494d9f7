package rbd

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// The fixtures are written from the tools' documented JSON output; see
// testdata/README.md (Ceph cannot run on this machine).
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	key     = "AQBfY2dlAAAAABAAq1vYkZ3ZbT0nYwWkQm0Q8g=="
	keyring = "[client.admin]\n\tkey = " + key + "\n\tcaps mon = \"allow r\"\n\tcaps osd = \"allow rwx pool=rbd\"\n"
)

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestInfo(t *testing.T) {
	p := Plugin{}
	info := p.Info()
	var keys []string
	for k := range info.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"bwlimit", "content", "data-pool", "disable", "keyring", "krbd", "monhost", "namespace", "nodes", "pool", "username"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v, want %v", keys, want)
	}
	for k, o := range info.Options {
		if o.Required {
			t.Errorf("%s is required; rbd needs no option (pool defaults to rbd)", k)
		}
		if o.Fixed != (k == "pool" || k == "namespace") {
			t.Errorf("%s: fixed %v", k, o.Fixed)
		}
	}
	if p.Type() != "rbd" || !info.Shared || !info.LinkedClones || !reflect.DeepEqual(info.Formats, []string{"raw"}) ||
		!reflect.DeepEqual(info.Snapshots, []string{"raw"}) || !slices.Contains(info.Content, storage.Rootdir) {
		t.Errorf("info %+v", info)
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		props  map[string]string
		secret string
		state  bool
		nilRun bool
		err    string
	}{
		{name: "defaults", props: map[string]string{}},
		{name: "external cluster", props: map[string]string{"monhost": "10.1.1.20 10.1.1.21:6789;[fd00::22]:3300, ceph3.example", "pool": "vms",
			"namespace": "team-a", "data-pool": "vms-ec", "username": "pve", "krbd": "1"}, secret: keyring, state: true},
		{name: "bare key", props: map[string]string{}, secret: key, state: true},
		{name: "pool with slash", props: map[string]string{"pool": "rbd/x"}, err: "pool \"rbd/x\""},
		{name: "pool dots", props: map[string]string{"pool": "a..b"}, err: "pool"},
		{name: "namespace space", props: map[string]string{"namespace": "a b"}, err: "namespace"},
		{name: "client prefix", props: map[string]string{"username": "client.admin"}, err: "without the \"client.\" prefix"},
		{name: "bad monitor", props: map[string]string{"monhost": "10.0.0.1:notaport"}, err: "monitor address"},
		{name: "bad monitor host", props: map[string]string{"monhost": "-x"}, err: "monitor address"},
		{name: "krbd not boolean", props: map[string]string{"krbd": "maybe"}, err: "krbd: \"maybe\" is not a boolean"},
		{name: "secret without state dir", props: map[string]string{}, secret: key, err: "no state directory"},
		{name: "garbage secret", props: map[string]string{}, secret: "not a key at all", state: true, err: "neither a keyring nor a bare Ceph key"},
		{name: "keyring without section", props: map[string]string{}, secret: "key = " + key, state: true, err: "no [client.<user>] section"},
		{name: "no runner", props: map[string]string{}, nilRun: true, err: "no command runner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := storage.Env{Runner: &runner.Recorder{}}
			if tc.state {
				env.StateDir = t.TempDir()
			}
			if tc.nilRun {
				env.Runner = nil
			}
			_, err := Plugin{}.Open(storage.Config{ID: "ceph1", Type: "rbd", Props: tc.props, Secret: tc.secret}, env)
			checkErr(t, err, tc.err)
			if err != nil && tc.secret != "" && strings.Contains(err.Error(), key) {
				t.Fatalf("the error shows the key: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "ceph1") {
				t.Errorf("the error does not name the storage: %v", err)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList([]byte(fixture(t, "ls.json")), "rbd", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range got {
		names = append(names, v.Volname()+"="+strconv.FormatInt(v.Size, 10))
	}
	want := []string{
		"base-101-disk-0=10737418240",
		"vm-100-cloudinit=4194304",
		"vm-100-disk-0=34359738368",
		"base-101-disk-0/vm-102-disk-0=10737418240",
		"vm-103-disk-0=10737418240", // a clone of an ordinary snapshot stands alone
		"vm-104-disk-1=5368709120",  // its base lives in another pool
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("got %q\nwant %q", names, want)
	}
	// In a namespace, the parents (in the pool's root) are foreign.
	got, _ = ParseList([]byte(fixture(t, "ls.json")), "rbd", "team-a")
	for _, v := range got {
		if v.Base != "" {
			t.Errorf("%s has base %s across namespaces", v.Name, v.Base)
		}
	}
	for _, tc := range []struct{ in, err string }{
		{"", ""},
		{"  \n", ""},
		{"[]", ""},
		{"{}", "unexpected rbd ls output"},
		{"[{\"image\":\"vm-100-disk-0\",\"size\":-1}]", "size -1"},
		{"[] []", "data after"},
		{"rbd: error opening pool 'x': (2) No such file or directory", "unexpected rbd ls output"},
	} {
		_, err := ParseList([]byte(tc.in), "rbd", "")
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseList(%q): %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestParseInfoDUSnapsDF(t *testing.T) {
	i, err := ParseInfo([]byte(fixture(t, "info_clone.json")))
	if err != nil || i.Size != 10737418240 || i.Format != 2 || i.Parent == nil || i.Parent.Image != "base-101-disk-0" ||
		i.Parent.Snapshot != BaseSnapshot || i.IsProtected() {
		t.Errorf("info %+v, %v", i, err)
	}
	if i, err := ParseInfo([]byte(fixture(t, "info_snap_protected.json"))); err != nil || !i.IsProtected() {
		t.Errorf("protected snapshot: %+v, %v", i, err)
	}
	for _, bad := range []string{"", "[]", `{"size":1}`, `{"name":"x","size":-4}`} {
		if _, err := ParseInfo([]byte(bad)); err == nil {
			t.Errorf("ParseInfo(%q) accepted", bad)
		}
	}

	size, used, err := ParseDU([]byte(fixture(t, "du.json")), "vm-100-disk-0")
	if err != nil || size != 34359738368 || used != 2147483648 {
		t.Errorf("du: %d %d %v", size, used, err)
	}
	if _, _, err := ParseDU([]byte(fixture(t, "du.json")), "vm-100-disk-1"); err == nil {
		t.Error("du of an image it does not list succeeded")
	}
	if _, _, err := ParseDU([]byte(`{"images":[{"name":"a","provisioned_size":1}]}`), "a"); err == nil {
		t.Error("du without used_size succeeded")
	}

	snaps, err := ParseSnapList([]byte(fixture(t, "snap_ls.json")))
	if err != nil || len(snaps) != 2 || snaps[1].Name != "golden" || snaps[1].Protected != "true" || snaps[0].Protected != "false" {
		t.Errorf("snaps %+v, %v", snaps, err)
	}
	if s, err := ParseSnapList(nil); s != nil || err != nil {
		t.Errorf("no snapshots: %v %v", s, err)
	}
	if _, err := ParseSnapList([]byte(`[{"id":1}]`)); err == nil {
		t.Error("snapshot without a name accepted")
	}

	for _, tc := range []struct {
		file, pool string
		want       storage.Status
		found      bool
	}{
		{"df.json", "rbd", storage.Status{Active: true, Used: 107374182400, Avail: 917000000000, Total: 1024374182400}, true},
		{"df.json", "rbd-ec-data", storage.Status{Active: true, Used: 53687091200, Avail: 1834000000000, Total: 1887687091200}, true},
		{"df.json", "missing", storage.Status{}, false},
		{"df_nautilus_old.json", "rbd", storage.Status{Active: true, Used: 100000000000, Avail: 300000000000, Total: 400000000000}, true},
	} {
		st, found, err := ParseDF([]byte(fixture(t, tc.file)), tc.pool)
		if err != nil || found != tc.found || st != tc.want {
			t.Errorf("%s %s: %+v %v %v", tc.file, tc.pool, st, found, err)
		}
	}
	for _, bad := range []string{`{"pools":[{"name":"rbd","stats":{}}]}`, `{"pools":[{"name":"rbd","stats":{"stored":-1,"max_avail":1}}]}`,
		`{"pools":[{"name":"rbd","stats":{"stored":1.5,"max_avail":1}}]}`, `{"pools":[{"name":"rbd","stats":{"stored":9e18,"max_avail":9e18}}]}`, `nope`} {
		if _, _, err := ParseDF([]byte(bad), "rbd"); err == nil {
			t.Errorf("ParseDF(%q) accepted", bad)
		}
	}
}

func TestParseVolname(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		base string
	}{
		{"vm-100-disk-0", true, ""},
		{"base-100-disk-0", true, ""},
		{"vm-100-cloudinit", true, ""},
		{"base-100-disk-0/vm-101-disk-0", true, "base-100-disk-0"},
		{"subvol-100-disk-0", false, ""},
		{"vm-100-disk-0/vm-101-disk-0", false, ""},
		{"../vm-100-disk-0", false, ""},
		{"/vm-100-disk-0", false, ""},
		{"vm-100-disk-0@snap", false, ""},
		{"vm-100-..", false, ""},
		{"rbd/vm-100-disk-0", false, ""},
	} {
		v, err := ParseVolname(tc.in)
		if (err == nil) != tc.ok || v.Base != tc.base {
			t.Errorf("ParseVolname(%q) = %+v, %v", tc.in, v, err)
		}
	}
}

func TestKeyringData(t *testing.T) {
	got, err := keyringData(key, "pve")
	if err != nil || string(got) != "[client.pve]\n\tkey = "+key+"\n" {
		t.Errorf("bare key: %q %v", got, err)
	}
	got, err = keyringData(strings.TrimSuffix(keyring, "\n"), "admin")
	if err != nil || string(got) != keyring {
		t.Errorf("keyring: %q %v", got, err)
	}
}
