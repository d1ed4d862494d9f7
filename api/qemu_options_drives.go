package api

import "github.com/hearth-virt/hearth/api/schema"

// QemuDriveBuses lists the disk buses in the order Proxmox VE walks them
// (for the first boot disk, for listings, for backups).
var QemuDriveBuses = [...]string{"ide", "sata", "scsi", "virtio"}

// QemuDriveMaxIndex returns the highest index a bus admits (ide3, sata5,
// scsi30, virtio15), or -1 for a name that is not a disk bus.
func QemuDriveMaxIndex(bus string) int {
	switch bus {
	case "ide":
		return 3
	case "sata":
		return 5
	case "scsi":
		return 30
	case "virtio":
		return 15
	}
	return -1
}

// The patterns of volume references. Proxmox VE checks them with named
// formats (pve-volume-id-or-qm-path, pve-volume-id-or-absolute-path) that
// api/schema does not register, so they are spelled out here. Go's regexp
// has no look-ahead; a path segment that is not ".." is written out case
// by case. Control characters would break the one-line-per-key file.
const (
	qemuStorageIDPattern = `[a-zA-Z][a-zA-Z0-9._-]*[a-zA-Z0-9]`
	qemuSegChar          = `[^/\x00-\x1f]`
	qemuSegNotDots       = `(?:[^/.\x00-\x1f]` + qemuSegChar + `*|\.[^/.\x00-\x1f]` + qemuSegChar + `*|\.\.` + qemuSegChar + `+|\.)`
	qemuVolumeIDPattern  = qemuStorageIDPattern + `:` + qemuSegNotDots + `(?:/` + qemuSegNotDots + `?)*`
	qemuAbsPathPattern   = `/[^\x00-\x1f]*`
	// QemuDriveFilePattern matches what a drive's file key may hold: a
	// volume id (also <storage>:<size in GiB> when a disk is to be
	// allocated), an absolute path, "none" for an empty CD-ROM drive, or
	// "cdrom" for the host's optical drive.
	QemuDriveFilePattern = `none|cdrom|` + qemuAbsPathPattern + `|` + qemuVolumeIDPattern
	// QemuImportSourcePattern matches the source of import-from: a volume
	// id or an absolute path.
	QemuImportSourcePattern = qemuAbsPathPattern + `|` + qemuVolumeIDPattern
)

// qemuDiskFormats are the image formats a drive may declare.
var qemuDiskFormats = []string{"raw", "qcow", "qed", "qcow2", "vmdk", "cloop"}

// QemuDriveProp returns the property string of a disk on bus ide, sata,
// scsi or virtio, with the keys that bus supports; nil for any other bus.
func QemuDriveProp(bus string) *schema.PropString {
	keys := qemuDriveCommonKeys()
	switch bus {
	case "ide":
		keys["model"] = &schema.Schema{Type: schema.String, Format: "urlencoded", MaxLength: 120, FormatDescription: "model",
			Optional: true, Description: "Model name the disk reports to the guest, URL-encoded; at most 40 bytes once decoded."}
		keys["ssd"] = qemuSSDKey()
		keys["wwn"] = qemuWWNKey()
	case "sata":
		keys["ssd"] = qemuSSDKey()
		keys["wwn"] = qemuWWNKey()
	case "scsi":
		keys["iothread"] = qemuIOThreadKey()
		keys["product"] = qemuFD(schema.Pat("Product name the SCSI disk reports (up to 16 letters, digits, '-', '_' or blanks).",
			`[A-Za-z0-9\-_\s]{0,16}`), "product")
		keys["queues"] = schema.Schema{Type: schema.Integer, Minimum: schema.F(2),
			Description: "Number of request queues of the disk's virtio-scsi controller (with scsihw virtio-scsi-single)."}.Opt()
		keys["ro"] = qemuROKey()
		keys["scsiblock"] = schema.Bool("Pass a host SCSI device through with scsi-block instead of scsi-hd, " +
			"so the guest sees the real device; can fail under host memory pressure.").Def(false).Ptr()
		keys["ssd"] = qemuSSDKey()
		keys["vendor"] = qemuFD(schema.Pat("Vendor name the SCSI disk reports (up to 8 letters, digits, '-', '_' or blanks).",
			`[A-Za-z0-9\-_\s]{0,8}`), "vendor")
		keys["wwn"] = qemuWWNKey()
	case "virtio":
		keys["iothread"] = qemuIOThreadKey()
		keys["ro"] = qemuROKey()
	default:
		return nil
	}
	return schema.NewPropString(keys)
}

