package nfs

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// kernelEnv is a node whose mount root is a temporary directory; the
// mount table is testdata/mountinfo.tmpl with that root filled in
// (nfs lines are written from proc(5)'s format: this kernel has no NFS
// client), or an empty table when mounted is false.
type kernelEnv struct {
	rec       *runner.Recorder
	env       storage.Env
	plugin    Plugin
	root      string
	mountInfo string
}

func newKernelEnv(t *testing.T, mounted bool) *kernelEnv {
	t.Helper()
	root := t.TempDir()
	mi := filepath.Join(t.TempDir(), "mountinfo")
	table := "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	if mounted {
		table = strings.ReplaceAll(fixture(t, "mountinfo.tmpl"), "@ROOT@", root)
	}
	if err := os.WriteFile(mi, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &runner.Recorder{}
	return &kernelEnv{rec: rec, root: root, mountInfo: mi,
		env:    storage.Env{Node: "n1", Runner: rec, MountRoot: root, StateDir: t.TempDir()},
		plugin: Plugin{Mode: Kernel, MountInfo: mi}}
}

func nfsConfig(id string, props map[string]string) storage.Config {
	p := map[string]string{"server": "10.0.0.10", "export": "/space/pve", "content": "images,iso"}
	for k, v := range props {
		p[k] = v
	}
	return storage.Config{ID: id, Type: "nfs", Props: p, Content: []storage.Content{storage.Images, storage.ISO}}
}

func (k *kernelEnv) open(t *testing.T, cfg storage.Config) *Store {
	t.Helper()
	s, err := k.plugin.Open(cfg, k.env)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := s.(*Store)
	if !ok {
		t.Fatalf("Open in kernel mode returned %T", s)
	}
	return st
}

func TestKernelActivatePlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      string
		props   map[string]string
		mounted bool
		answers func(r *runner.Recorder, root string)
		want    []string // @ROOT@ is the mount root
	}{{
		name: "mounts when nothing is mounted", id: "nas", props: map[string]string{"options": "vers=3,soft"},
		answers: func(r *runner.Recorder, root string) {
			r.On("showmount --no-headers --exports 10.0.0.10", "/space/pve (everyone)\n")
			r.On("mount -t nfs 10.0.0.10:/space/pve "+root+"/nas -o vers=3,soft", "")
		},
		want: []string{"showmount --no-headers --exports 10.0.0.10", "mount -t nfs 10.0.0.10:/space/pve @ROOT@/nas -o vers=3,soft"},
	}, {
		name: "no -o without options", id: "nas",
		answers: func(r *runner.Recorder, root string) {
			r.On("showmount --no-headers --exports 10.0.0.10", "")
			r.On("mount -t nfs 10.0.0.10:/space/pve "+root+"/nas", "")
		},
		want: []string{"showmount --no-headers --exports 10.0.0.10", "mount -t nfs 10.0.0.10:/space/pve @ROOT@/nas"},
	}, {
		name: "already mounted: no mount", id: "nas", mounted: true,
		answers: func(r *runner.Recorder, root string) {
			r.On("showmount --no-headers --exports 10.0.0.10", "")
		},
		want: []string{"showmount --no-headers --exports 10.0.0.10"},
	}, {
		name: "another export on the mount point is not ours", id: "other", mounted: true,
		answers: func(r *runner.Recorder, root string) {
			r.On("showmount --no-headers --exports 10.0.0.10", "")
			r.On("mount -t nfs 10.0.0.10:/space/pve "+root+"/other", "")
		},
		want: []string{"showmount --no-headers --exports 10.0.0.10", "mount -t nfs 10.0.0.10:/space/pve @ROOT@/other"},
	}, {
		name: "trailing slash in the table still matches", id: "other", mounted: true,
		props: map[string]string{"export": "/space/other"},
		answers: func(r *runner.Recorder, root string) {
			r.On("showmount --no-headers --exports 10.0.0.10", "")
		},
		want: []string{"showmount --no-headers --exports 10.0.0.10"},
	}, {
		name: "NFSv4 is checked with rpcinfo", id: "nas", props: map[string]string{"options": "vers=4.2"},
		answers: func(r *runner.Recorder, root string) {
			r.On("rpcinfo -T tcp 10.0.0.10 nfs 4", fixture(t, "rpcinfo-nfs4.txt"))
			r.On("mount -t nfs 10.0.0.10:/space/pve "+root+"/nas -o vers=4.2", "")
		},
		want: []string{"rpcinfo -T tcp 10.0.0.10 nfs 4", "mount -t nfs 10.0.0.10:/space/pve @ROOT@/nas -o vers=4.2"},
	}, {
		name: "IPv6 server: bracketed source, tcp6", id: "v6", mounted: true,
		props: map[string]string{"server": "fd00::10", "export": "/export", "options": "nfsvers=4"},
		answers: func(r *runner.Recorder, root string) {
			r.On("rpcinfo -T tcp6 fd00::10 nfs 4", fixture(t, "rpcinfo-nfs4.txt"))
			r.On("mount -t nfs [fd00::10]:/export "+root+"/v6 -o nfsvers=4", "")
		},
		// The table holds an NFSv3 mount of the same source: still ours.
		want: []string{"rpcinfo -T tcp6 fd00::10 nfs 4"},
	}, {
		name: "path option is the mount point", id: "nas", props: map[string]string{"path": "@ROOT@/elsewhere"},
		answers: func(r *runner.Recorder, root string) {
			r.On("showmount --no-headers --exports 10.0.0.10", "")
			r.On("mount -t nfs 10.0.0.10:/space/pve "+root+"/elsewhere", "")
		},
		want: []string{"showmount --no-headers --exports 10.0.0.10", "mount -t nfs 10.0.0.10:/space/pve @ROOT@/elsewhere"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelEnv(t, tc.mounted)
			tc.answers(k.rec, k.root)
			props := map[string]string{}
			for key, v := range tc.props {
				props[key] = strings.ReplaceAll(v, "@ROOT@", k.root)
			}
			s := k.open(t, nfsConfig(tc.id, props))
			if err := s.Activate(context.Background()); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "@ROOT@", k.root))
			}
			if got := k.rec.Lines(); !reflect.DeepEqual(got, want) {
				t.Errorf("commands:\n got %q\nwant %q", got, want)
			}
			// The directory store made the layout of the content below it.
			for _, d := range []string{"images", "template/iso"} {
				if _, err := os.Stat(filepath.Join(s.Root(), d)); err != nil {
					t.Errorf("layout: %v", err)
				}
			}
		})
	}
}

