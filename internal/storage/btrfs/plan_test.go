package btrfs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// fakeBtrfs answers through a Recorder (so the exact command plan is
// checked) and imitates what the btrfs subvolume commands do to the
// directory tree, with plain directories, so the code around them runs
// as on a real file system.
type fakeBtrfs struct{ *runner.Recorder }

func (f fakeBtrfs) Run(ctx context.Context, c runner.Cmd) (runner.Result, error) {
	res, err := f.Recorder.Run(ctx, c)
	if err != nil || c.Name != "btrfs" {
		return res, err
	}
	args := slices.Clone(c.Args)
	if args[0] == "-q" {
		args = args[1:]
	}
	if len(args) < 2 || args[0] != "subvolume" {
		return res, nil
	}
	last := args[len(args)-1]
	switch args[1] {
	case "create":
		err = os.Mkdir(last, 0o755)
	case "snapshot":
		err = os.CopyFS(last, os.DirFS(args[len(args)-2]))
	case "delete":
		for _, p := range args[slices.Index(args, "--")+1:] {
			if e := os.RemoveAll(p); e != nil {
				err = e
			}
		}
	}
	return res, err
}

func planStore(t *testing.T, props map[string]string) (*Store, *runner.Recorder, string) {
	t.Helper()
	root := t.TempDir()
	cfg := storage.Config{ID: "test", Type: "btrfs", Props: map[string]string{"path": root}}
	for k, v := range props {
		cfg.Props[k] = v
	}
	rec := &runner.Recorder{}
	s, err := NewStore(cfg, storage.Env{Node: "n1", Runner: fakeBtrfs{rec}, Log: slog.New(slog.DiscardHandler)}, cfg.Props["path"])
	if err != nil {
		t.Fatal(err)
	}
	return s, rec, root
}

