package glusterfs

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
	"github.com/hearth-virt/hearth/internal/storage/storagetest"
)

// The fixtures are written by hand (see testdata/README.md): no
// GlusterFS server or client runs on this machine.
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// node is a test node: a mount root in a temporary directory, a mount
// table that shows gv0 mounted on <root>/gl (or nothing), recorded
// commands, and a dialer that reaches only the servers in up.
type node struct {
	rec    *runner.Recorder
	root   string
	p      Plugin
	mu     sync.Mutex
	dialed []string
}

func newNode(t *testing.T, mounted bool, up ...string) *node {
	t.Helper()
	n := &node{rec: &runner.Recorder{}, root: t.TempDir()}
	table := "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	if mounted {
		table = strings.ReplaceAll(fixture(t, "mountinfo.tmpl"), "@ROOT@", n.root)
	}
	mi := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(mi, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	n.p = Plugin{MountInfo: mi, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		n.dialed = append(n.dialed, addr)
		n.mu.Unlock()
		host, _, _ := net.SplitHostPort(addr)
		if !slices.Contains(up, host) {
			return nil, errors.New("connect: no route to host")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	}}
	return n
}

func (n *node) open(t *testing.T, props map[string]string) *Store {
	t.Helper()
	p := map[string]string{"volume": "gv0", "content": "images,iso"}
	for k, v := range props {
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	st, err := n.p.Open(storage.Config{ID: "gl", Type: "glusterfs", Props: p, Content: []storage.Content{storage.Images, storage.ISO}},
		storage.Env{Node: "n1", Runner: n.rec, MountRoot: n.root, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Store)
}

func TestInfo(t *testing.T) {
	info := Plugin{}.Info()
	var keys []string
	for k := range info.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"bwlimit", "content", "create-base-path", "create-subdirs", "disable", "format", "max-protected-backups",
		"mkdir", "nodes", "path", "preallocation", "prune-backups", "server", "server2", "transport", "volume"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v", keys)
	}
	if o := info.Options["volume"]; !o.Required || !o.Fixed {
		t.Errorf("volume: %+v", o)
	}
	if (Plugin{}).Type() != "glusterfs" || !info.Shared || slices.Contains(info.Content, storage.Rootdir) {
		t.Errorf("info %+v", info)
	}
}

func TestOpenOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		err   string
	}{
		{"defaults", map[string]string{"volume": "gv0"}, ""},
		{"two servers, rdma", map[string]string{"volume": "gv0", "server": "10.0.0.20", "server2": "gluster2.example", "transport": "rdma"}, ""},
		{"IPv6 server", map[string]string{"volume": "gv0", "server": "fd00::20"}, ""},
		{"own path", map[string]string{"volume": "gv0", "path": "/srv/gluster"}, ""},
		{"no volume", map[string]string{}, "needs a volume name"},
		{"volume with a slash", map[string]string{"volume": "gv0/x"}, "needs a volume name"},
		{"volume with a space", map[string]string{"volume": "gv 0"}, "needs a volume name"},
		{"unknown transport", map[string]string{"volume": "gv0", "transport": "udp"}, "transport \"udp\" is not one of tcp, rdma, unix"},
		{"server with a colon", map[string]string{"volume": "gv0", "server": "10.0.0.20:24007"}, "not a host name or address"},
		{"server2 with a space", map[string]string{"volume": "gv0", "server2": "a b"}, "not a host name or address"},
		{"bracketed server", map[string]string{"volume": "gv0", "server": "[fd00::20]"}, "not a host name or address"},
		{"relative path", map[string]string{"volume": "gv0", "path": "mnt/gl"}, "not absolute"},
		{"mkdir not boolean", map[string]string{"volume": "gv0", "mkdir": "perhaps"}, "not a boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plugin{}.Open(storage.Config{ID: "gl", Type: "glusterfs", Props: tc.props}, storage.Env{Runner: &runner.Recorder{}, MountRoot: t.TempDir()})
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case err != nil && !strings.Contains(err.Error(), "'gl'"):
				t.Errorf("the error does not name the storage: %v", err)
			}
		})
	}
}

func TestActivatePlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		props   map[string]string
		mounted bool
		up      []string
		answers map[string]string // command → fixture
		want    []string
		dialed  []string
		err     string
	}{{
		name: "one server", props: map[string]string{"server": "10.0.0.20"}, up: []string{"10.0.0.20"},
		want: []string{"mount -t glusterfs 10.0.0.20:gv0 @ROOT@/gl"}, dialed: []string{"10.0.0.20:24007"},
	}, {
		name: "backup server", props: map[string]string{"server": "10.0.0.20", "server2": "10.0.0.21"}, up: []string{"10.0.0.20", "10.0.0.21"},
		want:   []string{"mount -t glusterfs 10.0.0.20:gv0 @ROOT@/gl -o backup-volfile-servers=10.0.0.21"},
		dialed: []string{"10.0.0.20:24007", "10.0.0.20:24007"},
	}, {
		name: "first server down: mount from the second", props: map[string]string{"server": "10.0.0.20", "server2": "10.0.0.21"}, up: []string{"10.0.0.21"},
		want:   []string{"mount -t glusterfs 10.0.0.21:gv0 @ROOT@/gl -o backup-volfile-servers=10.0.0.20"},
		dialed: []string{"10.0.0.20:24007", "10.0.0.21:24007", "10.0.0.20:24007", "10.0.0.21:24007"},
	}, {
		name: "both down", props: map[string]string{"server": "10.0.0.20", "server2": "10.0.0.21"},
		dialed: []string{"10.0.0.20:24007", "10.0.0.21:24007"}, err: "storage 'gl' is not online: no GlusterFS server answers for volume gv0",
	}, {
		name: "this node, volume started", answers: map[string]string{"gluster volume info gv0": "volume_info.txt"},
		want: []string{"gluster volume info gv0", "mount -t glusterfs localhost:gv0 @ROOT@/gl"},
	}, {
		name: "this node, volume stopped", answers: map[string]string{"gluster volume info gv0": "volume_info_stopped.txt"},
		want: []string{"gluster volume info gv0"}, err: "volume gv0 is not started",
	}, {
		name: "rdma", props: map[string]string{"server": "fd00::20", "transport": "rdma"}, up: []string{"fd00::20"},
		want: []string{"mount -t glusterfs '[fd00::20]:gv0' @ROOT@/gl -o transport=rdma"}, dialed: []string{"[fd00::20]:24007"},
	}, {
		name: "unix transport mounts over tcp", props: map[string]string{"transport": "unix"},
		answers: map[string]string{"gluster volume info gv0": "volume_info.txt"},
		want:    []string{"gluster volume info gv0", "mount -t glusterfs localhost:gv0 @ROOT@/gl"},
	}, {
		name: "already mounted", props: map[string]string{"server": "10.0.0.20"}, mounted: true, up: []string{"10.0.0.20"},
		dialed: []string{"10.0.0.20:24007"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.mounted, tc.up...)
			x := func(s string) string { return strings.ReplaceAll(s, "@ROOT@", n.root) }
			for cmd, file := range tc.answers {
				n.rec.On(cmd, fixture(t, file))
			}
			var want []string
			for _, l := range tc.want {
				want = append(want, x(l))
				if !strings.HasPrefix(l, "gluster ") {
					n.rec.On(x(l), "")
				}
			}
			s := n.open(t, tc.props)
			err := s.Activate(context.Background())
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err != "" && !errors.Is(err, netfs.ErrOffline):
				t.Errorf("a server that does not answer is not an offline error: %v", err)
			}
			if got := n.rec.Lines(); !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
				t.Errorf("commands:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if !reflect.DeepEqual(n.dialed, tc.dialed) {
				t.Errorf("dialed %v, want %v", n.dialed, tc.dialed)
			}
			if err == nil {
				if fi, err := os.Stat(filepath.Join(n.root, "gl", "images")); err != nil || !fi.IsDir() {
					t.Errorf("no images directory after activation: %v", err)
				}
			}
		})
	}
}

func TestDeactivatePlan(t *testing.T) {
	n := newNode(t, true, "10.0.0.20")
	n.rec.On("umount "+filepath.Join(n.root, "gl"), "")
	if err := n.open(t, map[string]string{"server": "10.0.0.20"}).Deactivate(context.Background()); err != nil {
		t.Fatal(err)
	}
	n2 := newNode(t, false)
	if err := n2.open(t, nil).Deactivate(context.Background()); err != nil || len(n2.rec.Lines()) != 0 {
		t.Fatalf("unmounted storage: %v %v", err, n2.rec.Lines())
	}
	if got := n.rec.Lines(); !reflect.DeepEqual(got, []string{"umount " + filepath.Join(n.root, "gl")}) {
		t.Errorf("commands %v", got)
	}
}

