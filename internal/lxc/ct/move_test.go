package ct

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/storage"
)

func TestCopyFormat(t *testing.T) {
	for _, tc := range []struct {
		typ     string
		formats []string
		src     string
		size    int64
		want    string
		err     string
	}{
		{"dir", []string{"raw", "qcow2", "vmdk", "subvol"}, "raw", 1 << 30, "raw", ""},
		{"dir", []string{"raw", "qcow2", "vmdk", "subvol"}, "subvol", 0, "subvol", ""},
		{"dir", []string{"raw", "qcow2", "vmdk", "subvol"}, "subvol", 1 << 30, "raw", ""},
		{"btrfs", []string{"raw", "subvol"}, "subvol", 1 << 30, "subvol", ""},
		{"btrfs", []string{"raw", "subvol"}, "raw", 1 << 30, "raw", ""},
		{"btrfs", []string{"raw", "subvol"}, "subvol", 0, "subvol", ""},
		{"zfspool", []string{"raw", "subvol"}, "subvol", 1 << 30, "subvol", ""},
		{"lvmthin", []string{"raw"}, "subvol", 1 << 30, "raw", ""},
		{"lvmthin", []string{"raw"}, "subvol", 0, "", "without a size"},
		{"iscsi", nil, "raw", 1 << 30, "", "cannot hold container volumes"},
	} {
		got, err := copyFormatOf(storage.Config{ID: "s", Type: tc.typ}, tc.formats, tc.src, tc.size)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %s %d: %q %v, want error %q", tc.typ, tc.src, tc.size, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s %s %d: %q %v, want %q", tc.typ, tc.src, tc.size, got, err, tc.want)
		}
	}
}

func TestMoveVolumeBetweenStorages(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(160, "bt", 64<<20)
	data := e.volume(160, "local", 0)
	e.conf(160, "hostname: a\nrootfs: "+root+",size=64M\nmp0: "+data+",mp=/data,backup=1\n")
	e.writeFile(root, "state", "root")
	e.writeFile(data, "state", "data")

	// A subvolume without size moves as one; the old one is kept.
	log := e.mustTask(e.s.moveVolumeTask(ctx, nil, &api.CTMoveVolumeParams{VMID: 160, Volume: "mp0", Storage: "bt"}))
	c := e.load(160)
	moved := mountValue(t, c, "mp0")
	if !strings.HasPrefix(moved, "bt:160/subvol-160-disk-") || !strings.Contains(c.Main().Value("mp0"), "backup=1") ||
		!strings.Contains(c.Main().Value("mp0"), "mp=/data") || c.Main().Value("unused0") != data || c.Main().Value("lock") != "" {
		t.Fatalf("configuration after the move:\n%s\n%s", c.File.Bytes(), log)
	}
	if e.readFile(moved, "", "state") != "data" || !e.exists(data) {
		t.Fatal("the moved volume does not hold the data, or the old one is gone")
	}

	// A sized subvolume becomes an ext4 image on dir; delete drops the
	// old one.
	e.mustTask(e.s.moveVolumeTask(ctx, nil, &api.CTMoveVolumeParams{VMID: 160, Volume: "rootfs", Storage: "local", Delete: true}))
	c = e.load(160)
	nroot := mountValue(t, c, "rootfs")
	if !strings.HasPrefix(nroot, "local:160/vm-160-disk-") || !strings.Contains(c.Main().Value("rootfs"), "size=64M") ||
		c.Main().Value("unused1") != "" {
		t.Fatalf("configuration after moving rootfs:\n%s", c.File.Bytes())
	}
	if e.readFile(nroot, "", "state") != "root" || e.exists(root) {
		t.Fatal("the moved rootfs does not hold the data, or the old one survived delete")
	}

	for _, tc := range []struct {
		in   api.CTMoveVolumeParams
		want string
	}{
		{api.CTMoveVolumeParams{VMID: 160, Volume: "rootfs", Storage: "local"}, "is on storage 'local' already"},
		{api.CTMoveVolumeParams{VMID: 160, Volume: "mp5", Storage: "bt"}, "CT 160 has no volume mp5"},
		{api.CTMoveVolumeParams{VMID: 160, Volume: "mp0"}, "give the storage"},
		{api.CTMoveVolumeParams{VMID: 160, Volume: "mp0", Storage: "bt", TargetVMID: 161}, "not both"},
		{api.CTMoveVolumeParams{VMID: 160, Volume: "mp0", Storage: "local", Digest: "0000"}, "digest mismatch"},
	} {
		if _, err := e.s.moveVolumeTask(ctx, nil, &tc.in); err == nil || !strings.Contains(errText(err), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestMoveVolumeWithSnapshots(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(162, "bt", 64<<20)
	e.conf(162, "rootfs: "+root+",size=64M\n")
	e.mustTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 162, SnapName: "s1"}))
	_, err := e.s.moveVolumeTask(ctx, nil, &api.CTMoveVolumeParams{VMID: 162, Volume: "rootfs", Storage: "local", Delete: true})
	if err == nil || !strings.Contains(err.Error(), "with snapshots and delete the source") {
		t.Fatalf("move with delete of a snapshotted volume: %v", err)
	}
	e.mustTask(e.s.moveVolumeTask(ctx, nil, &api.CTMoveVolumeParams{VMID: 162, Volume: "rootfs", Storage: "local"}))
	c := e.load(162)
	if mountValue(t, c, "rootfs") == root || c.Main().Value("unused0") != "" || !e.exists(root) {
		t.Fatalf("a snapshot's volume is kept for the snapshot, not as unused:\n%s", c.File.Bytes())
	}
}

