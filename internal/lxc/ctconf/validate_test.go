package ctconf

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// realConfig is a container configuration as Proxmox VE writes it, with
// the system keys of a snapshot section and a raw LXC key mixed in.
func realConfig() map[string]string {
	return map[string]string{
		"arch": "amd64", "cores": "2", "description": "file server", "digest": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"features": "keyctl=1,nesting=1", "hostname": "files", "memory": "1024", "swap": "512",
		"mp0":        "local-lvm:vm-101-disk-1,mp=/srv/files,backup=1,size=32G",
		"mp1":        "/mnt/bindmounts/shared,mp=/shared,ro=1",
		"nameserver": "192.0.2.53 2001:db8::53",
		"net0":       "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,ip6=auto,type=veth",
		"onboot":     "1", "ostype": "debian", "parent": "before-upgrade", "rootfs": "local-lvm:vm-101-disk-0,size=8G",
		"searchdomain": "example.com", "snaptime": "1710000000", "snapstate": "prepare", "startup": "order=2,up=30",
		"tags": "files;prod", "timezone": "host", "tty": "2", "unprivileged": "1", "unused0": "local-lvm:vm-101-disk-2",
		"dev0": "/dev/dri/renderD128,gid=44,mode=0660", "lock": "backup", "lxc.idmap": "u 0 100000 65536",
		"lxc.cgroup2.devices.allow": "c 10:200 rwm",
	}
}

func TestValidateAcceptsRealConfig(t *testing.T) {
	for _, strict := range []bool{true, false} {
		clean, warnings, err := Validate(101, realConfig(), strict)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("strict=%v: %v %v", strict, err, warnings)
		}
		want := realConfig()
		// Mount points come back in canonical form; everything else as given.
		want["mp0"] = "local-lvm:vm-101-disk-1,backup=1,mp=/srv/files,size=32G"
		if !reflect.DeepEqual(clean, want) {
			t.Errorf("strict=%v: values changed:\n got %v\nwant %v", strict, clean, want)
		}
	}
}

