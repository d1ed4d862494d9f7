package ct

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// mountTestService is a container service on a fresh cluster tree holding
// the given container configurations, with a runner that records.
func mountTestService(t *testing.T, confs map[int]string) (*Service, *runner.Recorder) {
	t.Helper()
	ctx := t.Context()
	store, err := cfs.Open(ctx, cfs.Config{Dir: t.TempDir(), NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for vmid, conf := range confs {
		if _, err := store.Apply(ctx, cfs.Write("nodes/n1/lxc/"+strconv.Itoa(vmid)+".conf", []byte(conf))); err != nil {
			t.Fatal(err)
		}
	}
	rec := &runner.Recorder{}
	s := New(Options{Store: store, Node: "n1", Runner: rec, LXCPath: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	return s, rec
}

func TestFsckTarget(t *testing.T) {
	attach := func(volid string) (storage.Attachment, error) {
		switch volid {
		case "local:100/vm-100-disk-0.raw":
			return storage.Attachment{Mount: &storage.Mount{Source: "/var/lib/vz/images/100/vm-100-disk-0.raw", Loop: true}}, nil
		case "lvm:vm-100-disk-0":
			return storage.Attachment{Mount: &storage.Mount{Source: "/dev/vg/vm-100-disk-0"}}, nil
		case "local:subvol-100-disk-0":
			return storage.Attachment{Mount: &storage.Mount{Source: "/var/lib/vz/images/100/subvol-100-disk-0", Bind: true}}, nil
		case "iso:vm-100-disk-0":
			return storage.Attachment{}, nil
		}
		return storage.Attachment{}, errors.New("no such volume")
	}
	for _, tc := range []struct{ key, value, want string }{
		{"rootfs", "local:100/vm-100-disk-0.raw,size=8G", "/var/lib/vz/images/100/vm-100-disk-0.raw"},
		{"mp0", "lvm:vm-100-disk-0,mp=/data", "/dev/vg/vm-100-disk-0"},
		{"mp1", "/dev/sdb1,mp=/srv", "/dev/sdb1"},
		{"rootfs", "local:subvol-100-disk-0,size=8G", "error: is a directory (subvolume)"},
		{"mp2", "/srv/shared,mp=/shared", "error: is the host directory /srv/shared"},
		{"mp3", "iso:vm-100-disk-0,mp=/x", "error: cannot be mounted in a container"},
		{"mp4", "local:gone,mp=/y", "error: mp4: no such volume"},
	} {
		mp, err := ctconf.ParseMountPoint(tc.key, tc.value)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fsckTarget(mp, attach)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want && !(strings.HasPrefix(tc.want, "error: ") && strings.Contains(got, tc.want[7:])) {
			t.Errorf("%s: %s: got %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestRunFsckExitCodes(t *testing.T) {
	for _, tc := range []struct {
		force   bool
		code    int
		wantErr bool
	}{
		{false, 0, false},
		{true, 1, false}, // errors corrected
		{false, 4, true}, // errors left
		{true, 8, true},
	} {
		line := "fsck -a -l /dev/vg/disk"
		if tc.force {
			line = "fsck -a -l -f /dev/vg/disk"
		}
		rec := &runner.Recorder{}
		if tc.code == 0 {
			rec.On(line, "clean\n")
		} else {
			rec.Fail(line, tc.code, "fsck said something")
		}
		log := &taskRecord{}
		err := runFsck(t.Context(), rec, "/dev/vg/disk", tc.force, log)
		if (err != nil) != tc.wantErr {
			t.Errorf("exit code %d: %v", tc.code, err)
		}
		if tc.code == 1 && !strings.Contains(log.text(), "corrected") {
			t.Errorf("exit code 1 not logged as a repair:\n%s", log.text())
		}
	}
}

func TestRunFsckRepairsAnImage(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "debugfs", "fsck", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package e2fsprogs)", tool)
		}
	}
	img := filepath.Join(t.TempDir(), "vm-100-disk-0.raw")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := (runner.Exec{}).Run(ctx, runner.Cmd{Name: "mkfs.ext4", Args: []string{"-q", "-F", img}}); err != nil {
		t.Fatal(err)
	}
	// A wrong link count on the root directory, which automatic repair
	// fixes.
	if _, err := (runner.Exec{}).Run(ctx, runner.Cmd{Name: "debugfs", Args: []string{"-w", "-R", "set_inode_field <2> links_count 7", img}}); err != nil {
		t.Fatal(err)
	}
	log := &taskRecord{}
	if err := runFsck(ctx, runner.Exec{}, img, true, log); err != nil {
		t.Fatalf("fsck: %v\n%s", err, log.text())
	}
	if text := log.text(); !strings.Contains(text, "FIXED") || !strings.Contains(text, "corrected") {
		t.Errorf("the repair is not in the log:\n%s", text)
	}
	log = &taskRecord{}
	if err := runFsck(ctx, runner.Exec{}, img, true, log); err != nil || strings.Contains(log.text(), "corrected") {
		t.Errorf("second check: %v\n%s", err, log.text())
	}
}

func TestFsckTask(t *testing.T) {
	s, rec := mountTestService(t, map[int]string{
		100: "arch: amd64\nrootfs: /dev/vg/ct100,size=8G\nmp0: /srv/data,mp=/data\n",
		101: "arch: amd64\nlock: backup\nrootfs: /dev/vg/ct101\n",
	})
	rec.On("fsck -a -l -f /dev/vg/ct100", "checked\n")
	log := &taskRecord{}
	if err := s.fsck(t.Context(), 100, "rootfs", true, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.text(), "checked") {
		t.Errorf("log:\n%s", log.text())
	}
	for _, tc := range []struct {
		vmid       int
		key, wantE string
	}{
		{100, "mp0", "host directory /srv/data"},
		{100, "mp1", "CT 100 has no mp1"},
		{101, "rootfs", "locked (backup)"},
	} {
		if err := s.fsck(t.Context(), tc.vmid, tc.key, false, &taskRecord{}); err == nil || !strings.Contains(err.Error(), tc.wantE) {
			t.Errorf("CT %d %s: %v, want %q", tc.vmid, tc.key, err, tc.wantE)
		}
	}
	if _, err := s.fsckTask(t.Context(), &api.Call{}, &api.CTFsckParams{VMID: 999}); err == nil {
		t.Error("a task for a container that does not exist")
	}
	if _, err := s.fsckTask(t.Context(), &api.Call{}, &api.CTFsckParams{VMID: 100, Device: "unused0"}); err == nil {
		t.Error("a task for an unused volume")
	}
}

func TestMountAndUnmount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	rootDir, dataDir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(rootDir, "hello"), []byte("root fs"), 0o644)
	os.WriteFile(filepath.Join(dataDir, "data"), []byte("mount point"), 0o644)
	s, _ := mountTestService(t, map[int]string{
		100: "arch: amd64\nrootfs: " + rootDir + "\nmp0: " + dataDir + ",mp=/srv/data\n",
	})
	old := mountBase
	mountBase = t.TempDir()
	t.Cleanup(func() { mountBase = old })
	ctx := t.Context()
	t.Cleanup(func() { hook.UnmountAll(mountRoot(100)) })

	where, err := s.mountCT(ctx, &api.Call{}, &api.CTParam{VMID: 100})
	if err != nil {
		t.Fatal(err)
	}
	if where != filepath.Join(mountBase, "100", "rootfs") {
		t.Errorf("mounted at %s", where)
	}
	for file, want := range map[string]string{"hello": "root fs", "srv/data/data": "mount point"} {
		if data, err := os.ReadFile(filepath.Join(where, file)); err != nil || string(data) != want {
			t.Errorf("%s: %q %v", file, data, err)
		}
	}
	if lock := lockOf(t, s, 100); lock != lockMounted {
		t.Errorf("lock %q after mount", lock)
	}
	// Mounted means locked: no second mount, no fsck.
	if _, err := s.mountCT(ctx, &api.Call{}, &api.CTParam{VMID: 100}); err == nil || !strings.Contains(err.Error(), "locked (mounted)") {
		t.Errorf("second mount: %v", err)
	}
	if err := s.fsck(ctx, 100, "rootfs", false, &taskRecord{}); err == nil || !strings.Contains(err.Error(), "locked (mounted)") {
		t.Errorf("fsck of a mounted container: %v", err)
	}

	if _, err := s.unmountCT(ctx, &api.Call{}, &api.CTParam{VMID: 100}); err != nil {
		t.Fatal(err)
	}
	if hook.Mounted(where) {
		t.Error("still mounted")
	}
	if _, err := os.Stat(filepath.Join(mountBase, "100")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the mount directory stayed: %v", err)
	}
	if lock := lockOf(t, s, 100); lock != "" {
		t.Errorf("lock %q after unmount", lock)
	}
	if _, err := s.unmountCT(ctx, &api.Call{}, &api.CTParam{VMID: 100}); err == nil || !strings.Contains(err.Error(), "not mounted") {
		t.Errorf("second unmount: %v", err)
	}
	// The files are where they were.
	if data, _ := os.ReadFile(filepath.Join(rootDir, "hello")); string(data) != "root fs" {
		t.Errorf("root fs file: %q", data)
	}
}

func TestMountRefusesWithoutARootFS(t *testing.T) {
	s, _ := mountTestService(t, map[int]string{100: "arch: amd64\nlock: snapshot\nrootfs: /srv/ct\n", 101: "arch: amd64\n"})
	old := mountBase
	mountBase = t.TempDir()
	t.Cleanup(func() { mountBase = old })
	ctx := context.Background()
	if _, err := s.mountCT(ctx, &api.Call{}, &api.CTParam{VMID: 100}); err == nil || !strings.Contains(err.Error(), "locked (snapshot)") {
		t.Errorf("locked: %v", err)
	}
	if _, err := s.mountCT(ctx, &api.Call{}, &api.CTParam{VMID: 101}); err == nil || !strings.Contains(err.Error(), "no rootfs") {
		t.Errorf("no rootfs: %v", err)
	}
	if lock := lockOf(t, s, 101); lock != "" {
		t.Errorf("lock %q after a failed mount", lock)
	}
}

func lockOf(t *testing.T, s *Service, vmid int) string {
	t.Helper()
	c, err := s.repo.Load(vmid)
	if err != nil {
		t.Fatal(err)
	}
	return c.Main().Value("lock")
}
