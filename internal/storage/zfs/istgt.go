package zfs

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// istgt drives the istgt target of FreeBSD and NAS4Free. It has no
// command to add LUNs: they are lines of its configuration file
// ("LUN<n> Storage <device> Auto" in the [LogicalUnit…] section of the
// target), and the daemon reloads the file.
type istgt struct {
	conf confFile
}

// The places of istgt.conf and, at the same index, the rc script that
// reloads the daemon (FreeBSD and FreeNAS, then NAS4Free).
var (
	istgtConfigs = []string{"/usr/local/etc/istgt/istgt.conf", "/var/etc/iscsi/istgt.conf"}
	istgtDaemons = []string{"/usr/local/etc/rc.d/istgt", "/var/etc/rc.d/istgt"}
)

// istgtMaxLUN: istgt serves LUN0 to LUN63 in a logical unit.
const istgtMaxLUN = 64

func newIstgt(s *Storage) *istgt {
	return &istgt{conf: confFile{s: s, places: istgtConfigs}}
}

var (
	sectionRE   = regexp.MustCompile(`^\s*\[([^\]]+)\]\s*$`)
	istgtLUNRE  = regexp.MustCompile(`^(\s*)LUN(\d+)\s+(\S+)\s*(.*)$`)
	istgtNameRE = regexp.MustCompile(`^\s*(TargetName|NodeBase)\s+"?([^"\s]+)"?\s*$`)
)

// IstgtUnit is the logical unit of a target in istgt.conf: the lines it
// spans and its LUNs by device.
type IstgtUnit struct {
	Start, End int            // lines [Start, End) of the section, header included
	Indent     string         // the indentation of its entries
	LUNs       map[string]int // device → LUN number
	Used       map[int]bool   // every LUN number with a line
}

// ParseIstgt finds the [LogicalUnit…] section whose TargetName is target,
// written in full or relative to the NodeBase of [Global].
func ParseIstgt(text, target string) (IstgtUnit, error) {
	l := lines(text)
	type section struct {
		name       string
		start, end int
	}
	var secs []section
	for i, line := range l {
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			if len(secs) > 0 {
				secs[len(secs)-1].end = i
			}
			secs = append(secs, section{name: m[1], start: i, end: len(l)})
		}
	}
	value := func(sec section, key string) (string, int) {
		for i := sec.start + 1; i < sec.end; i++ {
			if m := istgtNameRE.FindStringSubmatch(stripComment(l[i])); m != nil && m[1] == key {
				return m[2], i
			}
		}
		return "", -1
	}
	nodeBase := ""
	for _, sec := range secs {
		if sec.name == "Global" {
			nodeBase, _ = value(sec, "NodeBase")
		}
	}
	for _, sec := range secs {
		if !strings.HasPrefix(sec.name, "LogicalUnit") {
			continue
		}
		name, at := value(sec, "TargetName")
		if name == "" || (name != target && (nodeBase == "" || nodeBase+":"+name != target)) {
			continue
		}
		u := IstgtUnit{Start: sec.start, End: sec.end, LUNs: map[string]int{}, Used: map[int]bool{}}
		u.Indent = l[at][:len(l[at])-len(strings.TrimLeft(l[at], " \t"))]
		for i := sec.start + 1; i < sec.end; i++ {
			m := istgtLUNRE.FindStringSubmatch(stripComment(l[i]))
			if m == nil {
				continue
			}
			n, err := strconv.Atoi(m[2])
			if err != nil || n >= istgtMaxLUN {
				return IstgtUnit{}, fmt.Errorf("istgt.conf line %d: bad LUN number in %q", i+1, l[i])
			}
			u.Used[n] = true
			if m[3] == "Storage" {
				if f := strings.Fields(m[4]); len(f) > 0 {
					u.LUNs[f[0]] = n
				}
			}
		}
		return u, nil
	}
	return IstgtUnit{}, fmt.Errorf("no logical unit with TargetName %s in istgt.conf", target)
}

