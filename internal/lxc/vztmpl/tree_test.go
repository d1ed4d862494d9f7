package vztmpl

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// A stand-in for `busybox --list-full`: the real list has 400 lines and
// changes with the package; the golden file pins the layout around it.
var sampleApplets = []string{
	"bin/sh", "bin/busybox", "bin/login", "sbin/init", "sbin/getty", "sbin/ifup",
	"usr/bin/awk", "usr/sbin/chroot", "linuxrc", "usr/bin/../../etc/passwd",
}

func sampleBusyboxTree(t *testing.T) []entry {
	t.Helper()
	entries, err := busyboxTree(busyboxRelease{Upstream: "1.35.0", Package: "1:1.35.0-4"}, sampleApplets, []byte("ELF busybox"))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestBusyboxTreeGolden pins every entry of the busybox template (type,
// mode, name, link target or content digest) and the script texts.
func TestBusyboxTreeGolden(t *testing.T) {
	var b strings.Builder
	for _, e := range sampleBusyboxTree(t) {
		switch e.Type {
		case tar.TypeDir:
			fmt.Fprintf(&b, "d %04o %s/\n", e.Mode, e.Name)
		case tar.TypeSymlink:
			fmt.Fprintf(&b, "l %04o %s -> %s\n", e.Mode, e.Name, e.Link)
		default:
			fmt.Fprintf(&b, "f %04o %s %d %x\n", e.Mode, e.Name, len(e.Data), sha256.Sum256(e.Data))
		}
	}
	golden(t, "busybox-tree.golden", b.String())
	for _, e := range sampleBusyboxTree(t) {
		if e.Name == "etc/os-release" {
			golden(t, "busybox-os-release.golden", string(e.Data))
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestBusyboxTreeNeedsItsApplets(t *testing.T) {
	_, err := busyboxTree(busyboxRelease{Upstream: "1", Package: "1"}, []string{"bin/sh", "sbin/init"}, nil)
	if err == nil || !strings.Contains(err.Error(), "has no getty applet") {
		t.Errorf("busyboxTree without getty = %v", err)
	}
}

func TestTreeRefusesBadEntries(t *testing.T) {
	tr := newTree()
	for _, name := range []string{"", "/etc", "../x", "a/../b", "a/"} {
		if err := tr.add(entry{Name: name, Type: tar.TypeDir}); err == nil {
			t.Errorf("add(%q) accepted", name)
		}
	}
	if err := tr.add(entry{Name: "a", Type: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	if err := tr.add(entry{Name: "a", Type: tar.TypeDir}); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("duplicate: %v", err)
	}
	tr.add(entry{Name: "b/c", Type: tar.TypeReg})
	if _, err := tr.sorted(); err == nil || !strings.Contains(err.Error(), `no parent directory "b"`) {
		t.Errorf("orphan: %v", err)
	}
}

// TestWriteTarIsCanonical reads a written archive back: root first,
// names in order with "./", root ownership by number only, one time.
func TestWriteTarIsCanonical(t *testing.T) {
	entries := sampleBusyboxTree(t)
	mtime := time.Date(2026, 5, 7, 20, 33, 0, 0, time.UTC)
	var one, two bytes.Buffer
	if err := writeTar(tar.NewWriter(&one), entries, mtime); err != nil {
		t.Fatal(err)
	}
	if err := writeTar(tar.NewWriter(&two), entries, mtime.In(time.FixedZone("x", 3600))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Error("the same entries gave different bytes")
	}
	r := tar.NewReader(&one)
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(mtime) {
			t.Errorf("%s: owner %d:%d (%q %q), time %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		if h.Name != "./" && !strings.HasPrefix(h.Name, "./") {
			t.Errorf("name %q lacks ./", h.Name)
		}
		names = append(names, h.Name)
	}
	if len(names) != len(entries)+1 || names[0] != "./" {
		t.Fatalf("read %d members starting %q, wrote %d entries", len(names), names[0], len(entries))
	}
	for i := 2; i < len(names); i++ {
		if strings.TrimSuffix(names[i-1], "/") >= strings.TrimSuffix(names[i], "/") {
			t.Errorf("%q before %q", names[i-1], names[i])
		}
	}
}
