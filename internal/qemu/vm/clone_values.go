package vm

import (
	"crypto/rand"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// cloneSkipKeys are keys a clone never takes over: the template mark,
// locks, and what only describes the source's snapshots or its last run.
var cloneSkipKeys = []string{"template", "lock", "parent", "snaptime", "snapstate", "vmstate", "runningmachine", "runningcpu"}

// cloneValues is the configuration of a new clone, from the source's
// section (its current settings or a snapshot), without the drives that
// get new volumes (the caller adds those as they are made). Every NIC
// gets a new MAC address, the SMBIOS UUID is new and so is the
// generation id when the source has one, so the two VMs can run side by
// side. name and description replace the source's when given.
func cloneValues(sec *guestconf.Section, srcID int, name, description, macPrefix string, rnd io.Reader) map[string]string {
	out := map[string]string{}
	for _, k := range sec.Keys() {
		v := sec.Value(k)
		switch {
		case slices.Contains(cloneSkipKeys, k), isUnusedKey(k):
			continue
		case vmconf.IsDriveKey(k):
			// Kept only when the volume is shared as it is: CD-ROMs.
			if d, err := vmconf.ParseDrive(k, v); err == nil && keepsDrive(d) {
				out[k] = v
			}
			continue
		case strings.HasPrefix(k, "net"):
			if n, err := vmconf.ParseNet(k, v); err == nil {
				n.MACAddr = vmconf.GenerateMAC(macPrefix, rnd)
				v = n.String()
			}
		case k == "vmgenid":
			if v != "" && v != "0" {
				v = uuidFrom(rnd)
			}
		}
		out[k] = v
	}
	smbios := &vmconf.SMBIOS1{}
	if v, ok := out["smbios1"]; ok {
		if p, err := vmconf.ParseSMBIOS1(v); err == nil {
			smbios = p
		}
	}
	smbios.UUID = uuidFrom(rnd)
	out["smbios1"] = smbios.String()
	if name == "" {
		src := sec.Value("name")
		if src == "" {
			src = strconv.Itoa(srcID)
		}
		name = "Copy-of-VM-" + src
	}
	out["name"] = name
	if description != "" {
		out[guestconf.DescriptionKey] = description
	}
	return out
}

// keepsDrive reports whether a clone uses the drive's volume as it is:
// CD-ROM drives with an ISO, the host's drive or no medium. A cloud-init
// drive is a CD-ROM too but belongs to its VM and is made anew.
func keepsDrive(d *vmconf.Drive) bool {
	return (d.IsCDROM() && !d.IsCloudInit()) || d.IsNone() || d.File == "cdrom"
}

// uuidFrom returns a random version 4 UUID read from rnd (crypto/rand
// when nil), so tests can fix the randomness.
func uuidFrom(rnd io.Reader) string {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		_, _ = rand.Read(b[:])
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[x>>4], hex[x&0xf])
	}
	return string(out)
}

// cloneFormat picks the image format of a copied disk: the one asked
// for, else the source's when the target storage can hold it, else the
// storage's default. The TPM state stays raw (swtpm reads the file as
// it is).
func cloneFormat(key, asked, srcFormat string, formats []string, storageDefault string) (string, bool) {
	if key == "tpmstate0" {
		return "raw", slices.Contains(formats, "raw")
	}
	if asked != "" {
		return asked, slices.Contains(formats, asked)
	}
	if srcFormat != "" && srcFormat != "subvol" && slices.Contains(formats, srcFormat) {
		return srcFormat, true
	}
	return storageDefault, true
}

// lowerLimit combines two KiB/s limits where 0 means none.
func lowerLimit(a, b float64) float64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}
