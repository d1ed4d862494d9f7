package ct

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/storage"
)

func TestResizeTarget(t *testing.T) {
	const g = int64(1) << 30
	for _, tc := range []struct {
		cur  int64
		spec string
		want int64
		err  string
	}{
		{4 * g, "+1G", 5 * g, ""},
		{4 * g, "8G", 8 * g, ""},
		{4 * g, "4G", 4 * g, ""},
		{4 * g, "+0", 4 * g, ""},
		{4 * g, "+0.5G", 4*g + g/2, ""},
		{4 * g, "+1000", 4*g + 1024, ""}, // whole KiB
		{1000, "2000", 2048, ""},
		{0, "+1M", 1 << 20, ""},
		{4 * g, "2G", 0, "shrinking volumes is not supported"},
		{4 * g, "-1G", 0, "is not a size"},
		{4 * g, "1P", 0, "is not a size"},
		{4 * g, "", 0, "is not a size"},
		{4 * g, "99999999999T", 0, "too large"},
	} {
		got, err := resizeTarget(tc.cur, tc.spec)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("resizeTarget(%d, %q) = %d, %v; want error %q", tc.cur, tc.spec, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("resizeTarget(%d, %q) = %d, %v; want %d", tc.cur, tc.spec, got, err, tc.want)
		}
	}
}

func TestResizeRefusals(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	e.conf(150, "rootfs: "+e.volume(150, "local", 64<<20)+",size=64M\nmp0: "+e.volume(150, "local", 0)+",mp=/data\nmp1: /srv,mp=/srv\n")
	for _, tc := range []struct{ disk, size, want string }{
		{"rootfs", "32M", "shrinking volumes is not supported"},
		{"rootfs", "lots", "is not a size"},
		{"mp0", "+1G", "is a directory on storage 'local' of type dir, which has no size to grow"},
		{"mp1", "+1G", "is the host path /srv"},
		{"mp2", "+1G", "CT 150 has no volume mp2"},
	} {
		_, err := e.s.resizeTask(ctx, nil, &api.CTResizeParams{VMID: 150, Disk: tc.disk, Size: tc.size})
		if err == nil || !strings.Contains(errText(err), tc.want) {
			t.Errorf("resize %s to %s: %v, want %q", tc.disk, tc.size, err, tc.want)
		}
	}
}

