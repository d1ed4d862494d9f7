package zfspool

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/storage"
)

// fixture reads a testdata file without its leading '#' lines, which say
// where the output format comes from.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for strings.HasPrefix(s, "#") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}

func TestParseVolname(t *testing.T) {
	tests := []struct {
		in   string
		want Vol
		err  bool
	}{
		{in: "vm-100-disk-0", want: Vol{Name: "vm-100-disk-0", VMID: 100, Format: "raw"}},
		{in: "subvol-101-disk-1", want: Vol{Name: "subvol-101-disk-1", VMID: 101, Format: "subvol"}},
		{in: "base-100-disk-0", want: Vol{Name: "base-100-disk-0", VMID: 100, IsBase: true, Format: "raw"}},
		{in: "basevol-100-disk-0", want: Vol{Name: "basevol-100-disk-0", VMID: 100, IsBase: true, Format: "subvol"}},
		{in: "vm-100-state-suspend-2024-01-01", want: Vol{Name: "vm-100-state-suspend-2024-01-01", VMID: 100, Format: "raw"}},
		{in: "base-100-disk-0/vm-101-disk-0", want: Vol{Name: "vm-101-disk-0", VMID: 101, Base: "base-100-disk-0", BaseVMID: 100, Format: "raw"}},
		{in: "basevol-100-disk-0/subvol-101-disk-0", want: Vol{Name: "subvol-101-disk-0", VMID: 101, Base: "basevol-100-disk-0", BaseVMID: 100, Format: "subvol"}},
		{in: "base-100-disk-0/base-101-disk-0", want: Vol{Name: "base-101-disk-0", VMID: 101, Base: "base-100-disk-0", BaseVMID: 100, IsBase: true, Format: "raw"}},
		{in: "vm-100-disk-0/vm-101-disk-0", err: true},
		{in: "base-100-disk-0/subvol-101-disk-0", err: true},
		{in: "base-100-disk-0/vm-101-disk-0/x", err: true},
		{in: "vm-100-disk-0@snap", err: true},
		{in: "vm-100-disk 0", err: true},
		{in: "vm-100-..", err: true},
		{in: "vm-100-$(reboot)", err: true},
		{in: "vm-99-disk-0", err: true},
		{in: "/vm-100-disk-0", err: true},
		{in: "vm-100-", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseVolname(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseVolname(%q) accepted: %+v", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseVolname(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.Volname() != tt.in {
			t.Errorf("Volname() = %q, want %q", got.Volname(), tt.in)
		}
	}
}

func TestParseList(t *testing.T) {
	list, err := ParseList([]byte(fixture(t, "list.txt")), "tank/vmdata")
	if err != nil {
		t.Fatal(err)
	}
	want := []Dataset{
		{Vol: Vol{Name: "base-100-disk-0", VMID: 100, IsBase: true, Format: "raw"}, Size: 34359738368},
		{Vol: Vol{Name: "basevol-101-disk-0", VMID: 101, IsBase: true, Format: "subvol"}, Size: 8589934592},
		{Vol: Vol{Name: "subvol-102-disk-0", VMID: 102, Base: "basevol-101-disk-0", BaseVMID: 101, Format: "subvol"}, Size: 8589934592, Origin: "tank/vmdata/basevol-101-disk-0@__base__"},
		{Vol: Vol{Name: "subvol-104-disk-0", VMID: 104, Format: "subvol"}},
		{Vol: Vol{Name: "vm-100-disk-1", VMID: 100, Format: "raw"}, Size: 4194304},
		{Vol: Vol{Name: "vm-102-disk-0", VMID: 102, Base: "base-100-disk-0", BaseVMID: 100, Format: "raw"}, Size: 34359738368, Origin: "tank/vmdata/base-100-disk-0@__base__"},
		{Vol: Vol{Name: "vm-103-disk-0", VMID: 103, Format: "raw"}, Size: 1073741824, Origin: "tank/vmdata/vm-100-disk-1@snap1"},
		{Vol: Vol{Name: "vm-105-state-suspend-2024-01-01", VMID: 105, Format: "raw"}, Size: 4370464768},
	}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", list, want)
	}
	for name, out := range map[string]string{
		"empty":             "",
		"only the dataset":  "tank/vmdata\t-\t-\tfilesystem\t0\n",
		"refquota none":     "tank/vmdata/subvol-104-disk-0\t-\t-\tfilesystem\tnone\n",
		"another pool":      "tank/other/vm-100-disk-0\t1048576\t-\tvolume\t-\n",
		"a deeper child":    "tank/vmdata/x/vm-100-disk-0\t1048576\t-\tvolume\t-\n",
		"prefix of a child": "tank/vmdata2/vm-100-disk-0\t1048576\t-\tvolume\t-\n",
	} {
		l, err := ParseList([]byte(out), "tank/vmdata")
		if err != nil || (name != "refquota none" && len(l) != 0) || (name == "refquota none" && (len(l) != 1 || l[0].Size != 0)) {
			t.Errorf("%s: %+v, %v", name, l, err)
		}
	}
	for _, bad := range []string{"tank/vmdata/vm-100-disk-0\t10\t-\tvolume\n", "tank/vmdata/vm-100-disk-0\tbig\t-\tvolume\t-\n", "tank/vmdata/vm-100-disk-0\t-5\t-\tvolume\t-\n"} {
		if _, err := ParseList([]byte(bad), "tank/vmdata"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestVolumesAndNames(t *testing.T) {
	list, _ := ParseList([]byte(fixture(t, "list.txt")), "tank/vmdata")
	vols := Volumes(list, 102, nil)
	want := []storage.Volume{
		{Volname: "base-100-disk-0/vm-102-disk-0", Content: storage.Images, Format: "raw", Size: 34359738368, VMID: 102, Parent: "base-100-disk-0"},
		{Volname: "basevol-101-disk-0/subvol-102-disk-0", Content: storage.Rootdir, Format: "subvol", Size: 8589934592, VMID: 102, Parent: "basevol-101-disk-0"},
	}
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("volumes of 102:\n%+v\nwant\n%+v", vols, want)
	}
	if v := Volumes(list, 0, []storage.Content{storage.Rootdir}); len(v) != 3 {
		t.Errorf("rootdir volumes: %+v", v)
	}
	if v := Volumes(list, 0, []storage.Content{storage.ISO}); v != nil {
		t.Errorf("iso volumes: %+v", v)
	}
	for _, tt := range []struct {
		vmid   int
		format string
		want   string
	}{{100, "raw", "vm-100-disk-2"}, {101, "subvol", "subvol-101-disk-1"}, {102, "raw", "vm-102-disk-1"}, {200, "subvol", "subvol-200-disk-0"}} {
		if got, _ := NextName(list, tt.vmid, tt.format); got != tt.want {
			t.Errorf("NextName(%d, %s) = %s, want %s", tt.vmid, tt.format, got, tt.want)
		}
	}
}

func TestSizesAndArgs(t *testing.T) {
	for size, want := range map[int64]int64{1: 1024, 1 << 20: 1024, 1<<20 + 1: 2048, 4 << 30: 4194304, 1536 << 10: 2048} {
		if got := ZvolKiB(size); got != want {
			t.Errorf("ZvolKiB(%d) = %d, want %d", size, got, want)
		}
	}
	if got := strings.Join(CreateZvolArgs("tank", "vm-100-disk-0", 1<<30, "16k", true), " "); got != "create -s -b 16k -V 1048576k tank/vm-100-disk-0" {
		t.Error(got)
	}
	if got := strings.Join(CreateZvolArgs("tank", "vm-100-disk-0", 1<<30, "", false), " "); got != "create -V 1048576k tank/vm-100-disk-0" {
		t.Error(got)
	}
	if n, err := ParseNumbers([]byte("123\n-\nnone\n"), 3); err != nil || !reflect.DeepEqual(n, []int64{123, 0, 0}) {
		t.Errorf("ParseNumbers = %v, %v", n, err)
	}
	for _, bad := range []string{"1\n", "1\n2\n3\n", "x\n1\n", "-7\n1\n"} {
		if _, err := ParseNumbers([]byte(bad), 2); err == nil {
			t.Errorf("ParseNumbers(%q) accepted", bad)
		}
	}
	st, err := StatusOf([]byte(fixture(t, "status.txt")))
	if err != nil || st != (storage.Status{Active: true, Avail: 1759218604441, Used: 214748364800, Total: 1759218604441 + 214748364800}) {
		t.Errorf("StatusOf = %+v, %v", st, err)
	}
}

func TestCheckRollback(t *testing.T) {
	out := []byte(fixture(t, "snapshots.txt"))
	const ds = "tank/vmdata/vm-100-disk-1"
	if err := CheckRollback(out, ds, "snap2"); err != nil {
		t.Error(err)
	}
	if err := CheckRollback(out, ds, "snap1"); err == nil || !strings.Contains(err.Error(), "newer: before-upgrade, snap2") {
		t.Errorf("rollback over newer snapshots: %v", err)
	}
	if err := CheckRollback(out, ds, "nope"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing snapshot: %v", err)
	}
	if err := CheckRollback(out, "tank/vmdata/vm-100-disk", "snap2"); err == nil {
		t.Error("snapshots of another dataset counted")
	}
	if err := CheckRollback(nil, ds, "snap2"); err == nil {
		t.Error("no snapshots at all")
	}
}

func TestValidPoolAndSnap(t *testing.T) {
	for pool, want := range map[string]bool{"tank": true, "tank/vmdata": true, "rpool/data/sub_1.x": true, "": false, "/tank": false, "tank/": false,
		"tank//x": false, "tank/../x": false, "tank x": false, "tank;rm": false, "-tank": false} {
		if ValidPool(pool) != want {
			t.Errorf("ValidPool(%q) != %v", pool, want)
		}
	}
	for snap, want := range map[string]bool{"snap1": true, "__base__": true, "__replicate_100-0_1700000000__": true, "before-upgrade": true,
		"": false, "-r": false, "a@b": false, "a b": false, "a/b": false, strings.Repeat("a", 65): false} {
		if (CheckSnapshotName(snap) == nil) != want {
			t.Errorf("CheckSnapshotName(%q) != %v", snap, want)
		}
	}
}

// TestWaitBlockDevice waits for a real block device of this machine and
// times out on a missing one.
func TestWaitBlockDevice(t *testing.T) {
	entries, _ := os.ReadDir("/dev")
	dev := ""
	for _, e := range entries {
		if fi, err := os.Stat("/dev/" + e.Name()); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
			dev = "/dev/" + e.Name()
			break
		}
	}
	if dev == "" {
		t.Skip("no block device in /dev")
	}
	wait := WaitBlockDevice(time.Second)
	if err := wait(context.Background(), dev); err != nil {
		t.Error(err)
	}
	if err := WaitBlockDevice(100*time.Millisecond)(context.Background(), filepath.Join(t.TempDir(), "zvol")); err == nil {
		t.Error("a missing device appeared")
	}
	if err := WaitBlockDevice(100*time.Millisecond)(context.Background(), "/dev/null"); err == nil {
		t.Error("a character device counted as a block device")
	}
}
