package vmconf

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parsers maps a configuration key to its typed parser, for the table
// tests below.
var parsers = map[string]func(string) (fmt.Stringer, error){
	"cpu":                func(v string) (fmt.Stringer, error) { return ParseCPU(v) },
	"boot":               func(v string) (fmt.Stringer, error) { return ParseBoot(v) },
	"agent":              func(v string) (fmt.Stringer, error) { return ParseAgent(v) },
	"vga":                func(v string) (fmt.Stringer, error) { return ParseVGA(v) },
	"memory":             func(v string) (fmt.Stringer, error) { return ParseMemory(v) },
	"startup":            func(v string) (fmt.Stringer, error) { return ParseStartup(v) },
	"smbios1":            func(v string) (fmt.Stringer, error) { return ParseSMBIOS1(v) },
	"rng0":               func(v string) (fmt.Stringer, error) { return ParseRNG(v) },
	"watchdog":           func(v string) (fmt.Stringer, error) { return ParseWatchdog(v) },
	"serial0":            func(v string) (fmt.Stringer, error) { return ParseSerial(v) },
	"usb0":               func(v string) (fmt.Stringer, error) { return ParseUSB(v) },
	"hostpci0":           func(v string) (fmt.Stringer, error) { return ParseHostPCI(v) },
	"numa0":              func(v string) (fmt.Stringer, error) { return ParseNUMA(v) },
	"ipconfig0":          func(v string) (fmt.Stringer, error) { return ParseIPConfig(v) },
	"hotplug":            func(v string) (fmt.Stringer, error) { return ParseHotplug(v) },
	"machine":            func(v string) (fmt.Stringer, error) { return ParseMachine(v) },
	"audio0":             func(v string) (fmt.Stringer, error) { return ParseAudio(v) },
	"spice_enhancements": func(v string) (fmt.Stringer, error) { return ParseSpiceEnhancements(v) },
	"virtiofs0":          func(v string) (fmt.Stringer, error) { return ParseVirtioFS(v) },
	"ivshmem":            func(v string) (fmt.Stringer, error) { return ParseIvshmem(v) },
	"amd-sev":            func(v string) (fmt.Stringer, error) { return ParseAMDSEV(v) },
	"intel-tdx":          func(v string) (fmt.Stringer, error) { return ParseIntelTDX(v) },
	"cicustom":           func(v string) (fmt.Stringer, error) { return ParseCICustom(v) },
}