func TestAttachBlockdev(t *testing.T) {
	inet := func(h string) map[string]any { return map[string]any{"type": "inet", "host": h, "port": "24007"} }
	for _, tc := range []struct {
		name    string
		props   map[string]string
		up      []string
		answers map[string]string
		volname string
		want    map[string]any
		path    string
	}{{
		name: "image, failover server", props: map[string]string{"server": "10.0.0.20", "server2": "10.0.0.21"}, up: []string{"10.0.0.21"},
		volname: "100/vm-100-disk-0.qcow2",
		want: map[string]any{"driver": "gluster", "volume": "gv0", "path": "/images/100/vm-100-disk-0.qcow2",
			"server": []any{inet("10.0.0.21"), inet("10.0.0.20")}},
	}, {
		name: "linked clone", props: map[string]string{"server": "gl1.example"},
		volname: "100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2",
		want: map[string]any{"driver": "gluster", "volume": "gv0", "path": "/images/101/vm-101-disk-0.qcow2",
			"server": []any{inet("gl1.example")}},
	}, {
		name: "unix socket of this node", props: map[string]string{"transport": "unix", "server2": "10.0.0.21"},
		answers: map[string]string{"gluster volume info gv0": "volume_info.txt"}, volname: "100/vm-100-disk-0.qcow2",
		want: map[string]any{"driver": "gluster", "volume": "gv0", "path": "/images/100/vm-100-disk-0.qcow2",
			"server": []any{map[string]any{"type": "unix", "path": "/var/run/glusterd.socket"}}},
	}, {
		name: "an ISO stays a file of the mount", volname: "iso/debian-12.iso",
		want: map[string]any{"driver": "file", "filename": "@ROOT@/gl/template/iso/debian-12.iso"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, true, tc.up...)
			for cmd, file := range tc.answers {
				n.rec.On(cmd, fixture(t, file))
			}
			s := n.open(t, tc.props)
			v, err := storage.ParseFileVolname(tc.volname)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(n.root, "gl", "images", strings.TrimSuffix(tc.volname, "/"+v.Name)[strings.LastIndex(strings.TrimSuffix(tc.volname, "/"+v.Name), "/")+1:], v.Name)
			if v.Content == storage.ISO {
				file = filepath.Join(n.root, "gl", "template", "iso", v.Name)
			}
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := s.Attach(context.Background(), tc.volname, "")
			if err != nil {
				t.Fatal(err)
			}
			if f, ok := tc.want["filename"].(string); ok {
				tc.want["filename"] = strings.ReplaceAll(f, "@ROOT@", n.root)
			}
			if !reflect.DeepEqual(a.Blockdev, tc.want) {
				t.Errorf("blockdev %#v\nwant %#v", a.Blockdev, tc.want)
			}
			if a.Path != file {
				t.Errorf("path %s, want %s", a.Path, file)
			}
		})
	}
}

// TestStatusOffline: a server that does not answer makes an inactive
// storage with an error that says so, and nothing is run.
func TestStatusOffline(t *testing.T) {
	n := newNode(t, true)
	st, err := n.open(t, map[string]string{"server": "10.0.0.20"}).Status(context.Background())
	if !errors.Is(err, netfs.ErrOffline) || st.Active || len(n.rec.Lines()) != 0 {
		t.Fatalf("status %+v, %v, commands %v", st, err, n.rec.Lines())
	}
}

// TestConformance runs the storage suite on a glusterfs storage whose
// volume the mount table shows mounted (the mount point is a local
// directory here), with qemu-img for real.
func TestConformance(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed")
	}
	n := newNode(t, true, "10.0.0.20")
	info := Plugin{}.Info()
	local := false
	storagetest.RunOptions(t, func(t *testing.T) storage.Storage {
		st, err := n.p.Open(storage.Config{ID: "gl", Type: "glusterfs", Content: info.Content,
			Props: map[string]string{"volume": "gv0", "server": "10.0.0.20", "content": "images,vztmpl,iso,backup,snippets"}},
			storage.Env{Node: "n1", Runner: runner.Exec{}, MountRoot: n.root, StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, info, storagetest.Options{Content: info.Content, Local: &local})
}
