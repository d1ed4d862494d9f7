package lvmthin

import (
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/lvm"
	"github.com/hearth-virt/hearth/internal/storage/lvm/lvmtest"
)

// TestRealThinPool lists, sizes and reports a real thin pool whose
// volumes were written into the group's metadata (this kernel has no
// device-mapper, so nothing can be activated: the pool reports inactive
// and activation fails with lvm's own message).
func TestRealThinPool(t *testing.T) {
	lvmtest.Skip(t)
	dev := lvmtest.LoopDevice(t, 128<<20)
	vg := fmt.Sprintf("hearththin%d", os.Getpid())
	r := runner.Exec{}
	if err := lvm.CreateVolumeGroup(ctx, r, dev, vg); err != nil {
		t.Fatal(err)
	}
	lvmtest.Restore(t, vg, []lvmtest.LV{
		{Name: "data", Extents: 10, Kind: "thin-pool", CTime: 1695000000},
		{Name: "vm-100-disk-0", Extents: 8, Kind: "thin", Pool: "data", CTime: 1700000000},
		{Name: "snap_vm-100-disk-0_first", Extents: 8, Kind: "thin", Pool: "data", Origin: "vm-100-disk-0", ReadOnly: true, Skip: true, CTime: 1700000100},
		{Name: "base-103-disk-0", Extents: 256, Kind: "thin", Pool: "data", ReadOnly: true, Skip: true, CTime: 1700000200},
		{Name: "vm-104-disk-0", Extents: 256, Kind: "thin", Pool: "data", Origin: "base-103-disk-0", CTime: 1700000300},
		{Name: "swap", Extents: 2, CTime: 1690000000},
	})
	st, err := Plugin().Open(storage.Config{ID: "real", Props: map[string]string{"vgname": vg, "thinpool": "data"}}, storage.Env{Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := st.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Volume{
		{Volname: "base-103-disk-0", Content: storage.Images, Format: "raw", Size: 1 << 30, VMID: 103, CTime: 1700000200},
		{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 32 << 20, VMID: 100, CTime: 1700000000},
		{Volname: "vm-104-disk-0", Content: storage.Images, Format: "raw", Size: 1 << 30, VMID: 104, CTime: 1700000300},
	}
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("list %+v\nwant %+v", vols, want)
	}
	status, err := st.Status(ctx)
	if err != nil || status != (storage.Status{Total: 40 << 20, Avail: 40 << 20}) {
		t.Errorf("status %+v, %v", status, err)
	}
	if v, err := st.Volume(ctx, "base-103-disk-0"); err != nil || v.Size != 1<<30 {
		t.Errorf("volume %+v, %v", v, err)
	}
	if err := st.Activate(ctx); err == nil {
		t.Error("activated a thin pool without device-mapper")
	} else {
		t.Logf("activation fails as expected here: %v", err)
	}
	// the snapshot keeps the volume from becoming a base
	if _, err := st.(*Storage).CreateBase(ctx, "vm-100-disk-0"); err == nil {
		t.Error("made a base of a volume with snapshots")
	}
}
