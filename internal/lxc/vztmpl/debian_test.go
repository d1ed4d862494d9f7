package vztmpl

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDebianTemplate builds (or takes from the cache) the Debian
// template and unpacks it for an unprivileged container. A cold build
// takes about two minutes, so it runs only when the cache already holds
// the template for the current package lists, or when
// HEARTH_TEST_DEBOOTSTRAP=1 asks for the build.
func TestDebianTemplate(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("skipping: debootstrap is not installed (Debian package debootstrap)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	b := Builder{CacheDir: DefaultCacheDir()}
	_, cached := b.cachedDebian(ctx)
	if !cached && os.Getenv("HEARTH_TEST_DEBOOTSTRAP") != "1" {
		t.Skip("skipping: no cached Debian template for the current package lists; HEARTH_TEST_DEBOOTSTRAP=1 builds one (about 2 minutes)")
	}
	out := t.TempDir()
	start := time.Now()
	file, err := b.Build(ctx, Debian, out, t.Logf)
	if errors.Is(err, ErrArchiveUnreachable) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built or fetched %s in %v", file, time.Since(start).Round(time.Millisecond))
	m := regexp.MustCompile(`^debian-12-standard_(12\.[0-9]+)-1_amd64\.tar\.(zst|gz)$`).FindStringSubmatch(file)
	if m == nil {
		t.Fatalf("file name %q is not debian-12-standard_12.N-1_amd64.tar.zst", file)
	}
	for _, in := range b.Available() {
		if in.Name == Debian && in.File != file {
			t.Errorf("Available names %q, Build made %q", in.File, file)
		}
	}

	// The second call is served from the cache.
	start = time.Now()
	again := t.TempDir()
	if f, err := b.Build(ctx, Debian, again, t.Logf); err != nil || f != file {
		t.Fatalf("second build: %q %v", f, err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the cached template took %v", d)
	}

	shift := &IDShift{UIDBase: 100000, GIDBase: 100000, Size: 65536}
	dest := filepath.Join(t.TempDir(), "rootfs")
	if err := Extract(ctx, filepath.Join(out, file), dest, shift, t.Logf); err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(readFile(t, filepath.Join(dest, "etc/debian_version"))); v != m[1] {
		t.Errorf("/etc/debian_version = %q, the name says %s", v, m[1])
	}
	if link, err := os.Readlink(filepath.Join(dest, "sbin/init")); err != nil || !strings.HasSuffix(link, "/systemd") {
		t.Errorf("/sbin/init -> %q (%v), want systemd", link, err)
	}
	for f, want := range map[string]string{"etc/resolv.conf": "", "etc/hostname": "localhost\n", "etc/machine-id": ""} {
		if got := readFile(t, filepath.Join(dest, f)); got != want {
			t.Errorf("/%s = %q, want %q", f, got, want)
		}
	}
	if s := readFile(t, filepath.Join(dest, "etc/apt/sources.list")); !strings.Contains(s, " bookworm main\n") {
		t.Errorf("sources.list:\n%s", s)
	}
	for _, pattern := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages*", "dev/*", "etc/ssh/ssh_host_*"} {
		if left, _ := filepath.Glob(filepath.Join(dest, pattern)); len(left) > 0 {
			t.Errorf("%s left in the template: %v", pattern, left)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(dest, &st); err != nil || st.Uid != 100000 || st.Gid != 100000 {
		t.Errorf("root of the tree owned by %d:%d (%v)", st.Uid, st.Gid, err)
	}
	// ping keeps its file capability, re-rooted at the container's root.
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(dest, "usr/bin/ping"), "security.capability", buf); err != nil {
		t.Errorf("ping has no capability: %v", err)
	} else if n != 24 || buf[3] != 3 {
		t.Errorf("ping's capability is %x, want a version 3 one", buf[:n])
	}
	if out, err := exec.Command("chroot", dest, "/usr/bin/dpkg-query", "-W", "-f", "${Status}", "ifupdown").CombinedOutput(); err != nil || string(out) != "install ok installed" {
		t.Errorf("dpkg-query ifupdown in the tree: %q %v", out, err)
	}
}
