package api

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api/schema"
)

// lxcDocKeys are the key names of the container configuration manual
// (pct.conf), indexed families written with [n].
var lxcDocKeys = []string{
	"arch", "cmode", "console", "cores", "cpulimit", "cpuunits", "debug", "description", "dev[n]", "entrypoint", "env",
	"features", "hookscript", "hostname", "lock", "memory", "mp[n]", "nameserver", "net[n]", "onboot", "ostype",
	"protection", "rootfs", "searchdomain", "startup", "swap", "tags", "template", "timezone", "tty", "unprivileged",
	"unused[n]",
}

// TestLXCOptionsCoverManual checks that every key of the manual exists,
// that each indexed family runs from 0 to its maximum and stops there,
// and that no key exists beyond the manual's.
func TestLXCOptionsCoverManual(t *testing.T) {
	opts := LXCOptions()
	families := map[string]int{"dev": 256, "mp": 256, "net": 10, "unused": 256}
	want := map[string]bool{}
	for _, k := range lxcDocKeys {
		prefix, indexed := strings.CutSuffix(k, "[n]")
		if !indexed {
			want[k] = true
			continue
		}
		n, ok := families[prefix]
		if !ok {
			t.Fatalf("no count for family %s", prefix)
		}
		for i := 0; i < n; i++ {
			want[prefix+strconv.Itoa(i)] = true
		}
		if opts[prefix+strconv.Itoa(n)] != nil {
			t.Errorf("%s%d must not exist", prefix, n)
		}
	}
	for k := range want {
		if opts[k] == nil {
			t.Errorf("%s is missing", k)
		}
	}
	for k := range opts {
		if !want[k] {
			t.Errorf("%s is not a key of the manual", k)
		}
	}
	consts := map[string]int{"dev": LXCMaxDevices, "mp": LXCMaxMountPoints, "net": LXCMaxNets, "unused": LXCMaxUnused}
	for prefix, n := range families {
		if consts[prefix] != n {
			t.Errorf("the constant for %s says %d, the manual %d", prefix, consts[prefix], n)
		}
	}
}

func TestLXCOptionsWellFormed(t *testing.T) {
	opts := LXCOptions()
	for name, s := range LXCSnapshotOptions() {
		if _, dup := opts[name]; dup {
			t.Errorf("%s is both a user and a system option", name)
		}
		opts[name] = s
	}
	for name, s := range opts {
		if !s.Optional {
			t.Errorf("%s: a container option must be optional", name)
		}
		if schema.CheckFormat("pve-configid", name) != nil {
			t.Errorf("%s: not a valid configuration key", name)
		}
		checkQemuKey(t, name, s)
		if s.Prop == nil {
			continue
		}
		for key, ks := range s.Prop.Keys {
			checkQemuKey(t, name+"."+key, ks)
		}
	}
}

