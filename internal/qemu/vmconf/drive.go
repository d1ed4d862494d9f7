package vmconf

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/pvetext"
)

// Drive is a disk, CD-ROM drive, EFI variable store or TPM state of a VM:
// the value of ide0-3, sata0-5, scsi0-30, virtio0-15, efidisk0 or
// tpmstate0. Fields a bus does not have stay empty.
type Drive struct {
	Key   string // the configuration key, such as "scsi0"
	Bus   string // ide, sata, scsi, virtio, efidisk or tpmstate
	Index int

	// File is the volume: a volume id, an absolute path, "none" (an
	// empty CD-ROM drive) or "cdrom" (the host's optical drive).
	File       string
	Media      string // "disk" or "cdrom"; empty means disk
	Format     string
	Size       Opt[int64] // bytes
	ImportFrom string

	AIO, Cache, Discard string
	RError, WError      string
	Serial              string // URL-encoded
	Model               string // ide only, URL-encoded
	WWN                 string
	Vendor, Product     string // scsi only
	Queues              Opt[int]

	Backup, DetectZeroes, IOThread, ReadOnly, Replicate Opt[bool]
	ScsiBlock, Shared, Snapshot, SSD                    Opt[bool]

	Throttle Throttle

	// efidisk0 only.
	EFIType         string
	MSCert          string
	PreEnrolledKeys Opt[bool]
	// tpmstate0 only.
	TPMVersion string
}

// Throttle holds the I/O limits of a disk. The *Max values allow bursts
// above the plain limit, for at most the *MaxLength seconds.
type Throttle struct {
	BPS, BPSRd, BPSWr                               Opt[int64] // bytes/s
	BPSMaxLength, BPSRdMaxLength, BPSWrMaxLength    Opt[int]
	MBps, MBpsRd, MBpsWr                            Opt[float64] // MiB/s
	MBpsMax, MBpsRdMax, MBpsWrMax                   Opt[float64]
	IOPS, IOPSRd, IOPSWr                            Opt[int64]
	IOPSMax, IOPSRdMax, IOPSWrMax                   Opt[int64]
	IOPSMaxLength, IOPSRdMaxLength, IOPSWrMaxLength Opt[int]
}

func (t *Throttle) fields() []field {
	return []field{
		optField("bps", &t.BPS), optField("bps_rd", &t.BPSRd), optField("bps_wr", &t.BPSWr),
		optField("bps_max_length", &t.BPSMaxLength), optField("bps_rd_max_length", &t.BPSRdMaxLength),
		optField("bps_wr_max_length", &t.BPSWrMaxLength),
		optField("mbps", &t.MBps), optField("mbps_rd", &t.MBpsRd), optField("mbps_wr", &t.MBpsWr),
		optField("mbps_max", &t.MBpsMax), optField("mbps_rd_max", &t.MBpsRdMax), optField("mbps_wr_max", &t.MBpsWrMax),
		optField("iops", &t.IOPS), optField("iops_rd", &t.IOPSRd), optField("iops_wr", &t.IOPSWr),
		optField("iops_max", &t.IOPSMax), optField("iops_rd_max", &t.IOPSRdMax), optField("iops_wr_max", &t.IOPSWrMax),
		optField("iops_max_length", &t.IOPSMaxLength), optField("iops_rd_max_length", &t.IOPSRdMaxLength),
		optField("iops_wr_max_length", &t.IOPSWrMaxLength),
	}
}

func (d *Drive) fields() []field {
	fs := []field{
		strField("file", &d.File), strField("media", &d.Media), strField("format", &d.Format),
		sizeField("size", &d.Size), strField("import-from", &d.ImportFrom),
		strField("aio", &d.AIO), strField("cache", &d.Cache), strField("discard", &d.Discard),
		strField("rerror", &d.RError), strField("werror", &d.WError),
		strField("serial", &d.Serial), strField("model", &d.Model), strField("wwn", &d.WWN),
		strField("vendor", &d.Vendor), strField("product", &d.Product), optField("queues", &d.Queues),
		optField("backup", &d.Backup), optField("detect_zeroes", &d.DetectZeroes), optField("iothread", &d.IOThread),
		optField("ro", &d.ReadOnly), optField("replicate", &d.Replicate), optField("scsiblock", &d.ScsiBlock),
		optField("shared", &d.Shared), optField("snapshot", &d.Snapshot), optField("ssd", &d.SSD),
		strField("efitype", &d.EFIType), strField("ms-cert", &d.MSCert), optField("pre-enrolled-keys", &d.PreEnrolledKeys),
		strField("version", &d.TPMVersion),
	}
	return append(fs, d.Throttle.fields()...)
}

