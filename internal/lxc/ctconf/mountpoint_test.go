package ctconf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseMountPoint(t *testing.T) {
	tests := []struct {
		key, value string
		want       MountPoint
		canonical  string
	}{
		{"rootfs", "local-lvm:vm-100-disk-0,size=8G",
			MountPoint{Key: "rootfs", Index: -1, Volume: "local-lvm:vm-100-disk-0", MP: "/", Size: Some[int64](8 << 30)},
			"local-lvm:vm-100-disk-0,size=8G"},
		{"rootfs", "size=1.5G,volume=local:100/vm-100-disk-0.raw,acl=on,quota=0,mountoptions=noatime;lazytime",
			MountPoint{Key: "rootfs", Index: -1, Volume: "local:100/vm-100-disk-0.raw", MP: "/", Size: Some[int64](1536 << 20),
				ACL: Some(true), Quota: Some(false), MountOptions: []string{"noatime", "lazytime"}},
			"local:100/vm-100-disk-0.raw,acl=1,mountoptions=noatime;lazytime,quota=0,size=1536M"},
		{"mp0", "guests:subvol-100-disk-1,mp=/root/files,size=8G,backup=1",
			MountPoint{Key: "mp0", Index: 0, Volume: "guests:subvol-100-disk-1", MP: "/root/files", Size: Some[int64](8 << 30),
				Backup: Some(true)},
			"guests:subvol-100-disk-1,backup=1,mp=/root/files,size=8G"},
		{"mp7", "/mnt/bindmounts/shared,mp=/shared,ro=1,shared=1,replicate=0,keepattrs=1",
			MountPoint{Key: "mp7", Index: 7, Volume: "/mnt/bindmounts/shared", MP: "/shared", RO: Some(true), Shared: Some(true),
				Replicate: Some(false), KeepAttrs: Some(true)},
			"/mnt/bindmounts/shared,keepattrs=1,mp=/shared,replicate=0,ro=1,shared=1"},
		{"mp255", "/dev/sdb1,mp=/mnt/disk/", MountPoint{Key: "mp255", Index: 255, Volume: "/dev/sdb1", MP: "/mnt/disk/"},
			"/dev/sdb1,mp=/mnt/disk/"},
		{"mp1", "thin1:10,mp=/path/in/container", MountPoint{Key: "mp1", Index: 1, Volume: "thin1:10", MP: "/path/in/container"},
			"thin1:10,mp=/path/in/container"},
		{"rootfs", "4", MountPoint{Key: "rootfs", Index: -1, Volume: "4", MP: "/"}, "4"},
	}
	for _, tt := range tests {
		m, err := ParseMountPoint(tt.key, tt.value)
		if err != nil {
			t.Errorf("%s %q: %v", tt.key, tt.value, err)
			continue
		}
		if !reflect.DeepEqual(*m, tt.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tt.key, tt.value, *m, tt.want)
		}
		if got := m.String(); got != tt.canonical {
			t.Errorf("%s %q printed as %q, want %q", tt.key, tt.value, got, tt.canonical)
		}
		back, err := ParseMountPoint(tt.key, m.String())
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Errorf("%s: round trip of %q: %+v, %v", tt.key, m.String(), back, err)
		}
	}
}

func TestParseMountPointErrors(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"mp0", "local:vm-100-disk-1", `required key "mp"`},
		{"mp0", "local:vm-100-disk-1,mp=/", "only rootfs is mounted at /"},
		{"mp0", "local:vm-100-disk-1,mp=//", "only rootfs is mounted at /"},
		{"mp0", "local:vm-100-disk-1,mp=data", "mp: \"data\" is not valid: expected an absolute path"},
		{"mp0", "local:vm-100-disk-1,mp=/a/../etc", "mp: \"/a/../etc\" is not valid"},
		{"mp0", "/srv/../etc,mp=/x", "volume: \"/srv/../etc\" is not valid: expected a volume id"},
		{"mp0", "/dev/,mp=/x", "names no device"},
		{"mp0", "9local:vm-100-disk-1,mp=/x", "volume: \"9local:vm-100-disk-1\" is not valid"},
		{"mp0", "local:vm-100-disk-1,mp=/x,mountoptions=sync", "mountoptions: \"sync\" is not valid: expected options"},
		{"rootfs", "local:vm-100-disk-0,mp=/", `unknown key "mp"`},
		{"rootfs", "local:vm-100-disk-0,keepattrs=1", `unknown key "keepattrs"`},
		{"mp256", "local:vm-100-disk-1,mp=/x", "expected rootfs or mp0 to mp255"},
		{"mp01", "local:vm-100-disk-1,mp=/x", "not a mount point key"},
		{"net0", "local:vm-100-disk-1,mp=/x", "not a mount point key"},
	}
	for _, tt := range tests {
		_, err := ParseMountPoint(tt.key, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: error %v, want one containing %q", tt.key, tt.value, err, tt.want)
		}
	}
}

