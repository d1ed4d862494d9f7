package api

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api/schema"
)

// checkQemuKey checks one schema of a VM option or of a key inside one of
// its property strings.
func checkQemuKey(t *testing.T, where string, s *schema.Schema) {
	t.Helper()
	if s.Description == "" {
		t.Errorf("%s: no description", where)
	}
	if s.Alias != "" {
		return // an alias is only a name; its target is checked
	}
	if s.Format != "" && !schema.HasFormat(s.Format) {
		t.Errorf("%s: unknown format %q", where, s.Format)
	}
	if s.Enum != nil && len(s.Enum) == 0 {
		t.Errorf("%s: empty enum", where)
	}
	if s.Pattern != "" {
		if _, err := s.Parse(""); err != nil && strings.Contains(err.Error(), "schema error") {
			t.Errorf("%s: %v", where, err)
		}
		if strings.Contains(s.Pattern, "(?i") || strings.Contains(s.Pattern, "(?P") {
			t.Errorf("%s: pattern uses Go-only syntax, which JSON Schema does not know: %s", where, s.Pattern)
		}
	}
	if s.Minimum != nil && s.Maximum != nil && *s.Minimum > *s.Maximum {
		t.Errorf("%s: minimum above maximum", where)
	}
	if s.Default == nil {
		return
	}
	want := map[schema.Type]string{schema.String: "string", schema.Integer: "int64", schema.Number: "float64", schema.Boolean: "bool"}[s.Type]
	if got := fmt.Sprintf("%T", s.Default); got != want {
		t.Errorf("%s: default %#v is a %s, want %s", where, s.Default, got, want)
	}
	if err := s.Check(s.Default); err != nil {
		t.Errorf("%s: default %#v does not fit: %v", where, s.Default, err)
	}
	// The default written as text must parse back, as a client would send it.
	text := fmt.Sprint(s.Default)
	if b, ok := s.Default.(bool); ok {
		text = map[bool]string{true: "1", false: "0"}[b]
	}
	if _, err := s.Parse(text); err != nil {
		t.Errorf("%s: default %q does not parse: %v", where, text, err)
	}
}

