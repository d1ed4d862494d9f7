package cfsfuse

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

const testNode = "pve1"

// requireFUSE skips tests that mount when the environment cannot: they
// need root (for the direct mount and for default_permissions to matter)
// and the FUSE device.
func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting FUSE file systems needs root")
	}
	if _, err := os.Stat(devFuse); err != nil {
		t.Skipf("skipping: %s is missing: %v", devFuse, err)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newStore opens a ready single-node store; edit may change its config.
func newStore(t *testing.T, edit func(*cfs.Config)) *cfs.Store {
	t.Helper()
	cfg := cfs.Config{Dir: t.TempDir(), NodeID: testNode, Logger: testLogger(t)}
	if edit != nil {
		edit(&cfg)
	}
	s, err := cfs.Open(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("cfs.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	if err := s.WaitReady(ctxT(t)); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return s
}

// mountTree mounts tree on a fresh directory and unmounts it when the test
// ends, also after a failure. The directory lives directly in the system's
// temp dir with mode 0755 so that an unprivileged child process can reach
// the mount (t.TempDir's parents are private to root).
func mountTree(t *testing.T, tree Tree, o Options) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cfsfuse-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if o.Node == "" {
		o.Node = testNode
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	m, err := Mount(ctxT(t), tree, dir, o)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return dir
}

// setup is the common case: a store with a few PVE-like files, mounted.
func setup(t *testing.T) (*cfs.Store, string) {
	t.Helper()
	requireFUSE(t)
	s := newStore(t, nil)
	mustApply(t, s,
		cfs.Write("storage.cfg", []byte("dir: local\n\tpath /var/lib/vz\n")),
		cfs.Write("nodes/pve1/qemu-server/100.conf", []byte("memory: 512\n")),
		cfs.Mkdir("nodes/pve1/lxc"),
		cfs.Write("priv/authkey.key", []byte("secret\n")),
	)
	return s, mountTree(t, s, Options{})
}

func mustApply(t testing.TB, s Tree, ops ...cfs.Op) {
	t.Helper()
	if _, err := s.Apply(ctxT(t), ops...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// stored returns the content of p in the store, failing the test if p is
// missing.
func stored(t testing.TB, s Tree, p string) string {
	t.Helper()
	e, err := s.Get(p)
	if err != nil {
		t.Fatalf("store Get(%q): %v", p, err)
	}
	return string(e.Data)
}

func absent(t testing.TB, s Tree, p string) {
	t.Helper()
	if _, err := s.Get(p); !errors.Is(err, cfs.ErrNotFound) {
		t.Fatalf("store Get(%q) = %v, want not found", p, err)
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	return string(b)
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatalf("WriteFile(%s): %v", p, err)
	}
}

// wantErrno checks that err carries errno.
func wantErrno(t testing.TB, what string, err error, errno syscall.Errno) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Fatalf("%s: got error %v, want %v", what, err, errno)
	}
}
