package vm

import (
	"context"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// fakePlugin is a storage type that only describes itself.
type fakePlugin struct {
	typ  string
	info storage.Info
}

func (p fakePlugin) Type() string       { return p.typ }
func (p fakePlugin) Info() storage.Info { return p.info }
func (p fakePlugin) Open(storage.Config, storage.Env) (storage.Storage, error) {
	return nil, nil
}

// Storages with and without snapshots and file directories. Their
// methods are never called by the code under test.
type (
	plainStore    struct{ storage.Storage }
	snapStore     struct{ storage.Storage }
	fileSnapStore struct{ storage.Storage }
)

func (snapStore) Snapshot(context.Context, string, string) error       { return nil }
func (snapStore) Rollback(context.Context, string, string) error       { return nil }
func (snapStore) DeleteSnapshot(context.Context, string, string) error { return nil }

func (fileSnapStore) Snapshot(context.Context, string, string) error       { return nil }
func (fileSnapStore) Rollback(context.Context, string, string) error       { return nil }
func (fileSnapStore) DeleteSnapshot(context.Context, string, string) error { return nil }
func (fileSnapStore) ContentDir(storage.Content) (string, error)           { return "", nil }

func TestSnapDiskOfDecidesHowEachDiskKeepsSnapshots(t *testing.T) {
	s := &Service{o: Options{Storage: storage.New(storage.Options{Plugins: []storage.Plugin{
		fakePlugin{"dir", storage.Info{Snapshots: []string{"qcow2"}}},
		fakePlugin{"btrfs", storage.Info{Snapshots: []string{"raw", "subvol"}}},
		fakePlugin{"lvm", storage.Info{}},
		fakePlugin{"rbd", storage.Info{Snapshots: []string{"raw"}}},
	}})}}
	stores := map[string]storage.Storage{"dir": fileSnapStore{}, "btrfs": fileSnapStore{}, "lvm": plainStore{}, "rbd": snapStore{}}
	for _, tc := range []struct {
		name, key, typ, format string
		base                   bool
		want                   snapMethod
		wantErr                []string // parts of the error; nil means no error
	}{
		{"qcow2 on dir", "scsi0", "dir", "qcow2", false, snapInternal, nil},
		{"raw on dir", "scsi0", "dir", "raw", false, 0, []string{"scsi0", "raw", "type dir", "only of qcow2"}},
		{"raw on btrfs", "virtio1", "btrfs", "raw", false, snapStorage, nil},
		{"subvol on btrfs", "scsi2", "btrfs", "subvol", false, snapStorage, nil},
		{"qcow2 on btrfs, a file storage", "scsi0", "btrfs", "qcow2", false, snapInternal, nil},
		{"vmdk on btrfs", "sata0", "btrfs", "vmdk", false, 0, []string{"sata0", "vmdk", "raw, subvol or qcow2"}},
		{"raw on lvm", "scsi0", "lvm", "raw", false, 0, []string{"type lvm", "has no snapshots"}},
		{"raw on rbd", "scsi0", "rbd", "raw", false, snapStorage, nil},
		{"qcow2 on rbd, not a file storage", "scsi0", "rbd", "qcow2", false, 0, []string{"type rbd", "only of raw volumes"}},
		{"template base", "scsi0", "dir", "qcow2", true, 0, []string{"base volume"}},
		{"qcow2 TPM state", "tpmstate0", "dir", "qcow2", false, snapStorage, nil},
		{"efidisk", "efidisk0", "dir", "qcow2", false, snapInternal, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			volid := "st:100/vm-100-disk-0." + tc.format
			d := &vmconf.Drive{Key: tc.key, File: volid}
			v := &volume{ID: volid, Storage: "st", Name: "100/vm-100-disk-0." + tc.format, cfg: storage.Config{ID: "st", Type: tc.typ},
				st: stores[tc.typ], vol: storage.Vol{Format: tc.format, IsBase: tc.base, VMID: 100}}
			got, err := s.snapDiskOf(tc.key, d, v)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected refusal: %v", err)
				}
				if got.Method != tc.want || got.Key != tc.key || got.VolID != volid {
					t.Fatalf("got %+v, want method %d", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted (%+v); want a refusal", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSnapshotsDiskSkipsMediaThatAreNoState(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		want       bool
	}{
		{"scsi0", "local:100/vm-100-disk-0.qcow2,size=1G", true},
		{"efidisk0", "local:100/vm-100-disk-1.qcow2,efitype=4m", true},
		{"tpmstate0", "local:100/vm-100-disk-2.raw,version=v2.0", true},
		{"ide2", "local:iso/debian.iso,media=cdrom", false},
		{"ide2", "none,media=cdrom", false},
		{"ide0", "local:100/vm-100-cloudinit.qcow2,media=cdrom", false},
	} {
		d, err := vmconf.ParseDrive(tc.key, tc.value)
		if err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		if got := snapshotsDisk(d); got != tc.want {
			t.Errorf("%s: %s: got %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestCopySettingsLeavesOutWhatIsNoVMSetting(t *testing.T) {
	from := guestconf.NewSection()
	for k, v := range map[string]string{
		"memory": "512", "scsi0": "local:100/vm-100-disk-0.qcow2", "parent": "older", "lock": "snapshot",
		"description": "the VM", "unused0": "local:100/vm-100-disk-9.qcow2", "vmstate": "local:100/state.raw",
		"runningmachine": "pc-i440fx-7.2", "snaptime": "1700000000", "snapstate": "prepare",
	} {
		if err := from.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	to := guestconf.NewSection()
	if err := copySettings(from, to); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(to.Keys(), " "); got != "memory parent scsi0" {
		t.Fatalf("copied keys: %s", got)
	}
}

func TestCheckSnapshotName(t *testing.T) {
	for name, ok := range map[string]bool{
		"before-upgrade": true, "a1": true, "A_b-c": true, strings.Repeat("a", 40): true,
		"current": false, "pending": false, "PENDING": false, "1st": false, "a": false, "a b": false,
		strings.Repeat("a", 41): false, "": false,
	} {
		if err := checkSnapshotName(name); (err == nil) != ok {
			t.Errorf("%q: got %v, want ok=%v", name, err, ok)
		}
	}
}
