package cephfs

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// testdata/mountinfo.tmpl is written from proc(5)'s format with the
// sources the kernel client (both mount syntaxes) and ceph-fuse show:
// this machine has neither a Ceph client nor a cluster.
type node struct {
	rec    *runner.Recorder
	env    storage.Env
	root   string
	state  string
	p      Plugin
	mu     sync.Mutex
	dialed []string
}

func newNode(t *testing.T, mounted, monsAnswer bool) *node {
	t.Helper()
	n := &node{rec: &runner.Recorder{}, root: t.TempDir(), state: filepath.Join(t.TempDir(), "state")}
	table := "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	if mounted {
		data, err := os.ReadFile("testdata/mountinfo.tmpl")
		if err != nil {
			t.Fatal(err)
		}
		table = strings.ReplaceAll(string(data), "@ROOT@", n.root)
	}
	mi := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(mi, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	n.env = storage.Env{Node: "n1", Runner: n.rec, MountRoot: n.root, StateDir: n.state}
	n.p = Plugin{MountInfo: mi, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		n.dialed = append(n.dialed, addr)
		n.mu.Unlock()
		if !monsAnswer {
			return nil, errors.New("connect: no route to host")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	}}
	return n
}

func config(id, secret string, props map[string]string) storage.Config {
	p := map[string]string{"content": "backup,iso"}
	for k, v := range props {
		p[k] = v
	}
	return storage.Config{ID: id, Type: "cephfs", Props: p, Secret: secret,
		Content: []storage.Content{storage.Backup, storage.ISO}}
}

func (n *node) expand(s string) string {
	return strings.NewReplacer("@ROOT@", n.root, "@STATE@", n.state).Replace(s)
}

const keyring = "[client.admin]\n\tkey = AQBfY2dlAAAAABAAq1vYkZ3ZbT0nYwWkQm0Q8g==\n\tcaps mds = \"allow *\"\n"

func TestActivatePlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      string
		secret  string
		props   map[string]string
		mounted bool
		want    []string
		dialed  []string
	}{{
		name: "kernel client, external cluster", id: "cephfs", secret: keyring,
		props: map[string]string{"monhost": "10.1.1.20 10.1.1.21:6789;fd00::22", "fs-name": "cephfs", "options": "noatime"},
		want: []string{"mount -t ceph '10.1.1.20,10.1.1.21:6789,[fd00::22]:/' @ROOT@/cephfs " +
			"-o name=admin,secretfile=@STATE@/cephfs.secret,fs=cephfs,noatime"},
		dialed: []string{"10.1.1.20:3300"},
	}, {
		name: "kernel client, local cluster, subdir, user", id: "local",
		props:  map[string]string{"subdir": "/pve", "username": "pve"},
		want:   []string{"mount -t ceph :/pve @ROOT@/local -o name=pve"},
		dialed: nil,
	}, {
		name: "ceph-fuse", id: "fused", secret: "AQBfY2dlAAAAABAAq1vYkZ3ZbT0nYwWkQm0Q8g==",
		props: map[string]string{"monhost": "10.1.1.20,10.1.1.21", "fuse": "1", "fs-name": "cephfs", "subdir": "/pve"},
		want: []string{"ceph-fuse @ROOT@/fused --id admin -m 10.1.1.20,10.1.1.21 --keyfile @STATE@/fused.secret " +
			"--client_fs cephfs -r /pve"},
		dialed: []string{"10.1.1.20:3300"},
	}, {
		name: "already mounted, old syntax", id: "cephfs", mounted: true, props: map[string]string{"monhost": "10.1.1.20"},
		dialed: []string{"10.1.1.20:3300"},
	}, {
		name: "already mounted, new syntax", id: "newsyntax", mounted: true, props: map[string]string{"subdir": "/pve"},
	}, {
		name: "already mounted, fuse", id: "fuse", mounted: true, props: map[string]string{"fuse": "yes"},
	}, {
		name: "another subdir on the mount point is not ours", id: "newsyntax", mounted: true,
		want: []string{"mount -t ceph :/ @ROOT@/newsyntax -o name=admin"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.mounted, true)
			var want []string
			for _, l := range tc.want {
				want = append(want, n.expand(l))
				n.rec.On(n.expand(l), "")
			}
			s, err := n.p.Open(config(tc.id, tc.secret, tc.props), n.env)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Activate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := n.rec.Lines(); !slices.Equal(got, want) {
				t.Errorf("commands:\n got %q\nwant %q", got, want)
			}
			if !slices.Equal(n.dialed, tc.dialed) {
				t.Errorf("monitors dialed %q, want %q", n.dialed, tc.dialed)
			}
			if tc.secret != "" {
				key, _ := secretKey(tc.secret)
				data, err := os.ReadFile(filepath.Join(n.state, tc.id+".secret"))
				st, _ := os.Stat(filepath.Join(n.state, tc.id+".secret"))
				if err != nil || string(data) != key+"\n" || st.Mode().Perm() != 0o600 {
					t.Errorf("secret file: %q (%v), %v", data, st.Mode(), err)
				}
				for _, l := range n.rec.Lines() {
					if strings.Contains(l, key) {
						t.Errorf("the secret is on a command line: %s", l)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(s.(*Store).Root(), "dump")); err != nil {
				t.Errorf("layout: %v", err)
			}
		})
	}
}

