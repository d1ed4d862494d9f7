package lvm

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
)

// The column lists Proxmox VE asks vgs and lvs for. The order is part of
// the parsing contract below.
const (
	vgsColumns = "vg_name,vg_size,vg_free,lv_count"
	lvsColumns = "vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,uuid,tags,metadata_size,time"
)

// Tool builds an lvm2 command. LC_ALL=C makes lvs print percentages with
// a decimal point whatever the daemon's locale is (the parser accepts a
// comma as well, for output captured elsewhere).
func Tool(name string, args ...string) runner.Cmd {
	return runner.Cmd{Name: name, Args: args, Env: []string{"LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1"}}
}

// VGsCmd lists every volume group with its size, free space and number
// of logical volumes, in bytes.
func VGsCmd() runner.Cmd {
	return Tool("vgs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix", "--options", vgsColumns)
}

// LVsCmd lists the logical volumes of vg (every volume group if vg is
// empty) with the columns ParseLVs reads; creation times in seconds.
func LVsCmd(vg string) runner.Cmd {
	c := Tool("lvs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix",
		"--config", `report/time_format="%s"`, "--options", lvsColumns)
	if vg != "" {
		c.Args = append(c.Args, vg)
	}
	return c
}

// LVSizeCmd asks for the size in bytes of one logical volume, given by path.
func LVSizeCmd(path string) runner.Cmd {
	return Tool("lvs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix", "--options", "lv_size", path)
}

// VG is one line of VGsCmd's output.
type VG struct {
	Name    string
	Size    int64
	Free    int64
	LVCount int
}

// ParseVGs reads the output of VGsCmd.
func ParseVGs(out []byte) ([]VG, error) {
	var vgs []VG
	for _, line := range lines(out) {
		f := strings.Split(line, ":")
		if len(f) < 4 || f[0] == "" {
			return nil, fmt.Errorf("unexpected vgs output line %q", line)
		}
		size, err1 := parseBytes(f[1])
		free, err2 := parseBytes(f[2])
		n, err3 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("unexpected vgs output line %q: size, free space or volume count is not a number", line)
		}
		vgs = append(vgs, VG{Name: f[0], Size: size, Free: free, LVCount: n})
	}
	return vgs, nil
}

// LV is one line of LVsCmd's output.
type LV struct {
	VG   string
	Name string
	Size int64
	// Attr is lvs' lv_attr; Type is its first letter ('-' linear, 't'
	// thin pool, 'V' thin volume, ...) and State its fifth ('a' active).
	Attr  string
	Type  byte
	State byte
	Pool  string // thin pool of a thin volume
	UUID  string
	Tags  []string
	CTime int64
	// DataPercent and MetaPercent are the fill levels of a thin pool or
	// thin volume; Used is DataPercent of Size in bytes.
	DataPercent float64
	MetaPercent float64
	MetaSize    int64
	Used        int64
}

// HasTag reports whether the volume carries tag t.
func (lv LV) HasTag(t string) bool {
	for _, x := range lv.Tags {
		if x == t {
			return true
		}
	}
	return false
}

// ParseLVs reads the output of LVsCmd. LVM tags may contain ':' (the
// separator), so the tag column is whatever lies between the nine
// columns before it and the two after it.
func ParseLVs(out []byte) ([]LV, error) {
	var lvs []LV
	for _, line := range lines(out) {
		f := strings.Split(line, ":")
		if len(f) < 12 {
			return nil, fmt.Errorf("unexpected lvs output line %q: %d columns instead of 12", line, len(f))
		}
		if n := len(f); n > 12 {
			f = append(f[:9:9], strings.Join(f[9:n-2], ":"), f[n-2], f[n-1])
		}
		if f[0] == "" || f[1] == "" {
			continue
		}
		lv := LV{VG: f[0], Name: f[1], Attr: f[3], Pool: f[4], UUID: f[8]}
		var err error
		if lv.Size, err = parseBytes(f[2]); err != nil {
			return nil, fmt.Errorf("unexpected lvs output line %q: size %q", line, f[2])
		}
		if len(lv.Attr) >= 5 {
			lv.Type, lv.State = lv.Attr[0], lv.Attr[4]
		}
		if lv.DataPercent, err = parsePercent(f[5]); err != nil {
			return nil, fmt.Errorf("unexpected lvs output line %q: data percent %q", line, f[5])
		}
		if lv.MetaPercent, err = parsePercent(f[6]); err != nil {
			return nil, fmt.Errorf("unexpected lvs output line %q: metadata percent %q", line, f[6])
		}
		if f[9] != "" {
			lv.Tags = strings.Split(f[9], ",")
		}
		if f[10] != "" {
			if lv.MetaSize, err = parseBytes(f[10]); err != nil {
				return nil, fmt.Errorf("unexpected lvs output line %q: metadata size %q", line, f[10])
			}
		}
		if f[11] != "" {
			if lv.CTime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
				return nil, fmt.Errorf("unexpected lvs output line %q: creation time %q", line, f[11])
			}
		}
		if lv.Type == 't' || lv.Type == 'V' {
			lv.Used = int64(lv.DataPercent * float64(lv.Size) / 100)
		}
		lvs = append(lvs, lv)
	}
	return lvs, nil
}