func TestParsersGood(t *testing.T) {
	tests := []struct {
		key, in string
		want    any    // the parsed value, dereferenced
		canon   string // "" means the input
	}{
		{"cpu", "x86-64-v2-AES,flags=+aes;-pcid", CPU{Type: "x86-64-v2-AES", Flags: []string{"+aes", "-pcid"}}, ""},
		{"cpu", "cputype=custom-big,hidden=1,hv-vendor-id=proxmox,phys-bits=host,guest-phys-bits=40",
			CPU{Type: "custom-big", Hidden: Some(true), HVVendorID: "proxmox", PhysBits: "host", GuestPhysBits: Some(40)},
			"custom-big,guest-phys-bits=40,hidden=1,hv-vendor-id=proxmox,phys-bits=host"},
		{"cpu", "flags=+nested-virt", CPU{Flags: []string{"+nested-virt"}}, ""},
		{"boot", "order=scsi0;ide2;net0", Boot{Order: []string{"scsi0", "ide2", "net0"}}, ""},
		{"boot", "legacy=dc", Boot{Legacy: "dc"}, "dc"},
		{"agent", "1", Agent{Enabled: true}, ""},
		{"agent", "enabled=0,type=isa,freeze-fs-on-backup=0", Agent{Type: "isa", FreezeFS: Some(false)}, "0,freeze-fs=0,type=isa"},
		{"agent", "1,guest-fsfreeze=1,fstrim_cloned_disks=1", Agent{Enabled: true, FreezeFS: Some(true), FstrimClonedDisks: Some(true)},
			"1,freeze-fs=1,fstrim_cloned_disks=1"},
		{"vga", "qxl,memory=32", VGA{Type: "qxl", Memory: Some(32)}, ""},
		{"vga", "clipboard=vnc", VGA{Clipboard: "vnc"}, ""},
		{"memory", "4096", Memory{Current: 4096}, ""},
		{"memory", "current=16", Memory{Current: 16}, "16"},
		{"startup", "order=3,up=30,down=60", Startup{Order: Some(3), Up: Some(30), Down: Some(60)}, "3,down=60,up=30"},
		{"startup", "up=5", Startup{Up: Some(5)}, ""},
		{"smbios1", "uuid=7b0c0d8e-4b3c-4f5e-9a1b-2c3d4e5f6a7b", SMBIOS1{UUID: "7b0c0d8e-4b3c-4f5e-9a1b-2c3d4e5f6a7b"}, ""},
		{"smbios1", "base64=1,manufacturer=SGVhcnRoLCBJbmMu", SMBIOS1{Base64: Some(true), Manufacturer: "SGVhcnRoLCBJbmMu"}, ""},
		{"rng0", "source=/dev/urandom,max_bytes=0", RNG{Source: "/dev/urandom", MaxBytes: Some(0)}, "/dev/urandom,max_bytes=0"},
		{"watchdog", "action=poweroff", Watchdog{Action: "poweroff"}, ""},
		{"watchdog", "ib700", Watchdog{Model: "ib700"}, ""},
		{"serial0", "socket", Serial{Device: "socket"}, ""},
		{"serial0", "/dev/ttyS1", Serial{Device: "/dev/ttyS1"}, ""},
		{"usb0", "host=046d:c52b,usb3=1", USB{Host: "046d:c52b", USB3: Some(true)}, "046d:c52b,usb3=1"},
		{"usb0", "spice", USB{Host: "spice"}, ""},
		{"usb0", "mapping=stick", USB{Mapping: "stick"}, ""},
		{"hostpci0", "0000:01:00.0;0000:01:00.1,pcie=1,rombar=0,x-vga=1",
			HostPCI{Host: []string{"0000:01:00.0", "0000:01:00.1"}, PCIe: Some(true), XVGA: Some(true), ROMBar: Some(false)}, ""},
		{"hostpci0", "mapping=gpu,mdev=nvidia-63,device-id=0x1234,driver=keep",
			HostPCI{Mapping: "gpu", MDev: "nvidia-63", DeviceID: "0x1234", Driver: "keep"}, "device-id=0x1234,driver=keep,mapping=gpu,mdev=nvidia-63"},
		{"numa0", "cpus=0-3;8,hostnodes=0,memory=2048,policy=bind", NUMA{CPUs: "0-3;8", HostNodes: "0", Memory: Some(2048.0), Policy: "bind"}, ""},
		{"ipconfig0", "ip=192.168.1.10/24,gw=192.168.1.1", IPConfig{IP: "192.168.1.10/24", GW: "192.168.1.1"}, "gw=192.168.1.1,ip=192.168.1.10/24"},
		{"ipconfig0", "ip=dhcp,ip6=auto", IPConfig{IP: "dhcp", IP6: "auto"}, ""},
		{"ipconfig0", "ip6=2001:db8::10/64,gw6=2001:db8::1", IPConfig{IP6: "2001:db8::10/64", GW6: "2001:db8::1"}, "gw6=2001:db8::1,ip6=2001:db8::10/64"},
		{"hotplug", "disk,network", Hotplug{Network: true, Disk: true}, "network,disk"},
		{"hotplug", "1", DefaultHotplug(), "network,disk,usb"},
		{"hotplug", "0", Hotplug{}, ""},
		{"hotplug", "cloudinit;memory cpu,usb", Hotplug{CPU: true, Memory: true, USB: true, CloudInit: true}, "cpu,memory,usb,cloudinit"},
		{"machine", "pc-q35-8.1+pve0,viommu=virtio,aw-bits=48", Machine{Type: "pc-q35-8.1+pve0", Viommu: "virtio", AWBits: Some(48.0)}, "pc-q35-8.1+pve0,aw-bits=48,viommu=virtio"},
		{"machine", "type=pc,enable-s3=1,enable-s4=0", Machine{Type: "pc", EnableS3: Some(true), EnableS4: Some(false)}, "pc,enable-s3=1,enable-s4=0"},
		{"audio0", "device=AC97", Audio{Device: "AC97"}, ""},
		{"spice_enhancements", "foldersharing=1,videostreaming=all", SpiceEnhancements{FolderSharing: Some(true), VideoStreaming: "all"}, ""},
		{"virtiofs0", "share,cache=never,expose-acl=1", VirtioFS{DirID: "share", Cache: "never", ExposeACL: Some(true)}, ""},
		{"ivshmem", "size=64", Ivshmem{Size: 64}, ""},
		{"amd-sev", "es,no-debug=1", AMDSEV{Type: "es", NoDebug: Some(true)}, ""},
		{"intel-tdx", "type=tdx,attestation=0,vsock-port=4051", IntelTDX{Type: "tdx", VsockPort: Some(4051)}, "tdx,attestation=0,vsock-port=4051"},
		{"cicustom", "user=local:snippets/u.yaml,network=local:snippets/n.yaml", CICustom{User: "local:snippets/u.yaml", Network: "local:snippets/n.yaml"},
			"network=local:snippets/n.yaml,user=local:snippets/u.yaml"},
	}
	for _, tt := range tests {
		got, err := parsers[tt.key](tt.in)
		if err != nil {
			t.Errorf("%s %q: %v", tt.key, tt.in, err)
			continue
		}
		if v := reflect.Indirect(reflect.ValueOf(got)).Interface(); !reflect.DeepEqual(v, tt.want) {
			t.Errorf("%s %q =\n %+v, want\n %+v", tt.key, tt.in, v, tt.want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.in
		}
		if s := got.String(); s != canon {
			t.Errorf("%s %q printed as %q, want %q", tt.key, tt.in, s, canon)
		}
		// The canonical form reads back to the same value.
		back, err := parsers[tt.key](canon)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("%s %q: canonical %q reads back as %+v, %v", tt.key, tt.in, canon, back, err)
		}
	}
}

