package zfspool

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/storage"
)

// BaseSnapshot is the snapshot a template base is frozen in; linked
// clones are zfs clones of it.
const BaseSnapshot = "__base__"

// Vol is a parsed zfs volume name: "vm-100-disk-0", "subvol-100-disk-0",
// "base-100-disk-0", "basevol-100-disk-0", or a linked clone
// "base-100-disk-0/vm-101-disk-0" (the dataset is the last part).
type Vol struct {
	Name     string // dataset name below the pool
	VMID     int
	Base     string // base volume of a linked clone, "" otherwise
	BaseVMID int
	IsBase   bool
	Format   string // "raw" (zvol) or "subvol" (file system)
}

// Volname renders the volume name.
func (v Vol) Volname() string {
	if v.Base != "" {
		return v.Base + "/" + v.Name
	}
	return v.Name
}

// Content is the content type of the volume.
func (v Vol) Content() storage.Content {
	if v.Format == "subvol" {
		return storage.Rootdir
	}
	return storage.Images
}

// partRE is one part of a volume name; the name may hold only characters
// zfs allows in a dataset name (and no '@' or '%'), which also keeps it
// safe on a remote shell's command line.
var partRE = regexp.MustCompile(`^(vm|base|subvol|basevol)-([1-9][0-9]{2,8})-[A-Za-z0-9_.:-]+$`)

// ParseVolname checks a zfs volume name as Proxmox VE parses it; a base
// may itself be a clone of a base.
func ParseVolname(volname string) (Vol, error) {
	bad := fmt.Errorf("illegal zfs volume name %q: expected vm-<vmid>-<name>, subvol-<vmid>-<name>, base-<vmid>-<name>, basevol-<vmid>-<name>, or <base>/<volume> for a linked clone", volname)
	part := func(s string) (Vol, bool) {
		m := partRE.FindStringSubmatch(s)
		if m == nil || strings.Contains(s, "..") {
			return Vol{}, false
		}
		id, _ := strconv.Atoi(m[2])
		v := Vol{Name: s, VMID: id, IsBase: m[1] == "base" || m[1] == "basevol", Format: "raw"}
		if m[1] == "subvol" || m[1] == "basevol" {
			v.Format = "subvol"
		}
		return v, true
	}
	base, name, clone := strings.Cut(volname, "/")
	if !clone {
		if v, ok := part(volname); ok {
			return v, nil
		}
		return Vol{}, bad
	}
	b, ok1 := part(base)
	v, ok2 := part(name)
	if !ok1 || !ok2 || !b.IsBase || b.Format != v.Format {
		return Vol{}, bad
	}
	v.Base, v.BaseVMID = b.Name, b.VMID
	return v, nil
}

// snapRE is a snapshot name: Proxmox VE configuration ids plus its
// internal __base__ and __replicate_…__ snapshots.
var snapRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)

// CheckSnapshotName refuses snapshot names that are not plain ids.
func CheckSnapshotName(snap string) error {
	if !snapRE.MatchString(snap) {
		return fmt.Errorf("illegal snapshot name %q: letters, digits, '_' and '-' only", snap)
	}
	return nil
}

// ValidPool reports whether pool is a zfs pool or dataset name the
// plugins accept: zfs' characters, no empty or dot segments.
func ValidPool(pool string) bool {
	if pool == "" || len(pool) > 200 {
		return false
	}
	for _, seg := range strings.Split(pool, "/") {
		if seg == "" || seg == "." || seg == ".." || !segRE.MatchString(seg) {
			return false
		}
	}
	return true
}

var segRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// ListArgs lists the pool's direct children with the columns ParseList
// reads; -p prints exact byte counts.
func ListArgs(pool string) []string {
	return []string{"list", "-o", "name,volsize,origin,type,refquota", "-t", "volume,filesystem", "-d1", "-Hp", pool}
}

// Dataset is one volume ListArgs reported.
type Dataset struct {
	Vol
	Size   int64  // volsize of zvols, refquota of file systems (0: unlimited)
	Origin string // the snapshot a clone was made from, "" if none
}

// ParseList reads the output of ListArgs, keeping the pool's children
// whose names are volume names.
func ParseList(out []byte, pool string) ([]Dataset, error) {
	var list []Dataset
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("unexpected zfs list output line %q", line)
		}
		name, ok := strings.CutPrefix(f[0], pool+"/")
		if !ok || strings.Contains(name, "/") || (f[3] != "volume" && f[3] != "filesystem") {
			continue
		}
		v, err := ParseVolname(name)
		if err != nil {
			continue
		}
		d := Dataset{Vol: v}
		size := f[1]
		if f[3] == "filesystem" {
			size = f[4]
			if size == "none" || size == "-" {
				size = "0"
			}
		}
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("unexpected zfs list output line %q: size %q", line, size)
		}
		if (f[3] == "volume") != (v.Format == "raw") {
			continue // a file system named like a zvol or the other way round
		}
		d.Size = n
		if f[2] != "-" {
			d.Origin = f[2]
			if o, ok := strings.CutPrefix(f[2], pool+"/"); ok {
				if b, snap, _ := strings.Cut(o, "@"); snap == BaseSnapshot {
					if bv, err := ParseVolname(b); err == nil && bv.IsBase && bv.Format == v.Format {
						d.Base, d.BaseVMID = bv.Name, bv.VMID
					}
				}
			}
		}
		list = append(list, d)
	}
	return list, nil
}