func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// IstgtAdd returns text with LUN n of the target's unit exporting dev.
func IstgtAdd(text, target string, n int, dev string, nowritecache bool) (string, error) {
	u, err := ParseIstgt(text, target)
	if err != nil {
		return "", err
	}
	l := lines(text)
	at := u.End
	for at > u.Start+1 && strings.TrimSpace(l[at-1]) == "" {
		at-- // before the blank lines that end the section
	}
	add := []string{fmt.Sprintf("%sLUN%d Storage %s Auto", u.Indent, n, dev)}
	if nowritecache {
		add = append(add, fmt.Sprintf("%sLUN%d Option WriteCache Disable", u.Indent, n))
	}
	out := append(append(append([]string{}, l[:at]...), add...), l[at:]...)
	return join(out), nil
}

// IstgtRemove returns text without the lines of LUN n of the target's unit.
func IstgtRemove(text, target string, n int) (string, error) {
	u, err := ParseIstgt(text, target)
	if err != nil {
		return "", err
	}
	l := lines(text)
	var out []string
	for i, line := range l {
		if i > u.Start && i < u.End {
			if m := istgtLUNRE.FindStringSubmatch(stripComment(line)); m != nil && m[2] == strconv.Itoa(n) {
				continue
			}
		}
		out = append(out, line)
	}
	return join(out), nil
}

func (t *istgt) unit(ctx context.Context) (IstgtUnit, error) {
	if err := t.conf.load(ctx); err != nil {
		return IstgtUnit{}, err
	}
	return ParseIstgt(t.conf.text, t.conf.s.target)
}

// reload makes the daemon read its configuration again.
func (t *istgt) reload(ctx context.Context) error {
	daemon := istgtDaemons[0]
	for i, p := range istgtConfigs {
		if p == t.conf.path {
			daemon = istgtDaemons[i]
		}
	}
	_, err := t.conf.s.remote(ctx, daemon, "onereload")
	return err
}

// change writes an edited configuration and reloads the daemon.
func (t *istgt) change(ctx context.Context, text string) error {
	if err := t.conf.save(ctx, text); err != nil {
		return err
	}
	return t.reload(ctx)
}

func (t *istgt) createLU(ctx context.Context, dev string) (string, error) {
	u, err := t.unit(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := u.LUNs[dev]; ok {
		return "", fmt.Errorf("%s is already exported as a LUN", dev)
	}
	n, err := freeLUN(u.Used, istgtMaxLUN)
	if err != nil {
		return "", err
	}
	text, err := IstgtAdd(t.conf.text, t.conf.s.target, n, dev, t.conf.s.nowritecache)
	if err == nil {
		err = t.change(ctx, text)
	}
	if err != nil {
		return "", err
	}
	return dev, nil
}

func (t *istgt) deleteLU(ctx context.Context, dev string) error {
	u, err := t.unit(ctx)
	if err != nil {
		return err
	}
	n, ok := u.LUNs[dev]
	if !ok {
		return nil
	}
	text, err := IstgtRemove(t.conf.text, t.conf.s.target, n)
	if err != nil {
		return err
	}
	return t.change(ctx, text)
}

func (t *istgt) importLU(ctx context.Context, dev string) error {
	_, err := t.createLU(ctx, dev)
	return err
}

// modifyLU: the LUN's size is "Auto"; a reload makes istgt read it.
func (t *istgt) modifyLU(ctx context.Context, _ string, _ int64) error {
	if err := t.conf.load(ctx); err != nil {
		return err
	}
	return t.reload(ctx)
}

// addView: a LUN in the configuration is visible.
func (t *istgt) addView(context.Context, string) error { return nil }

func (t *istgt) listView(ctx context.Context, dev string) (int, error) {
	u, err := t.unit(ctx)
	if err != nil {
		return 0, err
	}
	if n, ok := u.LUNs[dev]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("no LUN exports %s", dev)
}

func (t *istgt) listLU(ctx context.Context, dev string) (string, error) {
	u, err := t.unit(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := u.LUNs[dev]; ok {
		return dev, nil
	}
	return "", nil
}