func TestParsersBad(t *testing.T) {
	tests := []struct{ key, in, want string }{
		{"cpu", "pentium9", `cputype: "pentium9" is not valid: expected a QEMU CPU model`},
		{"cpu", "host,flags=+avx512f", "flags:"},
		{"cpu", "host,flags=aes", "flags:"},
		{"cpu", "host,reported-model=Haswell", "reported-model: only custom CPU models"},
		{"cpu", "host,phys-bits=7", "phys-bits:"},
		{"cpu", "host,hv-vendor-id=thirteenchars", "hv-vendor-id:"},
		{"boot", "order=scsi0;efidisk0", `order: "scsi0;efidisk0" is not valid: expected devices`},
		{"boot", "order=floppy0", "order:"},
		{"boot", "cdnac", "legacy:"},
		{"agent", "type=isa", `required key "enabled" is missing`},
		{"agent", "1,type=usb", "type:"},
		{"vga", "std,memory=3", "memory: must be at least 4"},
		{"vga", "vga9000", "type:"},
		{"memory", "15", "current: must be at least 16"},
		{"memory", "4G", "current: expected an integer"},
		{"startup", "order=x", "order:"},
		{"startup", "sideways=1", `unknown key "sideways"`},
		{"smbios1", "base64=1,serial=!!", "serial:"},
		{"smbios1", "base64=1,serial=abc", `serial: "abc" is not valid base64`},
		{"smbios1", "uuid=123", "uuid:"},
		{"rng0", "/dev/zero", "source:"},
		{"rng0", "max_bytes=10", `required key "source" is missing`},
		{"watchdog", "action=explode", "action:"},
		{"serial0", "tty0", "does not match"},
		{"usb0", "host=1234", "host:"},
		{"usb0", "usb3=1", "host or mapping is required"},
		{"usb0", "host=spice,mapping=stick", "mapping: cannot be combined with host"},
		{"hostpci0", "pcie=1", "host or mapping is required"},
		{"hostpci0", "01:00.0,mapping=gpu", "mapping: cannot be combined with host"},
		{"hostpci0", "01:00.0,vendor-id=0x12345", "vendor-id:"},
		{"hostpci0", "01:00.0,mdev=a/b", "mdev:"},
		{"numa0", "cpus=3-1", `cpus: range "3-1" ends before it starts`},
		{"numa0", "hostnodes=0", `required key "cpus" is missing`},
		{"numa0", "cpus=0,policy=random", "policy:"},
		{"ipconfig0", "ip=192.168.1.10", "ip:"},
		{"ipconfig0", "gw=192.168.1.1", "gw: needs ip"},
		{"ipconfig0", "ip6=auto,gw6=fe80::1,gw=10.0.0.1", "gw: needs ip"},
		{"ipconfig0", "ip6=2001:db8:::1/64", `ip6: "2001:db8:::1/64" is not an IPv6 address`},
		{"ipconfig0", "ip6=::ffff:10.0.0.1/120", "ip6:"},
		{"ipconfig0", "ip6=auto,gw6=10.0.0.1", "gw6:"},
		{"hotplug", "network,floppy", `unknown hotplug feature "floppy"`},
		{"hotplug", ",", "empty hotplug list"},
		{"machine", "pc-q35-latest", "type:"},
		{"machine", "q35,viommu=amd", "viommu:"},
		{"machine", "q35,aw-bits=31", "aw-bits: must be at least 32"},
		{"audio0", "driver=none", `required key "device" is missing`},
		{"spice_enhancements", "videostreaming=some", "videostreaming:"},
		{"virtiofs0", "cache=auto", `required key "dirid" is missing`},
		{"ivshmem", "name=x", `required key "size" is missing`},
		{"ivshmem", "size=1,name=a_b", "name:"},
		{"amd-sev", "type=sev", "type:"},
		{"intel-tdx", "tdx", `required key "attestation" is missing`},
		{"intel-tdx", "tdx,attestation=1,vsock-cid=1", "vsock-cid: must be at least 2"},
		{"cicustom", "user=snippets/u.yaml", "user:"},
	}
	for _, tt := range tests {
		_, err := parsers[tt.key](tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: error = %v, want it to contain %q", tt.key, tt.in, err, tt.want)
		}
	}
}

