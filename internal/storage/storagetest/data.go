package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// patternLen is how much of a volume the suite writes and checks.
const patternLen = 64 << 10

// patternFile holds the pattern inside subvolumes.
const patternFile = "storagetest-pattern"

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// subvolDir is where a subvolume attachment's files are.
func subvolDir(a storage.Attachment) string {
	if a.Mount != nil && a.Mount.Bind {
		return a.Mount.Source
	}
	return a.Path
}

// writePattern fills the first 64 KiB of the volume (a file inside a
// subvolume) with b through its attachment. It reports false, and the
// suite checks no data, when the volume has no local path it can use.
func writePattern(t *testing.T, a storage.Attachment, format string, b byte) bool {
	t.Helper()
	ctx := t.Context()
	buf := bytes.Repeat([]byte{b}, patternLen)
	switch {
	case format == "subvol":
		dir := subvolDir(a)
		if dir == "" || !exists(dir) {
			t.Logf("no data check: subvolume attachment has no local directory: %+v", a)
			return false
		}
		if err := os.WriteFile(filepath.Join(dir, patternFile), buf, 0o644); err != nil {
			t.Fatalf("write pattern into %s: %v", dir, err)
		}
		return true
	case a.Path == "" || !exists(a.Path):
		t.Logf("no data check: attachment has no local path: %+v", a)
		return false
	case format == "raw":
		f, err := os.OpenFile(a.Path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatalf("open %s for writing: %v", a.Path, err)
		}
		defer f.Close()
		if _, err := f.WriteAt(buf, 0); err != nil {
			t.Fatalf("write pattern to %s: %v", a.Path, err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("sync %s: %v", a.Path, err)
		}
		return true
	default:
		if err := qemuIO(ctx, false, format, a.Path, fmt.Sprintf("write -P 0x%02x 0 %d", b, patternLen)); err != nil {
			t.Logf("no data check: %v", err)
			return false
		}
		return true
	}
}

// checkPattern fails the test unless the first 64 KiB hold b.
func checkPattern(t *testing.T, a storage.Attachment, format string, b byte) {
	t.Helper()
	want := bytes.Repeat([]byte{b}, patternLen)
	switch {
	case format == "subvol":
		got, err := os.ReadFile(filepath.Join(subvolDir(a), patternFile))
		if err != nil {
			t.Fatalf("read pattern from subvolume: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("subvolume %s does not hold the pattern 0x%02x", subvolDir(a), b)
		}
	case format == "raw":
		f, err := os.Open(a.Path)
		if err != nil {
			t.Fatalf("open %s: %v", a.Path, err)
		}
		defer f.Close()
		got := make([]byte, patternLen)
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatalf("read %s: %v", a.Path, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s does not hold the pattern 0x%02x (starts with 0x%02x)", a.Path, b, got[0])
		}
	default:
		if err := qemuIO(t.Context(), true, format, a.Path, fmt.Sprintf("read -P 0x%02x 0 %d", b, patternLen)); err != nil {
			t.Fatalf("%s does not hold the pattern 0x%02x: %v", a.Path, b, err)
		}
	}
}

// qemuIO runs one qemu-io command on an image; a failed pattern check
// makes qemu-io exit non-zero.
func qemuIO(ctx context.Context, readOnly bool, format, file, command string) error {
	args := []string{"-f", format, "-c", command, file}
	if readOnly {
		args = append([]string{"-r"}, args...)
	}
	_, err := runner.Exec{}.Run(ctx, runner.Cmd{Name: "qemu-io", Args: args})
	return err
}

// contentFiles are the files the suite puts into each content directory.
func contentFile(c storage.Content, vmid int) string {
	switch c {
	case storage.ISO:
		return "storagetest.iso"
	case storage.VZTmpl:
		return "storagetest.tar.zst"
	case storage.Backup:
		return fmt.Sprintf("vzdump-qemu-%d-2024_01_02-03_04_05.vma.zst", vmid)
	case storage.Snippets:
		return "storagetest.yaml"
	case storage.Import:
		return "storagetest.ova"
	}
	return ""
}

func testContentDirs(t *testing.T, s storage.Storage, fs storage.FileStore, o Options, vmid int) {
	ctx := t.Context()
	for _, c := range o.Content {
		dir, err := fs.ContentDir(c)
		if err != nil {
			t.Errorf("ContentDir(%s): %v", c, err)
			continue
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Errorf("ContentDir(%s) = %s, which is not a directory after Activate (%v)", c, dir, err)
			continue
		}
		name := contentFile(c, vmid)
		if name == "" {
			continue
		}
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, bytes.Repeat([]byte{1}, 4096), 0o644); err != nil {
			t.Fatalf("write %s: %v", file, err)
		}
		volname := storage.FileVolname(storage.Vol{Content: c, Name: name})
		listVMID := 0
		if c == storage.Backup {
			listVMID = vmid
			if err := os.WriteFile(file+".notes", []byte("first line\nsecond line\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file+".protected", nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		v, ok := listNames(t, s, listVMID, []storage.Content{c})[volname]
		if !ok {
			t.Errorf("List(%s) misses %s", c, volname)
		} else if v.Content != c || v.Size != 4096 {
			t.Errorf("List(%s): %s = %+v, want content %s and size 4096", c, volname, v, c)
		}
		if c == storage.Backup && ok {
			want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.Local).Unix()
			if v.VMID != vmid || v.Notes != "first line" || !v.Protected || v.CTime != want {
				t.Errorf("List(backup): %+v, want guest %d, notes %q, protected, ctime %d", v, vmid, "first line", want)
			}
			if err := s.Free(ctx, volname); err == nil {
				t.Errorf("Free(%s) of a protected backup succeeded", volname)
			}
			if err := os.Remove(file + ".protected"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Free(ctx, volname); err != nil {
			t.Errorf("Free(%s): %v", volname, err)
		}
		if exists(file) || exists(file+".notes") {
			t.Errorf("Free(%s) left %s or its notes", volname, file)
		}
		if _, ok := listNames(t, s, listVMID, []storage.Content{c})[volname]; ok {
			t.Errorf("List(%s) after Free still shows %s", c, volname)
		}
	}
}