// ParseSize reads the output of LVSizeCmd.
func ParseSize(out []byte) (int64, error) {
	l := lines(out)
	if len(l) != 1 {
		return 0, fmt.Errorf("unexpected lvs size output %q", out)
	}
	n, err := parseBytes(l[0])
	if err != nil {
		return 0, fmt.Errorf("unexpected lvs size output %q", out)
	}
	return n, nil
}

// PV is one line of pvs' pv_name,pv_size,vg_name,pv_uuid output.
type PV struct {
	Name   string
	SizeKB int64
	VG     string
	UUID   string
}

// ParsePV reads the output of pvs for one device.
func ParsePV(out []byte) (*PV, error) {
	var pv *PV
	for _, line := range lines(out) {
		f := strings.Split(line, ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("unexpected pvs output line %q", line)
		}
		if pv != nil {
			return nil, fmt.Errorf("pvs reported more than one physical volume for %s", pv.Name)
		}
		size, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected pvs output line %q", line)
		}
		pv = &PV{Name: f[0], SizeKB: int64(size), VG: f[2], UUID: f[3]}
	}
	return pv, nil
}

// CreateVolumeGroup makes device a physical volume and creates volume
// group vg on it, as Proxmox VE does when an lvm storage is added with a
// base volume (an iSCSI LUN). A device that already holds vg is left
// alone; one that belongs to another group is refused.
func CreateVolumeGroup(ctx context.Context, r runner.Runner, device, vg string) error {
	if !ValidName(vg) {
		return fmt.Errorf("invalid volume group name %q", vg)
	}
	res, err := r.Run(ctx, runner.Cmd{Name: "file", Args: []string{"-L", "-s", device}})
	if err != nil {
		return fmt.Errorf("cannot read the label of %s: %w", device, err)
	}
	if bytes.Contains(res.Stdout, []byte("LVM2")) {
		res, err := r.Run(ctx, Tool("pvs", "--separator", ":", "--noheadings", "--units", "k", "--unbuffered", "--nosuffix",
			"--options", "pv_name,pv_size,vg_name,pv_uuid", device))
		if err != nil {
			return fmt.Errorf("cannot read physical volume %s: %w", device, err)
		}
		pv, err := ParsePV(res.Stdout)
		if err != nil {
			return err
		}
		if pv != nil && pv.VG == vg {
			return nil
		}
		if pv != nil && pv.VG != "" {
			return fmt.Errorf("device %s is already used by volume group %q", device, pv.VG)
		}
	}
	if _, err := r.Run(ctx, Tool("pvcreate", "--metadatasize", "250k", device)); err != nil {
		return fmt.Errorf("pvcreate %s failed: %w", device, err)
	}
	if _, err := r.Run(ctx, Tool("vgcreate", vg, device)); err != nil {
		return fmt.Errorf("vgcreate %s on %s failed: %w", vg, device, err)
	}
	return nil
}

// lvmNameRE is the character set Proxmox VE allows in volume group, thin
// pool and logical volume names; lvm itself allows '+' too, which is left
// out so that names stay safe in every tool's syntax.
var lvmNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$`)

// ValidName reports whether name is a volume group, thin pool or logical
// volume name Proxmox VE accepts.
func ValidName(name string) bool {
	return len(name) <= 127 && lvmNameRE.MatchString(name) && !strings.Contains(name, "..")
}

func lines(out []byte) []string {
	var l []string
	for _, s := range strings.Split(string(out), "\n") {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, s)
		}
	}
	return l
}

// parseBytes reads a size printed with --units b --nosuffix (or k, whose
// values carry two decimals).
func parseBytes(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || !(f >= 0 && f <= 1<<62) {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return int64(f), nil
}

// parsePercent reads lvs' percentages: "", "12.50", or "12,50" under a
// locale with a decimal comma.
func parsePercent(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || !(f >= 0 && f <= 100) {
		return 0, fmt.Errorf("not a percentage: %q", s)
	}
	return f, nil
}