func TestKernelActivateNoBasePath(t *testing.T) {
	k := newKernelEnv(t, false)
	k.rec.On("showmount --no-headers --exports 10.0.0.10", "")
	s := k.open(t, nfsConfig("nas", map[string]string{"create-base-path": "0"}))
	err := s.Activate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "directory '"+k.root+"/nas' does not exist") {
		t.Fatalf("Activate without the mount point: %v", err)
	}
	if slices.ContainsFunc(k.rec.Lines(), func(l string) bool { return strings.HasPrefix(l, "mount") }) {
		t.Errorf("mounted without a mount point: %q", k.rec.Lines())
	}
}

func TestKernelMountFailure(t *testing.T) {
	k := newKernelEnv(t, false)
	k.rec.On("showmount --no-headers --exports 10.0.0.10", "")
	k.rec.Fail("mount -t nfs 10.0.0.10:/space/pve "+k.root+"/nas", 32, "mount.nfs: access denied by server while mounting 10.0.0.10:/space/pve\n")
	err := k.open(t, nfsConfig("nas", nil)).Activate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "storage 'nas': NFS mount error") || !strings.Contains(err.Error(), "access denied by server") {
		t.Fatalf("Activate with a failing mount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(k.root, "nas", "images")); err == nil {
		t.Error("the layout was created on the unmounted mount point")
	}
}

