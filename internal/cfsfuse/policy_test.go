package cfsfuse

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

func TestModes(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	mustApply(t, s, cfs.Write("nodes/pve1/priv/lock", []byte("x")))
	for p, want := range map[string]os.FileMode{
		"":                     os.ModeDir | 0o755,
		"storage.cfg":          0o640,
		"nodes/pve1":           os.ModeDir | 0o755,
		"priv":                 os.ModeDir | 0o700,
		"priv/authkey.key":     0o600,
		"nodes/pve1/priv":      os.ModeDir | 0o700,
		"nodes/pve1/priv/lock": 0o600,
	} {
		st, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode() != want || sys.Uid != 0 || sys.Gid != 0 {
			t.Errorf("%q: mode %v owner %d:%d, want %v root:root", p, st.Mode(), sys.Uid, sys.Gid, want)
		}
	}

	p := filepath.Join(dir, "storage.cfg")
	wantErrno(t, "chmod", os.Chmod(p, 0o644), syscall.EPERM)
	wantErrno(t, "chown", os.Chown(p, 1000, -1), syscall.EPERM)
	// Setting what the policy says anyway is harmless and keeps tools
	// that copy permissions working.
	if err := os.Chmod(p, 0o640); err != nil {
		t.Errorf("chmod to the same mode: %v", err)
	}
	if err := os.Chown(p, 0, 0); err != nil {
		t.Errorf("chown to root: %v", err)
	}
	if err := os.Chtimes(p, time.Now(), time.Now()); err != nil {
		t.Errorf("touch: %v", err)
	}
}

// The kernel enforces the modes (default_permissions): users other than
// root, here one in root's group, read ordinary files but not secrets, and
// write nothing.
func TestPrivUnreadableForOthers(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	s := newStore(t, nil)
	mustApply(t, s,
		cfs.Write("storage.cfg", []byte("dir: local\n")),
		cfs.Write("priv/authkey.key", []byte("secret\n")),
		cfs.Write("nodes/pve1/priv/token", []byte("secret\n")),
	)
	dir := mountTree(t, s, Options{AllowOther: true})
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("skipping: no cat to run as another user")
	}
	asNobody := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 0, Groups: []uint32{}}}
		return cmd
	}

	out, err := asNobody(cat, filepath.Join(dir, "storage.cfg")).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("skipping: cannot run a process as another user: %v", err)
	}
	if err != nil || string(out) != "dir: local\n" {
		t.Fatalf("unprivileged read of storage.cfg: %q %v", out, err)
	}
	for _, p := range []string{"priv/authkey.key", "nodes/pve1/priv/token"} {
		out, err = asNobody(cat, filepath.Join(dir, p)).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("unprivileged read of %s: %q %v, want permission denied", p, out, err)
		}
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		return
	}
	out, err = asNobody(sh, "-c", "echo x > "+filepath.Join(dir, "storage.cfg")).CombinedOutput()
	if err == nil {
		t.Errorf("unprivileged write succeeded: %q", out)
	}
	if got := stored(t, s, "storage.cfg"); got != "dir: local\n" {
		t.Errorf("storage.cfg = %q", got)
	}
}

func TestSymlinks(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	for name, want := range map[string]string{
		"local":       "nodes/pve1",
		"qemu-server": "nodes/pve1/qemu-server",
		"lxc":         "nodes/pve1/lxc",
		"openvz":      "nodes/pve1/openvz",
	} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("%s -> %q %v, want %q", name, got, err, want)
		}
	}
	if got := readFile(t, filepath.Join(dir, "local/qemu-server/100.conf")); got != "memory: 512\n" {
		t.Errorf("through local: %q", got)
	}
	writeFile(t, filepath.Join(dir, "qemu-server/101.conf"), "cores: 4\n")
	if got := stored(t, s, "nodes/pve1/qemu-server/101.conf"); got != "cores: 4\n" {
		t.Errorf("written through qemu-server: %q", got)
	}
	writeFile(t, filepath.Join(dir, "lxc/200.conf"), "arch: amd64\n")
	if got := stored(t, s, "nodes/pve1/lxc/200.conf"); got != "arch: amd64\n" {
		t.Errorf("written through lxc: %q", got)
	}
	// openvz has no directory behind it: a dangling link, as on PVE.
	_, err := os.Stat(filepath.Join(dir, "openvz"))
	wantErrno(t, "stat through dangling openvz", err, syscall.ENOENT)

	wantErrno(t, "remove a link", os.Remove(filepath.Join(dir, "local")), syscall.EPERM)
	wantErrno(t, "rename onto a link", os.Rename(filepath.Join(dir, "storage.cfg"), filepath.Join(dir, "local")), syscall.EPERM)
	wantErrno(t, "mkdir over a link", os.Mkdir(filepath.Join(dir, "lxc"), 0o755), syscall.EEXIST)

	// They are not in the tree.
	absent(t, s, "local")
}