// fsBytes is the size of the ext4 file system in an image or device.
func fsBytes(t *testing.T, path string) int64 {
	t.Helper()
	out := runTool(t, "dumpe2fs", "-h", path)
	var count, size int64
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch strings.TrimSpace(k) {
		case "Block count":
			count, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		case "Block size":
			size, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return count * size
}

func volumePath(t *testing.T, e *volEnv, volid string) string {
	t.Helper()
	sid, name, _ := storage.ParseVolumeID(volid)
	_, st, err := e.s.o.Storage.Open(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Attach(t.Context(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	return a.Path
}

func TestResizeImageOffline(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	// Without the multi-mount protection of created volumes, whose
	// checks make e2fsck and resize2fs wait some 11 s each.
	root := e.rawVolume(151, "local", 64<<20)
	e.conf(151, "rootfs: "+root+",size=64M\n")
	path := volumePath(t, e, root)
	log := e.mustTask(e.s.resizeTask(ctx, nil, &api.CTResizeParams{VMID: 151, Disk: "rootfs", Size: "+32M"}))
	if fi, err := os.Stat(path); err != nil || fi.Size() != 96<<20 {
		t.Fatalf("image after the resize: %v %v", fi, err)
	}
	if got := fsBytes(t, path); got != 96<<20 {
		t.Fatalf("file system after the resize: %d bytes\n%s", got, log)
	}
	if c := e.load(151); !strings.Contains(c.Main().Value("rootfs"), "size=96M") {
		t.Fatalf("configuration after the resize:\n%s", c.File.Bytes())
	}
	if len(e.run.ran("fsck -a -l -f "+path)) != 1 || len(e.run.ran("resize2fs "+path)) != 1 {
		t.Fatalf("commands: %v", e.run.lines)
	}
	// The same size again changes nothing but still grows the file
	// system, which finishes a resize whose last step failed.
	log = e.mustTask(e.s.resizeTask(ctx, nil, &api.CTResizeParams{VMID: 151, Disk: "rootfs", Size: "96M"}))
	if !strings.Contains(log.String(), "already has 96M") || len(e.run.ran("resize2fs "+path)) != 2 {
		t.Fatalf("a resize to the current size:\n%s\n%v", log, e.run.lines)
	}
}

// A mounted image, as a running container's hook leaves it: the loop
// device learns the new size and the file system grows while mounted.
func TestResizeImageOnline(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	root := e.volume(152, "local", 64<<20)
	e.conf(152, "rootfs: "+root+",size=64M\n")
	path := volumePath(t, e, root)
	dev := runTool(t, "losetup", "--find", "--show", path)
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	mnt := t.TempDir()
	runTool(t, "mount", dev, mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	if err := os.WriteFile(filepath.Join(mnt, "keep"), []byte("still here"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := e.runTask(e.s.resizeTask(ctx, nil, &api.CTResizeParams{VMID: 152, Disk: "rootfs", Size: "128M"}))
	sectors := runTool(t, "cat", filepath.Join("/sys/block", filepath.Base(dev), "size"))
	if sectors != strconv.Itoa(128<<20/512) {
		t.Fatalf("the loop device has %s sectors after the resize (%v)\n%s", sectors, err, log)
	}
	if online := e.run.ran("unshare --mount --propagation private -- sh -c"); len(online) != 1 || !strings.Contains(online[0], " "+dev+" ") ||
		len(e.run.ran("fsck")) != 0 || len(e.run.ran("resize2fs")) != 0 {
		t.Fatalf("commands: %v\n%s", e.run.lines, log)
	}
	if !hasCapability(unix.CAP_SYS_RESOURCE) {
		if err == nil || !strings.Contains(err.Error(), "resize rootfs again to the same size") {
			t.Fatalf("online resize without CAP_SYS_RESOURCE: %v", err)
		}
		t.Skip("skipping the rest: this process lacks CAP_SYS_RESOURCE, without which the kernel grows no mounted ext4")
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(mnt, &fs); err != nil {
		t.Fatal(err)
	}
	if total := int64(fs.Blocks) * fs.Bsize; total < 100<<20 || !strings.Contains(log.String(), "grown online") {
		t.Fatalf("the mounted file system has %d bytes after the resize\n%s", total, log)
	}
	if data, err := os.ReadFile(filepath.Join(mnt, "keep")); err != nil || string(data) != "still here" {
		t.Fatalf("a file of the mounted file system: %q %v", data, err)
	}
}

func TestResizeSubvolumeOnBtrfsSetsItsQuota(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(153, "bt", 64<<20)
	e.conf(153, "rootfs: "+root+",size=64M\n")
	e.mustTask(e.s.resizeTask(ctx, nil, &api.CTResizeParams{VMID: 153, Disk: "rootfs", Size: "+64M"}))
	v, err := e.s.openVolume(ctx, "rootfs", root)
	if err != nil {
		t.Fatal(err)
	}
	info, err := v.st.Volume(ctx, v.Name)
	if err != nil || info.Size != 128<<20 {
		t.Fatalf("subvolume after the resize: %+v %v", info, err)
	}
	if c := e.load(153); !strings.Contains(c.Main().Value("rootfs"), "size=128M") {
		t.Fatalf("configuration after the resize:\n%s", c.File.Bytes())
	}
	if len(e.run.ran("resize2fs")) != 0 {
		t.Fatalf("a subvolume got a file system resize: %v", e.run.lines)
	}
}

// hasCapability reports whether this process has a capability in its
// effective set.
func hasCapability(c int) bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<uint(c)) != 0
		}
	}
	return false
}

// FuzzResizeTarget: a size either parses to a size no smaller than the
// current one, rounded to whole KiB when it changes, or is refused.
func FuzzResizeTarget(f *testing.F) {
	f.Add(int64(4<<30), "+1G")
	f.Add(int64(1000), "2000")
	f.Add(int64(0), "+0.5K")
	f.Add(int64(1<<40), "1T")
	f.Add(int64(5), "+99999999999999999999T")
	f.Fuzz(func(t *testing.T, cur int64, spec string) {
		if cur < 0 {
			return
		}
		got, err := resizeTarget(cur, spec)
		if err != nil {
			return
		}
		if got < cur || (got != cur && got%1024 != 0) {
			t.Fatalf("resizeTarget(%d, %q) = %d", cur, spec, got)
		}
	})
}
