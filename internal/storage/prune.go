package storage

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Keep is a prune-backups setting: how many backups of each kind of
// period to keep. Zero means the rule is off.
type Keep struct {
	All                                          bool
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
}

// ParseKeep reads a prune-backups property string such as
// "keep-last=3,keep-daily=7".
func ParseKeep(s string) (Keep, error) {
	var k Keep
	if err := checkKeepAll(s); err != nil {
		return k, err
	}
	for _, part := range splitList(s) {
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return k, fmt.Errorf("%q is not key=value", part)
		}
		if key == "keep-all" {
			k.All = val == "1"
			continue
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return k, fmt.Errorf("%s must be a positive number, not %q", key, val)
		}
		switch key {
		case "keep-last":
			k.Last = n
		case "keep-hourly":
			k.Hourly = n
		case "keep-daily":
			k.Daily = n
		case "keep-weekly":
			k.Weekly = n
		case "keep-monthly":
			k.Monthly = n
		case "keep-yearly":
			k.Yearly = n
		default:
			return k, fmt.Errorf("unknown option %q (keep-all, keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly)", key)
		}
	}
	return k, nil
}

// checkKeepAll refuses keep-all=1 together with other rules, which would
// be meaningless.
func checkKeepAll(s string) error {
	parts := splitList(s)
	if slices.Contains(parts, "keep-all=1") && len(parts) > 1 {
		return errors.New("keep-all=1 keeps every backup; it cannot be combined with other keep options")
	}
	return nil
}

func (k Keep) keepsEverything() bool {
	return k.All || k.Last+k.Hourly+k.Daily+k.Weekly+k.Monthly+k.Yearly == 0
}

// BackupInfo is a backup archive as pruning sees it.
type BackupInfo struct {
	Volid     string
	Type      string // qemu, lxc, openvz; "" for names vzdump did not write
	VMID      int
	CTime     int64
	Protected bool
}

// Marks pruning gives.
const (
	MarkKeep      = "keep"
	MarkRemove    = "remove"
	MarkProtected = "protected"
	MarkRenamed   = "renamed" // not named as vzdump names archives; never touched
)

var vzdumpNameRE = regexp.MustCompile(`(?:^|/)vzdump-(qemu|lxc|openvz)-(\d+)-\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}\.`)

// BackupOf reads a backup's guest type and id from its vzdump name.
func BackupOf(volid string, vmid int, ctime int64, protected bool) BackupInfo {
	b := BackupInfo{Volid: volid, VMID: vmid, CTime: ctime, Protected: protected}
	if m := vzdumpNameRE.FindStringSubmatch(volid); m != nil {
		b.Type = m[1]
		b.VMID, _ = strconv.Atoi(m[2])
	}
	return b
}

// Mark decides which backups pruning keeps, per guest: each rule keeps the
// newest backup of each of its most recent periods that is not already
// kept by an earlier rule (last, then hourly, daily, weekly, monthly,
// yearly), as Proxmox VE does; protected backups are kept and do not
// count. Periods are in loc (the node's time zone). The result maps
// volume ids to marks.
func Mark(backups []BackupInfo, k Keep, loc *time.Location) map[string]string {
	marks := map[string]string{}
	groups := map[string][]BackupInfo{}
	var order []string
	for _, b := range backups {
		if b.Type == "" {
			// As in Proxmox VE, protection shows over the odd name.
			marks[b.Volid] = MarkRenamed
			if b.Protected {
				marks[b.Volid] = MarkProtected
			}
			continue
		}
		g := b.Type + "/" + strconv.Itoa(b.VMID)
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], b)
	}
	for _, g := range order {
		markGroup(groups[g], k, loc, marks)
	}
	return marks
}

func markGroup(group []BackupInfo, k Keep, loc *time.Location, marks map[string]string) {
	slices.SortStableFunc(group, func(a, b BackupInfo) int { return int(b.CTime - a.CTime) })
	for _, b := range group {
		switch {
		case b.Protected:
			marks[b.Volid] = MarkProtected
		case k.keepsEverything():
			marks[b.Volid] = MarkKeep
		}
	}
	if k.keepsEverything() {
		return
	}
	rules := []struct {
		n      int
		period func(t time.Time) string
	}{
		{k.Last, func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }},
		{k.Hourly, func(t time.Time) string { return t.Format("2006/01/02/15") }},
		{k.Daily, func(t time.Time) string { return t.Format("2006/01/02") }},
		{k.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d/%d", y, w) }},
		{k.Monthly, func(t time.Time) string { return t.Format("2006/01") }},
		{k.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
	for _, r := range rules {
		if r.n == 0 {
			continue
		}
		period := func(b BackupInfo) string { return r.period(time.Unix(b.CTime, 0).In(loc)) }
		covered := map[string]bool{}
		for _, b := range group {
			if marks[b.Volid] == MarkKeep {
				covered[period(b)] = true
			}
		}
		kept := map[string]bool{}
		for _, b := range group {
			p := period(b)
			if marks[b.Volid] != "" || covered[p] {
				continue
			}
			if kept[p] {
				marks[b.Volid] = MarkRemove
				continue
			}
			if len(kept) >= r.n {
				break
			}
			kept[p] = true
			marks[b.Volid] = MarkKeep
		}
	}
	for _, b := range group {
		if marks[b.Volid] == "" {
			marks[b.Volid] = MarkRemove
		}
	}
}