// Volumes turns a listing into the storage's volumes of vmid (0: all)
// and the given content types (none: all).
func Volumes(list []Dataset, vmid int, content []storage.Content) []storage.Volume {
	want := map[storage.Content]bool{}
	for _, c := range content {
		want[c] = true
	}
	var out []storage.Volume
	for _, d := range list {
		if (vmid != 0 && d.VMID != vmid) || (len(want) > 0 && !want[d.Content()]) {
			continue
		}
		out = append(out, storage.Volume{Volname: d.Volname(), Content: d.Content(), Format: d.Format, Size: d.Size, VMID: d.VMID, Parent: d.Base})
	}
	storage.SortVolumes(out)
	return out
}

// NextName picks the next free disk name of vmid for format.
func NextName(list []Dataset, vmid int, format string) (string, error) {
	taken := make([]string, 0, len(list))
	for _, d := range list {
		taken = append(taken, d.Name)
	}
	prefix := "vm"
	if format == "subvol" {
		prefix = "subvol"
	}
	return storage.NextDiskName(taken, vmid, prefix, "")
}

// ZvolKiB is the size in KiB a zvol of size bytes is created or resized
// to: whole MiB, which is a multiple of every volume block size.
func ZvolKiB(size int64) int64 {
	kib := (size + 1023) / 1024
	return (kib + 1023) / 1024 * 1024
}

// CreateZvolArgs creates a zvol of size bytes.
func CreateZvolArgs(pool, name string, size int64, blocksize string, sparse bool) []string {
	args := []string{"create"}
	if sparse {
		args = append(args, "-s")
	}
	if blocksize != "" {
		args = append(args, "-b", blocksize)
	}
	return append(args, "-V", strconv.FormatInt(ZvolKiB(size), 10)+"k", pool+"/"+name)
}

// ResizeArgs sets a volume's size: volsize of a zvol (in whole MiB),
// refquota of a subvolume.
func ResizeArgs(pool string, v Vol, size int64) []string {
	if v.Format == "subvol" {
		return []string{"set", "refquota=" + strconv.FormatInt((size+1023)/1024, 10) + "k", pool + "/" + v.Name}
	}
	return []string{"set", "volsize=" + strconv.FormatInt(ZvolKiB(size), 10) + "k", pool + "/" + v.Name}
}

// GetArgs reads properties of a dataset, one value a line.
func GetArgs(dataset string, props ...string) []string {
	return []string{"get", "-o", "value", "-Hp", strings.Join(props, ","), dataset}
}

// ParseValues reads the output of GetArgs for n properties.
func ParseValues(out []byte, n int) ([]string, error) {
	v := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(v) != n {
		return nil, fmt.Errorf("unexpected zfs get output %q: %d values instead of %d", out, len(v), n)
	}
	return v, nil
}

// ParseNumbers reads the output of GetArgs for numeric properties.
func ParseNumbers(out []byte, n int) ([]int64, error) {
	v, err := ParseValues(out, n)
	if err != nil {
		return nil, err
	}
	nums := make([]int64, n)
	for i, s := range v {
		if s == "-" || s == "none" {
			continue
		}
		if nums[i], err = strconv.ParseInt(s, 10, 64); err != nil || nums[i] < 0 {
			return nil, fmt.Errorf("unexpected zfs get output %q: %q is not a byte count", out, s)
		}
	}
	return nums, nil
}

// StatusOf reads GetArgs(pool, "available", "used").
func StatusOf(out []byte) (storage.Status, error) {
	n, err := ParseNumbers(out, 2)
	if err != nil {
		return storage.Status{}, err
	}
	return storage.Status{Active: true, Avail: n[0], Used: n[1], Total: n[0] + n[1]}, nil
}

// SnapshotListArgs lists a dataset's snapshots oldest first.
func SnapshotListArgs(dataset string) []string {
	return []string{"list", "-H", "-r", "-t", "snapshot", "-o", "name", "-s", "creation", dataset}
}

// CheckRollback refuses a rollback to snap unless it is the dataset's
// newest snapshot, so that a rollback never destroys later snapshots.
func CheckRollback(out []byte, dataset, snap string) error {
	var snaps []string
	for _, line := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), dataset+"@"); ok {
			snaps = append(snaps, s)
		}
	}
	idx := -1
	for i, s := range snaps {
		if s == snap {
			idx = i
			break
		}
	}
	switch {
	case idx < 0:
		return fmt.Errorf("snapshot %q does not exist", snap)
	case idx != len(snaps)-1:
		return fmt.Errorf("snapshot %q is not the most recent one (newer: %s)", snap, strings.Join(snaps[idx+1:], ", "))
	}
	return nil
}