func TestMountPointKinds(t *testing.T) {
	tests := []struct {
		value, typ        string
		newStorage        string
		newGiB            float64
		isNew             bool
		storage, volname  string
		isStorage, backup bool
	}{
		{value: "local-lvm:vm-100-disk-1,mp=/a,backup=1", typ: MountVolume, storage: "local-lvm", volname: "vm-100-disk-1", isStorage: true, backup: true},
		{value: "local:100/vm-100-disk-1.raw,mp=/a", typ: MountVolume, storage: "local", volname: "100/vm-100-disk-1.raw", isStorage: true},
		{value: "local-lvm:8,mp=/a,backup=1", typ: MountVolume, newStorage: "local-lvm", newGiB: 8, isNew: true, backup: true},
		{value: "0.5,mp=/a", typ: MountVolume, newGiB: 0.5, isNew: true},
		{value: "/srv/share,mp=/a,backup=1", typ: MountBind},
		{value: "/dev,mp=/a", typ: MountBind},
		{value: "/dev/disk/by-id/ata-X-part1,mp=/a,backup=1", typ: MountDevice},
	}
	for _, tt := range tests {
		m, err := ParseMountPoint("mp3", tt.value)
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if m.Type() != tt.typ || m.IsBind() != (tt.typ == MountBind) || m.IsDevice() != (tt.typ == MountDevice) ||
			m.IsVolume() != (tt.typ == MountVolume) {
			t.Errorf("%q: type %s (bind %v, device %v, volume %v), want %s", tt.value, m.Type(), m.IsBind(), m.IsDevice(), m.IsVolume(), tt.typ)
		}
		if s, g, ok := m.NewVolume(); s != tt.newStorage || g != tt.newGiB || ok != tt.isNew {
			t.Errorf("%q: NewVolume() = %q, %v, %v", tt.value, s, g, ok)
		}
		if s, v, ok := m.StorageVolume(); s != tt.storage || v != tt.volname || ok != tt.isStorage {
			t.Errorf("%q: StorageVolume() = %q, %q, %v", tt.value, s, v, ok)
		}
		if m.InBackup() != tt.backup {
			t.Errorf("%q: InBackup() = %v", tt.value, m.InBackup())
		}
	}
	root, _ := ParseMountPoint("rootfs", "/srv/ct100")
	if !root.InBackup() || !root.IsRoot() || root.MP != "/" {
		t.Errorf("rootfs: %+v", root)
	}
}

// TestMountPointsOrder pins the mount order: rootfs, then parents before
// what is mounted below them, whatever the key numbers say.
func TestMountPointsOrder(t *testing.T) {
	values := map[string]string{
		"mp0":    "local:vm-100-disk-1,mp=/srv/data/cache",
		"mp1":    "local:vm-100-disk-2,mp=/srv/data",
		"mp2":    "/mnt/share,mp=/srv",
		"mp3":    "local:vm-100-disk-3,mp=/var//log/",
		"mp4":    "local:vm-100-disk-4,mp=/opt",
		"mp5":    "broken",
		"rootfs": "local:vm-100-disk-0",
		"net0":   "name=eth0",
	}
	var got []string
	for _, m := range MountPoints(values) {
		got = append(got, m.Key)
	}
	want := []string{"rootfs", "mp4", "mp2", "mp1", "mp3", "mp0"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if MountPoints(nil) != nil {
		t.Error("no values must give no mount points")
	}
}
