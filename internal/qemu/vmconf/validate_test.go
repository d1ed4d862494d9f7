package vmconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// realConfig is a VM configuration as Proxmox VE writes it, with the
// system keys of a snapshot section mixed in.
func realConfig() map[string]string {
	return map[string]string{
		"agent": "1", "balloon": "0", "boot": "order=scsi0;ide2;net0", "cores": "2", "cpu": "x86-64-v2-AES",
		"description": "web server", "digest": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"efidisk0": "local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M",
		"ide2":     "local:iso/debian-12.iso,media=cdrom,size=629M", "lock": "backup", "machine": "q35",
		"memory": "2048", "meta": "creation-qemu=8.1.5,ctime=1710000000", "name": "web01",
		"net0": "virtio=BC:24:11:2E:3A:1F,bridge=vmbr0,firewall=1", "numa": "0", "onboot": "1", "ostype": "l26",
		"parent": "before-upgrade", "runningcpu": "kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt,+lahf_lm,+sep",
		"runningmachine": "pc-q35-8.1+pve0", "scsi0": "local-lvm:vm-100-disk-0,iothread=1,size=32G",
		"scsihw": "virtio-scsi-single", "smbios1": "uuid=7b0c0d8e-4b3c-4f5e-9a1b-2c3d4e5f6a7b", "snaptime": "1710000000",
		"snapstate": "prepare", "sockets": "1", "template": "0", "tpmstate0": "local-lvm:vm-100-disk-2,size=4M,version=v2.0",
		"unused0": "local-lvm:vm-100-disk-3", "vmgenid": "c2e0a3b1-6d4f-4e7a-9b8c-1d2e3f4a5b6c",
		"vmstate": "local-lvm:vm-100-state-before-upgrade",
	}
}

func TestValidateAcceptsRealConfig(t *testing.T) {
	for _, strict := range []bool{true, false} {
		clean, warnings, err := Validate(100, realConfig(), strict)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("strict=%v: %v %v", strict, err, warnings)
		}
		if !reflect.DeepEqual(clean, realConfig()) {
			t.Errorf("strict=%v: canonical values changed:\n got %v\nwant %v", strict, clean, realConfig())
		}
	}
}

func TestValidateNormalizes(t *testing.T) {
	in := map[string]string{
		"onboot": "yes", "acpi": "off", "cores": "04", "cpulimit": "1.50", "migrate_downtime": "1e-1",
		"scsi0": "size=1.5G,local-lvm:vm-100-disk-0,ssd=on", "cdrom": "local:iso/x.iso",
		"net0": "bridge=vmbr0,virtio=BC:24:11:2E:3A:1F", // kept as written: not a drive
	}
	want := map[string]string{
		"onboot": "1", "acpi": "0", "cores": "4", "cpulimit": "1.5", "migrate_downtime": "0.1",
		"scsi0": "local-lvm:vm-100-disk-0,size=1536M,ssd=1", "ide2": "local:iso/x.iso,media=cdrom",
		"net0": "bridge=vmbr0,virtio=BC:24:11:2E:3A:1F",
	}
	clean, warnings, err := Validate(100, in, true)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%v %v", err, warnings)
	}
	if !reflect.DeepEqual(clean, want) {
		t.Errorf("got  %v\nwant %v", clean, want)
	}
}

