package iscsi

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Device is a disk the kernel initiator made for a LUN of a session.
type Device struct {
	Target  string
	Channel int
	ID      int
	LUN     int
	// Block is the kernel's block device (sdb), or the multipath device
	// holding it (dm-0).
	Block string
	// Stable is the device's name in /dev/disk/by-id (scsi-36…, or
	// dm-uuid-mpath-36… for multipath), which the volume name carries.
	Stable string
	Size   int64 // bytes
}

// Volname is the device's volume name, as Proxmox VE forms it:
// "<channel>.<id>.<lun>.<by-id name>".
func (d Device) Volname() string {
	return fmt.Sprintf("%d.%d.%d.%s", d.Channel, d.ID, d.LUN, d.Stable)
}

var (
	sessionDirRE = regexp.MustCompile(`^session(\d+)$`)
	targetDirRE  = regexp.MustCompile(`^target(\d+):`)
	blockNameRE  = regexp.MustCompile(`^[A-Za-z]\S*$`)
	partitionRE  = regexp.MustCompile(`-part\d+$`)
)

// devices lists the disks of every iSCSI session, keyed by target, from
// sysfs and /dev/disk/by-id under root (the same walk as Proxmox VE's, so
// volume names match: disks only, multipath holders preferred, and the
// by-id name that sorts last when a device has several).
func devices(root string) (map[string][]Device, error) {
	stable, err := stablePaths(filepath.Join(root, "dev/disk/by-id"))
	if err != nil {
		return nil, err
	}
	res := map[string][]Device{}
	sessDir := filepath.Join(root, "sys/class/iscsi_session")
	sessions, err := os.ReadDir(sessDir)
	if err != nil {
		if os.IsNotExist(err) {
			return res, nil // no initiator, or no session yet
		}
		return nil, err
	}
	scsiDir := filepath.Join(root, "sys/bus/scsi/devices")
	scsiDevs, _ := os.ReadDir(scsiDir)
	for _, se := range sessions {
		if !sessionDirRE.MatchString(se.Name()) {
			continue
		}
		target := firstLine(filepath.Join(sessDir, se.Name(), "targetname"))
		if target == "" {
			continue
		}
		host := ""
		if ents, err := os.ReadDir(filepath.Join(sessDir, se.Name(), "device")); err == nil {
			for _, e := range ents {
				if m := targetDirRE.FindStringSubmatch(e.Name()); m != nil {
					host = m[1]
					break
				}
			}
		}
		if host == "" {
			continue
		}
		for _, sd := range scsiDevs {
			hctl := strings.Split(sd.Name(), ":")
			if len(hctl) != 4 || hctl[0] != host {
				continue
			}
			nums, ok := atois(hctl[1:])
			if !ok {
				continue
			}
			dir := filepath.Join(scsiDir, sd.Name())
			if firstLine(filepath.Join(dir, "type")) != "0" {
				continue // disks only; not the target's controller LUN
			}
			bdev := firstMatch(filepath.Join(dir, "block"))
			if bdev == "" {
				continue
			}
			if holder := firstMatch(filepath.Join(root, "sys/block", bdev, "holders")); holder != "" {
				bdev = holder
			}
			name := stable[bdev]
			if name == "" {
				continue
			}
			sectors, err := strconv.ParseInt(firstLine(filepath.Join(root, "sys/block", bdev, "size")), 10, 64)
			if err != nil || sectors <= 0 {
				continue
			}
			res[target] = append(res[target], Device{Target: target, Channel: nums[0], ID: nums[1], LUN: nums[2],
				Block: bdev, Stable: name, Size: sectors * 512})
		}
	}
	for _, list := range res {
		sort.Slice(list, func(i, j int) bool { return list[i].Volname() < list[j].Volname() })
	}
	return res, nil
}

// stablePaths maps kernel block device names to their scsi- or
// dm-uuid-mpath- name in /dev/disk/by-id (partitions left out).
func stablePaths(dir string) (map[string]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]string{}, nil
		}
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	res := map[string]string{}
	for _, n := range names {
		if partitionRE.MatchString(n) || !(strings.HasPrefix(n, "scsi-") || strings.HasPrefix(n, "dm-uuid-mpath-")) {
			continue
		}
		dest, err := os.Readlink(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(dest, "../../"); ok && rest != "" && !strings.Contains(rest, "/") {
			res[rest] = n
		}
	}
	return res, nil
}

func firstLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}

// firstMatch is the first entry of dir that names a block device.
func firstMatch(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if blockNameRE.MatchString(e.Name()) {
			return e.Name()
		}
	}
	return ""
}

func atois(s []string) ([]int, bool) {
	out := make([]int, len(s))
	for i, v := range s {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
