package vmconf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseDrive(t *testing.T) {
	tests := []struct {
		key, in string
		want    Drive  // Key, Bus and Index are filled in from key
		canon   string // the printed form; "" means the input
	}{
		{"scsi0", "local-lvm:vm-100-disk-0,iothread=1,size=32G,discard=on,ssd=1",
			Drive{File: "local-lvm:vm-100-disk-0", IOThread: Some(true), Size: Some(int64(32) << 30), Discard: "on", SSD: Some(true)},
			"local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G,ssd=1"},
		{"ide2", "local:iso/debian-12.iso,media=cdrom", Drive{File: "local:iso/debian-12.iso", Media: "cdrom"}, ""},
		{"ide2", "none,media=cdrom", Drive{File: "none", Media: "cdrom"}, ""},
		{"sata3", "volume=/dev/disk/by-id/ata-X,backup=no,replicate=0",
			Drive{File: "/dev/disk/by-id/ata-X", Backup: Some(false), Replicate: Some(false)},
			"/dev/disk/by-id/ata-X,backup=0,replicate=0"},
		{"virtio15", "ceph:vm-100-disk-1,cache=writeback,aio=io_uring,ro=1,size=1.5G",
			Drive{File: "ceph:vm-100-disk-1", Cache: "writeback", AIO: "io_uring", ReadOnly: Some(true), Size: Some(int64(1536) << 20)},
			"ceph:vm-100-disk-1,aio=io_uring,cache=writeback,ro=1,size=1536M"},
		{"scsi30", "local:100/vm-100-disk-0.qcow2,format=qcow2,queues=4,scsiblock=0,vendor=ACME,product=Disk 1,wwn=0x5000c500a1b2c3d4",
			Drive{File: "local:100/vm-100-disk-0.qcow2", Format: "qcow2", Queues: Some(4), ScsiBlock: Some(false), Vendor: "ACME",
				Product: "Disk 1", WWN: "0x5000c500a1b2c3d4"},
			"local:100/vm-100-disk-0.qcow2,format=qcow2,product=Disk 1,queues=4,scsiblock=0,vendor=ACME,wwn=0x5000c500a1b2c3d4"},
		{"ide0", "local-lvm:vm-100-disk-2,model=QEMU%20HARDDISK,serial=abc123", Drive{File: "local-lvm:vm-100-disk-2", Model: "QEMU%20HARDDISK", Serial: "abc123"}, ""},
		{"scsi1", "local-lvm:vm-100-disk-3,mbps_rd=10.5,mbps_rd_max=20,bps_rd_length=5,iops_wr=300",
			Drive{File: "local-lvm:vm-100-disk-3", Throttle: Throttle{MBpsRd: Some(10.5), MBpsRdMax: Some(20.0), BPSRdMaxLength: Some(5), IOPSWr: Some(int64(300))}},
			"local-lvm:vm-100-disk-3,bps_rd_max_length=5,iops_wr=300,mbps_rd=10.5,mbps_rd_max=20"},
		{"scsi2", "local-lvm:0,import-from=local:import/disk.qcow2", Drive{File: "local-lvm:0", ImportFrom: "local:import/disk.qcow2"}, ""},
		{"efidisk0", "local-lvm:vm-100-disk-4,efitype=4m,pre-enrolled-keys=1,ms-cert=2023k,size=4M",
			Drive{File: "local-lvm:vm-100-disk-4", EFIType: "4m", PreEnrolledKeys: Some(true), MSCert: "2023k", Size: Some(int64(4) << 20)},
			"local-lvm:vm-100-disk-4,efitype=4m,ms-cert=2023k,pre-enrolled-keys=1,size=4M"},
		{"tpmstate0", "local-lvm:vm-100-disk-5,version=v2.0,size=4M", Drive{File: "local-lvm:vm-100-disk-5", TPMVersion: "v2.0", Size: Some(int64(4) << 20)},
			"local-lvm:vm-100-disk-5,size=4M,version=v2.0"},
		{"cdrom", "local:iso/x.iso", Drive{File: "local:iso/x.iso", Media: "cdrom"}, "local:iso/x.iso,media=cdrom"},
		{"scsi3", "local-lvm:vm-100-disk-6,size=1000", Drive{File: "local-lvm:vm-100-disk-6", Size: Some(int64(1000))}, ""},
		{"scsi4", `"local:iso/a,b.iso",media=cdrom`, Drive{File: "local:iso/a,b.iso", Media: "cdrom"}, ""},
	}
	for _, tt := range tests {
		d, err := ParseDrive(tt.key, tt.in)
		if err != nil {
			t.Errorf("ParseDrive(%s, %q): %v", tt.key, tt.in, err)
			continue
		}
		want := tt.want
		want.Key, want.Bus, want.Index = d.Key, d.Bus, d.Index
		if !reflect.DeepEqual(*d, want) {
			t.Errorf("ParseDrive(%s, %q) =\n %+v, want\n %+v", tt.key, tt.in, *d, want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.in
		}
		if got := d.String(); got != canon {
			t.Errorf("ParseDrive(%s, %q).String() = %q, want %q", tt.key, tt.in, got, canon)
		}
	}
}

func TestParseDriveKeyParts(t *testing.T) {
	for key, want := range map[string][3]any{
		"ide3": {"ide", 3, "ide3"}, "sata0": {"sata", 0, "sata0"}, "scsi30": {"scsi", 30, "scsi30"},
		"virtio9": {"virtio", 9, "virtio9"}, "efidisk0": {"efidisk", 0, "efidisk0"}, "tpmstate0": {"tpmstate", 0, "tpmstate0"},
		"cdrom": {"ide", 2, "ide2"},
	} {
		d, err := ParseDrive(key, "local:iso/x.iso,media=cdrom")
		if key == "efidisk0" || key == "tpmstate0" || key == "virtio9" {
			d, err = ParseDrive(key, "local-lvm:vm-1-disk-0")
		}
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if got := [3]any{d.Bus, d.Index, d.Key}; got != want {
			t.Errorf("%s: bus, index, key = %v, want %v", key, got, want)
		}
	}
}

func TestParseDriveRefuses(t *testing.T) {
	tests := []struct{ key, in, want string }{
		{"scsi31", "local-lvm:vm-100-disk-0", "not a drive key"},
		{"ide01", "local-lvm:vm-100-disk-0", "not a drive key"},
		{"net0", "virtio", "not a drive key"},
		{"scsi0", "", `required key "file" is missing`},
		{"scsi0", "size=32G", `required key "file" is missing`},
		{"scsi0", "relative/path", "file: \"relative/path\" is not valid: expected a volume id"},
		{"scsi0", "local:../../etc/shadow", "is not valid: expected a volume id"},
		{"scsi0", "local-lvm:x,import-from=tmp/a", "import-from: \"tmp/a\" is not valid"},
		{"scsi0", "local-lvm:x,cache=fast", "cache:"},
		{"scsi0", "local-lvm:x,size=12Q", "size:"},
		{"scsi0", "local-lvm:x,queues=1", "queues: must be at least 2"},
		{"virtio0", "local-lvm:x,ssd=1", `unknown key "ssd"`},
		{"ide0", "local-lvm:x,iothread=1", `unknown key "iothread"`},
		{"sata0", "local-lvm:x,ro=1", `unknown key "ro"`},
		{"efidisk0", "local-lvm:x,media=disk", `unknown key "media"`},
		{"tpmstate0", "local-lvm:x,format=qcow", "format:"},
		{"scsi0", "local-lvm:x,bps_max_length=3", "bps_max_length: needs mbps_max"},
		{"scsi0", "local-lvm:x,iops_rd_max_length=3", "iops_rd_max_length: needs iops_rd_max"},
		{"scsi0", "local-lvm:x,mbps_max=3", "mbps_max: needs mbps"},
		{"scsi0", "local-lvm:x,mbps=3,mbps_rd=1", "mbps_rd: cannot be combined with mbps"},
		{"scsi0", "local-lvm:x,bps=3,mbps=1", "bps: cannot be combined with mbps"},
		{"scsi0", "local-lvm:x,iops=3,iops_wr=1", "iops_wr: cannot be combined with iops"},
		{"virtio0", "local:iso/x.iso,media=cdrom", "media: a VirtIO block device cannot be a CD-ROM"},
		{"ide2", "local:iso/x.iso,media=cdrom,format=raw", "format: not allowed on a CD-ROM"},
		{"ide2", "local:iso/x.iso,media=cdrom,snapshot=1", "snapshot: not possible on a CD-ROM"},
		{"scsi0", "local-lvm:x,file=local-lvm:y", `key "file" is given more than once`},
	}
	for _, tt := range tests {
		_, err := ParseDrive(tt.key, tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDrive(%s, %q) error = %v, want it to contain %q", tt.key, tt.in, err, tt.want)
		}
	}
}

func TestDriveKeys(t *testing.T) {
	keys := DriveKeys()
	if len(keys) != 4+6+31+16+2 {
		t.Fatalf("%d drive keys", len(keys))
	}
	if keys[0] != "ide0" || keys[4] != "sata0" || keys[10] != "scsi0" || keys[41] != "virtio0" ||
		keys[len(keys)-2] != "efidisk0" || keys[len(keys)-1] != "tpmstate0" {
		t.Errorf("order: %v", keys)
	}
	for _, k := range keys {
		if !IsDriveKey(k) {
			t.Errorf("IsDriveKey(%s) = false", k)
		}
	}
	for _, k := range []string{"ide4", "sata6", "scsi31", "virtio16", "efidisk1", "tpmstate1", "cdrom", "scsi", "scsi-1",
		"scsi+1", "scsi01", "net0", "unused0", ""} {
		if IsDriveKey(k) {
			t.Errorf("IsDriveKey(%q) = true", k)
		}
	}
	keys[0] = "changed"
	if DriveKeys()[0] != "ide0" {
		t.Error("DriveKeys shares its slice")
	}
}

func TestDrivePredicates(t *testing.T) {
	tests := []struct {
		key, in                    string
		cdrom, none, cloud, volume bool
	}{
		{"ide2", "none,media=cdrom", true, true, false, false},
		{"ide2", "cdrom,media=cdrom", true, false, false, false},
		{"ide0", "local-lvm:vm-100-cloudinit,media=cdrom", true, false, true, true},
		{"scsi1", "local:100/vm-100-cloudinit.qcow2,media=cdrom", true, false, true, true},
		{"scsi2", "local-lvm:vm-100-cloudinit-2", false, false, false, true},
		{"scsi0", "local-lvm:vm-100-disk-0", false, false, false, true},
		{"sata0", "/dev/sdb", false, false, false, false},
	}
	for _, tt := range tests {
		d, err := ParseDrive(tt.key, tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got := [4]bool{d.IsCDROM(), d.IsNone(), d.IsCloudInit(), d.IsVolume()}
		if want := [4]bool{tt.cdrom, tt.none, tt.cloud, tt.volume}; got != want {
			t.Errorf("%s: cdrom, none, cloud-init, volume = %v, want %v", tt.in, got, want)
		}
	}
}

func TestDriveWrappersAndText(t *testing.T) {
	e, err := ParseEFIDisk("local-lvm:vm-100-disk-1,efitype=4m")
	if err != nil || e.Key != "efidisk0" || e.EFIType != "4m" {
		t.Errorf("ParseEFIDisk = %+v, %v", e, err)
	}
	tpm, err := ParseTPMState("local-lvm:vm-100-disk-2,version=v2.0")
	if err != nil || tpm.Key != "tpmstate0" || tpm.TPMVersion != "v2.0" {
		t.Errorf("ParseTPMState = %+v, %v", tpm, err)
	}
	if _, err := ParseEFIDisk("local-lvm:x,version=v2.0"); err == nil {
		t.Error("an efidisk took a TPM key")
	}
	d, err := ParseDrive("ide0", "local-lvm:x,serial=WD%2D12%3A34,model=QEMU%20HARDDISK")
	if err != nil {
		t.Fatal(err)
	}
	if d.SerialText() != "WD-12:34" || d.ModelText() != "QEMU HARDDISK" {
		t.Errorf("SerialText %q, ModelText %q", d.SerialText(), d.ModelText())
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1000: "1000", 1024: "1K", 1536 << 20: "1536M", 32 << 30: "32G", 4 << 40: "4T", 4096 << 40: "4096T", 1025: "1025",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestThrottleQEMU(t *testing.T) {
	d, err := ParseDrive("scsi0", "local-lvm:x,mbps=10,mbps_max=20,bps_max_length=5,iops_rd=100,iops_rd_max=200,iops=0,bps_wr=0")
	if err != nil {
		t.Fatal(err)
	}
	want := []ThrottleSetting{
		{"bps-total", 10 << 20}, {"bps-total-max", 20 << 20}, {"bps-total-max-length", 5},
		{"iops-read", 100}, {"iops-read-max", 200},
	}
	if got := d.Throttle.QEMU(); !slices.Equal(got, want) {
		t.Errorf("QEMU() = %v, want %v", got, want)
	}
	if got := (Throttle{}).QEMU(); got != nil {
		t.Errorf("no limits gave %v", got)
	}
	// bytes/s given directly win over their MiB/s twin.
	if got := (Throttle{BPSWr: Some(int64(1000)), MBpsWr: Some(5.0)}).QEMU(); !slices.Equal(got, []ThrottleSetting{{"bps-write", 1000}}) {
		t.Errorf("bps_wr gave %v", got)
	}
}
