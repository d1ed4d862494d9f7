package vztmpl

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builtBusybox is the template the tests share: built once per test
// binary, in a directory the tests only read.
var builtBusybox struct {
	once sync.Once
	dir  string // the temporary directory the template is in
	path string
	err  error
}

// busyboxTemplate builds the busybox template once, skipping the test
// when the Debian archive cannot be reached.
func busyboxTemplate(t *testing.T) string {
	t.Helper()
	builtBusybox.once.Do(func() {
		dir, err := os.MkdirTemp("", "hearth-vztmpl-test-")
		if err != nil {
			builtBusybox.err = err
			return
		}
		builtBusybox.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		file, err := Build(ctx, Busybox, dir, nil)
		if err == nil {
			builtBusybox.path = filepath.Join(dir, file)
		}
		builtBusybox.err = err
	})
	if errors.Is(builtBusybox.err, ErrArchiveUnreachable) {
		t.Skipf("skipping: cannot build the busybox template: %v", builtBusybox.err)
	}
	if builtBusybox.err != nil {
		t.Fatal(builtBusybox.err)
	}
	return builtBusybox.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBusybox.dir != "" {
		os.RemoveAll(builtBusybox.dir)
	}
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: extracting with ownership needs root")
	}
}

func TestBusyboxBuildGivesTheSameBytesTwice(t *testing.T) {
	first := busyboxTemplate(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logged []string
	file, err := Build(ctx, Busybox, dir, func(f string, a ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	if file != filepath.Base(first) {
		t.Fatalf("second build named %s, first %s", file, filepath.Base(first))
	}
	if !regexp.MustCompile(`^busybox-[0-9][0-9.]*-[A-Za-z0-9.+~]+_amd64\.tar\.(zst|gz)$`).MatchString(file) {
		t.Errorf("file name %q is not busybox-<upstream>-<revision>_amd64.tar.zst", file)
	}
	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds differ: %d and %d bytes", len(a), len(b))
	}
	if len(logged) == 0 {
		t.Error("the build logged nothing")
	}
	// Only the template itself is left: the temporary file was renamed.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("output directory holds %d files, want only the template", len(entries))
	}
}

func TestBusyboxTemplateExtractsPrivileged(t *testing.T) {
	needRoot(t)
	archive := busyboxTemplate(t)
	dest := filepath.Join(t.TempDir(), "rootfs")
	if err := Extract(context.Background(), archive, dest, nil, t.Logf); err != nil {
		t.Fatal(err)
	}
	checkBusyboxTree(t, dest, archive)
	assertOwners(t, dest, 0, 0)
}

func TestBusyboxTemplateExtractsShifted(t *testing.T) {
	needRoot(t)
	archive := busyboxTemplate(t)
	dest := filepath.Join(t.TempDir(), "rootfs")
	m := &IDShift{UIDBase: 100000, GIDBase: 200000, Size: 65536}
	if err := Extract(context.Background(), archive, dest, m, t.Logf); err != nil {
		t.Fatal(err)
	}
	checkBusyboxTree(t, dest, archive)
	assertOwners(t, dest, 100000, 200000)
}

// checkBusyboxTree checks what a container boots with, and that the
// unpacked system runs.
func checkBusyboxTree(t *testing.T, dest, archive string) {
	t.Helper()
	if link, err := os.Readlink(filepath.Join(dest, "sbin", "init")); err != nil || link != "/bin/busybox" {
		t.Errorf("/sbin/init -> %q (%v), want /bin/busybox", link, err)
	}
	inittab := readFile(t, filepath.Join(dest, "etc", "inittab"))
	for _, want := range []string{"::sysinit:/etc/init.d/rcS", "::respawn:/etc/init.d/tty tty1", "::respawn:/etc/init.d/tty console", "::shutdown:/etc/init.d/rcK"} {
		if !strings.Contains(inittab, want+"\n") {
			t.Errorf("inittab lacks %q", want)
		}
	}
	for _, script := range []string{"rcS", "rcK", "tty"} {
		st, err := os.Stat(filepath.Join(dest, "etc", "init.d", script))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("/etc/init.d/%s: %v %v, want an executable", script, st, err)
		}
	}
	rcS := readFile(t, filepath.Join(dest, "etc", "init.d", "rcS"))
	for _, want := range []string{"ifup -a", "hostname -F /etc/hostname", "/etc/local.d/*.start", "/proc/mounts"} {
		if !strings.Contains(rcS, want) {
			t.Errorf("rcS lacks %q", want)
		}
	}
	osRel := readFile(t, filepath.Join(dest, "etc", "os-release"))
	version := regexp.MustCompile(`^busybox-([0-9.]+)-`).FindStringSubmatch(filepath.Base(archive))
	if !strings.Contains(osRel, "\nID=busybox\n") || version == nil || !strings.Contains(osRel, "\nVERSION_ID="+version[1]+"\n") {
		t.Errorf("os-release does not name busybox %v:\n%s", version, osRel)
	}
	for dir, want := range map[string]os.FileMode{"tmp": 0o777 | os.ModeSticky, "root": 0o700, "dev": 0o755, "run": 0o755, "var/log": 0o755} {
		st, err := os.Stat(filepath.Join(dest, dir))
		if err != nil || !st.IsDir() || st.Mode()&(os.ModePerm|os.ModeSticky) != want {
			t.Errorf("/%s: %v %v, want a directory with mode %v", dir, st, err, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dest, "dev")); len(entries) != 0 {
		t.Errorf("/dev holds %d entries; LXC fills it", len(entries))
	}
	for _, f := range []string{"etc/resolv.conf", "etc/hostname"} {
		if s := readFile(t, filepath.Join(dest, f)); s != "" {
			t.Errorf("/%s = %q, want empty", f, s)
		}
	}
	if s := readFile(t, filepath.Join(dest, "etc", "shadow")); !strings.HasPrefix(s, "root::") {
		t.Errorf("root's shadow entry is not empty (login without password until one is set): %q", s)
	}
	for _, args := range [][]string{{"/bin/busybox", "echo", "ok"}, {"/bin/sh", "-c", "echo ok"}} {
		out, err := exec.Command("chroot", append([]string{dest}, args...)...).CombinedOutput()
		if err != nil || string(out) != "ok\n" {
			t.Errorf("chroot %s %v: %q %v", dest, args, out, err)
		}
	}
}

// assertOwners checks that every file of the tree belongs to uid:gid.
func assertOwners(t *testing.T, dest string, uid, gid uint32) {
	t.Helper()
	n := 0
	err := filepath.Walk(dest, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("only %d files in the tree", n)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
