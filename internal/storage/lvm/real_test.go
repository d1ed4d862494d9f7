package lvm

import (
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/lvm/lvmtest"
)

// TestRealVolumeGroup runs the parts of the plugin this machine's lvm2
// can run for real: creating the group on a device (as for a base LUN),
// activation, status, listing and size queries against volumes written
// into the group's metadata. Allocation needs device-mapper, which this
// kernel lacks; those plans are tested with the recorder above.
func TestRealVolumeGroup(t *testing.T) {
	lvmtest.Skip(t)
	dev := lvmtest.LoopDevice(t, 128<<20)
	vg := fmt.Sprintf("hearthlvm%d", os.Getpid())
	r := runner.Exec{}
	if err := CreateVolumeGroup(ctx, r, dev, vg); err != nil {
		t.Fatal(err)
	}
	// a second call finds the group already there
	if err := CreateVolumeGroup(ctx, r, dev, vg); err != nil {
		t.Fatal(err)
	}
	if err := CreateVolumeGroup(ctx, r, dev, vg+"x"); err == nil {
		t.Fatal("a device of another group was taken")
	}
	lvmtest.Restore(t, vg, []lvmtest.LV{
		{Name: "vm-100-disk-0", Extents: 4, Tags: []string{"pve-vm-100"}, CTime: 1700000000},
		{Name: "vm-100-disk-1", Extents: 1, CTime: 1700000100},
		{Name: "vm-101-disk-0", Extents: 2, Tags: []string{"pve-vm-101", "other"}, CTime: 1700000200},
		{Name: "root", Extents: 1, CTime: 1690000000},
	})
	st, err := Plugin().Open(storage.Config{ID: "real", Props: map[string]string{"vgname": vg, "tagged_only": "1"}}, storage.Env{Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	status, err := st.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 128 MiB less the metadata area: 31 extents of 4 MiB, 8 in use
	if want := (storage.Status{Active: true, Total: 31 << 22, Avail: 23 << 22, Used: 8 << 22}); status != want {
		t.Errorf("status %+v, want %+v", status, want)
	}
	vols, err := st.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Volume{
		{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 16 << 20, VMID: 100, CTime: 1700000000},
		{Volname: "vm-101-disk-0", Content: storage.Images, Format: "raw", Size: 8 << 20, VMID: 101, CTime: 1700000200},
	}
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("list %+v\nwant %+v", vols, want)
	}
	v, err := st.Volume(ctx, "vm-100-disk-1")
	if err != nil || v.Size != 4<<20 {
		t.Errorf("volume %+v, %v", v, err)
	}
	if _, err := st.Volume(ctx, "vm-100-disk-9"); err == nil {
		t.Error("size of a missing volume")
	}
	missing, _ := Plugin().Open(storage.Config{ID: "gone", Props: map[string]string{"vgname": vg + "gone"}}, storage.Env{Runner: r})
	if s, err := missing.Status(ctx); err != nil || s.Active {
		t.Errorf("status of a missing group: %+v, %v", s, err)
	}
	if err := missing.Activate(ctx); err == nil {
		t.Error("activated a missing group")
	}
}