// QemuEFIDiskProp returns the property string of efidisk0, the volume
// that keeps the UEFI variables of an OVMF guest.
func QemuEFIDiskProp() *schema.PropString {
	keys := qemuVolumeKeys()
	keys["format"] = qemuOpt(schema.Enum("Image format of the volume.", qemuDiskFormats...))
	keys["efitype"] = schema.Enum("Variable store layout: 2m is the old small one, kept for existing guests; "+
		"4m is current and needed for Secure Boot. Guests of arch aarch64 ignore it.", "2m", "4m").Def("2m").Ptr()
	keys["ms-cert"] = schema.Enum("Which generation of Microsoft UEFI certificates the store was enrolled with; it only "+
		"records the fact. 2023k means the 2023 Microsoft and Windows CAs plus the 2023 KEK; 2023 and 2023w are old spellings.",
		"2011", "2023", "2023w", "2023k").Def("2011").Ptr()
	keys["pre-enrolled-keys"] = schema.Bool("Start from a variable store that already holds the distribution and Microsoft keys " +
		"(with efitype 4m), which turns Secure Boot on; the guest can still switch it off.").Def(false).Ptr()
	return schema.NewPropString(keys)
}

// QemuTPMStateProp returns the property string of tpmstate0, the volume
// that keeps the state of the emulated TPM.
func QemuTPMStateProp() *schema.PropString {
	keys := qemuVolumeKeys()
	keys["format"] = qemuOpt(schema.Enum("Image format of the volume.", "raw", "qcow2", "vmdk"))
	keys["version"] = schema.Enum("TPM interface version: v2.0 for current guests (Windows 11 requires it), v1.2 for old ones.",
		"v1.2", "v2.0").Def("v1.2").Ptr()
	return schema.NewPropString(keys)
}

// QemuUnusedProp returns the property string of unusedN: a volume that
// belongs to the VM but is attached to nothing.
func QemuUnusedProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"file": &schema.Schema{Type: schema.String, Format: "pve-volume-id", FormatDescription: "volume", DefaultKey: true,
			Description: "The detached volume."},
		"volume": qemuAlias("file"),
	})
}

// qemuVolumeKeys are the keys every kind of disk has: the volume, its
// size, and an image to import when the disk is created.
func qemuVolumeKeys() schema.Props {
	file := schema.Pat("The backing volume: a volume id, an absolute path, none (an empty CD-ROM drive) or cdrom "+
		"(the host's optical drive). When creating, <storage>:<size in GiB> allocates a new volume.", QemuDriveFilePattern)
	file.FormatDescription = "volume"
	file.DefaultKey = true
	return schema.Props{
		"file":   &file,
		"volume": qemuAlias("file"),
		"size": &schema.Schema{Type: schema.String, Format: "disk-size", FormatDescription: "DiskSize", Optional: true,
			Description: "Size of the volume, as recorded; changing it does not resize anything (use the resize call)."},
		"import-from": qemuFD(schema.Pat("Copy this image into the new volume while creating it: a volume id or an absolute path.",
			QemuImportSourcePattern), "source volume"),
	}
}

// qemuDriveCommonKeys are the keys of every guest-visible disk.
func qemuDriveCommonKeys() schema.Props {
	k := qemuVolumeKeys()
	k["format"] = qemuOpt(schema.Enum("Image format of the volume; by default it follows from the storage and file name.", qemuDiskFormats...))
	k["media"] = schema.Enum("Whether the guest sees a hard disk or a CD-ROM drive.", "cdrom", "disk").Def("disk").Ptr()
	k["aio"] = qemuOpt(schema.Enum("How QEMU submits disk I/O: io_uring, Linux native AIO, or a thread pool.", "native", "threads", "io_uring"))
	k["backup"] = schema.Bool("Include the disk in backups (on unless set to 0).").Opt()
	k["cache"] = qemuOpt(schema.Enum("Host page cache mode for the disk; without it QEMU uses no cache.",
		"none", "writethrough", "writeback", "unsafe", "directsync"))
	k["detect_zeroes"] = schema.Bool("Let QEMU turn writes of zeroes into cheaper zero operations.").Opt()
	k["discard"] = qemuOpt(schema.Enum("Pass the guest's TRIM/discard requests on to the storage (on), or drop them.", "ignore", "on"))
	k["replicate"] = schema.Bool("Include the disk in storage replication jobs.").Def(true).Ptr()
	k["rerror"] = qemuOpt(schema.Enum("What the VM does when reading the disk fails.", "ignore", "report", "stop"))
	k["werror"] = qemuOpt(schema.Enum("What the VM does when writing the disk fails.", "enospc", "ignore", "report", "stop"))
	k["serial"] = &schema.Schema{Type: schema.String, Format: "urlencoded", MaxLength: 60, FormatDescription: "serial", Optional: true,
		Description: "Serial number the disk reports to the guest, URL-encoded; at most 20 bytes once decoded."}
	k["shared"] = schema.Bool("Declare that the volume is reachable from every node although its storage is local " +
		"(such as an iSCSI LUN seen everywhere), so migration does not copy it. Nothing is shared automatically.").Def(false).Ptr()
	k["snapshot"] = schema.Bool("Let QEMU write changes to a temporary overlay, dropped when the VM stops.").Opt()
	for _, t := range qemuThrottleKeys {
		k[t.name] = t.schema()
	}
	for alias, target := range map[string]string{
		"bps_rd_length": "bps_rd_max_length", "bps_wr_length": "bps_wr_max_length",
		"iops_rd_length": "iops_rd_max_length", "iops_wr_length": "iops_wr_max_length",
	} {
		k[alias] = qemuAlias(target)
	}
	return k
}

