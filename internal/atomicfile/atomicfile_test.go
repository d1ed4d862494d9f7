package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWholeFilesWithTheirMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	if err := Write(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("second"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	st, _ := os.Stat(p)
	if err != nil || string(b) != "second" || st.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %v err %v", b, st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, TempPrefix+"active-1"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600)
	RemoveTemps(dir)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "keep" {
		t.Fatalf("left: %v", entries)
	}
}