// TestLXCOptionsSample pins type, default, bounds and enum of a sample of
// keys, inside property strings too.
func TestLXCOptionsSample(t *testing.T) {
	opts := LXCOptions()
	key := func(name string) *schema.Schema {
		outer, inner, nested := strings.Cut(name, ".")
		s := opts[outer]
		if s != nil && nested {
			if s.Prop == nil {
				t.Fatalf("%s is not a property string", outer)
			}
			s = s.Prop.Keys[inner]
		}
		if s == nil {
			t.Fatalf("%s is missing", name)
		}
		return s
	}
	tests := []struct {
		name     string
		typ      schema.Type
		def      any
		min, max float64 // -1: none
		enum     []string
	}{
		{"arch", schema.String, "amd64", -1, -1, []string{"amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"}},
		{"cmode", schema.String, "tty", -1, -1, []string{"shell", "console", "tty"}},
		{"console", schema.Boolean, true, -1, -1, nil},
		{"cores", schema.Integer, nil, 1, 8192, nil},
		{"cpulimit", schema.Number, 0.0, 0, 8192, nil},
		{"cpuunits", schema.Integer, nil, 0, 500000, nil},
		{"memory", schema.Integer, int64(512), 16, -1, nil},
		{"swap", schema.Integer, int64(512), 0, -1, nil},
		{"tty", schema.Integer, int64(2), 0, 6, nil},
		{"unprivileged", schema.Boolean, false, -1, -1, nil},
		{"entrypoint", schema.String, "/sbin/init", -1, -1, nil},
		{"lock", schema.String, nil, -1, -1, []string{"backup", "create", "destroyed", "disk", "fstrim", "migrate",
			"mounted", "rollback", "snapshot", "snapshot-delete"}},
		{"ostype", schema.String, nil, -1, -1, []string{"alpine", "archlinux", "centos", "debian", "devuan", "fedora",
			"gentoo", "nixos", "opensuse", "ubuntu", "unmanaged", "busybox"}},
		{"net0.mtu", schema.Integer, nil, 64, 65535, nil},
		{"net9.tag", schema.Integer, nil, 1, 4094, nil},
		{"net0.type", schema.String, nil, -1, -1, []string{"veth"}},
		{"mp0.replicate", schema.Boolean, true, -1, -1, nil},
		{"mp255.keepattrs", schema.Boolean, false, -1, -1, nil},
		{"rootfs.shared", schema.Boolean, false, -1, -1, nil},
		{"features.nesting", schema.Boolean, false, -1, -1, nil},
		{"dev0.deny-write", schema.Boolean, false, -1, -1, nil},
		{"dev0.uid", schema.Integer, nil, 0, -1, nil},
		{"startup.order", schema.Integer, nil, 0, -1, nil},
	}
	for _, tt := range tests {
		s := key(tt.name)
		if s.Type != tt.typ {
			t.Errorf("%s: type %s, want %s", tt.name, s.Type, tt.typ)
		}
		if s.Default != tt.def {
			t.Errorf("%s: default %#v, want %#v", tt.name, s.Default, tt.def)
		}
		bound := func(p *float64) float64 {
			if p == nil {
				return -1
			}
			return *p
		}
		if bound(s.Minimum) != tt.min || bound(s.Maximum) != tt.max {
			t.Errorf("%s: range %v-%v, want %v-%v", tt.name, bound(s.Minimum), bound(s.Maximum), tt.min, tt.max)
		}
		if !slices.Equal(s.Enum, tt.enum) {
			t.Errorf("%s: enum %v, want %v", tt.name, s.Enum, tt.enum)
		}
	}
	for name, format := range map[string]string{"hostname": "dns-name", "searchdomain": "dns-name-list", "tags": "pve-tag-list",
		"hookscript": "pve-volume-id", "net0.hwaddr": "mac-addr", "net0.gw": "ipv4", "net0.gw6": "ipv6",
		"unused0.volume": "pve-volume-id", "mp0.size": "disk-size"} {
		if got := key(name).Format; got != format {
			t.Errorf("%s: format %q, want %q", name, got, format)
		}
	}
	// Keys a property string must have, and keys it must not.
	for name, required := range map[string]bool{"mp0.mp": true, "mp0.volume": true, "rootfs.volume": true,
		"net0.name": true, "unused0.volume": true, "net0.bridge": false, "dev0.path": false} {
		if got := !key(name).Optional; got != required {
			t.Errorf("%s: required %v, want %v", name, got, required)
		}
	}
	for _, k := range []string{"mp", "backup", "keepattrs"} {
		if opts["rootfs"].Prop.Keys[k] != nil {
			t.Errorf("rootfs must not have the key %s", k)
		}
	}
}

// TestLXCOptionsAreFresh checks that each call builds new values.
func TestLXCOptionsAreFresh(t *testing.T) {
	a := LXCOptions()
	a["ostype"].Enum[0] = "changed"
	a["mp0"].Prop.Keys["mp"].Description = "changed"
	b := LXCOptions()
	if b["ostype"].Enum[0] == "changed" || b["mp0"].Prop.Keys["mp"].Description == "changed" {
		t.Error("LXCOptions shares values between calls")
	}
}