func TestQemuOptionsWellFormed(t *testing.T) {
	opts := QemuOptions()
	for name, s := range QemuSnapshotOptions() {
		if _, dup := opts[name]; dup {
			t.Errorf("%s is both a user and a system option", name)
		}
		opts[name] = s
	}
	for name, s := range opts {
		if !s.Optional {
			t.Errorf("%s: a VM option must be optional", name)
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

// TestQemuIndexedKeys pins the concrete names of every indexed family: the
// last index exists and the next one does not.
func TestQemuIndexedKeys(t *testing.T) {
	opts := QemuOptions()
	families := []struct {
		prefix string
		n      int
	}{
		{"ide", 4}, {"sata", 6}, {"scsi", 31}, {"virtio", 16}, {"net", 32}, {"ipconfig", 32}, {"numa", 8},
		{"hostpci", 16}, {"usb", 15}, {"serial", 4}, {"parallel", 3}, {"unused", 256}, {"virtiofs", 10},
	}
	for _, f := range families {
		for i := 0; i < f.n; i++ {
			if opts[f.prefix+strconv.Itoa(i)] == nil {
				t.Errorf("%s%d is missing", f.prefix, i)
			}
		}
		if opts[f.prefix+strconv.Itoa(f.n)] != nil {
			t.Errorf("%s%d must not exist", f.prefix, f.n)
		}
	}
	for _, bus := range QemuDriveBuses {
		if opts[bus+strconv.Itoa(QemuDriveMaxIndex(bus))] == nil || opts[bus+strconv.Itoa(QemuDriveMaxIndex(bus)+1)] != nil {
			t.Errorf("QemuDriveMaxIndex(%s) = %d disagrees with the options", bus, QemuDriveMaxIndex(bus))
		}
	}
	if QemuDriveMaxIndex("floppy") != -1 || QemuDriveProp("floppy") != nil {
		t.Error("an unknown bus must have no index and no property string")
	}
	for _, k := range []string{"efidisk0", "tpmstate0", "rng0", "smbios1", "audio0", "cdrom"} {
		if opts[k] == nil {
			t.Errorf("%s is missing", k)
		}
	}
}

// TestQemuOptionsAreFresh checks that each call builds new values.
func TestQemuOptionsAreFresh(t *testing.T) {
	a := QemuOptions()
	a["ostype"].Enum[0] = "changed"
	a["net0"].Prop.Keys["tag"].Description = "changed"
	b := QemuOptions()
	if b["ostype"].Enum[0] == "changed" || b["net0"].Prop.Keys["tag"].Description == "changed" {
		t.Error("QemuOptions shares values between calls")
	}
}

// TestQemuValuesCanonical parses values as they appear in real
// configurations and prints them back: the default key first, the other
// keys sorted, booleans as 1/0, aliases resolved.
func TestQemuValuesCanonical(t *testing.T) {
	opts := QemuOptions()
	tests := []struct{ key, in, want string }{
		{"scsi0", "local-lvm:vm-100-disk-0,iothread=1,size=32G,discard=on,ssd=1",
			"local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G,ssd=1"},
		{"scsi1", "volume=ceph:vm-100-disk-1,cache=writeback,iops_rd_length=5,iops_rd_max=500,iops_rd=100",
			"ceph:vm-100-disk-1,cache=writeback,iops_rd=100,iops_rd_max=500,iops_rd_max_length=5"},
		{"ide2", "local:iso/debian-12.5.0-amd64-netinst.iso,media=cdrom,size=629M", "local:iso/debian-12.5.0-amd64-netinst.iso,media=cdrom,size=629M"},
		{"ide2", "none,media=cdrom", "none,media=cdrom"},
		{"sata0", "/dev/disk/by-id/ata-WDC_WD40EFRX,backup=no,serial=WD-1234,wwn=0x5000c500a1b2c3d4",
			"/dev/disk/by-id/ata-WDC_WD40EFRX,backup=0,serial=WD-1234,wwn=0x5000c500a1b2c3d4"},
		{"virtio0", "local:100/vm-100-disk-0.qcow2,format=qcow2,aio=io_uring,mbps_wr=50.5,ro=off",
			"local:100/vm-100-disk-0.qcow2,aio=io_uring,format=qcow2,mbps_wr=50.5,ro=0"},
		{"scsi2", "local-lvm:0,import-from=local:import/disk.qcow2", "local-lvm:0,import-from=local:import/disk.qcow2"},
		{"efidisk0", "local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M", "local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M"},
		{"tpmstate0", "size=4M,local-lvm:vm-100-disk-2,version=v2.0", "local-lvm:vm-100-disk-2,size=4M,version=v2.0"},
		{"unused0", "local-lvm:vm-100-disk-3", "local-lvm:vm-100-disk-3"},
		{"net0", "bridge=vmbr0,virtio=BC:24:11:2E:3A:1F,firewall=1", "virtio=BC:24:11:2E:3A:1F,bridge=vmbr0,firewall=1"},
		{"net1", "model=e1000,macaddr=BC:24:11:00:00:02,tag=10,trunks=20;30-40,rate=12.5,queues=4,link_down=true",
			"e1000=BC:24:11:00:00:02,link_down=1,queues=4,rate=12.5,tag=10,trunks=20;30-40"},
		{"net2", "vmxnet3,bridge=vmbr1,mtu=1", "vmxnet3,bridge=vmbr1,mtu=1"},
		{"cpu", "x86-64-v2-AES,flags=+aes;-pcid", "x86-64-v2-AES,flags=+aes;-pcid"},
		{"cpu", "cputype=custom-mymodel,phys-bits=host,hidden=1", "custom-mymodel,hidden=1,phys-bits=host"},
		{"agent", "1,fstrim_cloned_disks=1,freeze-fs-on-backup=0", "1,freeze-fs=0,fstrim_cloned_disks=1"},
		{"boot", "order=scsi0;ide2;net0", "order=scsi0;ide2;net0"},
		{"boot", "cdn", "cdn"},
		{"vga", "qxl,memory=32", "qxl,memory=32"},
		{"vga", "clipboard=vnc", "clipboard=vnc"},
		{"memory", "current=4096", "4096"},
		{"rng0", "source=/dev/urandom,max_bytes=1024,period=1000", "/dev/urandom,max_bytes=1024,period=1000"},
		{"watchdog", "model=i6300esb,action=reset", "i6300esb,action=reset"},
		{"smbios1", "uuid=7b0c0d8e-4b3c-4f5e-9a1b-2c3d4e5f6a7b,base64=1,manufacturer=SGVhcnRo",
			"base64=1,manufacturer=SGVhcnRo,uuid=7b0c0d8e-4b3c-4f5e-9a1b-2c3d4e5f6a7b"},
		{"startup", "order=3,up=30,down=60", "3,down=60,up=30"},
		{"numa0", "cpus=0-3,hostnodes=0,memory=2048,policy=bind", "cpus=0-3,hostnodes=0,memory=2048,policy=bind"},
		{"usb0", "host=046d:c52b,usb3=1", "046d:c52b,usb3=1"},
		{"usb1", "spice", "spice"},
		{"usb2", "mapping=mykeyboard", "mapping=mykeyboard"},
		{"hostpci0", "0000:01:00,pcie=1,x-vga=1", "0000:01:00,pcie=1,x-vga=1"},
		{"hostpci1", "host=02:00.0;02:00.1,rombar=0", "02:00.0;02:00.1,rombar=0"},
		{"ipconfig0", "ip=192.168.1.10/24,gw=192.168.1.1", "gw=192.168.1.1,ip=192.168.1.10/24"},
		{"ipconfig1", "ip6=2001:db8::10/64,gw6=2001:db8::1,ip=dhcp", "gw6=2001:db8::1,ip=dhcp,ip6=2001:db8::10/64"},
		{"audio0", "device=ich9-intel-hda,driver=spice", "device=ich9-intel-hda,driver=spice"},
		{"spice_enhancements", "videostreaming=filter,foldersharing=1", "foldersharing=1,videostreaming=filter"},
		{"machine", "pc-q35-8.1+pve0,viommu=intel", "pc-q35-8.1+pve0,viommu=intel"},
		{"machine", "type=q35,enable-s3=1", "q35,enable-s3=1"},
		{"amd-sev", "type=snp,allow-smt=0", "snp,allow-smt=0"},
		{"intel-tdx", "tdx,attestation=1", "tdx,attestation=1"},
		{"cicustom", "user=local:snippets/user.yaml", "user=local:snippets/user.yaml"},
		{"ivshmem", "size=32,name=shared", "name=shared,size=32"},
		{"virtiofs0", "dirid=share,cache=always", "share,cache=always"},
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

// TestQemuValuesGood checks plain values that must be accepted.
func TestQemuValuesGood(t *testing.T) {
	raw := schema.Raw{}
	for k, v := range map[string]string{
		"acpi": "1", "affinity": "0,5,8-11", "arch": "x86_64", "balloon": "0", "bios": "ovmf", "bootdisk": "scsi30",
		"cores": "4", "cpulimit": "1.5", "cpuunits": "1024", "description": "web server", "hookscript": "local:snippets/hook.pl",
		"hotplug": "network,disk,cpu,memory", "hugepages": "1024", "keyboard": "de-ch", "lock": "snapshot-delete",
		"migrate_downtime": "0.5", "name": "web-01.example.com", "nameserver": "192.0.2.53 2001:db8::53", "ostype": "l26",
		"scsihw": "virtio-scsi-single", "serial0": "socket", "serial1": "/dev/ttyS0", "parallel0": "/dev/usb/lp0",
		"startdate": "2024-03-01T12:00:00", "tags": "web;prod", "vmgenid": "c2e0a3b1-6d4f-4e7a-9b8c-1d2e3f4a5b6c",
		"vmstatestorage": "local-lvm", "sshkeys": "ssh-ed25519%20AAAAC3Nza%20me%40host", "vcpus": "2", "citype": "nocloud",
	} {
		raw.Set(k, v)
	}
	if _, errs := schema.DecodeParams(QemuOptions(), raw, false); errs != nil {
		t.Fatalf("refused: %v", errs)
	}
	for _, v := range []string{"0", "1", "usb", "network;disk cloudinit"} {
		if _, err := QemuOptions()["hotplug"].Parse(v); err != nil {
			t.Errorf("hotplug %q: %v", v, err)
		}
	}
}

// TestQemuValuesBad checks that bad values are refused and that the
// message names the key (or the key inside the property string) at fault.
func TestQemuValuesBad(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"net0", "virtio,tag=5000", "tag"},
		{"net0", "virtio,colour=red", `"colour"`},
		{"net0", "sparc", `"sparc"`},
		{"net0", "virtio=01:00:00:00:00:01", "multicast"},
		{"net0", "bridge=vmbr0", `"model"`},
		{"net0", "virtio,trunks=10,20", `"model"`}, // the bare 20 is read as the model
		{"scsi0", "local-lvm:vm-100-disk-0,queues=1", "queues"},
		{"scsi0", "local-lvm:vm-100-disk-0,cache=fast", "cache"},
		{"scsi0", "local-lvm:vm-100-disk-0,size=big", "size"},
		{"scsi0", "local-lvm:vm-100-disk-0,iops_max_length=0", "iops_max_length"},
		{"scsi0", "local-lvm:vm-100-disk-0,product=ABCDEFGHIJKLMNOPQ", "product"},
		{"scsi0", "local:../../etc/shadow", "file"},
		{"scsi0", "relative/path.img", "file"},
		{"virtio0", "local-lvm:vm-100-disk-0,ssd=1", `"ssd"`},
		{"ide0", "local-lvm:vm-100-disk-0,iothread=1", `"iothread"`},
		{"sata0", "local-lvm:vm-100-disk-0,wwn=5000c500a1b2c3d4", "wwn"},
		{"efidisk0", "local-lvm:vm-100-disk-1,efitype=8m", "efitype"},
		{"tpmstate0", "local-lvm:vm-100-disk-2,version=v3", "version"},
		{"unused0", "/tmp/image.raw", "file"},
		{"cpu", "pentium9", "cputype"},
		{"cpu", "host,flags=+avx512", "flags"},
		{"cpu", "host,phys-bits=65", "phys-bits"},
		{"agent", "type=isa", `"enabled"`},
		{"boot", "order=scsi0;efidisk0", "order"},
		{"boot", "order=net32", "order"},
		{"boot", "cdnx", "legacy"},
		{"vga", "std,memory=1024", "memory"},
		{"memory", "8", "current"},
		{"rng0", "/dev/zero", "source"},
		{"smbios1", "serial=abc def", "serial"},
		{"smbios1", "uuid=not-a-uuid", "uuid"},
		{"startup", "order=-1", "order"},
		{"numa0", "memory=1024", `"cpus"`},
		{"usb0", "host=1234", "host"},
		{"hostpci0", "host=1:0.0", "host"},
		{"hostpci0", "01:00.0,vendor-id=8086", "vendor-id"},
		{"ipconfig0", "ip=192.168.1.300/24", "ip"},
		{"ipconfig0", "gw=2001:db8::1", "gw"},
		{"audio0", "driver=spice", `"device"`},
		{"machine", "pc-q35-banana", "type"},
		{"intel-tdx", "tdx", `"attestation"`},
		{"virtiofs0", "cache=never", `"dirid"`},
		{"ivshmem", "size=0", "size"},
		{"cores", "0", "cores"},
		{"cpulimit", "129", "cpulimit"},
		{"ostype", "beos", "ostype"},
		{"serial0", "tcp:1234", "serial0"},
		{"parallel0", "/dev/lp0", "parallel0"},
		{"bootdisk", "scsi31", "bootdisk"},
		{"hotplug", "network,floppy", "hotplug"},
		{"name", "not a dns name", "name"},
		{"startdate", "yesterday", "startdate"},
		{"vmgenid", "2", "vmgenid"},
		{"smbios1", strings.Repeat("a", 513), "smbios1"},
	}
	opts := QemuOptions()
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