func TestReassignVolumeToAnotherContainer(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	data := e.volume(170, "local", 0)
	spare := e.volume(170, "local", 0)
	e.conf(170, "rootfs: "+e.volume(170, "local", 0)+"\nmp0: "+data+",mp=/data\nunused0: "+spare+"\n")
	e.conf(171, "rootfs: "+e.volume(171, "local", 0)+"\nmp0: local:171/subvol-171-disk-9.subvol,mp=/x\n")
	e.writeFile(data, "state", "data of 170")

	for _, tc := range []struct {
		in   api.CTMoveVolumeParams
		want string
	}{
		{api.CTMoveVolumeParams{VMID: 170, Volume: "rootfs", TargetVMID: 171, TargetVolume: "mp1"}, "root file system"},
		{api.CTMoveVolumeParams{VMID: 170, Volume: "unused0", TargetVMID: 171, TargetVolume: "mp1"}, "only become an unused volume"},
		{api.CTMoveVolumeParams{VMID: 170, Volume: "mp0", TargetVMID: 171}, "CT 171 has mp0 already"},
		{api.CTMoveVolumeParams{VMID: 170, Volume: "mp0", TargetVMID: 179, TargetVolume: "mp1"}, "CT 179 is not on this node"},
	} {
		if _, err := e.s.moveVolumeTask(ctx, nil, &tc.in); err == nil || !strings.Contains(errText(err), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}

	e.mustTask(e.s.moveVolumeTask(ctx, nil, &api.CTMoveVolumeParams{VMID: 170, Volume: "mp0", TargetVMID: 171, TargetVolume: "mp1"}))
	src, dst := e.load(170), e.load(171)
	got := mountValue(t, dst, "mp1")
	if src.Main().Has("mp0") || !strings.HasPrefix(got, "local:171/subvol-171-disk-") || !strings.Contains(dst.Main().Value("mp1"), "mp=/data") {
		t.Fatalf("after the reassignment:\n%s\n%s", src.File.Bytes(), dst.File.Bytes())
	}
	if e.readFile(got, "", "state") != "data of 170" || e.exists(data) {
		t.Fatal("the reassigned volume lost its data or kept its old name")
	}
	// An unused volume moves to another key of the same container.
	e.mustTask(e.s.moveVolumeTask(ctx, nil, &api.CTMoveVolumeParams{VMID: 170, Volume: "unused0", TargetVolume: "unused3"}))
	if c := e.load(170); c.Main().Has("unused0") || c.Main().Value("unused3") != spare {
		t.Fatalf("after moving unused0 to unused3:\n%s", c.File.Bytes())
	}
}

func TestMeterKeepsTheRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// 64 KiB at 256 KiB/s take a quarter of a second.
	r := newMeter(ctx, strings.NewReader(strings.Repeat("x", 64<<10)), 256, 0, nil)
	start := time.Now()
	buf := make([]byte, 4096)
	n := 0
	for {
		k, err := r.Read(buf)
		n += k
		if err != nil {
			break
		}
	}
	if took := time.Since(start); n != 64<<10 || took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("read %d bytes in %s", n, took)
	}
}
