package storage

import (
	"slices"
	"strings"
	"testing"
)

// A VM configuration as qemu-server writes it: a disk moved to unused
// while a snapshot still holds it, a pending change, and a description
// that mentions a volume.
const qemuConf = `#web server, data on local-lvm:vm-100-disk-0
boot: order=scsi0;ide2;net0
cores: 2
ide0: file=local:iso/virtio-win-0.1.262.iso,media=cdrom,size=708140K
ide2: local:iso/debian-12.7.0-amd64-netinst.iso,media=cdrom,size=631M
memory: 2048
name: web
net0: virtio=BC:24:11:2E:54:01,bridge=vmbr0,firewall=1
parent: before-upgrade
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=32G
scsi1: local-lvm:vm-100-disk-10,size=8G
scsihw: virtio-scsi-single
unused0: local-lvm:vm-100-disk-1
unused1: local-lvm:vm-100-disk-2

[PENDING]
scsi2: local-lvm:vm-100-disk-3,size=4G

[before-upgrade]
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=32G
scsi1: local-lvm:vm-100-disk-1,size=8G
snaptime: 1700000000
unused0: local-lvm:vm-100-disk-4
vmstate: local-lvm:vm-100-state-before-upgrade
`

// A container configuration as pct writes it.
const lxcConf = `arch: amd64
cores: 1
hostname: ct200
memory: 512
mp0: local-lvm:vm-200-disk-1,mp=/srv/data,backup=1,size=16G
mp1: volume=local:200/vm-200-disk-3.raw,mp=/srv/logs,size=1G
rootfs: local-lvm:vm-200-disk-0,size=8G
unused0: local:200/vm-200-disk-2.raw
`

func TestReferencesIn(t *testing.T) {
	for _, tc := range []struct {
		conf, volid string
		keys        []string
		unused      []bool
	}{
		{qemuConf, "local-lvm:vm-100-disk-0", []string{"scsi0", "scsi0"}, []bool{false, false}},
		// Detached but still in a snapshot: in use.
		{qemuConf, "local-lvm:vm-100-disk-1", []string{"unused0", "scsi1"}, []bool{true, false}},
		{qemuConf, "local-lvm:vm-100-disk-2", []string{"unused1"}, []bool{true}},
		// A pending change holds the volume too.
		{qemuConf, "local-lvm:vm-100-disk-3", []string{"scsi2"}, []bool{false}},
		// unusedN of a snapshot is part of that snapshot, so in use.
		{qemuConf, "local-lvm:vm-100-disk-4", []string{"unused0"}, []bool{false}},
		{qemuConf, "local-lvm:vm-100-disk-10", []string{"scsi1"}, []bool{false}},
		{qemuConf, "local-lvm:vm-100-state-before-upgrade", []string{"vmstate"}, []bool{false}},
		{qemuConf, "local:iso/debian-12.7.0-amd64-netinst.iso", []string{"ide2"}, []bool{false}},
		{qemuConf, "local:iso/virtio-win-0.1.262.iso", []string{"ide0"}, []bool{false}},
		{qemuConf, "local-lvm:vm-100-disk-5", nil, nil},
		{qemuConf, "local-lvm:vm-100-disk", nil, nil},
		{qemuConf, "vmbr0", nil, nil},
		{lxcConf, "local-lvm:vm-200-disk-0", []string{"rootfs"}, []bool{false}},
		{lxcConf, "local-lvm:vm-200-disk-1", []string{"mp0"}, []bool{false}},
		{lxcConf, "local:200/vm-200-disk-3.raw", []string{"mp1"}, []bool{false}},
		{lxcConf, "local:200/vm-200-disk-2.raw", []string{"unused0"}, []bool{true}},
		{lxcConf, "/srv/data", nil, nil},
	} {
		keys, unused := ReferencesIn([]byte(tc.conf), tc.volid)
		if !slices.Equal(keys, tc.keys) || !slices.Equal(unused, tc.unused) {
			t.Errorf("ReferencesIn(%s) = %q %v; want %q %v", tc.volid, keys, unused, tc.keys, tc.unused)
		}
	}
}

func TestDropUnusedLinesRemovesOnlyTheMainSectionsEntry(t *testing.T) {
	got := DropUnusedLines([]byte(qemuConf), "local-lvm:vm-100-disk-1")
	want := strings.Replace(qemuConf, "unused0: local-lvm:vm-100-disk-1\n", "", 1)
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// The snapshot's line naming the volume stays.
	if !strings.Contains(string(got), "scsi1: local-lvm:vm-100-disk-1,size=8G") {
		t.Fatal("snapshot reference removed")
	}

	got = DropUnusedLines([]byte(lxcConf), "local:200/vm-200-disk-2.raw")
	if want := strings.TrimSuffix(lxcConf, "unused0: local:200/vm-200-disk-2.raw\n"); string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDropUnusedLinesLeavesOtherTextAlone(t *testing.T) {
	for _, volid := range []string{
		"local-lvm:vm-100-disk-0",  // used, not unused
		"local-lvm:vm-100-disk-4",  // unused only in a snapshot
		"local-lvm:vm-100-disk-3",  // pending
		"local-lvm:vm-100-disk-10", // named by scsi1 only
		"local-lvm:vm-100-disk",    // a prefix of real volumes
		"local-lvm:vm-100-disk-9",  // not there at all
	} {
		if got := DropUnusedLines([]byte(qemuConf), volid); string(got) != qemuConf {
			t.Errorf("%s: changed the configuration:\n%s", volid, got)
		}
	}
	// No trailing newline and CRs stay as they were.
	in := "cores: 2\r\nunused3: local:100/vm-100-disk-0.qcow2\nname: x"
	if got := DropUnusedLines([]byte(in), "local:100/vm-100-disk-0.qcow2"); string(got) != "cores: 2\r\nname: x" {
		t.Fatalf("got %q", got)
	}
}
