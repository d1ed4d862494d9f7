package dir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
)

func TestFreeRefusesBaseWithLinkedClones(t *testing.T) {
	needTools(t, "qemu-img", "chattr")
	root := t.TempDir()
	s := open(t, runner.Exec{}, root, nil)
	ctx := t.Context()
	vol, err := s.Alloc(ctx, 100, "", "raw", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.CreateBase(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	if base != "100/base-100-disk-0.raw" {
		t.Fatalf("CreateBase = %s", base)
	}
	if st, err := os.Stat(filepath.Join(root, "images/100/base-100-disk-0.raw")); err != nil || st.Mode().Perm() != 0o444 {
		t.Errorf("base file mode = %v, %v; want read-only 0444", st.Mode(), err)
	}
	c1, err := s.Clone(ctx, base, 101, "")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.Clone(ctx, base, 101, "")
	if err != nil {
		t.Fatal(err)
	}
	if c1 != "100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2" || c2 != "100/base-100-disk-0.raw/101/vm-101-disk-1.qcow2" {
		t.Fatalf("clones = %s, %s", c1, c2)
	}
	// The backing file is relative, so the storage may move.
	b, err := qcow2Backing(filepath.Join(root, "images/101/vm-101-disk-0.qcow2"))
	if err != nil || b != "../100/base-100-disk-0.raw" {
		t.Errorf("backing file = %q, %v", b, err)
	}
	err = s.Free(ctx, base)
	if err == nil || !strings.Contains(err.Error(), "still in use by linked clone") || !strings.Contains(err.Error(), c1) || !strings.Contains(err.Error(), c2) {
		t.Fatalf("Free(base) = %v, want a refusal naming both clones", err)
	}
	if _, err := s.Volume(ctx, base); err != nil {
		t.Fatalf("base gone after refused Free: %v", err)
	}
	for _, bad := range []struct{ vol, snap, says string }{
		{vol, "", "template base volumes only"},
		{"100/base-100-disk-9.raw", "", "does not exist"},
		{base, "snap", "snapshots"},
		{c1, "", "template base volumes only"},
	} {
		if _, err := s.Clone(ctx, bad.vol, 102, bad.snap); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("Clone(%s, %q) = %v, want an error saying %q", bad.vol, bad.snap, err, bad.says)
		}
	}
	if _, err := s.Rename(ctx, base, 102, ""); err == nil {
		t.Error("Rename of a base succeeded")
	}
	// A renamed clone keeps its base.
	moved, err := s.Rename(ctx, c2, 102, "")
	if err != nil || moved != "100/base-100-disk-0.raw/102/vm-102-disk-0.qcow2" {
		t.Fatalf("Rename(clone) = %s, %v", moved, err)
	}
	for _, v := range []string{c1, moved} {
		if err := s.Free(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Free(ctx, base); err != nil {
		t.Fatalf("Free(base) without clones: %v", err)
	}
	if left := dirsBelow(t, filepath.Join(root, "images")); len(left) != 0 {
		t.Errorf("empty guest directories left: %v", left)
	}
}

func TestCloneCommandLine(t *testing.T) {
	root := t.TempDir()
	basePath := filepath.Join(root, "images/100/base-100-disk-0.qcow2")
	if err := os.MkdirAll(filepath.Dir(basePath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(basePath, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	rec := (&runner.Recorder{}).OnPrefix("qemu-img create ", "")
	s := open(t, rec, root, nil)
	got, err := s.Clone(t.Context(), "100/base-100-disk-0.qcow2", 101, "")
	if err != nil || got != "100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2" {
		t.Fatalf("Clone = %s, %v", got, err)
	}
	want := []string{"qemu-img create -b ../100/base-100-disk-0.qcow2 -F qcow2 -f qcow2 " + filepath.Join(root, "images/101/vm-101-disk-0.qcow2")}
	if !slices.Equal(rec.Lines(), want) {
		t.Errorf("ran %q, want %q", rec.Lines(), want)
	}
}

func TestCreateBaseCommandLine(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "images/100/vm-100-disk-0.qcow2")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	newPath := filepath.Join(root, "images/100/base-100-disk-0.qcow2")
	// chattr fails on file systems without the flag; that only warns.
	rec := (&runner.Recorder{}).Fail("chattr +i "+newPath, 1, "chattr: Operation not supported while setting flags on "+newPath+"\n")
	s := open(t, rec, root, nil)
	got, err := s.CreateBase(t.Context(), "100/vm-100-disk-0.qcow2")
	if err != nil || got != "100/base-100-disk-0.qcow2" {
		t.Fatalf("CreateBase = %s, %v", got, err)
	}
	if !slices.Equal(rec.Lines(), []string{"chattr +i " + newPath}) {
		t.Errorf("ran %q", rec.Lines())
	}
	if _, err := s.CreateBase(t.Context(), got); err == nil {
		t.Error("CreateBase of a base succeeded")
	}
}

func TestQcow2BackingHeader(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hdr := func(off uint64, n uint32) []byte {
		h := make([]byte, 72)
		copy(h, "QFI\xfb\x00\x00\x00\x03")
		for i := 0; i < 8; i++ {
			h[8+i] = byte(off >> (56 - 8*i))
		}
		for i := 0; i < 4; i++ {
			h[16+i] = byte(n >> (24 - 8*i))
		}
		return h
	}
	withName := append(hdr(72, 26), "../100/base-100-disk-0.raw"...)
	for _, tc := range []struct {
		name string
		data []byte
		want string
		bad  bool
	}{
		{"clone", withName, "../100/base-100-disk-0.raw", false},
		{"no backing", hdr(0, 0), "", false},
		{"raw data", []byte("just some raw bytes here...."), "", false},
		{"short", []byte("QF"), "", false},
		{"name past the end", hdr(72, 40), "", true},
		{"absurd length", hdr(72, 5000), "", true},
	} {
		got, err := qcow2Backing(write(tc.name, tc.data))
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("%s: qcow2Backing = %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.bad)
		}
	}
}

func TestBackupNotesAndProtection(t *testing.T) {
	root := t.TempDir()
	s := open(t, &runner.Recorder{}, root, map[string]string{"content": "backup", "max-protected-backups": "1"})
	ctx := t.Context()
	if err := s.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	names := []string{"vzdump-lxc-100-2024_05_06-07_08_09.tar.zst", "vzdump-lxc-100-2024_05_07-07_08_09.tar.zst"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(root, "dump", n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "dump", "vzdump-lxc-100-2024_05_06-07_08_09.log"), []byte("log"), 0o644); err != nil {
		t.Fatal(err)
	}
	v0, v1 := "backup/"+names[0], "backup/"+names[1]
	if err := s.SetNotes(ctx, v0, "before upgrade\ndetails"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Notes(ctx, v0); err != nil || n != "before upgrade\ndetails" {
		t.Errorf("Notes = %q, %v", n, err)
	}
	if err := s.SetProtected(ctx, v0, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetProtected(ctx, v0, true); err != nil {
		t.Errorf("protecting again: %v", err)
	}
	if err := s.SetProtected(ctx, v1, true); err == nil || !strings.Contains(err.Error(), "limited to 1") {
		t.Errorf("protecting a second backup with max-protected-backups 1 = %v", err)
	}
	vols, err := s.List(ctx, 100, nil)
	if err != nil || len(vols) != 2 {
		t.Fatalf("List = %+v, %v (the log must not be listed)", vols, err)
	}
	if v := vols[0]; v.Volname != v0 || v.Notes != "before upgrade" || !v.Protected || v.VMID != 100 || v.Format != "tar.zst" {
		t.Errorf("List[0] = %+v", v)
	}
	if err := s.Free(ctx, v0); err == nil || !strings.Contains(err.Error(), "protected") {
		t.Errorf("Free(protected) = %v", err)
	}
	if err := s.SetProtected(ctx, v0, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Free(ctx, v0); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "dump"))
	if len(entries) != 1 || entries[0].Name() != names[1] {
		t.Errorf("dump/ after Free holds %v, want only %s (notes and log go with the archive)", entries, names[1])
	}
	if err := s.SetNotes(ctx, "iso/x.iso", "n"); err == nil {
		t.Error("notes on an ISO image were accepted")
	}
	if _, err := s.Protected(ctx, "backup/missing.vma"); err == nil {
		t.Error("Protected of a missing backup succeeded")
	}
}

func TestExportFormats(t *testing.T) {
	s := open(t, &runner.Recorder{}, t.TempDir(), nil)
	for vol, want := range map[string][]string{
		"100/vm-100-disk-0.raw":        {"raw+size"},
		"100/vm-100-disk-0.qcow2":      {"qcow2+size", "raw+size"},
		"100/vm-100-disk-0.vmdk":       {"vmdk+size", "raw+size"},
		"100/subvol-100-disk-0.subvol": {"tar+size"},
		"iso/x.iso":                    nil,
	} {
		if got := s.ExportFormats(t.Context(), vol); !slices.Equal(got, want) {
			t.Errorf("ExportFormats(%s) = %v, want %v", vol, got, want)
		}
	}
	if _, err := s.Import(t.Context(), strings.NewReader("12345678"), 100, "", "zfs"); err == nil {
		t.Error("Import of an unknown format succeeded")
	}
}