func TestKernelUnreachable(t *testing.T) {
	ctx := context.Background()
	t.Run("NFSv3", func(t *testing.T) {
		k := newKernelEnv(t, true)
		k.rec.Fail("showmount --no-headers --exports 10.0.0.10", 1, fixture(t, "showmount-unreachable.stderr"))
		s := k.open(t, nfsConfig("nas", nil))
		st, err := s.Status(ctx)
		if st.Active || !errors.Is(err, netfs.ErrOffline) {
			t.Fatalf("Status: %+v, %v; want inactive and offline", st, err)
		}
		for _, want := range []string{"storage 'nas' is not online", "NFS server 10.0.0.10 does not answer", "Unable to send"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Status error %q lacks %q", err, want)
			}
		}
		if err := s.Activate(ctx); !errors.Is(err, netfs.ErrOffline) {
			t.Errorf("Activate: %v, want offline", err)
		}
		if slices.ContainsFunc(k.rec.Lines(), func(l string) bool { return strings.HasPrefix(l, "mount") }) {
			t.Errorf("mounted an unreachable server: %q", k.rec.Lines())
		}
	})
	t.Run("NFSv4 falls back to a TCP connection", func(t *testing.T) {
		for _, tc := range []struct {
			options string
			dialOK  bool
			addr    string
			online  bool
		}{
			{"vers=4.2", true, "10.0.0.10:2049", true},
			{"vers=4.2,port=20490", true, "10.0.0.10:20490", true},
			{"vers=4", false, "10.0.0.10:2049", false},
			{"vers=4,port=0", true, "", false},
		} {
			k := newKernelEnv(t, true)
			if err := os.MkdirAll(filepath.Join(k.root, "nas"), 0o755); err != nil {
				t.Fatal(err)
			}
			k.rec.Fail("rpcinfo -T tcp 10.0.0.10 nfs 4", 1, "rpcinfo: RPC: Remote system error - Connection refused\n")
			var dialed string
			k.plugin.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialed = addr
				if !tc.dialOK {
					return nil, errors.New("connect: connection refused")
				}
				c1, c2 := net.Pipe()
				c2.Close()
				return c1, nil
			}
			st, err := k.open(t, nfsConfig("nas", map[string]string{"options": tc.options})).Status(ctx)
			if dialed != tc.addr {
				t.Errorf("%s: dialed %q, want %q", tc.options, dialed, tc.addr)
			}
			if tc.online && (err != nil || !st.Active) {
				t.Errorf("%s: Status %+v, %v; want active", tc.options, st, err)
			}
			if !tc.online && (st.Active || !errors.Is(err, netfs.ErrOffline)) {
				t.Errorf("%s: Status %+v, %v; want offline", tc.options, st, err)
			}
		}
	})
}

