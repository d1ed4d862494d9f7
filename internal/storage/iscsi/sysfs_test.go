package iscsi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDisk is one SCSI device of a session in a fake sysfs tree.
type fakeDisk struct {
	hctl    string // "2:0:0:1"
	typ     string // SCSI peripheral type: "0" disk, "12" controller
	block   string // "sdb"; "" for none
	sectors int64
	holder  string   // multipath device holding it ("dm-0"), "" for none
	byID    []string // links in /dev/disk/by-id to the disk (or its holder)
}

type fakeSession struct {
	sid    int
	host   int
	target string
	disks  []fakeDisk
}

// buildTree lays out sysfs and /dev/disk/by-id under root as the kernel
// and udev do for iSCSI sessions:
//
//	sys/devices/platform/host2/session1/iscsi_session/session1/targetname
//	sys/devices/platform/host2/session1/target2:0:0/2:0:0:1/{type,block/sdb/{size,holders/}}
//	sys/class/iscsi_session/session1 -> ../../devices/platform/host2/session1/iscsi_session/session1
//	…/iscsi_session/session1/device -> ../../../session1
//	sys/bus/scsi/devices/2:0:0:1 -> ../../../devices/platform/host2/session1/target2:0:0/2:0:0:1
//	sys/block/sdb -> ../devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb
//	dev/disk/by-id/scsi-3… -> ../../sdb
func buildTree(t *testing.T, root string, sessions []fakeSession, local []fakeDisk) {
	t.Helper()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string) {
		mk(filepath.Dir(p))
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, dest string) {
		mk(filepath.Dir(p))
		if err := os.Symlink(dest, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"sys/class/iscsi_session", "sys/bus/scsi/devices", "sys/block", "dev/disk/by-id"} {
		mk(d)
	}
	addDisk := func(parent string, d fakeDisk) {
		dev := parent + "/" + d.hctl
		write(dev+"/type", d.typ+"\n")
		link("sys/bus/scsi/devices/"+d.hctl, "../../../"+strings.TrimPrefix(dev, "sys/"))
		if d.block == "" {
			return
		}
		blk := dev + "/block/" + d.block
		write(blk+"/size", fmt.Sprintf("%d\n", d.sectors))
		mk(blk + "/holders")
		link("sys/block/"+d.block, "../"+strings.TrimPrefix(blk, "sys/"))
		write("dev/"+d.block, "")
		target := d.block
		if d.holder != "" {
			link(blk+"/holders/"+d.holder, "../../../../../../../../../virtual/block/"+d.holder)
			vb := "sys/devices/virtual/block/" + d.holder
			write(vb+"/size", fmt.Sprintf("%d\n", d.sectors))
			if _, err := os.Lstat(filepath.Join(root, "sys/block", d.holder)); err != nil {
				link("sys/block/"+d.holder, "../devices/virtual/block/"+d.holder)
			}
			write("dev/"+d.holder, "")
			target = d.holder
		}
		for _, n := range d.byID {
			link("dev/disk/by-id/"+n, "../../"+target)
		}
	}
	for _, s := range sessions {
		sess := fmt.Sprintf("sys/devices/platform/host%d/session%d", s.host, s.sid)
		cls := fmt.Sprintf("%s/iscsi_session/session%d", sess, s.sid)
		write(cls+"/targetname", s.target+"\n")
		link(cls+"/device", fmt.Sprintf("../../../session%d", s.sid))
		link(fmt.Sprintf("sys/class/iscsi_session/session%d", s.sid), "../../"+strings.TrimPrefix(cls, "sys/"))
		tgt := fmt.Sprintf("%s/target%d:0:0", sess, s.host)
		mk(tgt)
		for _, d := range s.disks {
			addDisk(tgt, d)
		}
	}
	for _, d := range local {
		addDisk("sys/devices/pci0000:00/0000:00:10.0/host0/target0:0:0", d)
	}
}

const (
	lun1ID   = "scsi-360000000000000000e00000000010001"
	lun2ID   = "dm-uuid-mpath-360000000000000000e00000000010002"
	otherID  = "scsi-360000000000000000e00000000020001"
	otherIQN = "iqn.2024-01.org.hearth:other"
)

// standardTree is two sessions: the storage's target with a controller
// LUN, a disk with several by-id names and a partition, and a multipath
// disk; another target with one disk; and a local disk of no session.
func standardTree(t *testing.T) string {
	root := t.TempDir()
	buildTree(t, root, []fakeSession{
		{sid: 1, host: 2, target: testIQN, disks: []fakeDisk{
			{hctl: "2:0:0:0", typ: "12"},
			{hctl: "2:0:0:1", typ: "0", block: "sdb", sectors: 131072,
				byID: []string{"scsi-1IET_00010001", lun1ID, "scsi-360000000000000000e00000000010001-part1", "wwn-0x60000000000000000e00000000010001"}},
			{hctl: "2:0:0:2", typ: "0", block: "sdc", sectors: 3145728, holder: "dm-0",
				byID: []string{lun2ID, "dm-name-mpatha"}},
		}},
		{sid: 2, host: 3, target: otherIQN, disks: []fakeDisk{
			{hctl: "3:0:0:1", typ: "0", block: "sdd", sectors: 20480, byID: []string{otherID}},
		}},
	}, []fakeDisk{{hctl: "0:0:0:0", typ: "0", block: "sda", sectors: 1 << 24, byID: []string{"scsi-0QEMU_QEMU_HARDDISK_drive-scsi0"}}})
	// The partition link points at a partition device.
	p := filepath.Join(root, "dev/disk/by-id/scsi-360000000000000000e00000000010001-part1")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../sdb1", p); err != nil {
		t.Fatal(err)
	}
	return root
}
