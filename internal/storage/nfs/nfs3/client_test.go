package nfs3_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/storage/nfs/nfs3"
	"github.com/hearth-virt/hearth/internal/storage/nfstest"
)

// TestClientAgainstGanesha runs every operation against a real server and
// checks the result in the exported directory itself.
func TestClientAgainstGanesha(t *testing.T) {
	srv := nfstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nfs3.Dial(ctx, srv.Host, srv.Export, nfs3.Options{Dial: srv.Dial})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if err := c.MkdirAll(ctx, "images/100", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(ctx, "images/100", 0o755); err != nil {
		t.Fatalf("MkdirAll of an existing path: %v", err)
	}
	if err := c.Mkdir(ctx, "images", 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Mkdir of an existing directory: got %v, want fs.ErrExist", err)
	}
	if err := c.Create(ctx, "images/100/vm-100-disk-0.raw", 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "images/100/vm-100-disk-0.raw", 0o640); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: got %v, want fs.ErrExist", err)
	}
	st, err := os.Stat(filepath.Join(srv.Dir, "images/100/vm-100-disk-0.raw"))
	if err != nil || st.Mode().Perm() != 0o640 || st.Size() != 0 {
		t.Fatalf("created file on the server: %v, %v", st, err)
	}
	a, err := c.Stat(ctx, "images/100/vm-100-disk-0.raw")
	if err != nil || a.Dir || a.Size != 0 || a.Mode.Perm() != 0o640 {
		t.Fatalf("Stat: %+v, %v", a, err)
	}
	if a, err := c.Stat(ctx, "images"); err != nil || !a.Dir {
		t.Fatalf("Stat of a directory: %+v, %v", a, err)
	}
	if _, err := c.Stat(ctx, "images/101"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of a missing entry: got %v, want fs.ErrNotExist", err)
	}
	if err := c.MkdirAll(ctx, "images/101", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "images/100/vm-100-disk-0.raw", "images/101/vm-101-disk-0.raw"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "images/101/vm-101-disk-0.raw")); err != nil {
		t.Fatalf("renamed file: %v", err)
	}
	if err := c.Rmdir(ctx, "images/101"); !errors.Is(err, nfs3.ErrNotEmpty) {
		t.Fatalf("Rmdir of a full directory: got %v, want ErrNotEmpty", err)
	}
	if err := c.Remove(ctx, "images/101/vm-101-disk-0.raw"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "images/101/vm-101-disk-0.raw"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second Remove: got %v, want fs.ErrNotExist", err)
	}
	for _, d := range []string{"images/101", "images/100"} {
		if err := c.Rmdir(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "images/100")); !os.IsNotExist(err) {
		t.Fatalf("removed directory still there: %v", err)
	}
	s, err := c.FSStat(ctx)
	if err != nil || s.Total <= 0 || s.Avail <= 0 || s.Avail > s.Total {
		t.Fatalf("FSStat: %+v, %v", s, err)
	}
	for _, bad := range []string{"../etc", "images/../../x", ""} {
		if err := c.Remove(ctx, bad); err == nil {
			t.Errorf("Remove(%q) succeeded", bad)
		}
	}
}

func TestDialErrors(t *testing.T) {
	srv := nfstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := nfs3.Dial(ctx, srv.Host, "/no-such-export", nfs3.Options{Dial: srv.Dial}); err == nil {
		t.Fatal("mounting a missing export succeeded")
	} else {
		t.Log(err)
	}
	// A server that cannot be reached fails with the dial error.
	if _, err := nfs3.Dial(ctx, "127.0.0.1", "/export", nfs3.Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, errors.New("connection refused")
	}}); err == nil {
		t.Fatal("a refused connection succeeded")
	}
}
