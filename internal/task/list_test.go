package task

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hearth-virt/hearth/api"
)

func TestListFilters(t *testing.T) {
	dir := t.TempDir()
	// A task a previous daemon left running: Open ends it as "unknown".
	lost := UPID{Node: testNode, PID: 7, PStart: 9, StartTime: 1005, Type: "qmstart", ID: "102", User: "bob@pve"}
	if err := os.WriteFile(filepath.Join(dir, "active"), []byte(lost.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newClock(1000)
	cfg := testConfig(t, dir)
	cfg.Now = clk.Now
	r := openRunner(t, cfg)

	for _, tc := range []struct {
		start int64
		user  string
		task  api.Task
	}{
		{1000, "root@pam", ok("qmstart", "100")},
		{1010, "alice@pve", fail("qmstop", "100", "boom")},
		{1020, "root@pam", warn("vzdump", "101")},
		{1030, "Alice@PVE!tok", ok("qmstart", "101")},
		{1040, "root@pam", ok("aptupdate", "")},
	} {
		clk.Set(tc.start)
		mustRun(t, r, tc.user, tc.task)
	}
	clk.Set(1050)
	g := newGate()
	mustStart(t, r, "root@pam", g.task("qmstart", "100"))
	<-g.started
	t.Cleanup(func() { g.release <- nil })

	tests := []struct {
		name      string
		f         Filter
		want      []int64 // start times, in order
		wantTotal int     // -1: len(want)
	}{
		{"default is the archive, newest first", Filter{}, []int64{1040, 1030, 1020, 1010, 1005, 1000}, -1},
		{"limit", Filter{Limit: 2}, []int64{1040, 1030}, 6},
		{"start", Filter{Start: 4}, []int64{1005, 1000}, 6},
		{"start and limit", Filter{Start: 1, Limit: 2}, []int64{1030, 1020}, 6},
		{"start past the end", Filter{Start: 10}, nil, 6},
		{"no limit", Filter{Limit: -1}, []int64{1040, 1030, 1020, 1010, 1005, 1000}, -1},
		{"vmid", Filter{VMID: 100}, []int64{1010, 1000}, -1},
		{"vmid other", Filter{VMID: 101}, []int64{1030, 1020}, -1},
		{"type is exact", Filter{TypeFilter: "qmstart"}, []int64{1030, 1005, 1000}, -1},
		{"type prefix matches nothing", Filter{TypeFilter: "qm"}, nil, -1},
		{"user substring ignoring case", Filter{UserFilter: "alice"}, []int64{1030, 1010}, -1},
		{"user realm", Filter{UserFilter: "@pam"}, []int64{1040, 1020, 1000}, -1},
		{"errors", Filter{Errors: true}, []int64{1020, 1010, 1005}, -1},
		{"errors overrides status filter", Filter{Errors: true, StatusFilter: []string{"ok"}}, []int64{1020, 1010, 1005}, -1},
		{"status ok", Filter{StatusFilter: []string{"ok"}}, []int64{1040, 1030, 1000}, -1},
		{"status upper case", Filter{StatusFilter: []string{"OK"}}, []int64{1040, 1030, 1000}, -1},
		{"status warning and error", Filter{StatusFilter: []string{"warning", "error"}}, []int64{1020, 1010}, -1},
		{"status unknown", Filter{StatusFilter: []string{"unknown"}}, []int64{1005}, -1},
		{"since and until inclusive", Filter{Since: 1010, Until: 1030}, []int64{1030, 1020, 1010}, -1},
		{"since", Filter{Since: 1031}, []int64{1040}, -1},
		{"until", Filter{Until: 1004}, []int64{1000}, -1},
		{"active", Filter{Source: SourceActive}, []int64{1050}, -1},
		{"all", Filter{Source: SourceAll}, []int64{1050, 1040, 1030, 1020, 1010, 1005, 1000}, -1},
		{"all with errors keeps running", Filter{Source: SourceAll, Errors: true}, []int64{1050, 1020, 1010, 1005}, -1},
		{"all with status filter drops running", Filter{Source: SourceAll, StatusFilter: []string{"ok"}}, []int64{1040, 1030, 1000}, -1},
		{"status running", Filter{Source: SourceAll, StatusFilter: []string{"ok", "running"}}, []int64{1050, 1040, 1030, 1000}, -1},
		{"combined", Filter{Source: SourceAll, VMID: 100, TypeFilter: "qmstart", UserFilter: "ROOT"}, []int64{1050, 1000}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			items, total := r.List(tt.f)
			var got []int64
			for _, it := range items {
				got = append(got, it.StartTime)
			}
			wantTotal := tt.wantTotal
			if wantTotal < 0 {
				wantTotal = len(tt.want)
			}
			if !reflect.DeepEqual(got, tt.want) || total != wantTotal {
				t.Fatalf("List = %v (total %d), want %v (total %d)", got, total, tt.want, wantTotal)
			}
			if items == nil {
				t.Fatal("items is nil, want an empty slice (JSON [])")
			}
		})
	}

	items, _ := r.List(Filter{StatusFilter: []string{"unknown"}})
	if len(items) != 1 || items[0].UPID != lost.String() || items[0].Status != ExitDaemonLost {
		t.Fatalf("recovered task in list: %+v", items)
	}
}

func TestListSameSecondOrder(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Now = newClock(5000).Now
	r := openRunner(t, cfg)
	var started []string
	for range 5 {
		started = append(started, mustRun(t, r, "root@pam", ok("t", "")).UPID)
	}
	items, _ := r.List(Filter{})
	for i, it := range items {
		if want := started[len(started)-1-i]; it.UPID != want {
			t.Fatalf("item %d is %s, want %s (newest first)", i, it.UPID, want)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name  string
		f     Filter
		valid bool
	}{
		{"zero", Filter{}, true},
		{"sources", Filter{Source: SourceAll}, true},
		{"bad source", Filter{Source: "running"}, false},
		{"negative start", Filter{Start: -1}, false},
		{"bad status", Filter{StatusFilter: []string{"ok", "fine"}}, false},
		{"running status", Filter{StatusFilter: []string{"Running"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); (err == nil) != tt.valid {
				t.Fatalf("Validate = %v, want valid=%v", err, tt.valid)
			}
		})
	}
}

func TestParseStatusFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"ok", []string{"ok"}, false},
		{"OK,Warning; error  unknown", []string{"ok", "warning", "error", "unknown"}, false},
		{",ok,", []string{"ok"}, false},
		{"ok,bad", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseStatusFilter(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseStatusFilter(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestOutcome(t *testing.T) {
	tests := map[string]string{
		"":                   OutcomeRunning,
		ListRunning:          OutcomeRunning,
		"OK":                 OutcomeOK,
		"WARNINGS: 3":        OutcomeWarning,
		"WARNINGS: x":        OutcomeError,
		ExitDaemonLost:       OutcomeUnknown,
		"unexpected status":  OutcomeUnknown,
		"command failed":     OutcomeError,
		ExitStopped:          OutcomeError,
		ExitShutdown:         OutcomeError,
		"ok":                 OutcomeError,
		"TASK OK":            OutcomeError,
		"WARNINGS: 3 extra":  OutcomeError,
		"error: WARNINGS: 3": OutcomeError,
	}
	for in, want := range tests {
		if got := Outcome(in); got != want {
			t.Errorf("Outcome(%q) = %q, want %q", in, got, want)
		}
	}
}
