package zfs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// The fixtures are written from the tools' documented formats; see
// testdata/README.md (no ZFS, COMSTAR, LIO, istgt or IET runs here).
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if name == "list.txt" {
		// Its header lines say where it comes from; zfs prints none.
		var keep []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "")
	}
	return string(b)
}

var ctx = context.Background()

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

// The four storages of the tests, one per target implementation, as in
// the examples of Proxmox VE's documentation.
var configs = map[string]map[string]string{
	"comstar": {"portal": "192.0.2.112", "target": "iqn.2010-08.org.illumos:02:7f3c:tank1", "pool": "tank",
		"iscsiprovider": "comstar", "blocksize": "4k", "comstar_hg": "pve-nodes"},
	"LIO": {"portal": "192.0.2.111", "target": "iqn.2003-01.org.linux-iscsi.san1.x8664:sn.0123456789ab", "pool": "tank",
		"iscsiprovider": "LIO", "blocksize": "4k", "lio_tpg": "tpg1", "sparse": "1", "zfs-base-path": "/dev/zvol"},
	"istgt": {"portal": "192.0.2.113", "target": "iqn.2007-09.jp.ne.peach.istgt:tank1", "pool": "tank",
		"iscsiprovider": "istgt", "blocksize": "4k", "nowritecache": "1"},
	"iet": {"portal": "192.0.2.114:3260", "target": "iqn.2001-04.com.example:tank1", "pool": "tank",
		"iscsiprovider": "iet", "blocksize": "8k"},
}

func TestInfoOptions(t *testing.T) {
	info := Plugin().Info()
	var keys []string
	for k, o := range info.Options {
		keys = append(keys, k)
		req := k == "portal" || k == "target" || k == "pool" || k == "iscsiprovider" || k == "blocksize"
		if o.Required != req || o.Fixed != req {
			t.Errorf("%s: %+v", k, o)
		}
	}
	sort.Strings(keys)
	want := []string{"blocksize", "bwlimit", "comstar_hg", "comstar_tg", "content", "disable", "iscsiprovider", "lio_tpg",
		"nodes", "nowritecache", "pool", "portal", "sparse", "target", "zfs-base-path"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v", keys)
	}
	if Plugin().Type() != "zfs" || !info.Shared || !info.LinkedClones || !reflect.DeepEqual(info.Formats, []string{"raw"}) {
		t.Errorf("info %+v", info)
	}
}

func TestOpen(t *testing.T) {
	with := func(base string, kv ...string) map[string]string {
		p := map[string]string{}
		for k, v := range configs[base] {
			p[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(p, kv[i])
			} else {
				p[kv[i]] = kv[i+1]
			}
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		props  map[string]string
		secret string
		keyDir string
		state  bool
		err    string
		key    string // the key file, relative to the state directory unless absolute
	}{
		{name: "comstar", props: with("comstar"), keyDir: "/keys", key: "/keys/192.0.2.112_id_rsa"},
		{name: "iet with port", props: with("iet"), keyDir: "/keys", key: "/keys/192.0.2.114:3260_id_rsa"},
		{name: "key in the state directory", props: with("istgt"), state: true, key: "zfs/192.0.2.113_id_rsa"},
		{name: "key from the secret", props: with("LIO"), state: true, keyDir: "/keys", secret: testKey, key: "zfs1_id_rsa"},
		{name: "no key anywhere", props: with("LIO"), err: "no ssh key"},
		{name: "secret that is no key", props: with("LIO"), state: true, secret: "hunter2", err: "not an ssh private key"},
		{name: "no portal", props: with("comstar", "portal", ""), keyDir: "/k", err: "portal is required"},
		{name: "no blocksize", props: with("comstar", "blocksize", ""), keyDir: "/k", err: "blocksize is required"},
		{name: "bad portal", props: with("comstar", "portal", "192.0.2.1:x"), keyDir: "/k", err: "invalid portal"},
		{name: "portal with a command", props: with("comstar", "portal", "h;reboot"), keyDir: "/k", err: "invalid portal"},
		{name: "bad target", props: with("comstar", "target", "iqn x"), keyDir: "/k", err: "invalid iSCSI target"},
		{name: "bad pool", props: with("comstar", "pool", "tank/../x"), keyDir: "/k", err: "invalid zfs pool"},
		{name: "bad blocksize", props: with("comstar", "blocksize", "4 k"), keyDir: "/k", err: "blocksize"},
		{name: "bad host group", props: with("comstar", "comstar_hg", "a b"), keyDir: "/k", err: "comstar_hg"},
		{name: "bad base path", props: with("comstar", "zfs-base-path", "/dev/../x"), keyDir: "/k", err: "zfs-base-path"},
		{name: "LIO without tpg", props: with("LIO", "lio_tpg", ""), keyDir: "/k", err: "lio_tpg"},
		{name: "unknown provider", props: with("comstar", "iscsiprovider", "scst"), keyDir: "/k", err: "unknown iscsiprovider"},
		{name: "sparse not boolean", props: with("LIO", "sparse", "thin"), keyDir: "/k", err: "not a boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := storage.Env{Runner: &runner.Recorder{}}
			if tc.state {
				env.StateDir = t.TempDir()
			}
			p := Plugin()
			if tc.keyDir != "" {
				p = NewPlugin(tc.keyDir)
			}
			st, err := p.Open(storage.Config{ID: "zfs1", Type: "zfs", Props: tc.props, Secret: tc.secret}, env)
			checkErr(t, err, tc.err)
			if err != nil {
				if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
					t.Errorf("the error shows the secret: %v", err)
				}
				return
			}
			want := tc.key
			if !filepath.IsAbs(want) {
				want = filepath.Join(env.StateDir, want)
			}
			if got := st.(*Storage).keyFile; got != want {
				t.Errorf("key file %s, want %s", got, want)
			}
		})
	}
}

const testKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----"

// TestKeyFromSecret checks that the key reaches ssh as a file only root
// can read, and never on a command line.
func TestKeyFromSecret(t *testing.T) {
	state := t.TempDir()
	rec := &runner.Recorder{}
	st, err := Plugin().Open(storage.Config{ID: "zfs1", Props: configs["comstar"], Secret: testKey}, storage.Env{Runner: rec, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(state, "zfs1_id_rsa")
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("Open wrote the key: %v", err)
	}
	line := "ssh -o BatchMode=yes -i " + key + " root@192.0.2.112 zfs get -o value -Hp available,used tank"
	rec.On(line, "1000\n24\n")
	got, err := st.Status(ctx)
	if err != nil || got != (storage.Status{Active: true, Avail: 1000, Used: 24, Total: 1024}) {
		t.Fatalf("status %+v, %v", got, err)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if data, _ := os.ReadFile(key); string(data) != testKey+"\n" {
		t.Errorf("key file holds %q", data)
	}
	for _, l := range rec.Lines() {
		if strings.Contains(l, "PRIVATE KEY") {
			t.Fatalf("the key is on a command line: %s", l)
		}
	}
}

func TestParsers(t *testing.T) {
	sbd := []byte(fixture(t, "sbdadm_list_lu.txt"))
	if g := ParseSBDLU(sbd, "/dev/zvol/rdsk/tank/vm-101-disk-0"); g != "600144fa45467b760d18a8c463549378" {
		t.Errorf("sbdadm: %q", g)
	}
	if g := ParseSBDLU(sbd, "/dev/zvol/rdsk/tank/vm-101-disk"); g != "" {
		t.Errorf("sbdadm matched a prefix: %q", g)
	}
	if n, err := ParseViewLUN([]byte(fixture(t, "stmfadm_list_view.txt"))); err != nil || n != 2 {
		t.Errorf("list-view: %d %v", n, err)
	}
	if _, err := ParseViewLUN([]byte("View Entry: 0\n    LUN          : 99999\n")); err == nil {
		t.Error("list-view accepted a LUN out of range")
	}
	luns, err := ParseLIOConfig([]byte(fixture(t, "saveconfig.json")), configs["LIO"]["target"], "tpg1")
	want := []LIOLun{{0, "/backstores/block/tank-vm-100-disk-0"}, {3, "/backstores/block/vm-101-disk-0"}, {4, "/backstores/block/tank-base-101-disk-0"}}
	if err != nil || !reflect.DeepEqual(luns, want) {
		t.Errorf("LIO: %+v %v", luns, err)
	}
	if _, err := ParseLIOConfig([]byte(fixture(t, "saveconfig.json")), configs["LIO"]["target"], "tpg9"); err == nil {
		t.Error("LIO: a missing portal group was found")
	}

	u, err := ParseIstgt(fixture(t, "istgt.conf"), configs["istgt"]["target"])
	if err != nil || u.LUNs["/dev/zvol/tank/base-101-disk-0"] != 3 || len(u.LUNs) != 3 || u.Used[2] || u.Indent != "  " {
		t.Errorf("istgt: %+v %v", u, err)
	}
	if u, err := ParseIstgt(fixture(t, "istgt.conf"), "iqn.2007-09.jp.ne.peach.istgt:other"); err != nil || u.LUNs["/dev/zvol/tank/vm-100-disk-1"] != 0 {
		t.Errorf("istgt, full target name: %+v %v", u, err)
	}
	if _, err := ParseIstgt(fixture(t, "istgt.conf"), "iqn.x:none"); err == nil {
		t.Error("istgt: a missing target was found")
	}
	if _, err := ParseIstgt("[LogicalUnit1]\n TargetName t\n LUN99 Storage /dev/x Auto\n", "t"); err == nil {
		t.Error("istgt: LUN99 accepted")
	}

	conf, err := ParseIETConfig(fixture(t, "ietd.conf"), configs["iet"]["target"])
	if err != nil || conf.LUNs["/dev/tank/vm-101-disk-0"] != 1 || len(conf.LUNs) != 2 || conf.Start != 1 || conf.End != 9 {
		t.Errorf("ietd.conf: %+v %v", conf, err)
	}
	tid, running, err := ParseIETVolumes([]byte(fixture(t, "iet_volume.txt")), configs["iet"]["target"])
	if err != nil || tid != 1 || !reflect.DeepEqual(running, map[int]bool{0: true, 1: true, 2: true}) {
		t.Errorf("iet volumes: %d %v %v", tid, running, err)
	}
	if _, _, err := ParseIETVolumes([]byte(fixture(t, "iet_volume.txt")), "iqn.x:none"); err == nil {
		t.Error("iet: a target that is not running was found")
	}
}

func TestConfigEdits(t *testing.T) {
	target := configs["istgt"]["target"]
	text := fixture(t, "istgt.conf")
	added, err := IstgtAdd(text, target, 2, "/dev/zvol/tank/vm-100-disk-1", true)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(text, "  LUN3 Storage /dev/zvol/tank/base-101-disk-0 Auto\n",
		"  LUN3 Storage /dev/zvol/tank/base-101-disk-0 Auto\n  LUN2 Storage /dev/zvol/tank/vm-100-disk-1 Auto\n  LUN2 Option WriteCache Disable\n", 1)
	if added != want {
		t.Errorf("istgt add:\n%s", added)
	}
	removed, err := IstgtRemove(added, target, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(removed, "LUN0 Storage /dev/zvol/tank/vm-100-disk-0") || strings.Contains(removed, "WriteCache Disable\n  LUN1") ||
		!strings.Contains(removed, "LUN0 Storage /dev/zvol/tank/vm-100-disk-1") {
		t.Errorf("istgt remove touched the wrong lines:\n%s", removed)
	}
	if back, _ := IstgtRemove(added, target, 2); back != text {
		t.Errorf("istgt add then remove is not the original:\n%s", back)
	}

	iet := fixture(t, "ietd.conf")
	target = configs["iet"]["target"]
	added, err = IETAdd(iet, target, 3, "/dev/tank/vm-100-disk-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(iet, "\tMaxConnections 1\n", "\tMaxConnections 1\n\tLun 3 Path=/dev/tank/vm-100-disk-1,Type=blockio\n", 1); added != want {
		t.Errorf("iet add:\n%s", added)
	}
	if back, _ := IETRemove(added, target, 3); back != iet {
		t.Errorf("iet add then remove is not the original:\n%s", back)
	}
	if removed, _ := IETRemove(iet, target, 0); strings.Contains(removed, "vm-100-disk-0") || !strings.Contains(removed, "Lun 0 Path=/dev/tank/vm-100-disk-1") {
		t.Errorf("iet remove touched the wrong lines:\n%s", removed)
	}
}