// noQuorum stands for a node that lost its cluster: reads work, the store
// refuses writes. It can be switched to simulate losing quorum while a
// file is open.
type noQuorum struct {
	*cfs.Store
	down atomic.Bool
}

func (q *noQuorum) Quorate() bool { return !q.down.Load() && q.Store.Quorate() }

func (q *noQuorum) Apply(ctx context.Context, ops ...cfs.Op) (uint64, error) {
	if q.down.Load() {
		return 0, cfs.ErrNoQuorum
	}
	return q.Store.Apply(ctx, ops...)
}

func TestReadOnlyWithoutQuorum(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	s := newStore(t, nil)
	mustApply(t, s,
		cfs.Write("storage.cfg", []byte("dir: local\n")),
		cfs.Mkdir("nodes/pve1/qemu-server"),
	)
	q := &noQuorum{Store: s}
	dir := mountTree(t, q, Options{})
	p := filepath.Join(dir, "storage.cfg")

	// Opened while the cluster is fine; the quorum goes before close.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("more\n"); err != nil {
		t.Fatal(err)
	}
	q.down.Store(true)
	wantErrno(t, "close after losing quorum", f.Close(), syscall.EROFS)

	if got := readFile(t, p); got != "dir: local\n" {
		t.Errorf("read without quorum: %q", got)
	}
	if _, err := os.ReadDir(filepath.Join(dir, "nodes")); err != nil {
		t.Errorf("list without quorum: %v", err)
	}
	wantErrno(t, "create", os.WriteFile(filepath.Join(dir, "new.cfg"), []byte("x"), 0o640), syscall.EROFS)
	wantErrno(t, "rewrite", os.WriteFile(p, []byte("x"), 0o640), syscall.EROFS)
	_, err = os.OpenFile(p, os.O_WRONLY, 0)
	wantErrno(t, "open for writing", err, syscall.EROFS)
	wantErrno(t, "mkdir", os.Mkdir(filepath.Join(dir, "ha"), 0o755), syscall.EROFS)
	wantErrno(t, "unlink", os.Remove(p), syscall.EROFS)
	wantErrno(t, "rmdir", syscall.Rmdir(filepath.Join(dir, "nodes/pve1/qemu-server")), syscall.EROFS)
	wantErrno(t, "rename", os.Rename(p, filepath.Join(dir, "x.cfg")), syscall.EROFS)
	wantErrno(t, "truncate", os.Truncate(p, 0), syscall.EROFS)
	wantErrno(t, "touch", os.Chtimes(p, time.Now(), time.Now()), syscall.EROFS)
	if got := stored(t, s, "storage.cfg"); got != "dir: local\n" {
		t.Errorf("store changed: %q", got)
	}

	q.down.Store(false)
	writeFile(t, p, "back\n")
	if got := stored(t, s, "storage.cfg"); got != "back\n" {
		t.Errorf("after quorum returned: %q", got)
	}
}

// Real tools, where installed.
func TestTools(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	conf := filepath.Join(dir, "qemu-server/100.conf")

	t.Run("sed -i", func(t *testing.T) {
		sed, err := exec.LookPath("sed")
		if err != nil {
			t.Skip("skipping: sed is not installed")
		}
		// GNU sed writes a temporary file, copies the permissions onto it
		// and renames it over the original.
		if out, err := exec.Command(sed, "-i", "s/512/1024/", conf).CombinedOutput(); err != nil {
			t.Fatalf("sed: %v\n%s", err, out)
		}
		if got := stored(t, s, "nodes/pve1/qemu-server/100.conf"); got != "memory: 1024\n" {
			t.Errorf("after sed -i: %q", got)
		}
	})
	t.Run("vim", func(t *testing.T) {
		vim, err := exec.LookPath("vim")
		if err != nil {
			t.Skip("skipping: vim is not installed")
		}
		cmd := exec.Command(vim, "-u", "NONE", "-i", "NONE", "-N", "-n", "-es", "-c", "%s/memory: .*/memory: 2048/", "-c", "wq", conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vim: %v\n%s", err, out)
		}
		if got := stored(t, s, "nodes/pve1/qemu-server/100.conf"); got != "memory: 2048\n" {
			t.Errorf("after vim: %q", got)
		}
		ents, _ := s.List("nodes/pve1/qemu-server")
		if len(ents) != 1 {
			t.Errorf("vim left files behind: %v", ents)
		}
	})
	t.Run("shell redirection", func(t *testing.T) {
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("skipping: no sh")
		}
		if out, err := exec.Command(sh, "-c", "echo 'cores: 1' > "+conf+" && echo 'sockets: 1' >> "+conf).CombinedOutput(); err != nil {
			t.Fatalf("sh: %v\n%s", err, out)
		}
		if got := stored(t, s, "nodes/pve1/qemu-server/100.conf"); got != "cores: 1\nsockets: 1\n" {
			t.Errorf("after echo: %q", got)
		}
	})
}