func TestValidateNormalizes(t *testing.T) {
	in := map[string]string{
		"onboot": "yes", "console": "off", "cores": "04", "cpulimit": "1.50", "memory": "+512",
		"rootfs": "size=1.5G,volume=local:101/vm-101-disk-0.raw,acl=on",
		"net0":   "name=eth0,firewall=yes", // kept as written: only mount points are reprinted
	}
	want := map[string]string{
		"onboot": "1", "console": "0", "cores": "4", "cpulimit": "1.5", "memory": "512",
		"rootfs": "local:101/vm-101-disk-0.raw,acl=1,size=1536M",
		"net0":   "name=eth0,firewall=yes",
	}
	clean, warnings, err := Validate(101, in, true)
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
		{map[string]string{"cores": "2", "colour": "red"}, "vm 101 - unknown setting 'colour'"},
		{map[string]string{"lxc": "x"}, "vm 101 - unknown setting 'lxc'"},
		{map[string]string{"LXC.idmap": "u 0 1 1"}, "vm 101 - unknown setting 'LXC.idmap'"},
		{map[string]string{"scsi0": "local:1"}, "vm 101 - unknown setting 'scsi0'"},
		{map[string]string{"net10": "name=eth10"}, "vm 101 - unknown setting 'net10'"},
		{map[string]string{"cores": "0"}, "vm 101 - unable to parse value of 'cores' - must be at least 1"},
		{map[string]string{"tty": "7"}, "vm 101 - unable to parse value of 'tty' - must be at most 6"},
		{map[string]string{"ostype": "windows"}, "vm 101 - unable to parse value of 'ostype' - \"windows\" is not allowed"},
		{map[string]string{"timezone": "../etc/passwd"}, "vm 101 - unable to parse value of 'timezone' - \"../etc/passwd\" is not valid: expected host"},
		{map[string]string{"nameserver": "2001:db8::1%eth0"}, "vm 101 - unable to parse value of 'nameserver' - \"2001:db8::1%eth0\" names an interface"},
		{map[string]string{"nameserver": "192.0.2.300"}, "vm 101 - unable to parse value of 'nameserver' - \"192.0.2.300\" is not an IP address"},
		{map[string]string{"net0": "name=eth0,tag=5000"}, "vm 101 - unable to parse value of 'net0' - tag: must be at most 4094"},
		{map[string]string{"net0": "name=eth0,gw=10.0.0.1"}, "vm 101 - unable to parse value of 'net0' - gw: needs ip"},
		{map[string]string{"dev0": "mode=0600"}, "vm 101 - unable to parse value of 'dev0' - path: required"},
		{map[string]string{"features": "nesting=maybe"}, "vm 101 - unable to parse value of 'features' - nesting:"},
		{map[string]string{"mp0": "local:vm-101-disk-1"}, "vm 101 - unable to parse value of 'mp0' - required key \"mp\" is missing"},
		{map[string]string{"unused0": "/srv/disk.raw"}, "vm 101 - unable to parse value of 'unused0' - volume:"},
		{map[string]string{"description": "two\nlines"}, "vm 101 - unable to parse value of 'description' - the value holds a line break"},
		{map[string]string{"lxc.mount.entry": "a\nb"}, "vm 101 - unable to parse value of 'lxc.mount.entry' - the value holds a line break"},
		{map[string]string{"snaptime": "-5"}, "vm 101 - unable to parse value of 'snaptime' - must be at least 0"},
		// Rules between keys.
		{map[string]string{"rootfs": "local:vm-101-disk-0", "mp0": "local:vm-101-disk-1,mp=/data", "mp1": "/srv,mp=/data/"},
			"vm 101 - unable to parse value of 'mp1' - mp: /data is already the mount point of mp0"},
		{map[string]string{"rootfs": "local:vm-101-disk-0", "mp3": "local:vm-101-disk-0,mp=/data"},
			"vm 101 - unable to parse value of 'mp3' - volume: local:vm-101-disk-0 is already mounted by rootfs"},
		{map[string]string{"mp0": "/dev/sdb1,mp=/a", "mp1": "/dev//sdb1,mp=/b"},
			"vm 101 - unable to parse value of 'mp1' - volume: /dev//sdb1 is already mounted by mp0"},
		{map[string]string{"mp0": "local:vm-101-disk-1,mp=/a", "unused0": "local:vm-101-disk-1"},
			"vm 101 - unable to parse value of 'unused0' - volume: local:vm-101-disk-1 is already used by mp0"},
		{map[string]string{"dev0": "/dev/null", "dev1": "/dev//null,mode=0600"},
			"vm 101 - unable to parse value of 'dev1' - path: /dev/null is already passed through by dev0"},
		{map[string]string{"net0": "name=eth0", "net1": "name=eth0"},
			"vm 101 - unable to parse value of 'net1' - name: eth0 is already the name of net0"},
		{map[string]string{"net0": "name=eth0,hwaddr=BC:24:11:00:00:01", "net1": "name=eth1,hwaddr=bc:24:11:00:00:01"},
			"vm 101 - unable to parse value of 'net1' - hwaddr: bc:24:11:00:00:01 is already the address of net0"},
		{map[string]string{"unprivileged": "1", "rootfs": "local:vm-101-disk-0,quota=1"},
			"vm 101 - unable to parse value of 'rootfs' - quota: user quotas work only in privileged containers"},
		// The first bad key in key order is the one reported.
		{map[string]string{"zzz": "1", "cores": "x", "aaa": "1"}, "vm 101 - unknown setting 'aaa'"},
	}
	for _, tt := range tests {
		clean, warnings, err := Validate(101, tt.values, true)
		if err == nil || clean != nil || warnings != nil {
			t.Errorf("%v: accepted: %v %v", tt.values, clean, warnings)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v:\n got %q\nwant %q...", tt.values, err, tt.want)
		}
		var e *vmconf.Error
		if !errors.As(err, &e) || e.VMID != 101 || !strings.Contains(tt.want, "'"+e.Key+"'") {
			t.Errorf("%v: %#v is not a vmconf.Error naming the key", tt.values, err)
		}
	}
}