func checkPlan(t *testing.T, rec *runner.Recorder, root string, want ...string) {
	t.Helper()
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "$R", root)
	}
	if got := rec.Lines(); !slices.Equal(got, want) {
		t.Errorf("ran\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	rec.Reset()
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestRawImagePlan(t *testing.T) {
	s, rec, root := planStore(t, nil)
	ctx := t.Context()
	rec.OnPrefix("btrfs -q subvolume ", "").OnPrefix("btrfs -q property set ", "").
		OnPrefix("qemu-img info --output=json -f raw ", fixture(t, "qemu-img-info-raw.json")).OnPrefix("qemu-img resize ", "")

	vol, err := s.Alloc(ctx, 100, "", "raw", 4<<20)
	if err != nil || vol != "100/vm-100-disk-0.raw" {
		t.Fatalf("Alloc = %s, %v", vol, err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume create -- $R/images/100/vm-100-disk-0")
	if st, err := os.Stat(filepath.Join(root, "images/100/vm-100-disk-0/disk.raw")); err != nil || st.Size() != 4<<20 {
		t.Fatalf("disk.raw: %v, %v", st, err)
	}

	v, err := s.Volume(ctx, vol)
	if err != nil || v.Size != 4<<20 || v.Format != "raw" || v.Volname != vol {
		t.Errorf("Volume = %+v, %v", v, err)
	}
	checkPlan(t, rec, root, "qemu-img info --output=json -f raw $R/images/100/vm-100-disk-0/disk.raw")

	for _, snap := range []string{"s1", "s2"} {
		if err := s.Snapshot(ctx, vol, snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(ctx, vol, "s1"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second snapshot s1 = %v", err)
	}
	checkPlan(t, rec, root,
		"btrfs -q subvolume snapshot -r -- $R/images/100/vm-100-disk-0 $R/images/100/vm-100-disk-0@s1",
		"btrfs -q subvolume snapshot -r -- $R/images/100/vm-100-disk-0 $R/images/100/vm-100-disk-0@s2")

	if err := s.Rollback(ctx, vol, "s1"); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("$R/images/100/vm-100-disk-0.tmp.%d", os.Getpid())
	checkPlan(t, rec, root,
		"btrfs -q subvolume snapshot -- $R/images/100/vm-100-disk-0@s1 "+tmp,
		"btrfs -q subvolume delete -- "+tmp)

	if err := s.DeleteSnapshot(ctx, vol, "s2"); err != nil {
		t.Fatal(err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume delete -- $R/images/100/vm-100-disk-0@s2")

	if err := s.Resize(ctx, vol, 8<<20); err != nil {
		t.Fatal(err)
	}
	checkPlan(t, rec, root, "qemu-img resize -f raw $R/images/100/vm-100-disk-0/disk.raw 8388608")

	clone, err := s.Clone(ctx, vol, 101, "s1")
	if err != nil || clone != "101/vm-101-disk-0.raw" {
		t.Fatalf("Clone = %s, %v", clone, err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume snapshot -- $R/images/100/vm-100-disk-0@s1 $R/images/101/vm-101-disk-0")

	base, err := s.CreateBase(ctx, vol)
	if err != nil || base != "100/base-100-disk-0.raw" {
		t.Fatalf("CreateBase = %s, %v", base, err)
	}
	checkPlan(t, rec, root, "btrfs -q property set $R/images/100/base-100-disk-0 ro true")
	if !exists(filepath.Join(root, "images/100/base-100-disk-0@s1/disk.raw")) {
		t.Error("the snapshot did not move with its volume")
	}

	if err := s.Free(ctx, base); err != nil {
		t.Fatal(err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume delete -- $R/images/100/base-100-disk-0@s1 $R/images/100/base-100-disk-0")
	if exists(filepath.Join(root, "images/100")) {
		t.Error("Free left the empty guest directory")
	}
}

func TestSubvolPlan(t *testing.T) {
	s, rec, root := planStore(t, nil)
	ctx := t.Context()
	sub := filepath.Join(root, "images/100/subvol-100-disk-0.subvol")
	rec.OnPrefix("btrfs -q subvolume ", "").
		On("btrfs -q qgroup limit 16777216 "+sub, "").
		On("btrfs qgroup show -re --raw -f "+sub, fixture(t, "qgroup-show-limited.txt")).
		Fail("btrfs -q qgroup limit 16777216 "+filepath.Join(root, "images/100/subvol-100-disk-1.subvol"), 1,
			"ERROR: unable to limit requested quota group: quota not enabled\n")

	vol, err := s.Alloc(ctx, 100, "", "subvol", 16<<20)
	if err != nil || vol != "100/subvol-100-disk-0.subvol" {
		t.Fatalf("Alloc = %s, %v", vol, err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume create -- $R/images/100/subvol-100-disk-0.subvol",
		"btrfs -q qgroup limit 16777216 $R/images/100/subvol-100-disk-0.subvol")
	v, err := s.Volume(ctx, vol)
	if err != nil || v.Size != 16<<20 || v.Used != 16384 || v.Content != storage.Rootdir {
		t.Errorf("Volume = %+v, %v", v, err)
	}
	rec.Reset()

	// Without quotas the half-made subvolume goes again.
	_, err = s.Alloc(ctx, 100, "", "subvol", 16<<20)
	if err == nil || !strings.Contains(err.Error(), "quota not enabled") || !strings.Contains(err.Error(), "btrfs quota enable") {
		t.Errorf("Alloc without quotas = %v", err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume create -- $R/images/100/subvol-100-disk-1.subvol",
		"btrfs -q qgroup limit 16777216 $R/images/100/subvol-100-disk-1.subvol",
		"btrfs -q subvolume delete -- $R/images/100/subvol-100-disk-1.subvol")

	if err := s.Snapshot(ctx, vol, "before"); err != nil {
		t.Fatal(err)
	}
	checkPlan(t, rec, root, "btrfs -q subvolume snapshot -r -- $R/images/100/subvol-100-disk-0.subvol $R/images/100/subvol-100-disk-0.subvol@before")
	if _, err := s.Clone(ctx, vol, 101, ""); err == nil {
		t.Error("Clone of a guest's subvolume succeeded; only templates are cloned")
	}
	moved, err := s.Rename(ctx, vol, 102, "")
	if err != nil || moved != "102/subvol-102-disk-0.subvol" {
		t.Fatalf("Rename = %s, %v", moved, err)
	}
	if !exists(filepath.Join(root, "images/102/subvol-102-disk-0.subvol@before")) {
		t.Error("the snapshot did not move with its volume")
	}
	checkPlan(t, rec, root)
}

func TestExportPlan(t *testing.T) {
	s, rec, root := planStore(t, nil)
	ctx := t.Context()
	rec.OnPrefix("btrfs -q subvolume ", "").On("btrfs -q send -e -- "+filepath.Join(root, "images/100/vm-100-disk-0@s1"), "STREAM")
	vol, err := s.Alloc(ctx, 100, "", "raw", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(ctx, vol, "s1"); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	var out bytes.Buffer
	if err := s.Export(ctx, vol, "btrfs", "s1", &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "STREAM" {
		t.Errorf("stream = %q", out.String())
	}
	checkPlan(t, rec, root, "btrfs -q send -e -- $R/images/100/vm-100-disk-0@s1")

	// The current state is sent from a temporary read-only snapshot.
	rec.OnPrefix("btrfs -q send -e -- "+filepath.Join(root, "images/100/vm-100-disk-0@__export_"), "")
	if err := s.Export(ctx, vol, "btrfs", "", &out); err != nil {
		t.Fatal(err)
	}
	lines := rec.Lines()
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "btrfs -q subvolume snapshot -r -- "+filepath.Join(root, "images/100/vm-100-disk-0")+" ") ||
		!strings.HasPrefix(lines[1], "btrfs -q send -e -- ") || !strings.HasPrefix(lines[2], "btrfs -q subvolume delete -- ") {
		t.Errorf("ran %q", lines)
	}
	if got := s.ExportFormats(ctx, vol); !slices.Equal(got, []string{"raw+size", "btrfs"}) {
		t.Errorf("ExportFormats = %v", got)
	}
	if _, err := s.Import(ctx, strings.NewReader(""), 101, "vm-101-disk-0.qcow2", "btrfs"); err == nil {
		t.Error("a btrfs stream was imported as qcow2")
	}
	if _, err := s.Import(ctx, strings.NewReader(""), 101, "", "qcow2+size"); err == nil {
		t.Error("a qcow2 stream was imported into btrfs")
	}
}

func TestOpenOptions(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		ok    bool
	}{
		{map[string]string{"nocow": "1", "preallocation": "falloc", "format": "subvol"}, true},
		{map[string]string{"format": "qcow2"}, false},
		{map[string]string{"nocow": "maybe"}, false},
		{map[string]string{"path": "relative"}, false},
		{map[string]string{"path": ""}, false},
	} {
		cfg := storage.Config{ID: "test", Type: "btrfs", Props: map[string]string{"path": "/srv/btrfs"}}
		for k, v := range tc.props {
			cfg.Props[k] = v
		}
		_, err := Plugin{}.Open(cfg, storage.Env{Runner: &runner.Recorder{}})
		if (err == nil) != tc.ok {
			t.Errorf("Open(%v) = %v, want ok=%v", tc.props, err, tc.ok)
		}
	}
	opts := Plugin{}.Info().Options
	if o := opts["path"]; !o.Required || !o.Fixed {
		t.Errorf("path option = %+v, want required and fixed", o)
	}
	for _, k := range []string{"nocow", "is_mountpoint", "create-subdirs", "preallocation", "prune-backups"} {
		if _, ok := opts[k]; !ok {
			t.Errorf("option %s missing", k)
		}
	}
	for _, k := range []string{"content-dirs", "bwlimit"} {
		if _, ok := opts[k]; ok {
			t.Errorf("option %s is not a btrfs option in Proxmox VE", k)
		}
	}
}