// driveBusOrder lists the key prefixes of drives in Proxmox VE's order.
var driveBusOrder = append(api.QemuDriveBuses[:], "efidisk", "tpmstate")

// DriveKeys returns every drive key in Proxmox VE's order: ide, sata,
// scsi and virtio by index, then efidisk0 and tpmstate0.
func DriveKeys() []string {
	var keys []string
	for _, bus := range api.QemuDriveBuses {
		for i := 0; i <= api.QemuDriveMaxIndex(bus); i++ {
			keys = append(keys, bus+strconv.Itoa(i))
		}
	}
	return append(keys, "efidisk0", "tpmstate0")
}

// IsDriveKey reports whether key names a drive (see DriveKeys).
func IsDriveKey(key string) bool {
	_, _, ok := splitDriveKey(key)
	return ok
}

// splitDriveKey splits "scsi12" into its bus and index.
func splitDriveKey(key string) (bus string, index int, ok bool) {
	for _, b := range driveBusOrder {
		rest, found := strings.CutPrefix(key, b)
		if !found {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || strconv.Itoa(n) != rest || n < 0 {
			return "", 0, false
		}
		max := api.QemuDriveMaxIndex(b)
		if b == "efidisk" || b == "tpmstate" {
			max = 0
		}
		if n > max {
			return "", 0, false
		}
		return b, n, true
	}
	return "", 0, false
}

// ParseDrive parses the value of a drive key. The key "cdrom" is accepted
// as the shorthand it is: the result is ide2 with media=cdrom.
func ParseDrive(key, value string) (*Drive, error) {
	cdrom := key == "cdrom"
	if cdrom {
		key = "ide2"
	}
	bus, index, ok := splitDriveKey(key)
	if !ok {
		return nil, fmt.Errorf("%q is not a drive key; drives are ide0-3, sata0-5, scsi0-30, virtio0-15, efidisk0 and tpmstate0", key)
	}
	d := &Drive{Key: key, Bus: bus, Index: index}
	if err := parseProp(schemas().drive[bus], value, d); err != nil {
		return nil, err
	}
	if cdrom {
		d.Media = "cdrom"
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseEFIDisk parses the value of efidisk0.
func ParseEFIDisk(value string) (*Drive, error) { return ParseDrive("efidisk0", value) }

// ParseTPMState parses the value of tpmstate0.
func ParseTPMState(value string) (*Drive, error) { return ParseDrive("tpmstate0", value) }

// SerialText returns the serial number as the guest is to see it (the
// configuration keeps it URL-encoded).
func (d *Drive) SerialText() string { return pvetext.Decode(d.Serial) }

// ModelText returns the model name as the guest is to see it.
func (d *Drive) ModelText() string { return pvetext.Decode(d.Model) }

// check applies the rules between keys that the schema cannot state. As
// in Proxmox VE, a limit of 0 counts as no limit here.
func (d *Drive) check() error {
	t := &d.Throttle
	on := func(x any) bool {
		switch v := x.(type) {
		case Opt[int]:
			return v.V != 0
		case Opt[int64]:
			return v.V != 0
		case Opt[float64]:
			return v.V != 0
		}
		return false
	}
	for _, r := range []struct {
		opt, needs   string
		has, hasNeed bool
	}{
		{"bps_max_length", "mbps_max", on(t.BPSMaxLength), on(t.MBpsMax)},
		{"bps_rd_max_length", "mbps_rd_max", on(t.BPSRdMaxLength), on(t.MBpsRdMax)},
		{"bps_wr_max_length", "mbps_wr_max", on(t.BPSWrMaxLength), on(t.MBpsWrMax)},
		{"iops_max_length", "iops_max", on(t.IOPSMaxLength), on(t.IOPSMax)},
		{"iops_rd_max_length", "iops_rd_max", on(t.IOPSRdMaxLength), on(t.IOPSRdMax)},
		{"iops_wr_max_length", "iops_wr_max", on(t.IOPSWrMaxLength), on(t.IOPSWrMax)},
		{"mbps_max", "mbps", on(t.MBpsMax), on(t.MBps) || on(t.BPS)},
		{"mbps_rd_max", "mbps_rd", on(t.MBpsRdMax), on(t.MBpsRd) || on(t.BPSRd)},
		{"mbps_wr_max", "mbps_wr", on(t.MBpsWrMax), on(t.MBpsWr) || on(t.BPSWr)},
	} {
		if r.has && !r.hasNeed {
			return fmt.Errorf("%s: needs %s", r.opt, r.needs)
		}
	}
	for _, c := range []struct {
		a, b       string
		hasA, hasB bool
	}{
		{"bps", "mbps", t.BPS.Set, t.MBps.Set},
		{"bps_rd", "mbps_rd", t.BPSRd.Set, t.MBpsRd.Set},
		{"bps_wr", "mbps_wr", t.BPSWr.Set, t.MBpsWr.Set},
		{"mbps_rd", "mbps", on(t.MBpsRd) || on(t.BPSRd), on(t.MBps) || on(t.BPS)},
		{"mbps_wr", "mbps", on(t.MBpsWr) || on(t.BPSWr), on(t.MBps) || on(t.BPS)},
		{"iops_rd", "iops", on(t.IOPSRd), on(t.IOPS)},
		{"iops_wr", "iops", on(t.IOPSWr), on(t.IOPS)},
	} {
		if c.hasA && c.hasB {
			return fmt.Errorf("%s: cannot be combined with %s (a total limit excludes per-direction ones)", c.a, c.b)
		}
	}
	if d.IsCDROM() {
		switch {
		case d.Bus == "virtio":
			return errors.New("media: a VirtIO block device cannot be a CD-ROM drive; use ide, sata or scsi")
		case d.Snapshot.Set && d.Snapshot.V:
			return errors.New("snapshot: not possible on a CD-ROM drive")
		case d.Format != "":
			return errors.New("format: not allowed on a CD-ROM drive")
		}
	}
	return nil
}

// String prints the drive in canonical form: the volume first, the other
// keys sorted.
func (d *Drive) String() string {
	bus := d.Bus
	if schemas().drive[bus] == nil {
		bus = "scsi" // a Drive built by hand without a bus; any order is canonical
	}
	return printProp(schemas().drive[bus], d)
}

// IsCDROM reports whether the guest sees the drive as a CD-ROM drive.
func (d *Drive) IsCDROM() bool { return d.Media == "cdrom" }

// IsNone reports whether the drive is an empty CD-ROM drive.
func (d *Drive) IsNone() bool { return d.File == "none" }

// cloudInitRE matches the volume name of a generated cloud-init image,
// vm-<id>-cloudinit with or without an extension, after the storage name
// or a directory.
var cloudInitRE = regexp.MustCompile(`(?:^|[:/])vm-\d+-cloudinit(?:\.[A-Za-z0-9]+)?$`)

// IsCloudInit reports whether the drive holds the VM's generated
// cloud-init image.
func (d *Drive) IsCloudInit() bool { return cloudInitRE.MatchString(d.File) }

// IsVolume reports whether File is a storage volume id rather than a
// path, "none" or "cdrom".
func (d *Drive) IsVolume() bool {
	return d.File != "none" && d.File != "cdrom" && !strings.HasPrefix(d.File, "/")
}

// ThrottleSetting is one QEMU throttling option of a drive, such as
// bps-total or iops-read-max-length.
type ThrottleSetting struct {
	Name  string
	Value int64
}

// QEMU returns the limits as QEMU's throttling options, in a fixed order,
// leaving out zeroes (which mean no limit). Byte rates given in MiB/s are
// converted to bytes/s; a bps value wins over its MiB/s twin.
func (t Throttle) QEMU() []ThrottleSetting {
	var out []ThrottleSetting
	add := func(name string, v int64) {
		if v > 0 {
			out = append(out, ThrottleSetting{name, v})
		}
	}
	bytes := func(b Opt[int64], m Opt[float64]) int64 {
		if b.Set {
			return b.V
		}
		return int64(m.V * 1024 * 1024)
	}
	for _, dir := range []struct {
		qemu            string
		bps             Opt[int64]
		mbps, mbpsMax   Opt[float64]
		bpsLen, iopsLen Opt[int]
		iops, iopsMax   Opt[int64]
	}{
		{"total", t.BPS, t.MBps, t.MBpsMax, t.BPSMaxLength, t.IOPSMaxLength, t.IOPS, t.IOPSMax},
		{"read", t.BPSRd, t.MBpsRd, t.MBpsRdMax, t.BPSRdMaxLength, t.IOPSRdMaxLength, t.IOPSRd, t.IOPSRdMax},
		{"write", t.BPSWr, t.MBpsWr, t.MBpsWrMax, t.BPSWrMaxLength, t.IOPSWrMaxLength, t.IOPSWr, t.IOPSWrMax},
	} {
		add("bps-"+dir.qemu, bytes(dir.bps, dir.mbps))
		add("bps-"+dir.qemu+"-max", int64(dir.mbpsMax.V*1024*1024))
		add("bps-"+dir.qemu+"-max-length", int64(dir.bpsLen.V))
		add("iops-"+dir.qemu, dir.iops.V)
		add("iops-"+dir.qemu+"-max", dir.iopsMax.V)
		add("iops-"+dir.qemu+"-max-length", int64(dir.iopsLen.V))
	}
	return out
}