func TestKernelStatus(t *testing.T) {
	ctx := context.Background()
	k := newKernelEnv(t, false)
	k.rec.On("showmount --no-headers --exports 10.0.0.10", "")
	st, err := k.open(t, nfsConfig("nas", nil)).Status(ctx)
	if err != nil || st.Active {
		t.Errorf("reachable but not mounted: %+v, %v; want inactive without error", st, err)
	}
	k = newKernelEnv(t, true)
	k.rec.On("showmount --no-headers --exports 10.0.0.10", "")
	if err := os.MkdirAll(filepath.Join(k.root, "nas"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err = k.open(t, nfsConfig("nas", nil)).Status(ctx)
	if err != nil || !st.Active || st.Total <= 0 {
		t.Errorf("mounted: %+v, %v; want active with space", st, err)
	}
}

func TestKernelDeactivate(t *testing.T) {
	ctx := context.Background()
	k := newKernelEnv(t, true)
	k.rec.On("umount "+k.root+"/nas", "")
	if err := k.open(t, nfsConfig("nas", nil)).Deactivate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := k.rec.Lines(); !reflect.DeepEqual(got, []string{"umount " + k.root + "/nas"}) {
		t.Errorf("commands %q", got)
	}
	k = newKernelEnv(t, false)
	if err := k.open(t, nfsConfig("nas", nil)).Deactivate(ctx); err != nil || len(k.rec.Lines()) != 0 {
		t.Errorf("Deactivate of an unmounted storage: %v, ran %q", err, k.rec.Lines())
	}
	k = newKernelEnv(t, true)
	k.rec.Fail("umount "+k.root+"/nas", 32, "umount: "+k.root+"/nas: target is busy.\n")
	if err := k.open(t, nfsConfig("nas", nil)).Deactivate(ctx); err == nil || !strings.Contains(err.Error(), "target is busy") {
		t.Errorf("Deactivate of a busy mount: %v", err)
	}
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		want    []Export
	}{
		// Captured from ganesha.nfsd (nfstest).
		{"showmount-ganesha.txt", []Export{{"/export", "(everyone)"}}},
		// Written from showmount(8)'s format for a Linux kernel server.
		{"showmount-knfsd.txt", []Export{{"/srv/nfs/pve", "10.0.0.0/24,192.168.1.5"}, {"/srv/iso", "*"}, {"/srv/backup", "(everyone)"}}},
	} {
		r := &runner.Recorder{}
		r.On("showmount --no-headers --exports nas.example", fixture(t, tc.fixture))
		got, err := Scan(context.Background(), r, "nas.example")
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.fixture, got, err, tc.want)
		}
	}
	r := &runner.Recorder{}
	r.Fail("showmount --no-headers --exports nas.example", 1, "clnt_create: RPC: Unable to send\n")
	if _, err := Scan(context.Background(), r, "nas.example"); err == nil || !strings.Contains(err.Error(), "Unable to send") {
		t.Errorf("Scan of an unreachable server: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	k := newKernelEnv(t, false)
	for _, props := range []map[string]string{
		{"server": ""},
		{"export": ""},
		{"export": "relative/path"},
		{"export": "/a/../b"},
		{"options": "vers=3, soft"},
		{"path": "relative"},
		{"format": "qcow3"},
		{"create-base-path": "maybe"},
	} {
		if _, err := k.plugin.Open(nfsConfig("nas", props), k.env); err == nil {
			t.Errorf("Open with %v succeeded", props)
		}
	}
}

func TestInfo(t *testing.T) {
	info := Plugin{}.Info()
	for key, want := range map[string]storage.Option{
		"server": {Required: true, Fixed: true}, "export": {Required: true, Fixed: true}, "path": {Fixed: true},
		"options": {}, "content": {}, "preallocation": {}, "bwlimit": {}, "create-subdirs": {},
	} {
		if got, ok := info.Options[key]; !ok || got != want {
			t.Errorf("option %s: %+v (present %v), want %+v", key, got, ok, want)
		}
	}
	for _, key := range []string{"shared", "is_mountpoint", "share", "vgname"} {
		if _, ok := info.Options[key]; ok {
			t.Errorf("option %s must not be accepted", key)
		}
	}
	if !info.Shared || !slices.Equal(info.Formats, []string{"raw", "qcow2", "vmdk"}) || info.DefaultFormat != "raw" {
		t.Errorf("info: %+v", info)
	}
}

func TestAutoMode(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	release := kernelRelease(t)
	noNFS := write("fs-without", "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tfuse\n")
	withNFS := write("fs-with", "nodev\tsysfs\n\text4\nnodev\tnfs\nnodev\tnfs4\n")
	modsWith := filepath.Join(dir, "mods-with")
	write("mods-with/"+release+"/modules.dep", "kernel/fs/nfs/nfs.ko.xz: kernel/fs/nfs_common/grace.ko.xz kernel/net/sunrpc/sunrpc.ko.xz\n")
	modsWithout := filepath.Join(dir, "mods-without")
	write("mods-without/"+release+"/modules.dep", "kernel/fs/fuse/fuse.ko.xz:\n")
	env := storage.Env{Runner: &runner.Recorder{}, MountRoot: dir, StateDir: dir}
	for _, tc := range []struct {
		fs, mods string
		kernel   bool
	}{
		{withNFS, modsWithout, true},
		{noNFS, modsWith, true},
		{noNFS, modsWithout, false},
		{noNFS, filepath.Join(dir, "missing"), false},
	} {
		s, err := Plugin{Filesystems: tc.fs, Modules: tc.mods}.Open(nfsConfig("nas", nil), env)
		if err != nil {
			t.Fatal(err)
		}
		if _, isKernel := s.(*Store); isKernel != tc.kernel {
			t.Errorf("filesystems %s, modules %s: got %T", filepath.Base(tc.fs), filepath.Base(tc.mods), s)
		}
	}
}

func kernelRelease(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skipf("kernel release unknown: %v", err)
	}
	return strings.TrimSpace(string(data))
}