// TestValidateAllowed checks combinations the rules between keys must
// not refuse.
func TestValidateAllowed(t *testing.T) {
	for _, values := range []map[string]string{
		// Bind mounts may share a host directory; each new volume is its own.
		{"mp0": "/srv/share,mp=/a", "mp1": "/srv/share,mp=/b", "mp2": "local:8,mp=/c", "mp3": "local:8,mp=/d"},
		// Quotas are fine in a privileged container.
		{"unprivileged": "0", "rootfs": "local:vm-101-disk-0,quota=1"},
		{"rootfs": "local:vm-101-disk-0,quota=1"},
		{"unprivileged": "1", "rootfs": "local:vm-101-disk-0,quota=0"},
		{"net0": "name=eth0", "net1": "name=eth1"},
	} {
		if _, _, err := Validate(101, values, true); err != nil {
			t.Errorf("%v: %v", values, err)
		}
	}
}

func TestValidateLenient(t *testing.T) {
	in := map[string]string{
		"cores": "0", "colour": "red", "memory": "2048", "net0": "name=eth0", "net1": "name=eth0",
		"rootfs": "local:vm-101-disk-0", "mp0": "local:vm-101-disk-1,mp=relative",
	}
	clean, warnings, err := Validate(101, in, false)
	if err != nil {
		t.Fatal(err)
	}
	// Keys bad on their own are dropped; keys that only clash are kept.
	want := map[string]string{"memory": "2048", "net0": "name=eth0", "net1": "name=eth0", "rootfs": "local:vm-101-disk-0"}
	if !maps.Equal(clean, want) {
		t.Errorf("clean %v, want %v", clean, want)
	}
	var keys []string
	for _, w := range warnings {
		_, rest, _ := strings.Cut(w, "'")
		k, _, _ := strings.Cut(rest, "'")
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"colour", "cores", "mp0", "net1"}) {
		t.Errorf("warnings %q", warnings)
	}
}

func TestKeyHelpers(t *testing.T) {
	for key, want := range map[string][5]bool{ // mount point, net, device, unused, raw
		"rootfs": {true}, "mp0": {true}, "mp255": {true}, "mp256": {}, "mp00": {},
		"net0": {1: true}, "net9": {1: true}, "net10": {},
		"dev0": {2: true}, "dev255": {2: true}, "dev256": {},
		"unused0": {3: true}, "unused255": {3: true}, "unused256": {},
		"lxc.idmap": {4: true}, "lxc.": {}, "lxc.A": {}, "memory": {},
	} {
		got := [5]bool{IsMountPointKey(key), IsNetKey(key), IsDeviceKey(key), IsUnusedKey(key), IsRawKey(key)}
		if got != want {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
	values := map[string]string{"mp0": "x", "mp1": "x", "mp3": "x", "net0": "x"}
	for prefix, want := range map[string]string{"mp": "mp2", "net": "net1", "dev": "dev0", "unused": "unused0", "scsi": ""} {
		if k, ok := FreeKey(values, prefix); k != want || ok != (want != "") {
			t.Errorf("FreeKey(%s) = %q, %v; want %q", prefix, k, ok, want)
		}
	}
	full := map[string]string{}
	for i := 0; i < 10; i++ {
		full["net"+string(rune('0'+i))] = "x"
	}
	if k, ok := FreeKey(full, "net"); ok {
		t.Errorf("FreeKey of a full family = %q", k)
	}
	if v, err := ParseUnused("unused3", "volume=local:vm-101-disk-3"); err != nil || v != "local:vm-101-disk-3" {
		t.Errorf("ParseUnused = %q, %v", v, err)
	}
	if _, err := ParseUnused("unused256", "local:x"); err == nil {
		t.Error("ParseUnused accepted unused256")
	}
	if got := ParseEnv("A=1\x00B=2"); !slices.Equal(got, []string{"A=1", "B=2"}) {
		t.Errorf("ParseEnv = %q", got)
	}
	if ParseEnv("") != nil {
		t.Error("ParseEnv of nothing must be empty")
	}
	if ns, err := ParseNameservers("192.0.2.1, fe80::1%eth0;2001:db8::1"); err != nil || len(ns) != 3 {
		t.Errorf("ParseNameservers = %q, %v", ns, err)
	}
}
