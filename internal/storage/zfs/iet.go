package zfs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// iet drives the iSCSI Enterprise Target of Linux: ietadm changes the
// running target (found by its tid in /proc/net/iet/volume) and
// ietd.conf keeps the LUNs across restarts, as Proxmox VE's IET module
// does.
type iet struct {
	conf confFile
	tid  int
	luns map[int]bool // LUN numbers the running target serves
	read bool
}

// The places of ietd.conf (Debian's, then the upstream default).
var ietConfigs = []string{"/etc/iet/ietd.conf", "/etc/ietd.conf"}

const (
	ietadm  = "/usr/sbin/ietadm"
	ietProc = "/proc/net/iet/volume"
	// ietMaxLUN bounds the LUN numbers Hearth hands out.
	ietMaxLUN = 16384
)

func newIET(s *Storage) *iet { return &iet{conf: confFile{s: s, places: ietConfigs}} }

var (
	ietTidRE = regexp.MustCompile(`^tid:(\d+)\s+name:(\S+)\s*$`)
	ietLunRE = regexp.MustCompile(`^\s+lun:(\d+)\s`)
)

// ParseIETVolumes reads /proc/net/iet/volume: the tid of target and the
// LUN numbers it serves.
func ParseIETVolumes(out []byte, target string) (int, map[int]bool, error) {
	tid, luns := -1, map[int]bool{}
	inTarget := false
	for _, line := range strings.Split(string(out), "\n") {
		if m := ietTidRE.FindStringSubmatch(line); m != nil {
			inTarget = m[2] == target
			if inTarget {
				tid, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if m := ietLunRE.FindStringSubmatch(line); m != nil && inTarget {
			n, err := strconv.Atoi(m[1])
			if err != nil || n >= ietMaxLUN {
				return 0, nil, fmt.Errorf("bad LUN line %q in %s", line, ietProc)
			}
			luns[n] = true
		}
	}
	if tid < 0 {
		return 0, nil, fmt.Errorf("target %s is not running (not in %s)", target, ietProc)
	}
	return tid, luns, nil
}

var (
	ietTargetRE = regexp.MustCompile(`^\s*Target\s+(\S+)\s*$`)
	ietConfLUN  = regexp.MustCompile(`^\s*Lun\s+(\d+)\s+(\S+)\s*$`)
)

// IETTarget is the block of a target in ietd.conf.
type IETTarget struct {
	Start, End int // lines [Start, End), the Target line included
	LUNs       map[string]int
	Used       map[int]bool
}

// ParseIETConfig finds the block of target in ietd.conf and its LUNs
// ("Lun <n> Path=<device>,Type=blockio").
func ParseIETConfig(text, target string) (IETTarget, error) {
	l := lines(text)
	t := IETTarget{Start: -1, LUNs: map[string]int{}, Used: map[int]bool{}}
	for i, line := range l {
		line = stripComment(line)
		if m := ietTargetRE.FindStringSubmatch(line); m != nil {
			if t.Start >= 0 {
				t.End = i
				return t, nil
			}
			if m[1] == target {
				t.Start, t.End = i, len(l)
			}
			continue
		}
		if t.Start < 0 {
			continue
		}
		if m := ietConfLUN.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil || n >= ietMaxLUN {
				return IETTarget{}, fmt.Errorf("ietd.conf line %d: bad LUN number in %q", i+1, l[i])
			}
			t.Used[n] = true
			for _, p := range strings.Split(m[2], ",") {
				if dev, ok := strings.CutPrefix(p, "Path="); ok {
					t.LUNs[dev] = n
				}
			}
		}
	}
	if t.Start < 0 {
		return IETTarget{}, fmt.Errorf("no Target %s in ietd.conf", target)
	}
	return t, nil
}

// IETAdd returns text with LUN n of target exporting dev.
func IETAdd(text, target string, n int, dev string) (string, error) {
	t, err := ParseIETConfig(text, target)
	if err != nil {
		return "", err
	}
	l := lines(text)
	at := t.End
	for at > t.Start+1 && strings.TrimSpace(l[at-1]) == "" {
		at--
	}
	add := fmt.Sprintf("\tLun %d Path=%s,Type=blockio", n, dev)
	out := append(append(append([]string{}, l[:at]...), add), l[at:]...)
	return join(out), nil
}

// IETRemove returns text without LUN n of target.
func IETRemove(text, target string, n int) (string, error) {
	t, err := ParseIETConfig(text, target)
	if err != nil {
		return "", err
	}
	var out []string
	for i, line := range lines(text) {
		if i > t.Start && i < t.End {
			if m := ietConfLUN.FindStringSubmatch(stripComment(line)); m != nil && m[1] == strconv.Itoa(n) {
				continue
			}
		}
		out = append(out, line)
	}
	return join(out), nil
}

// running reads the tid of the target and the LUNs it serves.
func (t *iet) running(ctx context.Context) error {
	if t.read {
		return nil
	}
	out, err := t.conf.s.remote(ctx, "cat", ietProc)
	if err != nil {
		return err
	}
	if t.tid, t.luns, err = ParseIETVolumes(out, t.conf.s.target); err != nil {
		return err
	}
	t.read = true
	return nil
}

func (t *iet) target(ctx context.Context) (IETTarget, error) {
	if err := t.conf.load(ctx); err != nil {
		return IETTarget{}, err
	}
	return ParseIETConfig(t.conf.text, t.conf.s.target)
}

func (t *iet) newLUN(ctx context.Context, n int, dev string) error {
	_, err := t.conf.s.remote(ctx, ietadm, "--op", "new", "--tid="+strconv.Itoa(t.tid), "--lun="+strconv.Itoa(n), "--params", "Path="+dev+",Type=blockio")
	return err
}

func (t *iet) delLUN(ctx context.Context, n int) error {
	_, err := t.conf.s.remote(ctx, ietadm, "--op", "delete", "--tid="+strconv.Itoa(t.tid), "--lun="+strconv.Itoa(n))
	return err
}

// createLU adds the LUN to the running target, then to ietd.conf; the
// LUN is removed again if the file cannot be written.
func (t *iet) createLU(ctx context.Context, dev string) (string, error) {
	conf, err := t.target(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := conf.LUNs[dev]; ok {
		return "", fmt.Errorf("%s is already exported as a LUN", dev)
	}
	if err := t.running(ctx); err != nil {
		return "", err
	}
	used := map[int]bool{}
	for n := range conf.Used {
		used[n] = true
	}
	for n := range t.luns {
		used[n] = true
	}
	n, err := freeLUN(used, ietMaxLUN)
	if err != nil {
		return "", err
	}
	text, err := IETAdd(t.conf.text, t.conf.s.target, n, dev)
	if err != nil {
		return "", err
	}
	if err := t.newLUN(ctx, n, dev); err != nil {
		return "", err
	}
	if err := t.conf.save(ctx, text); err != nil {
		if derr := t.delLUN(ctx, n); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing LUN %d again failed: %w", n, derr))
		}
		return "", err
	}
	t.luns[n] = true
	return dev, nil
}

// deleteLU removes the LUN from the running target and from ietd.conf.
func (t *iet) deleteLU(ctx context.Context, dev string) error {
	conf, err := t.target(ctx)
	if err != nil {
		return err
	}
	n, ok := conf.LUNs[dev]
	if !ok {
		return nil
	}
	if err := t.running(ctx); err != nil {
		return err
	}
	if t.luns[n] {
		if err := t.delLUN(ctx, n); err != nil {
			return err
		}
		delete(t.luns, n)
	}
	text, err := IETRemove(t.conf.text, t.conf.s.target, n)
	if err != nil {
		return err
	}
	return t.conf.save(ctx, text)
}

func (t *iet) importLU(ctx context.Context, dev string) error {
	_, err := t.createLU(ctx, dev)
	return err
}

// modifyLU: IET reads a device's size when the LUN is made, so the LUN
// is made again under the same number.
func (t *iet) modifyLU(ctx context.Context, dev string, _ int64) error {
	conf, err := t.target(ctx)
	if err != nil {
		return err
	}
	n, ok := conf.LUNs[dev]
	if !ok {
		return fmt.Errorf("no LUN exports %s", dev)
	}
	if err := t.running(ctx); err != nil {
		return err
	}
	if err := t.delLUN(ctx, n); err != nil {
		return err
	}
	return t.newLUN(ctx, n, dev)
}

// addView: a LUN of the target is visible.
func (t *iet) addView(context.Context, string) error { return nil }

func (t *iet) listView(ctx context.Context, dev string) (int, error) {
	conf, err := t.target(ctx)
	if err != nil {
		return 0, err
	}
	if n, ok := conf.LUNs[dev]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("no LUN exports %s", dev)
}

func (t *iet) listLU(ctx context.Context, dev string) (string, error) {
	conf, err := t.target(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := conf.LUNs[dev]; ok {
		return dev, nil
	}
	return "", nil
}
