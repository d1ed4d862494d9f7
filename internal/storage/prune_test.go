package storage

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestParseKeep(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Keep
	}{
		{"", Keep{}},
		{"keep-all=1", Keep{All: true}},
		{"keep-all=0", Keep{}},
		{"keep-last=3", Keep{Last: 3}},
		{"keep-last=3,keep-daily=7", Keep{Last: 3, Daily: 7}},
		{"keep-hourly=24,keep-daily=7,keep-weekly=4,keep-monthly=6,keep-yearly=2", Keep{Hourly: 24, Daily: 7, Weekly: 4, Monthly: 6, Yearly: 2}},
		{"keep-daily=13,keep-last=3,keep-yearly=9", Keep{Last: 3, Daily: 13, Yearly: 9}},
		{"keep-last=0", Keep{}},
	} {
		got, err := ParseKeep(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKeep(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseKeepRefusesBadSettings(t *testing.T) {
	for _, in := range []string{
		"keep-last",
		"keep-last=",
		"keep-last=x",
		"keep-last=-1",
		"keep-last=1.5",
		"keep-forever=1",
		"last=3",
		"keep-all=1,keep-last=3",
		"keep-daily=7,keep-all=1",
	} {
		if k, err := ParseKeep(in); err == nil {
			t.Errorf("ParseKeep(%q) = %+v; want an error", in, k)
		}
	}
}

func TestBackupOfReadsTheGuestFromVzdumpNames(t *testing.T) {
	for _, tc := range []struct {
		volid string
		typ   string
		vmid  int
	}{
		{"local:backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst", "qemu", 100},
		{"local:backup/vzdump-lxc-200-2024_01_31-02_00_03.tar.zst", "lxc", 200},
		{"local:backup/vzdump-openvz-300-2012_05_01-01_00_00.tgz", "openvz", 300},
		{"local:backup/my-backup.vma.zst", "", 7},
		{"local:backup/vzdump-qemu-100.vma.zst", "", 7},
	} {
		b := BackupOf(tc.volid, 7, 1700000000, true)
		if b.Type != tc.typ || b.VMID != tc.vmid || b.Volid != tc.volid || b.CTime != 1700000000 || !b.Protected {
			t.Errorf("BackupOf(%q) = %+v; want type %q, vmid %d", tc.volid, b, tc.typ, tc.vmid)
		}
	}
}

// backupAt names a vzdump archive of kind/vmid made at the wall clock
// time "2006-01-02 15:04" in loc.
func backupAt(t *testing.T, kind string, vmid int, when string, loc *time.Location) BackupInfo {
	t.Helper()
	ts, err := time.ParseInLocation("2006-01-02 15:04", when, loc)
	if err != nil {
		t.Fatal(err)
	}
	ext := "vma.zst"
	if kind != "qemu" {
		ext = "tar.zst"
	}
	volid := fmt.Sprintf("local:backup/vzdump-%s-%d-%s.%s", kind, vmid, ts.Format("2006_01_02-15_04_05"), ext)
	return BackupOf(volid, 0, ts.Unix(), false)
}

func TestMark(t *testing.T) {
	utc := time.UTC
	type bk struct {
		when string
		mark string
	}
	for _, tc := range []struct {
		about   string
		keep    string
		loc     *time.Location
		backups []bk // of qemu 100
	}{
		{"keep-last keeps the newest", "keep-last=3", utc, []bk{
			{"2024-03-05 02:00", MarkKeep},
			{"2024-03-04 02:00", MarkKeep},
			{"2024-03-03 02:00", MarkKeep},
			{"2024-03-02 02:00", MarkRemove},
			{"2024-03-01 02:00", MarkRemove},
		}},
		{"keep-last with fewer backups than the limit", "keep-last=5", utc, []bk{
			{"2024-03-02 02:00", MarkKeep},
			{"2024-03-01 02:00", MarkKeep},
		}},
		{"keep-daily keeps only the newest of each day", "keep-daily=2", utc, []bk{
			{"2024-03-03 12:00", MarkKeep},
			{"2024-03-02 09:00", MarkKeep},
			{"2024-03-02 08:00", MarkRemove},
			{"2024-03-01 20:00", MarkRemove},
			{"2024-03-01 10:00", MarkRemove},
		}},
		{"keep-daily counts days with backups, not calendar days", "keep-daily=2", utc, []bk{
			{"2024-03-10 02:00", MarkKeep},
			{"2024-03-01 02:00", MarkKeep},
			{"2024-02-01 02:00", MarkRemove},
		}},
		{"keep-hourly", "keep-hourly=2", utc, []bk{
			{"2024-03-01 10:45", MarkKeep},
			{"2024-03-01 10:15", MarkRemove},
			{"2024-03-01 09:30", MarkKeep},
			{"2024-03-01 08:30", MarkRemove},
		}},
		{"keep-daily only considers backups older than those keep-last kept", "keep-last=2,keep-daily=2", utc, []bk{
			{"2024-03-04 18:00", MarkKeep}, // last
			{"2024-03-04 12:00", MarkKeep}, // last
			{"2024-03-03 12:00", MarkKeep}, // daily
			{"2024-03-02 12:00", MarkKeep}, // daily
			{"2024-03-01 12:00", MarkRemove},
		}},
		{"keep-daily skips days keep-last covered", "keep-last=2,keep-daily=2", utc, []bk{
			{"2024-03-04 18:00", MarkKeep}, // last
			{"2024-03-03 18:00", MarkKeep}, // last
			{"2024-03-03 12:00", MarkRemove},
			{"2024-03-02 12:00", MarkKeep}, // daily
			{"2024-03-01 12:00", MarkKeep}, // daily
			{"2024-02-29 12:00", MarkRemove},
		}},
		// 2019-12-30 is in ISO week 1 of 2020, 2021-01-03 in week 53 of
		// 2020: a week of calendar year and week number would split them.
		{"keep-weekly uses ISO weeks across years", "keep-weekly=3", utc, []bk{
			{"2021-01-04 12:00", MarkKeep},   // 2021-W01
			{"2021-01-03 12:00", MarkKeep},   // 2020-W53
			{"2020-12-31 12:00", MarkRemove}, // 2020-W53
			{"2019-12-30 12:00", MarkKeep},   // 2020-W01
			{"2019-12-29 12:00", MarkRemove}, // 2019-W52
		}},
		{"keep-weekly: a week runs Monday to Sunday", "keep-weekly=2", utc, []bk{
			{"2024-03-11 01:00", MarkKeep},   // Monday
			{"2024-03-10 23:00", MarkKeep},   // Sunday before
			{"2024-03-04 00:30", MarkRemove}, // Monday of that week
		}},
		{"keep-monthly", "keep-monthly=2", utc, []bk{
			{"2024-03-01 02:00", MarkKeep},
			{"2024-02-29 02:00", MarkKeep},
			{"2024-02-01 02:00", MarkRemove},
			{"2024-01-31 02:00", MarkRemove},
		}},
		{"keep-yearly", "keep-yearly=2", utc, []bk{
			{"2024-01-01 00:10", MarkKeep},
			{"2023-12-31 23:50", MarkKeep},
			{"2023-01-01 00:10", MarkRemove},
			{"2022-06-01 00:00", MarkRemove},
		}},
		{"every rule in order", "keep-last=1,keep-daily=1,keep-weekly=1,keep-monthly=1,keep-yearly=1", utc, []bk{
			{"2024-03-13 20:00", MarkKeep},   // last (Wednesday)
			{"2024-03-13 10:00", MarkRemove}, // day covered by last
			{"2024-03-12 10:00", MarkKeep},   // daily
			{"2024-03-11 10:00", MarkRemove}, // week 11 covered
			{"2024-03-08 10:00", MarkKeep},   // weekly (week 10)
			{"2024-03-01 10:00", MarkRemove}, // March covered
			{"2024-02-20 10:00", MarkKeep},   // monthly
			{"2024-01-20 10:00", MarkRemove}, // 2024 covered
			{"2023-05-01 10:00", MarkKeep},   // yearly
			{"2022-05-01 10:00", MarkRemove},
		}},
		// Periods are those of the node's time zone: at +02:00 both of
		// these are on 2 March.
		{"days in the given time zone", "keep-daily=2", time.FixedZone("CEST", 2*3600), []bk{
			{"2024-03-02 12:00", MarkKeep},
			{"2024-03-02 01:30", MarkRemove},
			{"2024-03-01 14:00", MarkKeep},
		}},
		{"no rules keep everything", "", utc, []bk{
			{"2024-03-02 02:00", MarkKeep},
			{"2024-03-01 02:00", MarkKeep},
		}},
		{"keep-all", "keep-all=1", utc, []bk{
			{"2024-03-02 02:00", MarkKeep},
			{"2024-03-01 02:00", MarkKeep},
			{"2020-03-01 02:00", MarkKeep},
		}},
	} {
		keep, err := ParseKeep(tc.keep)
		if err != nil {
			t.Fatalf("%s: %v", tc.about, err)
		}
		var in []BackupInfo
		want := map[string]string{}
		// Hand them over oldest first: Mark must not rely on the order.
		for _, b := range slices.Backward(tc.backups) {
			info := backupAt(t, "qemu", 100, b.when, tc.loc)
			in = append(in, info)
			want[info.Volid] = b.mark
		}
		got := Mark(in, keep, tc.loc)
		if !maps.Equal(got, want) {
			t.Errorf("%s:", tc.about)
			for _, b := range tc.backups {
				v := backupAt(t, "qemu", 100, b.when, tc.loc).Volid
				t.Errorf("  %s: %s, want %s", b.when, got[v], want[v])
			}
		}
	}
}

func TestMarkKeepsProtectedBackupsWithoutCountingThem(t *testing.T) {
	b := []BackupInfo{
		backupAt(t, "qemu", 100, "2024-03-04 02:00", time.UTC),
		backupAt(t, "qemu", 100, "2024-03-03 02:00", time.UTC),
		backupAt(t, "qemu", 100, "2024-03-02 02:00", time.UTC),
		backupAt(t, "qemu", 100, "2024-03-01 02:00", time.UTC),
	}
	b[0].Protected = true
	b[3].Protected = true
	for _, setting := range []string{"keep-last=2", "keep-daily=2"} {
		keep, _ := ParseKeep(setting)
		got := Mark(slices.Clone(b), keep, time.UTC)
		want := map[string]string{b[0].Volid: MarkProtected, b[1].Volid: MarkKeep, b[2].Volid: MarkKeep, b[3].Volid: MarkProtected}
		if !maps.Equal(got, want) {
			t.Errorf("%s: got %v\nwant %v", setting, got, want)
		}
	}
	keep, _ := ParseKeep("keep-last=1")
	got := Mark(slices.Clone(b), keep, time.UTC)
	want := map[string]string{b[0].Volid: MarkProtected, b[1].Volid: MarkKeep, b[2].Volid: MarkRemove, b[3].Volid: MarkProtected}
	if !maps.Equal(got, want) {
		t.Errorf("keep-last=1: got %v\nwant %v", got, want)
	}
	for _, setting := range []string{"keep-all=1", ""} {
		keep, _ := ParseKeep(setting)
		got := Mark(slices.Clone(b), keep, time.UTC)
		want := map[string]string{b[0].Volid: MarkProtected, b[1].Volid: MarkKeep, b[2].Volid: MarkKeep, b[3].Volid: MarkProtected}
		if !maps.Equal(got, want) {
			t.Errorf("%q: got %v\nwant %v", setting, got, want)
		}
	}
}

func TestMarkLeavesRenamedArchivesAlone(t *testing.T) {
	renamed := BackupOf("local:backup/before-upgrade.vma.zst", 100, time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC).Unix(), false)
	protected := BackupOf("local:backup/golden-image.vma.zst", 100, time.Date(2024, 3, 6, 0, 0, 0, 0, time.UTC).Unix(), true)
	older := backupAt(t, "qemu", 100, "2024-03-01 02:00", time.UTC)
	oldest := backupAt(t, "qemu", 100, "2024-02-01 02:00", time.UTC)
	keep, _ := ParseKeep("keep-last=1")
	got := Mark([]BackupInfo{renamed, protected, older, oldest}, keep, time.UTC)
	want := map[string]string{
		renamed.Volid: MarkRenamed,
		// Protection wins over the name, as in Proxmox VE.
		protected.Volid: MarkProtected,
		// The renamed archives are newer but do not take keep-last's slot.
		older.Volid:  MarkKeep,
		oldest.Volid: MarkRemove,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestMarkPrunesEachGuestSeparately(t *testing.T) {
	var in []BackupInfo
	want := map[string]string{}
	for _, g := range []struct {
		kind string
		vmid int
	}{{"qemu", 100}, {"qemu", 101}, {"lxc", 100}, {"qemu", 1000}} {
		newer := backupAt(t, g.kind, g.vmid, "2024-03-02 02:00", time.UTC)
		older := backupAt(t, g.kind, g.vmid, "2024-03-01 02:00", time.UTC)
		in = append(in, older, newer)
		want[newer.Volid] = MarkKeep
		want[older.Volid] = MarkRemove
	}
	keep, _ := ParseKeep("keep-last=1")
	if got := Mark(in, keep, time.UTC); !maps.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func FuzzParseKeep(f *testing.F) {
	for _, s := range []string{"keep-last=3,keep-daily=7", "keep-all=1", "keep-all=1,keep-last=1", "keep-last=-1", "keep-weekly=99999999999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeep(s)
		if err != nil {
			return
		}
		if k.Last < 0 || k.Hourly < 0 || k.Daily < 0 || k.Weekly < 0 || k.Monthly < 0 || k.Yearly < 0 {
			t.Fatalf("%q gave negative counts %+v", s, k)
		}
		if k.All && k.Last+k.Hourly+k.Daily+k.Weekly+k.Monthly+k.Yearly > 0 {
			t.Fatalf("%q: keep-all together with other rules: %+v", s, k)
		}
	})
}