// qemuThrottleKey describes one I/O limit of a disk.
type qemuThrottleKey struct {
	name, unit, what string
}

func (t qemuThrottleKey) schema() *schema.Schema {
	s := schema.Schema{Optional: true, FormatDescription: t.unit}
	switch t.unit {
	case "mbps":
		s.Type = schema.Number
		s.Description = t.what + ", in MiB/s."
	case "seconds":
		s.Type = schema.Integer
		s.Minimum = schema.F(1)
		s.Description = t.what + ", in seconds."
	default: // bps, iops
		s.Type = schema.Integer
		s.Description = t.what + "."
	}
	return &s
}

// qemuThrottleKeys are the I/O limits of a disk. The *_max keys allow
// bursts above the plain limit; the *_max_length keys bound how long a
// burst may last.
var qemuThrottleKeys = []qemuThrottleKey{
	{"bps", "bps", "Limit on bytes read and written per second"},
	{"bps_rd", "bps", "Limit on bytes read per second"},
	{"bps_wr", "bps", "Limit on bytes written per second"},
	{"bps_max_length", "seconds", "Longest burst above mbps (needs mbps_max)"},
	{"bps_rd_max_length", "seconds", "Longest read burst above mbps_rd (needs mbps_rd_max)"},
	{"bps_wr_max_length", "seconds", "Longest write burst above mbps_wr (needs mbps_wr_max)"},
	{"iops", "iops", "Limit on I/O operations per second"},
	{"iops_rd", "iops", "Limit on read operations per second"},
	{"iops_wr", "iops", "Limit on write operations per second"},
	{"iops_max", "iops", "Burst limit on I/O operations per second"},
	{"iops_rd_max", "iops", "Burst limit on read operations per second"},
	{"iops_wr_max", "iops", "Burst limit on write operations per second"},
	{"iops_max_length", "seconds", "Longest burst above iops (needs iops_max)"},
	{"iops_rd_max_length", "seconds", "Longest read burst above iops_rd (needs iops_rd_max)"},
	{"iops_wr_max_length", "seconds", "Longest write burst above iops_wr (needs iops_wr_max)"},
	{"mbps", "mbps", "Limit on data read and written"},
	{"mbps_rd", "mbps", "Limit on data read"},
	{"mbps_wr", "mbps", "Limit on data written"},
	{"mbps_max", "mbps", "Burst limit on data read and written"},
	{"mbps_rd_max", "mbps", "Burst limit on data read"},
	{"mbps_wr_max", "mbps", "Burst limit on data written"},
}

func qemuSSDKey() *schema.Schema {
	return schema.Bool("Tell the guest the disk is a solid-state drive rather than a spinning one.").Opt()
}

func qemuIOThreadKey() *schema.Schema {
	return schema.Bool("Serve the disk from an I/O thread of its own instead of QEMU's main loop.").Opt()
}

func qemuROKey() *schema.Schema {
	return schema.Bool("Show the disk to the guest as read-only.").Opt()
}

func qemuWWNKey() *schema.Schema {
	return qemuFD(schema.Pat("World wide name of the disk: 0x and 16 hex digits.", `0x[0-9a-fA-F]{16}`), "wwn")
}

// qemuAlias declares a key that is another spelling of target.
func qemuAlias(target string) *schema.Schema {
	return &schema.Schema{Type: schema.String, Optional: true, Alias: target,
		Description: "Another name for " + target + "."}
}

// qemuOpt returns an optional copy.
func qemuOpt(s schema.Schema) *schema.Schema { return s.Opt() }

// qemuFD returns an optional copy with a short placeholder for usage texts.
func qemuFD(s schema.Schema, hint string) *schema.Schema {
	s.FormatDescription = hint
	return s.Opt()
}
