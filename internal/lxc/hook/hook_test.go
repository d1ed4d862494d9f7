package hook

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUnescapeMountinfo(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/var/lib/lxc/100/rootfs", "/var/lib/lxc/100/rootfs"},
		{`/mnt/with\040space`, "/mnt/with space"},
		{`/mnt/tab\011x`, "/mnt/tab\tx"},
		{`/mnt/back\134slash`, `/mnt/back\slash`},
		{`/mnt/short\04`, `/mnt/short\04`},
	} {
		if got := unescapeMountinfo(c.in); got != c.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMountOptions(t *testing.T) {
	flags, data := mountOptions([]string{"noatime", "nodev", "nosuid", "noexec", "lazytime", "discard"})
	want := uintptr(unix.MS_NOATIME | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_LAZYTIME)
	if flags != want || data != "discard" {
		t.Fatalf("mountOptions = %#x %q, want %#x discard", flags, data, want)
	}
}

// A mount point path that goes through a symlink pointing out of the
// container must end inside the container's root, never at the host path.
func TestOpenInRootStaysInside(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	// The symlink resolves inside root, to <root>/<host path>, which
	// does not exist: the mount point cannot be made, and nothing
	// appears on the host.
	if f, err := openInRoot(root, "/escape/data", os.Getuid(), os.Getgid(), false); err == nil {
		f.Close()
		if _, err := os.Stat(filepath.Join(root, host, "data")); err != nil {
			t.Fatalf("the mount point is not inside the root: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(host, "data")); err == nil {
		t.Fatal("the mount point was created on the host through the symlink")
	}
	// Missing directories are created inside.
	f, err := openInRoot(root, "/srv/a/b", os.Getuid(), os.Getgid(), false)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(filepath.Join(root, "srv", "a", "b")); err != nil || !fi.IsDir() {
		t.Fatalf("nested mount point: %v %v", fi, err)
	}
	// A bind-mounted file gets a file, not a directory.
	g, err := openInRoot(root, "/etc/resolv.conf", os.Getuid(), os.Getgid(), true)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if fi, err := os.Lstat(filepath.Join(root, "etc", "resolv.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("file mount point: %v %v", fi, err)
	}
}

func TestProbeFS(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, at int, magic []byte) string {
		p := filepath.Join(dir, name)
		buf := make([]byte, 0x10100)
		copy(buf[at:], magic)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		file, want string
	}{
		{write("ext4", 1080, []byte{0x53, 0xEF}), "ext4"},
		{write("xfs", 0, []byte("XFSB")), "xfs"},
		{write("btrfs", 0x10040, []byte("_BHRfS_M")), "btrfs"},
	} {
		got, err := probeFS(c.file)
		if err != nil || got != c.want {
			t.Errorf("probeFS(%s) = %q, %v; want %q", filepath.Base(c.file), got, err, c.want)
		}
	}
	if _, err := probeFS(write("zero", 0, nil)); err == nil {
		t.Error("an empty image was taken for a file system")
	}
}

func TestPlanRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := &Plan{VMID: 100, Root: filepath.Join(dir, "rootfs"), Mounts: []Mount{{Key: "rootfs", Source: "/x.raw", Target: "/", Loop: true}},
		UIDBase: 100000, GIDBase: 100000, Setup: &Setup{OSType: "busybox", Hostname: "ct"}}
	if err := Write(dir, p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != p.Root || len(got.Mounts) != 1 || !got.Mounts[0].Loop || got.Setup.Hostname != "ct" || got.UIDBase != 100000 {
		t.Fatalf("plan after a round trip: %+v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, PlanFile), []byte(`{"root":"relative"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(filepath.Join(dir, "config")); err == nil {
		t.Fatal("a plan with a relative root was accepted")
	}
}