// TestFieldsCoverSchema checks that each typed value has a field for every
// key of its property string, so no key is ever lost in a round trip.
func TestFieldsCoverSchema(t *testing.T) {
	values := map[string]propValue{
		"cpu": &CPU{}, "boot": &Boot{}, "agent": &Agent{}, "vga": &VGA{}, "memory": &Memory{}, "startup": &Startup{},
		"smbios1": &SMBIOS1{}, "rng0": &RNG{}, "watchdog": &Watchdog{}, "usb0": &USB{}, "hostpci0": &HostPCI{},
		"numa0": &NUMA{}, "ipconfig0": &IPConfig{}, "machine": &Machine{}, "audio0": &Audio{},
		"spice_enhancements": &SpiceEnhancements{}, "virtiofs0": &VirtioFS{}, "ivshmem": &Ivshmem{}, "amd-sev": &AMDSEV{},
		"intel-tdx": &IntelTDX{}, "cicustom": &CICustom{}, "net0": &Net{},
		"ide0": &Drive{}, "sata0": &Drive{}, "scsi0": &Drive{}, "virtio0": &Drive{}, "efidisk0": &Drive{}, "tpmstate0": &Drive{},
	}
	for key, v := range values {
		for name, ks := range propOf(key).Keys {
			if ks.Alias != "" {
				continue
			}
			if _, ok := findField(v.fields(), name); !ok {
				t.Errorf("%s: key %s has no field in %T", key, name, v)
			}
		}
	}
}

func TestBootOrder(t *testing.T) {
	conf := map[string]string{
		"scsi0": "local-lvm:vm-100-disk-0", "scsi1": "local-lvm:vm-100-disk-1", "ide2": "local:iso/x.iso,media=cdrom",
		"sata1": "none,media=cdrom", "net0": "virtio,bridge=vmbr0", "net3": "e1000,bridge=vmbr0", "efidisk0": "local-lvm:vm-100-disk-2",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range conf {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		extra map[string]string
		want  []string
	}{
		{nil, nil},
		{map[string]string{"boot": "order=net0;scsi1;virtio0"}, []string{"net0", "scsi1"}},
		{map[string]string{"boot": "cdn"}, []string{"scsi0", "ide2", "sata1", "net0", "net3"}},
		{map[string]string{"boot": "nc", "bootdisk": "scsi1"}, []string{"net0", "net3", "scsi1"}},
		{map[string]string{"boot": "d"}, []string{"ide2", "sata1"}},
		{map[string]string{"boot": "c", "bootdisk": "virtio0"}, nil},
	}
	for _, tt := range tests {
		got, err := BootOrder(with(tt.extra))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("BootOrder(%v) = %v, %v; want %v", tt.extra, got, err, tt.want)
		}
	}
	if _, err := BootOrder(with(map[string]string{"boot": "order=efidisk0"})); err == nil {
		t.Error("a bad boot value was accepted")
	}
	if got := DefaultBootOrder(conf); !reflect.DeepEqual(got, []string{"scsi0", "ide2", "net0"}) {
		t.Errorf("DefaultBootOrder = %v", got)
	}
	if got := DefaultBootOrder(map[string]string{"net1": "virtio"}); !reflect.DeepEqual(got, []string{"net1"}) {
		t.Errorf("DefaultBootOrder without disks = %v", got)
	}
}