// TestLXCValuesCanonical parses property strings as they appear in real
// container configurations and prints them back: the default key first,
// the other keys sorted, booleans as 1/0.
func TestLXCValuesCanonical(t *testing.T) {
	opts := LXCOptions()
	tests := []struct{ key, in, want string }{
		{"rootfs", "local-lvm:vm-100-disk-0,size=8G", "local-lvm:vm-100-disk-0,size=8G"},
		{"rootfs", "size=8G,volume=local:100/vm-100-disk-0.raw,acl=yes,mountoptions=noatime;nodev", "local:100/vm-100-disk-0.raw,acl=1,mountoptions=noatime;nodev,size=8G"},
		{"rootfs", "local-lvm:8", "local-lvm:8"},
		{"rootfs", "4", "4"},
		{"mp0", "guests:subvol-100-disk-1,mp=/root/files,size=8G,backup=1", "guests:subvol-100-disk-1,backup=1,mp=/root/files,size=8G"},
		{"mp1", "/mnt/bindmounts/shared,mp=/shared,ro=1,shared=1", "/mnt/bindmounts/shared,mp=/shared,ro=1,shared=1"},
		{"mp2", "volume=/dev/sdb1,mp=/mnt/disk,quota=on,replicate=off", "/dev/sdb1,mp=/mnt/disk,quota=1,replicate=0"},
		{"mp255", "thin1:10,mp=/path/in/container,keepattrs=1", "thin1:10,keepattrs=1,mp=/path/in/container"},
		{"net0", "bridge=vmbr0,hwaddr=66:64:66:64:64:36,ip=dhcp,name=eth0,type=veth", "bridge=vmbr0,hwaddr=66:64:66:64:64:36,ip=dhcp,name=eth0,type=veth"},
		{"net1", "name=eth1,bridge=vmbr1,ip=192.168.15.147/24,gw=192.168.15.1,ip6=auto,firewall=1,tag=20,trunks=30;40,rate=2.5,mtu=1400",
			"bridge=vmbr1,firewall=1,gw=192.168.15.1,ip=192.168.15.147/24,ip6=auto,mtu=1400,name=eth1,rate=2.5,tag=20,trunks=30;40"},
		{"net9", "name=eth9,ip6=2001:db8::5/64,gw6=2001:db8::1,host-managed=1,link_down=true", "gw6=2001:db8::1,host-managed=1,ip6=2001:db8::5/64,link_down=1,name=eth9"},
		{"features", "nesting=1,keyctl=1", "keyctl=1,nesting=1"},
		{"features", "mount=nfs;cifs,fuse=1,mknod=0,force_rw_sys=1", "force_rw_sys=1,fuse=1,mknod=0,mount=nfs;cifs"},
		{"dev0", "/dev/ttyUSB0,mode=0660,uid=1000,gid=20", "/dev/ttyUSB0,gid=20,mode=0660,uid=1000"},
		{"dev1", "path=/dev/dri/renderD128,deny-write=1", "/dev/dri/renderD128,deny-write=1"},
		{"unused0", "volume=local-lvm:vm-100-disk-3", "local-lvm:vm-100-disk-3"},
		{"startup", "order=2,up=10", "2,up=10"},
	}
	for _, tt := range tests {
		s := opts[tt.key]
		if s == nil || s.Prop == nil {
			t.Fatalf("%s is not a property string", tt.key)
		}
		m, err := s.Prop.Parse(tt.in)
		if err != nil {
			t.Errorf("%s: %q: %v", tt.key, tt.in, err)
			continue
		}
		if got := s.Prop.Print(m); got != tt.want {
			t.Errorf("%s: %q printed as %q, want %q", tt.key, tt.in, got, tt.want)
		}
		if err := s.CheckString(tt.want); err != nil {
			t.Errorf("%s: the canonical form %q does not check: %v", tt.key, tt.want, err)
		}
	}
}

// TestLXCValuesGood checks plain values that must be accepted.
func TestLXCValuesGood(t *testing.T) {
	raw := schema.Raw{}
	for k, v := range map[string]string{
		"arch": "arm64", "cmode": "shell", "console": "0", "cores": "2", "cpulimit": "0.5", "cpuunits": "0",
		"debug": "1", "description": "file server", "entrypoint": "/usr/bin/env FOO=1 /bin/sh -l", "env": "A=1\x00B_2=x y\x00C=",
		"hookscript": "local:snippets/hook.sh", "hostname": "ct-01.example.com", "lock": "mounted", "memory": "16",
		"nameserver": "192.0.2.53 2001:db8::53,fe80::1%eth0", "onboot": "yes", "ostype": "busybox", "protection": "0",
		"searchdomain": "example.com lab.example.com", "swap": "0", "tags": "web;prod", "template": "0",
		"timezone": "America/Argentina/Buenos_Aires", "tty": "0", "unprivileged": "1",
	} {
		raw.Set(k, v)
	}
	if _, errs := schema.DecodeParams(LXCOptions(), raw, false); errs != nil {
		t.Fatalf("refused: %v", errs)
	}
	for _, tz := range []string{"host", "UTC", "Etc/GMT+5", "Europe/Vienna"} {
		if _, err := LXCOptions()["timezone"].Parse(tz); err != nil {
			t.Errorf("timezone %q: %v", tz, err)
		}
	}
}

