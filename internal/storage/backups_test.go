package storage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
)

// tarWith builds a tar holding a container's vzdump configuration.
func tarWith(t *testing.T, conf string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range []struct{ name, body string }{{"./etc/hostname", "ct\n"}, {"./etc/vzdump/pct.conf", conf}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body))})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return b.Bytes()
}

func TestArchiveConfigReadsTheGuestConfiguration(t *testing.T) {
	const conf = "arch: amd64\nhostname: ct\nmemory: 512\n"
	dir := t.TempDir()
	plain := tarWith(t, conf)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	files := map[string][]byte{
		"vzdump-lxc-100-2024_01_01-00_00_00.tar":    plain,
		"vzdump-lxc-100-2024_01_01-00_00_00.tar.gz": gz.Bytes(),
	}
	if zstd, err := exec.LookPath("zstd"); err == nil {
		cmd := exec.Command(zstd, "-q", "-c")
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		files["vzdump-lxc-100-2024_01_01-00_00_00.tar.zst"] = out
	} else {
		t.Log("zstd is not installed: the .tar.zst case is not checked")
	}
	s := New(Options{Env: Env{Runner: runner.Exec{}}})
	for name, data := range files {
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o644)
		got, err := s.ArchiveConfig(context.Background(), path)
		if err != nil || got != conf {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
	empty := filepath.Join(dir, "vzdump-lxc-101-2024_01_01-00_00_00.tar")
	os.WriteFile(empty, func() []byte { var b bytes.Buffer; tar.NewWriter(&b).Close(); return b.Bytes() }(), 0o644)
	if _, err := s.ArchiveConfig(context.Background(), empty); err == nil || !strings.Contains(err.Error(), "no guest configuration") {
		t.Errorf("archive without a configuration: %v", err)
	}
	if _, err := s.ArchiveConfig(context.Background(), filepath.Join(dir, "vzdump-qemu-100-2024_01_01-00_00_00.vma.zst")); err == nil || !strings.Contains(err.Error(), "VMA") {
		t.Errorf("VMA archive: %v", err)
	}
}