func TestValidateStrict(t *testing.T) {
	tests := []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"cores": "2", "colour": "red"}, "vm 100 - unknown setting 'colour'"},
		{map[string]string{"cores": "0"}, "vm 100 - unable to parse value of 'cores' - must be at least 1"},
		{map[string]string{"net0": "virtio,tag=5000"}, "vm 100 - unable to parse value of 'net0' - tag: must be at most 4094"},
		{map[string]string{"scsi0": "local-lvm:x,mbps_rd=1,mbps=2"}, "vm 100 - unable to parse value of 'scsi0' - mbps_rd: cannot be combined with mbps"},
		{map[string]string{"cpu": "host,reported-model=Haswell"}, "vm 100 - unable to parse value of 'cpu' - reported-model:"},
		{map[string]string{"ipconfig0": "gw=10.0.0.1"}, "vm 100 - unable to parse value of 'ipconfig0' - gw: needs ip"},
		{map[string]string{"description": "two\nlines"}, "vm 100 - unable to parse value of 'description' - the value holds a line break"},
		{map[string]string{"cdrom": "none", "ide2": "none,media=cdrom"}, "vm 100 - unable to parse value of 'cdrom' - conflicts with ide2"},
		{map[string]string{"snaptime": "-5"}, "vm 100 - unable to parse value of 'snaptime' - must be at least 0"},
		{map[string]string{"meta": "ctime=x"}, "vm 100 - unable to parse value of 'meta' - ctime:"},
		// The first bad key in key order is the one reported.
		{map[string]string{"zzz": "1", "cores": "x", "aaa": "1"}, "vm 100 - unknown setting 'aaa'"},
	}
	for _, tt := range tests {
		clean, warnings, err := Validate(100, tt.values, true)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || clean != nil || warnings != nil {
			t.Errorf("Validate(%v) = %v, %v, %v; want error %q", tt.values, clean, warnings, err, tt.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.VMID != 100 {
			t.Errorf("Validate(%v): error %T is not a *vmconf.Error", tt.values, err)
		}
	}
}

func TestValidateLenient(t *testing.T) {
	in := realConfig()
	in["colour"] = "red"
	in["cores"] = "many"
	in["net1"] = "virtio,bridge=vmbr0,tag=0"
	in["cdrom"] = "none"
	clean, warnings, err := Validate(100, in, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"vm 100 - unable to parse value of 'cdrom' - conflicts with ide2, which it stands for",
		"vm 100 - unknown setting 'colour'",
		`vm 100 - unable to parse value of 'cores' - expected an integer, got "many"`,
		"vm 100 - unable to parse value of 'net1' - tag: must be at least 1",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
	good := realConfig()
	delete(good, "cores")
	if !reflect.DeepEqual(clean, good) {
		t.Errorf("clean keys: got %v", clean)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		key, value string
		want       map[string]any
	}{
		{"cores", "4", map[string]any{"cores": int64(4)}},
		{"onboot", "yes", map[string]any{"onboot": true}},
		{"cpulimit", "0.5", map[string]any{"cpulimit": 0.5}},
		{"name", "web01", map[string]any{"name": "web01"}},
		{"net0", "virtio=BC:24:11:2E:3A:1F,tag=10,firewall=1",
			map[string]any{"model": "virtio", "macaddr": "BC:24:11:2E:3A:1F", "tag": int64(10), "firewall": true}},
		{"scsi0", "local-lvm:x,size=32G,mbps=1.5", map[string]any{"file": "local-lvm:x", "size": "32G", "mbps": 1.5}},
		{"cdrom", "none", map[string]any{"file": "none", "media": "cdrom"}},
		{"memory", "4096", map[string]any{"current": int64(4096)}},
		{"meta", "creation-qemu=9.0.2,ctime=1", map[string]any{"creation-qemu": "9.0.2", "ctime": int64(1)}},
	}
	for _, tt := range tests {
		got, err := Decode(tt.key, tt.value)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%s, %q) = %#v, %v; want %#v", tt.key, tt.value, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ key, value, want string }{
		{"colour", "red", "unknown setting 'colour'"},
		{"cores", "0", "cores: must be at least 1"},
		{"usb0", "usb3=1", "usb0: host or mapping is required"},
		{"bootdisk", "efidisk0", `bootdisk: "efidisk0" is not valid: expected a disk key`},
	} {
		if _, err := Decode(bad.key, bad.value); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Decode(%s, %q) error = %v, want %q", bad.key, bad.value, err, bad.want)
		}
	}
}