// TestLXCValuesBad checks that bad values are refused and that the
// message names the key (or the key inside the property string) at fault.
func TestLXCValuesBad(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"mp0", "local:vm-100-disk-1", `"mp"`},
		{"mp0", "mp=/data", `"volume"`},
		{"mp0", "local:vm-100-disk-1,mp=relative/path", "mp"},
		{"mp0", "local:vm-100-disk-1,mp=/data/../etc", "mp"},
		{"mp0", "local:vm-100-disk-1,mp=/data/.", "mp"},
		{"mp0", "/srv/./x,mp=/data", "volume"},
		{"mp0", "local:vm-100-disk-1,mp=/data,mountoptions=noatime;sync", "mountoptions"},
		{"mp0", "local:vm-100-disk-1,mp=/data,size=huge", "size"},
		{"mp0", "local:vm-100-disk-1,mp=/data,cache=none", `"cache"`},
		{"rootfs", "local:vm-100-disk-0,mp=/", `"mp"`},
		{"rootfs", "local:vm-100-disk-0,backup=1", `"backup"`},
		{"rootfs", "relative/dir", "volume"},
		{"net0", "bridge=vmbr0", `"name"`},
		{"net0", "name=eth0,ip=10.0.0.300/24", "ip"},
		{"net0", "name=eth0,ip=10.0.0.3", "ip"},
		{"net0", "name=eth0,ip6=slaac", "ip6"},
		{"net0", "name=eth0,gw=2001:db8::1", "gw"},
		{"net0", "name=eth0,hwaddr=01:00:00:00:00:01", "multicast"},
		{"net0", "name=eth0,mtu=63", "mtu"},
		{"net0", "name=eth0,tag=4095", "tag"},
		{"net0", "name=eth0,trunks=10-20", "trunks"},
		{"net0", "name=eth0,type=macvlan", "type"},
		{"net0", "name=averyveryverylongname", "name"},
		{"net0", "name=eth 0", "name"},
		{"features", "nesting=2", "nesting"},
		{"features", "mount=nfs,cifs", `"cifs"`},
		{"dev0", "/tmp/x", "path"},
		{"dev0", "/dev/../etc/shadow", "path"},
		{"dev0", "/dev/null,mode=660", "mode"},
		{"dev0", "/dev/null,uid=-1", "uid"},
		{"unused0", "/srv/image.raw", "volume"},
		{"startup", "up=-5", "up"},
		{"arch", "sparc", "arch"},
		{"cores", "0", "cores"},
		{"cpulimit", "8193", "cpulimit"},
		{"memory", "15", "memory"},
		{"tty", "7", "tty"},
		{"ostype", "windows", "ostype"},
		{"lock", "clone", "lock"},
		{"hostname", "not a name", "hostname"},
		{"nameserver", "dns.example.com", "nameserver"},
		{"timezone", "Europe/../etc", "timezone"},
		{"entrypoint", "/sbin/init\nrm", "entrypoint"},
		{"env", "=x", "env"},
		{"env", "A B=x", "env"},
		{"env", "A=x\nB=y", "env"},
		{"tags", "a b;-c", "tags"},
	}
	opts := LXCOptions()
	for _, tt := range tests {
		raw := schema.Raw{}
		raw.Set(tt.key, tt.value)
		_, errs := schema.DecodeParams(opts, raw, false)
		msg, bad := errs[tt.key]
		switch {
		case !bad:
			t.Errorf("%s: %q was accepted", tt.key, tt.value)
		case tt.key != tt.want && !strings.Contains(msg, tt.want):
			t.Errorf("%s: %q: message %q does not name %s", tt.key, tt.value, msg, tt.want)
		}
	}
}

// TestLXCPathPattern pins the path rules shared by mount points and
// devices: absolute, no "." or ".." element, but names that merely start
// with dots are fine.
func TestLXCPathPattern(t *testing.T) {
	mp := schema.Pat("path", LXCPathPattern)
	dev := schema.Pat("device", LXCDevicePathPattern)
	for _, tt := range []struct {
		s        *schema.Schema
		v        string
		accepted bool
	}{
		{&mp, "/", true}, {&mp, "/data", true}, {&mp, "/data/", true}, {&mp, "/a//b", true}, {&mp, "/.hidden", true},
		{&mp, "/..x/...", true}, {&mp, "/a/b.c", true},
		{&mp, "", false}, {&mp, "data", false}, {&mp, "/.", false}, {&mp, "/..", false}, {&mp, "/a/./b", false},
		{&mp, "/a/../b", false}, {&mp, "/a/..", false}, {&mp, "/a\nb", false},
		{&dev, "/dev/null", true}, {&dev, "/dev/dri/card0", true}, {&dev, "/dev/", false}, {&dev, "/dev", false},
		{&dev, "/dev/./null", false}, {&dev, "/dev/..", false}, {&dev, "/proc/1", false},
	} {
		err := tt.s.CheckString(tt.v)
		if (err == nil) != tt.accepted {
			t.Errorf("%s %q: accepted %v, want %v (%v)", tt.s.Description, tt.v, err == nil, tt.accepted, err)
		}
	}
}