func TestMonitorsUnreachable(t *testing.T) {
	n := newNode(t, true, false)
	s, err := n.p.Open(config("cephfs", "", map[string]string{"monhost": "10.1.1.20 10.1.1.21:6789"}), n.env)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(context.Background())
	if st.Active || !errors.Is(err, netfs.ErrOffline) || !strings.Contains(err.Error(), "no Ceph monitor answers") ||
		!strings.Contains(err.Error(), "storage 'cephfs' is not online") {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	if want := []string{"10.1.1.20:3300", "10.1.1.20:6789", "10.1.1.21:6789"}; !reflect.DeepEqual(n.dialed, want) {
		t.Errorf("dialed %q, want %q", n.dialed, want)
	}
	if err := s.Activate(context.Background()); !errors.Is(err, netfs.ErrOffline) || len(n.rec.Lines()) != 0 {
		t.Errorf("Activate: %v, ran %q", err, n.rec.Lines())
	}
}

func TestDeactivate(t *testing.T) {
	n := newNode(t, true, true)
	n.rec.On("umount "+n.root+"/fuse", "")
	s, err := n.p.Open(config("fuse", "", map[string]string{"fuse": "1"}), n.env)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deactivate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := n.rec.Lines(); !reflect.DeepEqual(got, []string{"umount " + n.root + "/fuse"}) {
		t.Errorf("commands %q", got)
	}
}

func TestParse(t *testing.T) {
	mons, err := monitors(" 10.1.1.20:6789, [fd00::1]:3300;mon.example  fd00::2 ")
	want := []monitor{{"10.1.1.20", 6789}, {"fd00::1", 3300}, {"mon.example", 0}, {"fd00::2", 0}}
	if err != nil || !reflect.DeepEqual(mons, want) {
		t.Errorf("monitors: %+v, %v", mons, err)
	}
	for _, bad := range []string{"10.1.1.20:x", "10.1.1.20:70000", "a:b:c:d:zz"} {
		if _, err := monitors(bad); err == nil {
			t.Errorf("monitors(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]string{
		keyring: "AQBfY2dlAAAAABAAq1vYkZ3ZbT0nYwWkQm0Q8g==",
		"AQBfY2dlAAAAABAAq1vYkZ3ZbT0nYwWkQm0Q8g==\n": "AQBfY2dlAAAAABAAq1vYkZ3ZbT0nYwWkQm0Q8g==",
	} {
		if got, err := secretKey(in); err != nil || got != want {
			t.Errorf("secretKey(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := secretKey("[client.admin]\n"); err == nil {
		t.Error("a keyring without a key was accepted")
	}
}

func TestOpenErrors(t *testing.T) {
	n := newNode(t, false, true)
	for _, props := range []map[string]string{
		{"subdir": "pve"},
		{"subdir": "/a/../b"},
		{"fuse": "maybe"},
		{"monhost": "10.0.0.1:bad"},
		{"username": "a,b"},
		{"fs-name": "a b"},
	} {
		if _, err := n.p.Open(config("x", "", props), n.env); err == nil {
			t.Errorf("Open with %v succeeded", props)
		}
	}
	env := n.env
	env.StateDir = ""
	if _, err := n.p.Open(config("x", "AQBf==", nil), env); err == nil {
		t.Error("Open with a secret and no state directory succeeded")
	}
}

func TestInfo(t *testing.T) {
	info := Plugin{}.Info()
	if len(info.Formats) != 0 || slices.Contains(info.Content, storage.Images) || !info.Shared {
		t.Errorf("info: %+v", info)
	}
	for _, key := range []string{"monhost", "subdir", "username", "fs-name", "fuse", "keyring", "options", "path"} {
		if _, ok := info.Options[key]; !ok {
			t.Errorf("option %s missing", key)
		}
	}
	if info.Options["path"] != (storage.Option{Fixed: true}) {
		t.Errorf("path: %+v", info.Options["path"])
	}
}