func TestHelpers(t *testing.T) {
	c, _ := ParseCPU("custom-big")
	if c.CustomName() != "big" || c.Model() != "custom-big" {
		t.Errorf("custom cpu: %q %q", c.CustomName(), c.Model())
	}
	if c, _ := ParseCPU("flags=+aes"); c.Model() != DefaultCPUType || c.CustomName() != "" {
		t.Errorf("default cpu: %q", c.Model())
	}
	for in, want := range map[string][4]any{
		"pc-q35-8.1+pve0":       {8, 1, 0, true},
		"pc-i440fx-9.2.1+pve12": {9, 2, 12, true},
		"virt-7.2":              {7, 2, -1, true},
		"q35":                   {0, 0, -1, false},
	} {
		m, err := ParseMachine(in)
		if err != nil {
			t.Fatal(err)
		}
		a, b, p, ok := m.Version()
		if got := [4]any{a, b, p, ok}; got != want {
			t.Errorf("Version(%s) = %v, want %v", in, got, want)
		}
	}
	for in, q35 := range map[string]bool{"q35": true, "pc-q35-8.1": true, "pc": false, "pc-i440fx-8.1": false, "virt": false} {
		if m, _ := ParseMachine(in); m.IsQ35() != q35 {
			t.Errorf("IsQ35(%s) = %v", in, !q35)
		}
	}
	u, _ := ParseUSB("0x046d:c52b")
	if v, p, ok := u.VendorProduct(); !ok || v != 0x046d || p != 0xc52b {
		t.Errorf("VendorProduct = %x %x %v", v, p, ok)
	}
	if _, _, ok := u.Port(); ok {
		t.Error("a vendor:product device has no port")
	}
	u, _ = ParseUSB("2-1.4")
	if bus, port, ok := u.Port(); !ok || bus != 2 || port != "1.4" {
		t.Errorf("Port = %d %q %v", bus, port, ok)
	}
	if u, _ := ParseUSB("SPICE"); !u.IsSpice() {
		t.Error("SPICE is a spice channel")
	}
	s, _ := ParseSMBIOS1("base64=1,manufacturer=SGVhcnRoLCBJbmMu,serial=MTIzNA==,uuid=7b0c0d8e-4b3c-4f5e-9a1b-2c3d4e5f6a7b")
	if text, err := s.Text(); err != nil || !reflect.DeepEqual(text, map[string]string{"manufacturer": "Hearth, Inc.", "serial": "1234"}) {
		t.Errorf("Text = %v, %v", text, err)
	}
	s, _ = ParseSMBIOS1("serial=abc")
	if text, _ := s.Text(); text["serial"] != "abc" {
		t.Errorf("plain Text = %v", text)
	}
	n, _ := ParseNUMA("cpus=0-1;4,hostnodes=1")
	if !reflect.DeepEqual(n.CPURanges(), [][2]int{{0, 1}, {4, 4}}) || !reflect.DeepEqual(n.HostNodeRanges(), [][2]int{{1, 1}}) {
		t.Errorf("NUMA ranges %v %v", n.CPURanges(), n.HostNodeRanges())
	}
	if sp, _ := ParseSerial("socket"); !sp.IsSocket() {
		t.Error("socket is a socket")
	}
	if p, err := ParseParallel("/dev/parport0"); err != nil || p != "/dev/parport0" {
		t.Errorf("ParseParallel = %q, %v", p, err)
	}
	if _, err := ParseParallel("/dev/lp0"); err == nil {
		t.Error("/dev/lp0 is not a parallel port device Proxmox VE accepts")
	}
	if got := (Opt[int]{}).Or(7); got != 7 {
		t.Errorf("Or on an absent value = %d", got)
	}
	if v, ok := Some(3).Get(); v != 3 || !ok {
		t.Errorf("Get = %d %v", v, ok)
	}
}
