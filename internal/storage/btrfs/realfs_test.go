package btrfs

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// mountBtrfs makes a 1 GiB btrfs on a loop device in a temporary
// directory and mounts it; cleanups unmount it, detach the loop device
// and remove the file, in that order, whatever the test did.
func mountBtrfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a loop-mounted btrfs needs root")
	}
	for _, tool := range []string{"truncate", "mkfs.btrfs", "losetup", "mount", "umount", "btrfs", "qemu-img", "qemu-io", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	ctx := context.Background()
	run := func(name string, args ...string) string {
		t.Helper()
		res, err := runner.Exec{}.Run(ctx, runner.Cmd{Name: name, Args: args})
		if err != nil {
			t.Fatalf("%v", err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "btrfs.img")
	run("truncate", "-s", "1G", img)
	run("mkfs.btrfs", "-f", "-q", img)
	dev := run("losetup", "--find", "--show", img)
	t.Cleanup(func() {
		if _, err := (runner.Exec{}).Run(ctx, runner.Cmd{Name: "losetup", Args: []string{"-d", dev}}); err != nil {
			t.Errorf("detach %s: %v", dev, err)
		}
	})
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run("mount", dev, mnt)
	t.Cleanup(func() {
		if _, err := (runner.Exec{}).Run(ctx, runner.Cmd{Name: "umount", Args: []string{mnt}}); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

func openReal(t *testing.T, path string, props map[string]string) *Store {
	t.Helper()
	cfg := storage.Config{ID: "test", Type: "btrfs", Content: storage.AllContent,
		Props: map[string]string{"path": path, "content": "images,rootdir,vztmpl,iso,backup,snippets,import"}}
	for k, v := range props {
		cfg.Props[k] = v
	}
	s, err := Plugin{}.Open(cfg, storage.Env{Node: "n1", Runner: runner.Exec{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s.(*Store)
}

func btrfsOut(t *testing.T, args ...string) string {
	t.Helper()
	res, err := runner.Exec{}.Run(t.Context(), runner.Cmd{Name: "btrfs", Args: args})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(res.Stdout)
}

func isSubvolume(t *testing.T, p string) bool {
	t.Helper()
	_, err := runner.Exec{}.Run(t.Context(), runner.Cmd{Name: "btrfs", Args: []string{"subvolume", "show", p}})
	return err == nil
}

func TestLayoutOnRealBtrfs(t *testing.T) {
	mnt := mountBtrfs(t)
	s := openReal(t, mnt, map[string]string{"nocow": "yes"})
	ctx := t.Context()
	raw, err := s.Alloc(ctx, 100, "", "raw", 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := s.Alloc(ctx, 100, "", "subvol", 0)
	if err != nil {
		t.Fatal(err)
	}
	if raw != "100/vm-100-disk-0.raw" || sv != "100/subvol-100-disk-1.subvol" {
		t.Fatalf("names = %s, %s", raw, sv)
	}
	for _, p := range []string{"images/100/vm-100-disk-0", "images/100/subvol-100-disk-1.subvol"} {
		if !isSubvolume(t, filepath.Join(mnt, p)) {
			t.Errorf("%s is not a subvolume", p)
		}
	}
	f, err := os.Open(filepath.Join(mnt, "images/100/vm-100-disk-0/disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	f.Close()
	if err != nil || flags&fsNoCOWFlag == 0 {
		t.Errorf("disk.raw flags = %#x, %v; want No_COW (nocow option)", flags, err)
	}
	if err := s.Snapshot(ctx, raw, "s1"); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(mnt, "images/100/vm-100-disk-0@s1")
	if got := btrfsOut(t, "property", "get", snap, "ro"); strings.TrimSpace(got) != "ro=true" {
		t.Errorf("snapshot ro property = %q", got)
	}
	// Snapshots are no volumes of their own.
	vols, err := s.List(ctx, 100, nil)
	if err != nil || len(vols) != 2 || vols[0].Volname != sv || vols[1].Volname != raw || vols[1].Size != 8<<20 {
		t.Errorf("List = %+v, %v", vols, err)
	}
	base, err := s.CreateBase(ctx, raw)
	if err != nil || base != "100/base-100-disk-0.raw" {
		t.Fatalf("CreateBase = %s, %v", base, err)
	}
	if got := btrfsOut(t, "property", "get", filepath.Join(mnt, "images/100/base-100-disk-0"), "ro"); strings.TrimSpace(got) != "ro=true" {
		t.Errorf("base ro property = %q", got)
	}
	// Clones are independent: the base may go while they stay.
	clone, err := s.Clone(ctx, base, 101, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Free(ctx, base); err != nil {
		t.Fatalf("Free(base) with an independent clone: %v", err)
	}
	if exists(snap) || exists(filepath.Join(mnt, "images/100/base-100-disk-0@s1")) {
		t.Error("Free left snapshots behind")
	}
	if v, err := s.Volume(ctx, clone); err != nil || v.Size != 8<<20 || v.Parent != "" {
		t.Errorf("clone after its base went = %+v, %v", v, err)
	}
	for _, v := range []string{clone, sv} {
		if err := s.Free(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(mnt, "images")); len(entries) != 0 {
		t.Errorf("images/ still holds %v", entries)
	}
}

func TestSubvolumeSizeNeedsQuotas(t *testing.T) {
	mnt := mountBtrfs(t)
	s := openReal(t, mnt, nil)
	ctx := t.Context()
	if _, err := s.Alloc(ctx, 100, "", "subvol", 16<<20); err == nil || !strings.Contains(err.Error(), "btrfs quota enable") {
		t.Fatalf("sized subvolume without quotas = %v, want a refusal that says how to enable quotas", err)
	}
	if entries, _ := os.ReadDir(s.ImageDir(100)); len(entries) != 0 {
		t.Fatalf("the refused allocation left %v", entries)
	}
	btrfsOut(t, "quota", "enable", mnt)
	vol, err := s.Alloc(ctx, 100, "", "subvol", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Volume(ctx, vol); err != nil || v.Size != 16<<20 {
		t.Errorf("Volume = %+v, %v; want size 16 MiB from the quota limit", v, err)
	}
	if err := s.Resize(ctx, vol, 32<<20); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Volume(ctx, vol); err != nil || v.Size != 32<<20 {
		t.Errorf("Volume after Resize = %+v, %v", v, err)
	}
	if err := s.Free(ctx, vol); err != nil {
		t.Fatal(err)
	}
}

func TestActivateRefusesOtherFileSystems(t *testing.T) {
	cfg := storage.Config{ID: "test", Type: "btrfs", Props: map[string]string{"path": t.TempDir()}}
	s, err := Plugin{}.Open(cfg, storage.Env{Runner: &runner.Recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(cfg.Props["path"], &st); err == nil && st.Type == unix.BTRFS_SUPER_MAGIC {
		t.Skip("the temporary directory is on btrfs")
	}
	if err := s.Activate(t.Context()); err == nil || !strings.Contains(err.Error(), "not on a btrfs file system") {
		t.Errorf("Activate on a non-btrfs directory = %v", err)
	}
}
