package nfs

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
	"github.com/hearth-virt/hearth/internal/storage/nfstest"
	"github.com/hearth-virt/hearth/internal/storage/storagetest"
)

func openUser(t *testing.T, cfg storage.Config, env storage.Env, dial netfs.DialFunc) *UserStore {
	t.Helper()
	s, err := Plugin{Mode: Userspace, Dial: dial}.Open(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	us, ok := s.(*UserStore)
	if !ok {
		t.Fatalf("Open in userspace mode returned %T", s)
	}
	return us
}

// The fixtures nfs-ls-*.txt and qemu-img-info-*.json are output captured
// against ganesha (nfstest).
func TestParseNFSLs(t *testing.T) {
	entries, _, _, ok := parseNFSLs(fixture(t, "nfs-ls-images.txt"))
	want := []lsEntry{{true, 4096, "100"}, {false, 3145728, "100/vm-100-disk-1.raw"}, {false, 3, "100/notes.txt"},
		{false, 327747, "100/vm-100-disk-0.qcow2"}, {false, 196616, "100/vm-100-disk-2.qcow2"}, {true, 4096, "99"},
		{false, 196616, "99/base-99-disk-0.qcow2"}, {false, 196616, "99/vm-99-disk-9.qcow2"}}
	if !reflect.DeepEqual(entries, want) || ok {
		t.Errorf("listing: %+v (summary %v)", entries, ok)
	}
	entries, free, total, ok := parseNFSLs(fixture(t, "nfs-ls-summary.txt"))
	if len(entries) != 1 || entries[0].Name != "images" || !ok || free != 251886243840 || total != 270553174016 {
		t.Errorf("summary: %d of %d (%v)", free, total, ok)
	}
	entries, _, _, _ = parseNFSLs(fixture(t, "nfs-ls-iso.txt"))
	if len(entries) != 2 || entries[1].Name != "debian 12 netinst.iso" {
		t.Errorf("a name with spaces: %+v", entries)
	}
}

func TestUserspacePlan(t *testing.T) {
	ctx := context.Background()
	rec := &runner.Recorder{}
	env := storage.Env{Node: "n1", Runner: rec, StateDir: t.TempDir()}
	cfg := nfsConfig("nas", map[string]string{"content": "images,iso,backup", "server": "fd00::10"})
	cfg.Content = []storage.Content{storage.Images, storage.ISO, storage.Backup}
	s := openUser(t, cfg, env, nil)
	url := "nfs://[fd00::10]/space/pve/"
	// Cmd.String quotes arguments with brackets.
	q := func(cmd, u string) string { return cmd + " '" + u + "'" }

	rec.On(q("nfs-ls -s", url), fixture(t, "nfs-ls-summary.txt"))
	st, err := s.Status(ctx)
	if err != nil || !st.Active || st.Total != 270553174016 || st.Avail != 251886243840 || st.Used != st.Total-st.Avail {
		t.Errorf("Status: %+v, %v", st, err)
	}

	rec.On(q("nfs-ls -R", url+"images"), fixture(t, "nfs-ls-images.txt"))
	rec.On(q("qemu-img info --output=json -f raw", url+"images/100/vm-100-disk-1.raw"), fixture(t, "qemu-img-info-raw.json"))
	rec.On(q("qemu-img info --output=json -f qcow2", url+"images/100/vm-100-disk-0.qcow2"), fixture(t, "qemu-img-info-snap.json"))
	rec.On(q("qemu-img info --output=json -f qcow2", url+"images/100/vm-100-disk-2.qcow2"), fixture(t, "qemu-img-info-clone.json"))
	rec.On(q("qemu-img info --output=json -f qcow2", url+"images/99/base-99-disk-0.qcow2"), fixture(t, "qemu-img-info-snap.json"))
	rec.On(q("qemu-img info --output=json -f qcow2", url+"images/99/vm-99-disk-9.qcow2"), fixture(t, "qemu-img-info-snap.json"))
	rec.On(q("nfs-ls", url+"template/iso"), fixture(t, "nfs-ls-iso.txt"))
	rec.On(q("nfs-ls", url+"dump"), fixture(t, "nfs-ls-dump.txt"))
	vols, err := s.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		names = append(names, v.Volname)
	}
	// notes.txt is no volume, nor is a log, nor an ISO name with spaces,
	// nor anything of guest 99 (ids start at 100), which also makes
	// vm-100-disk-2 no linked clone.
	wantNames := []string{"100/vm-100-disk-0.qcow2", "100/vm-100-disk-1.raw", "100/vm-100-disk-2.qcow2",
		"backup/vzdump-qemu-100-2024_01_02-03_04_05.vma.zst", "backup/vzdump-qemu-101-2024_01_02-03_04_05.vma.zst",
		"iso/debian-12.iso"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("List:\n got %q\nwant %q", names, wantNames)
	}
	byName := map[string]storage.Volume{}
	for _, v := range vols {
		byName[v.Volname] = v
	}
	if c := byName["100/vm-100-disk-2.qcow2"]; c.Parent != "" || c.Size != 1048576 || c.VMID != 100 {
		t.Errorf("entry with a foreign backing file: %+v", c)
	}
	if r := byName["100/vm-100-disk-1.raw"]; r.Size != 3145728 || r.Format != "raw" {
		t.Errorf("raw entry: %+v", r)
	}
	if b := byName["backup/vzdump-qemu-101-2024_01_02-03_04_05.vma.zst"]; b.VMID != 101 || b.Size != 3 ||
		b.CTime != time.Date(2024, 1, 2, 3, 4, 5, 0, time.Local).Unix() {
		t.Errorf("backup entry: %+v", b)
	}
	vols, err = s.List(ctx, 101, nil)
	if err != nil || len(vols) != 1 || vols[0].VMID != 101 || vols[0].Content != storage.Backup {
		t.Errorf("List(101): %+v, %v", vols, err)
	}
	vols, err = s.List(ctx, 0, []storage.Content{storage.ISO})
	if err != nil || len(vols) != 1 || vols[0].Volname != "iso/debian-12.iso" {
		t.Errorf("List(iso): %+v, %v", vols, err)
	}

	rec.On(q("qemu-img resize -f qcow2", url+"images/100/vm-100-disk-0.qcow2")+" 8388608", "Image resized.\n")
	if err := s.Resize(ctx, "100/vm-100-disk-0.qcow2", 8<<20); err != nil {
		t.Error(err)
	}
	if err := s.Resize(ctx, "100/base-100-disk-0.qcow2", 8<<20); err == nil {
		t.Error("resized a base volume")
	}
	rec.On(q("qemu-img info --output=json -f qcow2", url+"images/100/vm-100-disk-3.qcow2"), fixture(t, "qemu-img-info-snap.json"))
	rec.On(q("qemu-img snapshot -a s1", url+"images/100/vm-100-disk-3.qcow2"), "")
	if err := s.Rollback(ctx, "100/vm-100-disk-3.qcow2", "s1"); err != nil {
		t.Error(err)
	}
	if err := s.Snapshot(ctx, "100/vm-100-disk-3.qcow2", "s1"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate snapshot: %v", err)
	}
	if err := s.Snapshot(ctx, "100/vm-100-disk-1.raw", "s1"); err == nil {
		t.Error("snapshot of a raw image")
	}
	for _, bad := range []string{"100/subvol-100-disk-0.subvol", "../x", "100/vm-100-disk-0?x.raw"} {
		if _, err := s.Attach(ctx, bad, ""); err == nil {
			t.Errorf("Attach(%s) succeeded", bad)
		}
	}
	if _, err := s.Alloc(ctx, 100, "", "subvol", 0); err == nil {
		t.Error("allocated a subvolume in userspace mode")
	}

	rec2 := &runner.Recorder{}
	rec2.Fail(q("nfs-ls -s", url), 255, "Failed to mount nfs share : nfs_mount_async failed. Failed to start connection. connect() to server failed. Network is unreachable(101)\n")
	s2 := openUser(t, cfg, storage.Env{Runner: rec2}, nil)
	st, err = s2.Status(ctx)
	if st.Active || !errors.Is(err, netfs.ErrOffline) || !strings.Contains(err.Error(), "Network is unreachable") ||
		!strings.Contains(err.Error(), "storage 'nas' is not online") {
		t.Errorf("Status of an unreachable server: %+v, %v", st, err)
	}
	if err := s2.Activate(ctx); !errors.Is(err, netfs.ErrOffline) {
		t.Errorf("Activate of an unreachable server: %v", err)
	}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

// TestUserspaceGanesha runs a userspace storage against a real NFS
// server: it allocates, lists, writes and reads data through QEMU's
// nfs driver (with the blockdev node Attach returns), resizes, snapshots,
// renames and frees, and checks the files on the server's side.
func TestUserspaceGanesha(t *testing.T) {
	needTools(t, "qemu-img", "qemu-io", "nfs-ls")
	srv := nfstest.Start(t)
	ctx := t.Context()
	run := srv.Runner(runner.Exec{})
	cfg := storage.Config{ID: "nas", Type: "nfs", Content: []storage.Content{storage.Images, storage.ISO},
		Props: map[string]string{"server": srv.Host, "export": srv.Export, "content": "images,iso"}}
	s := openUser(t, cfg, storage.Env{Node: "n1", Runner: run}, srv.Dial)
	if err := s.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"images", "template/iso"} {
		if st, err := os.Stat(filepath.Join(srv.Dir, d)); err != nil || !st.IsDir() {
			t.Fatalf("Activate did not create %s on the server: %v", d, err)
		}
	}
	st, err := s.Status(ctx)
	if err != nil || !st.Active || st.Total <= 0 {
		t.Fatalf("Status: %+v, %v", st, err)
	}

	q, err := s.Alloc(ctx, 100, "", "qcow2", 8<<20)
	if err != nil || q != "100/vm-100-disk-0.qcow2" {
		t.Fatalf("Alloc qcow2: %q, %v", q, err)
	}
	r, err := s.Alloc(ctx, 100, "", "raw", 4<<20)
	if err != nil || r != "100/vm-100-disk-1.raw" {
		t.Fatalf("Alloc raw: %q, %v", r, err)
	}
	if _, err := s.Alloc(ctx, 100, "vm-100-disk-0.qcow2", "qcow2", 1<<20); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Alloc over an existing volume: %v", err)
	}
	if st, err := os.Stat(filepath.Join(srv.Dir, "images/100/vm-100-disk-1.raw")); err != nil || st.Size() != 4<<20 {
		t.Fatalf("raw image on the server: %v, %v", st, err)
	}

	// Data goes in through the blockdev node Attach returns, as a guest
	// would reach it, and is read back through the URL.
	a, err := s.Attach(ctx, q, "")
	if err != nil {
		t.Fatal(err)
	}
	wantNode := map[string]any{"driver": "nfs", "server": map[string]any{"type": "inet", "host": srv.Host},
		"path": srv.Export + "/images/100/vm-100-disk-0.qcow2"}
	if !reflect.DeepEqual(a.Blockdev, wantNode) || a.Format != "qcow2" || a.Path != "" || a.Mount != nil {
		t.Fatalf("Attach: %+v", a)
	}
	node, _ := json.Marshal(map[string]any{"driver": a.Format, "file": a.Blockdev})
	if _, err := run.Run(ctx, runner.Cmd{Name: "qemu-io", Args: []string{"-c", "write -P 0x5a 0 64k", "json:" + string(node)}}); err != nil {
		t.Fatalf("write through the blockdev node: %v", err)
	}
	if _, err := run.Run(ctx, runner.Cmd{Name: "qemu-io", Args: []string{"-r", "-f", "qcow2", "-c", "read -P 0x5a 0 64k", srv.URL("images/100/vm-100-disk-0.qcow2")}}); err != nil {
		t.Fatalf("read back: %v", err)
	}
	// The server holds the data in its own file.
	local := filepath.Join(srv.Dir, "images/100/vm-100-disk-0.qcow2")
	if _, err := (runner.Exec{}).Run(ctx, runner.Cmd{Name: "qemu-io", Args: []string{"-r", "-f", "qcow2", "-c", "read -P 0x5a 0 64k", local}}); err != nil {
		t.Fatalf("data in the server's file: %v", err)
	}

	vols, err := s.List(ctx, 100, nil)
	if err != nil || len(vols) != 2 || vols[0].Volname != q || vols[0].Size != 8<<20 || vols[1].Volname != r {
		t.Fatalf("List: %+v, %v", vols, err)
	}
	if err := s.Resize(ctx, q, 16<<20); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Volume(ctx, q); err != nil || v.Size != 16<<20 || v.CTime == 0 {
		t.Fatalf("Volume after resize: %+v, %v", v, err)
	}
	if err := s.Snapshot(ctx, q, "before"); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Run(ctx, runner.Cmd{Name: "qemu-io", Args: []string{"-f", "qcow2", "-c", "write -P 0x77 0 64k", srv.URL("images/100/vm-100-disk-0.qcow2")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(ctx, q, "before"); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Run(ctx, runner.Cmd{Name: "qemu-io", Args: []string{"-r", "-f", "qcow2", "-c", "read -P 0x5a 0 64k", srv.URL("images/100/vm-100-disk-0.qcow2")}}); err != nil {
		t.Fatalf("data after rollback: %v", err)
	}
	if err := s.DeleteSnapshot(ctx, q, "before"); err != nil {
		t.Fatal(err)
	}

	moved, err := s.Rename(ctx, q, 101, "")
	if err != nil || moved != "101/vm-101-disk-0.qcow2" {
		t.Fatalf("Rename: %q, %v", moved, err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "images/100/vm-100-disk-0.qcow2")); !os.IsNotExist(err) {
		t.Errorf("the renamed image is still at its old name: %v", err)
	}
	if _, err := s.Rename(ctx, r, 101, "vm-101-disk-0.qcow2"); err == nil {
		t.Error("Rename onto an existing volume succeeded")
	}

	for _, v := range []string{moved, r} {
		if err := s.Free(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"images/100", "images/101"} {
		if _, err := os.Stat(filepath.Join(srv.Dir, d)); !os.IsNotExist(err) {
			t.Errorf("%s left on the server after freeing its volumes: %v", d, err)
		}
	}
	if left, err := s.List(ctx, 0, nil); err != nil || len(left) != 0 {
		t.Errorf("List after Free: %+v, %v", left, err)
	}
	if _, err := s.Volume(ctx, r); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Volume of a freed image: %v", err)
	}
}

// TestUserspaceConformance runs the shared suite on a userspace storage
// against ganesha. Data checks need a local path, which userspace mode
// does not give; TestUserspaceGanesha checks data through QEMU.
func TestUserspaceConformance(t *testing.T) {
	needTools(t, "qemu-img", "qemu-io", "nfs-ls")
	srv := nfstest.Start(t)
	local := false
	info := Plugin{}.Info()
	storagetest.RunOptions(t, func(t *testing.T) storage.Storage {
		cfg := storage.Config{ID: "nas", Type: "nfs", Content: []storage.Content{storage.Images},
			Props: map[string]string{"server": srv.Host, "export": srv.Export, "content": "images"}}
		return openUser(t, cfg, storage.Env{Node: "n1", Runner: srv.Runner(runner.Exec{})}, srv.Dial)
	}, info, storagetest.Options{Content: []storage.Content{storage.Images}, Local: &local})
}

// TestUserspaceUnreachable: a server that is not there makes the
// storage inactive with the reason, within the check's time limit.
func TestUserspaceUnreachable(t *testing.T) {
	needTools(t, "nfs-ls")
	srv := nfstest.Start(t)
	cfg := storage.Config{ID: "gone", Type: "nfs", Props: map[string]string{"server": "192.0.2.1", "export": "/export"}}
	// Inside the server's namespace only the loopback is up, so
	// 192.0.2.1 fails at once, without a packet leaving the host.
	s := openUser(t, cfg, storage.Env{Runner: srv.Runner(runner.Exec{})}, srv.Dial)
	st, err := s.Status(t.Context())
	if st.Active || !errors.Is(err, netfs.ErrOffline) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	t.Log(err)
}
