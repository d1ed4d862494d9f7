package ctconf

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		value     string
		want      Features
		canonical string
	}{
		{"nesting=1,keyctl=1", Features{Nesting: Some(true), Keyctl: Some(true)}, "keyctl=1,nesting=1"},
		{"mount=nfs;cifs,fuse=on,mknod=0,force_rw_sys=yes",
			Features{Mount: []string{"nfs", "cifs"}, Fuse: Some(true), MKNod: Some(false), ForceRWSys: Some(true)},
			"force_rw_sys=1,fuse=1,mknod=0,mount=nfs;cifs"},
		{"mount=ext4 xfs;;btrfs", Features{Mount: []string{"ext4", "xfs", "btrfs"}}, "mount=ext4;xfs;btrfs"},
		{"", Features{}, ""},
	}
	for _, tt := range tests {
		f, err := ParseFeatures(tt.value)
		if err != nil {
			t.Errorf("%q: %v", tt.value, err)
			continue
		}
		if !reflect.DeepEqual(*f, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.value, *f, tt.want)
		}
		if got := f.String(); got != tt.canonical {
			t.Errorf("%q printed as %q, want %q", tt.value, got, tt.canonical)
		}
		back, err := ParseFeatures(f.String())
		if err != nil || !reflect.DeepEqual(back, f) {
			t.Errorf("round trip of %q: %+v, %v", f.String(), back, err)
		}
	}
	for value, want := range map[string]string{
		"nesting=2":      "nesting: expected a boolean",
		"mount=nfs,cifs": `"cifs" has no key`,
		"mount=nfs/4":    `mount: "nfs/4" is not valid: expected file system types`,
		"docker=1":       `unknown key "docker"`,
	} {
		if _, err := ParseFeatures(value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", value, err, want)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		key, value string
		want       Device
		canonical  string
	}{
		{"dev0", "/dev/ttyUSB0,mode=0660,uid=1000,gid=20",
			Device{Key: "dev0", Path: "/dev/ttyUSB0", Mode: Some[uint32](0o660), UID: Some(1000), GID: Some(20)},
			"/dev/ttyUSB0,gid=20,mode=0660,uid=1000"},
		{"dev255", "path=/dev/dri/renderD128,deny-write=1,mode=0000",
			Device{Key: "dev255", Index: 255, Path: "/dev/dri/renderD128", DenyWrite: Some(true), Mode: Some[uint32](0)},
			"/dev/dri/renderD128,deny-write=1,mode=0000"},
	}
	for _, tt := range tests {
		d, err := ParseDevice(tt.key, tt.value)
		if err != nil {
			t.Errorf("%s %q: %v", tt.key, tt.value, err)
			continue
		}
		if !reflect.DeepEqual(*d, tt.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tt.key, tt.value, *d, tt.want)
		}
		if got := d.String(); got != tt.canonical {
			t.Errorf("%s %q printed as %q, want %q", tt.key, tt.value, got, tt.canonical)
		}
		back, err := ParseDevice(tt.key, d.String())
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Errorf("round trip of %q: %+v, %v", d.String(), back, err)
		}
	}
	errs := []struct{ key, value, want string }{
		{"dev0", "mode=0660", "path: required"},
		{"dev0", "/tmp/null", `path: "/tmp/null" is not valid: expected a device node below /dev/`},
		{"dev0", "/dev/../etc/shadow", "path:"},
		{"dev0", "/dev/null,mode=0999", "mode:"},
		{"dev0", "/dev/null,uid=4294967295", "uid: must be at most 4294967294"},
		{"dev0", "/dev/null,gid=-1", "gid: must be at least 0"},
		{"dev256", "/dev/null", "expected dev0 to dev255"},
	}
	for _, tt := range errs {
		if _, err := ParseDevice(tt.key, tt.value); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: error %v, want one containing %q", tt.key, tt.value, err, tt.want)
		}
	}
	var keys []string
	for _, d := range Devices(map[string]string{"dev3": "/dev/b", "dev1": "/dev/a", "dev2": "mode=0600", "mp0": "/dev/c"}) {
		keys = append(keys, d.Key)
	}
	if strings.Join(keys, ",") != "dev1,dev3" {
		t.Errorf("Devices = %v, want dev1,dev3", keys)
	}
}
