package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
)

func TestTaskLifecycle(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	clk := newClock(0x65A1B2C3)
	cfg.Now = clk.Now
	r := openRunner(t, cfg)

	g := newGate()
	u, err := r.Start("root@pam", api.Task{Type: "qmstart", ID: "100", Run: func(ctx context.Context, l api.TaskLog) error {
		l.Printf("starting VM %d\nwith two lines\n", 100)
		return g.task("", "").Run(ctx, l)
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := UPID{Node: testNode, PID: 0x4242, PStart: 0x1000, StartTime: 0x65A1B2C3, Type: "qmstart", ID: "100", User: "root@pam"}
	if u != want {
		t.Fatalf("Start = %+v, want %+v", u, want)
	}
	upid := u.String()
	if upid != "UPID:pve1:00004242:00001000:65A1B2C3:qmstart:100:root@pam:" {
		t.Fatalf("UPID %s", upid)
	}
	<-g.started

	st, err := r.Status(upid)
	if err != nil {
		t.Fatal(err)
	}
	wantSt := Status{UPID: upid, Node: testNode, PID: 0x4242, PStart: 0x1000, StartTime: 0x65A1B2C3,
		Type: "qmstart", ID: "100", User: "root@pam", Status: StateRunning}
	if st != wantSt {
		t.Fatalf("running Status = %+v, want %+v", st, wantSt)
	}
	active, err := os.ReadFile(filepath.Join(dir, "active"))
	if err != nil || string(active) != upid+"\n" {
		t.Fatalf("active file = %q, %v", active, err)
	}
	if items, total := r.List(Filter{Source: SourceActive}); total != 1 || items[0].Status != ListRunning || items[0].EndTime != 0 {
		t.Fatalf("active list = %+v, %d", items, total)
	}
	if _, total := r.List(Filter{}); total != 0 {
		t.Fatalf("archive has %d tasks while the only one runs", total)
	}

	clk.Set(0x65A1B2C3 + 5)
	g.release <- nil
	st, err = r.Wait(context.Background(), upid)
	if err != nil {
		t.Fatal(err)
	}
	wantSt.Status, wantSt.ExitStatus = StateStopped, ExitOK
	if st != wantSt {
		t.Fatalf("final Status = %+v, want %+v", st, wantSt)
	}

	lines, total, err := r.ReadLog(upid, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := []LogLine{{N: 1, T: "starting VM 100"}, {N: 2, T: "with two lines"}, {N: 3, T: "waiting"}, {N: 4, T: "TASK OK"}}
	if total != 4 || !reflect.DeepEqual(lines, wantLines) {
		t.Fatalf("ReadLog = %+v (total %d), want %+v", lines, total, wantLines)
	}
	if _, err := os.Stat(filepath.Join(dir, "3", upid)); err != nil {
		t.Errorf("log not in subdirectory of the last starttime digit: %v", err)
	}

	index, err := os.ReadFile(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	if want := upid + " 65A1B2C8 OK\n"; string(index) != want {
		t.Errorf("index = %q, want %q", index, want)
	}
	if active, _ := os.ReadFile(filepath.Join(dir, "active")); len(active) != 0 {
		t.Errorf("active file still lists %q", active)
	}
	items, total := r.List(Filter{})
	wantItem := ListEntry{UPID: upid, Node: testNode, PID: 0x4242, PStart: 0x1000, StartTime: 0x65A1B2C3,
		Type: "qmstart", ID: "100", User: "root@pam", EndTime: 0x65A1B2C8, Status: "OK"}
	if total != 1 || len(items) != 1 || items[0] != wantItem {
		t.Fatalf("List = %+v (total %d), want %+v", items, total, wantItem)
	}
}

func TestJSONShape(t *testing.T) {
	keys := func(v any) []string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"pid", "pstart", "starttime", "endtime"} {
			if v, ok := m[k]; ok {
				if _, num := v.(float64); !num {
					t.Errorf("%s is %T, want a JSON number", k, v)
				}
			}
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	base := []string{"id", "node", "pid", "pstart", "starttime", "status", "type", "upid", "user"}
	tests := []struct {
		name string
		v    any
		want []string
	}{
		{"running status", Status{Status: StateRunning}, base},
		{"stopped status", Status{Status: StateStopped, ExitStatus: "OK"}, append(slices.Clone(base), "exitstatus")},
		{"finished list entry", ListEntry{EndTime: 5, Status: "OK"}, append(slices.Clone(base), "endtime")},
		{"running list entry", ListEntry{Status: ListRunning}, base},
		{"log line", LogLine{N: 1, T: "x"}, []string{"n", "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Sorted(slices.Values(tt.want))
			if got := keys(tt.v); !reflect.DeepEqual(got, want) {
				t.Errorf("keys %v, want %v", got, want)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	r := newRunner(t)
	tests := []struct {
		name      string
		run       func(context.Context, api.TaskLog) error
		wantExit  string
		wantFinal string
	}{
		{"ok", func(context.Context, api.TaskLog) error { return nil }, "OK", "TASK OK"},
		{"warnings", func(_ context.Context, l api.TaskLog) error {
			l.Warnf("first")
			l.Printf("between")
			l.Warnf("second\nspans two lines")
			return nil
		}, "WARNINGS: 2", "TASK WARNINGS: 2"},
		{"error", func(context.Context, api.TaskLog) error {
			return errors.New("storage 'local' is full")
		}, "storage 'local' is full", "TASK ERROR: storage 'local' is full"},
		{"error beats warnings", func(_ context.Context, l api.TaskLog) error {
			l.Warnf("careful")
			return errors.New("failed")
		}, "failed", "TASK ERROR: failed"},
		{"multi-line error", func(context.Context, api.TaskLog) error {
			return errors.New("command failed:\n  exit code 1\n")
		}, "command failed: exit code 1", "TASK ERROR: command failed: exit code 1"},
		{"error reading as OK", func(context.Context, api.TaskLog) error {
			return errors.New("OK")
		}, "error: OK", "TASK ERROR: error: OK"},
		{"error reading as warnings", func(context.Context, api.TaskLog) error {
			return errors.New("WARNINGS: 3")
		}, "error: WARNINGS: 3", "TASK ERROR: error: WARNINGS: 3"},
		{"empty error", func(context.Context, api.TaskLog) error {
			return errors.New(" \n")
		}, "task failed without an error message", "TASK ERROR: task failed without an error message"},
		{"panic", func(context.Context, api.TaskLog) error {
			panic("boom")
		}, "internal error: task panicked: boom", "TASK ERROR: internal error: task panicked: boom"},
		{"panic with an error", func(context.Context, api.TaskLog) error {
			panic(fmt.Errorf("decoding config: %w", io.ErrUnexpectedEOF))
		}, "internal error: task panicked: decoding config: unexpected EOF", "TASK ERROR: internal error: task panicked: decoding config: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mustRun(t, r, "root@pam", fn("test", "", tt.run))
			if st.Status != StateStopped || st.ExitStatus != tt.wantExit {
				t.Fatalf("Status = %q/%q, want stopped/%q", st.Status, st.ExitStatus, tt.wantExit)
			}
			lines := logText(t, r, st.UPID)
			if last := lines[len(lines)-1]; last != tt.wantFinal {
				t.Errorf("last log line %q, want %q", last, tt.wantFinal)
			}
			items, _ := r.List(Filter{Limit: 1})
			if items[0].UPID != st.UPID || items[0].Status != tt.wantExit {
				t.Errorf("List newest = %+v, want %s with status %q", items[0], st.UPID, tt.wantExit)
			}
		})
	}
	// The daemon survived the panics: a new task still runs.
	if st := mustRun(t, r, "root@pam", ok("after", "")); st.ExitStatus != "OK" {
		t.Fatalf("task after panic: %+v", st)
	}
}

func TestWarnfLines(t *testing.T) {
	r := newRunner(t)
	st := mustRun(t, r, "root@pam", fn("t", "", func(_ context.Context, l api.TaskLog) error {
		l.Printf("a\r\n\nb")
		l.Warnf("x\ny")
		l.Printf("")
		return nil
	}))
	want := []string{"a", "", "b", "WARN: x", "WARN: y", "", "TASK WARNINGS: 1"}
	if got := logText(t, r, st.UPID); !reflect.DeepEqual(got, want) {
		t.Fatalf("log %q, want %q", got, want)
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		name     string
		task     func(g *gate) api.Task
		wantExit string
		wantLog  []string
	}{
		{
			name:     "returns context error",
			task:     func(g *gate) api.Task { return g.task("qmstop", "100") },
			wantExit: ExitStopped,
			wantLog:  []string{"waiting", "TASK ERROR: " + ExitStopped},
		},
		{
			name: "returns own error",
			task: func(g *gate) api.Task {
				return fn("qmstop", "100", func(ctx context.Context, l api.TaskLog) error {
					close(g.started)
					<-ctx.Done()
					return errors.New("aborted while copying disk")
				})
			},
			wantExit: ExitStopped,
			wantLog:  []string{"aborted while copying disk", "TASK ERROR: " + ExitStopped},
		},
		{
			name: "finishes anyway",
			task: func(g *gate) api.Task {
				return fn("qmstop", "100", func(ctx context.Context, l api.TaskLog) error {
					close(g.started)
					<-ctx.Done()
					l.Printf("too late to stop")
					return nil
				})
			},
			wantExit: ExitOK,
			wantLog:  []string{"too late to stop", "TASK OK"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			g := newGate()
			upid := mustStart(t, r, "root@pam", tt.task(g))
			<-g.started
			if err := r.Stop(upid); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			st, err := r.Wait(context.Background(), upid)
			if err != nil {
				t.Fatal(err)
			}
			if st.ExitStatus != tt.wantExit {
				t.Errorf("exit status %q, want %q", st.ExitStatus, tt.wantExit)
			}
			if got := logText(t, r, upid); !reflect.DeepEqual(got, tt.wantLog) {
				t.Errorf("log %q, want %q", got, tt.wantLog)
			}
			if err := r.Stop(upid); err != nil {
				t.Errorf("Stop of a finished task: %v", err)
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	r := newRunner(t)
	done := mustRun(t, r, "root@pam", ok("t", "1")).UPID
	u, _ := Parse(done)
	unknown := u
	unknown.PStart++
	other := u
	other.Node = "pve2"
	tests := []struct {
		name string
		upid string
		want error
	}{
		{"malformed", "UPID:pve1:nonsense", ErrInvalidUPID},
		{"empty", "", ErrInvalidUPID},
		{"unknown", unknown.String(), ErrNotFound},
		{"other node", other.String(), ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.Status(tt.upid); !errors.Is(err, tt.want) {
				t.Errorf("Status: %v, want %v", err, tt.want)
			}
			if _, _, err := r.ReadLog(tt.upid, 0, 0); !errors.Is(err, tt.want) {
				t.Errorf("ReadLog: %v, want %v", err, tt.want)
			}
			if err := r.Stop(tt.upid); !errors.Is(err, tt.want) {
				t.Errorf("Stop: %v, want %v", err, tt.want)
			}
			if _, err := r.Wait(context.Background(), tt.upid); !errors.Is(err, tt.want) {
				t.Errorf("Wait: %v, want %v", err, tt.want)
			}
		})
	}
	// Any spelling Parse accepts names the same task; the tag is not one.
	if _, err := r.Status("upid" + done[4:]); !errors.Is(err, ErrInvalidUPID) {
		t.Errorf("Status with lower-case tag: %v", err)
	}
	hexLower := strings.Replace(done, fmt.Sprintf(":%08X:", u.StartTime), fmt.Sprintf(":%08x:", u.StartTime), 1)
	if st, err := r.Status(hexLower); err != nil || st.UPID != done {
		t.Errorf("Status(%s) = %+v, %v; want the task %s", hexLower, st, err, done)
	}
}

func TestWaitContext(t *testing.T) {
	r := newRunner(t)
	g := newGate()
	upid := mustStart(t, r, "root@pam", g.task("t", ""))
	<-g.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Wait(ctx, upid); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with cancelled context: %v", err)
	}
	g.release <- nil
	if st, err := r.Wait(context.Background(), upid); err != nil || st.ExitStatus != "OK" {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
}

func TestReadLogPaging(t *testing.T) {
	r := newRunner(t)
	st := mustRun(t, r, "root@pam", fn("t", "", func(_ context.Context, l api.TaskLog) error {
		for i := 1; i <= 9; i++ {
			l.Printf("line %d", i)
		}
		return nil
	}))
	// 9 lines plus "TASK OK".
	tests := []struct {
		start, limit int
		wantN        []int
	}{
		{0, 0, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, // default limit 50
		{0, -1, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{0, 3, []int{1, 2, 3}},
		{3, 3, []int{4, 5, 6}},
		{8, 5, []int{9, 10}},
		{10, 5, nil},
		{100, 5, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("start=%d,limit=%d", tt.start, tt.limit), func(t *testing.T) {
			lines, total, err := r.ReadLog(st.UPID, tt.start, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if total != 10 {
				t.Errorf("total %d, want 10", total)
			}
			if lines == nil {
				t.Error("lines is nil, want an empty slice (JSON [])")
			}
			var gotN []int
			for _, l := range lines {
				gotN = append(gotN, l.N)
				want := fmt.Sprintf("line %d", l.N)
				if l.N == 10 {
					want = "TASK OK"
				}
				if l.T != want {
					t.Errorf("line %d is %q, want %q", l.N, l.T, want)
				}
			}
			if !reflect.DeepEqual(gotN, tt.wantN) {
				t.Errorf("line numbers %v, want %v", gotN, tt.wantN)
			}
		})
	}
	if _, _, err := r.ReadLog(st.UPID, -1, 1); err == nil {
		t.Error("negative start accepted")
	}
}

func TestReadLogWhileRunning(t *testing.T) {
	r := newRunner(t)
	step := make(chan struct{})
	wrote := make(chan struct{})
	upid := mustStart(t, r, "root@pam", fn("t", "", func(_ context.Context, l api.TaskLog) error {
		for i := 1; i <= 3; i++ {
			<-step
			l.Printf("step %d", i)
			wrote <- struct{}{}
		}
		<-step // hold the final line back until the test read the third step
		return nil
	}))
	if lines, total, err := r.ReadLog(upid, 0, 0); err != nil || total != 0 || len(lines) != 0 {
		t.Fatalf("empty log: %v %d %v", lines, total, err)
	}
	next := 0
	for i := 1; i <= 3; i++ {
		step <- struct{}{}
		<-wrote
		lines, total, err := r.ReadLog(upid, next, 0)
		if err != nil || total != i || len(lines) != 1 || lines[0] != (LogLine{N: i, T: fmt.Sprintf("step %d", i)}) {
			t.Fatalf("follow from %d: %+v total %d, %v", next, lines, total, err)
		}
		next = total
	}
	step <- struct{}{}
	if _, err := r.Wait(context.Background(), upid); err != nil {
		t.Fatal(err)
	}
}

func TestProgress(t *testing.T) {
	tests := []struct {
		done, total int64
		want        string
	}{
		{0, 0, "progress 0.0% (0/0)"},
		{0, 987, "progress 0.0% (0/987)"},
		{123, 987, "progress 12.4% (123/987)"},
		{986, 987, "progress 99.8% (986/987)"},
		{999999, 1000000, "progress 99.9% (999999/1000000)"},
		{987, 987, "progress 100.0% (987/987)"},
		{2000, 987, "progress 100.0% (2000/987)"},
		{-5, 10, "progress 0.0% (-5/10)"},
		{1 << 62, 1<<62 + 1, "progress 99.9% (4611686018427387904/4611686018427387905)"},
	}
	for _, tt := range tests {
		got := formatProgress(tt.done, tt.total)
		if got != tt.want {
			t.Errorf("formatProgress(%d, %d) = %q, want %q", tt.done, tt.total, got, tt.want)
		}
		d, n, ok := ParseProgress(got)
		if !ok || d != tt.done || n != tt.total {
			t.Errorf("ParseProgress(%q) = %d, %d, %v", got, d, n, ok)
		}
	}
	for _, s := range []string{"progress 12.5%", "progress 12% (1/8)", "WARN: progress 1.0% (1/100)", "Progress 1.0% (1/100)"} {
		if _, _, ok := ParseProgress(s); ok {
			t.Errorf("ParseProgress accepted %q", s)
		}
	}

	r := newRunner(t)
	st := mustRun(t, r, "root@pam", fn("t", "", func(_ context.Context, l api.TaskLog) error {
		for done := int64(0); done <= 4000; done += 1 {
			l.Progress(done, 4000) // 4001 calls, 1001 distinct tenths
		}
		l.Progress(4000, 4000) // the same again: not written
		l.Progress(4096, 4096) // new final numbers: written
		return nil
	}))
	lines := logText(t, r, st.UPID)
	if n := len(lines); n != 1001+1+1 {
		t.Errorf("%d log lines, want 1001 progress lines, the corrected completion and TASK OK", n)
	}
	if got := lines[len(lines)-2]; got != "progress 100.0% (4096/4096)" {
		t.Errorf("last progress line %q", got)
	}
	for _, l := range lines[:len(lines)-1] {
		if _, _, ok := ParseProgress(l); !ok {
			t.Fatalf("line %q is not a progress line", l)
		}
	}
}

func TestUniqueUPIDs(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Now = newClock(1700000000).Now // every task starts in the same second
	r := openRunner(t, cfg)
	const n = 200
	var (
		mu    sync.Mutex
		upids = make(map[string]bool)
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				u, err := r.Start("root@pam", ok("qmstart", "100"))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				upids[u.String()] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(upids) != n {
		t.Fatalf("%d distinct UPIDs for %d tasks", len(upids), n)
	}
	for upid := range upids {
		if st, err := r.Wait(context.Background(), upid); err != nil || st.ExitStatus != "OK" {
			t.Fatalf("Wait(%s) = %+v, %v", upid, st, err)
		}
	}
	if _, total := r.List(Filter{}); total != n {
		t.Fatalf("archive has %d tasks, want %d", total, n)
	}

	// A second runner in the same process, directory and second (same pid
	// and pstart base) skips the UPIDs whose logs exist.
	r2 := openRunner(t, cfg)
	u, err := r2.Start("root@pam", ok("qmstart", "100"))
	if err != nil {
		t.Fatal(err)
	}
	if upids[u.String()] {
		t.Fatalf("second runner reused %s", u)
	}
}

func TestParallelTasksDoNotBlock(t *testing.T) {
	r := newRunner(t)
	aRunning, bRunning := make(chan struct{}), make(chan struct{})
	// Each task waits for the other to be running: this only finishes if
	// both run at the same time.
	a := mustStart(t, r, "root@pam", fn("a", "", func(context.Context, api.TaskLog) error {
		close(aRunning)
		<-bRunning
		return nil
	}))
	b := mustStart(t, r, "root@pam", fn("b", "", func(_ context.Context, l api.TaskLog) error {
		close(bRunning)
		<-aRunning
		l.Printf("both ran")
		return nil
	}))
	for _, u := range []string{a, b} {
		if st, err := r.Wait(context.Background(), u); err != nil || st.ExitStatus != "OK" {
			t.Fatalf("Wait(%s) = %+v, %v", u, st, err)
		}
	}
}

func TestConcurrentReaders(t *testing.T) {
	r := newRunner(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var upids []string
	for i := range 20 {
		upids = append(upids, mustStart(t, r, "root@pam", fn("t", fmt.Sprint(i), func(_ context.Context, l api.TaskLog) error {
			for j := range 50 {
				l.Printf("line %d", j)
				l.Progress(int64(j), 50)
			}
			return nil
		})))
	}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r.List(Filter{Source: SourceAll})
				for _, u := range upids {
					if _, err := r.Status(u); err != nil {
						t.Error(err)
						return
					}
					if _, _, err := r.ReadLog(u, 0, 5); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	for _, u := range upids {
		if _, err := r.Wait(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestShutdown(t *testing.T) {
	t.Run("cooperative", func(t *testing.T) {
		r := newRunner(t)
		g := newGate()
		upid := mustStart(t, r, "root@pam", g.task("vzdump", "100"))
		<-g.started
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, err := r.Status(upid)
		if err != nil || st.ExitStatus != ExitShutdown {
			t.Fatalf("Status = %+v, %v", st, err)
		}
		if _, err := r.Start("root@pam", ok("t", "")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Start after Shutdown: %v", err)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
	t.Run("stuck task", func(t *testing.T) {
		r := newRunner(t)
		started, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
		upid := mustStart(t, r, "root@pam", fn("vzdump", "100", func(_ context.Context, l api.TaskLog) error {
			defer close(returned)
			close(started)
			<-release // ignores its context
			l.Printf("written after the task was closed")
			return nil
		}))
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown = %v, want context.Canceled", err)
		}
		st, err := r.Status(upid)
		if err != nil || st.Status != StateStopped || st.ExitStatus != ExitShutdown {
			t.Fatalf("Status = %+v, %v", st, err)
		}
		close(release)
		<-returned
		if st, _ := r.Wait(context.Background(), upid); st.ExitStatus != ExitShutdown {
			t.Fatalf("late return changed the exit status to %q", st.ExitStatus)
		}
		want := []string{"TASK ERROR: " + ExitShutdown}
		if got := logText(t, r, upid); !reflect.DeepEqual(got, want) {
			t.Fatalf("log %q, want %q", got, want)
		}
	})
}

func TestStartValidation(t *testing.T) {
	r := newRunner(t)
	tests := []struct {
		name string
		user string
		task api.Task
	}{
		{"empty type", "root@pam", ok("", "100")},
		{"colon in id", "root@pam", ok("t", "1:2")},
		{"space in user", "root pam", ok("t", "")},
		{"empty user", "", ok("t", "")},
		{"invalid UTF-8", "root@pam", ok("t\xff", "")},
		{"no Run", "root@pam", api.Task{Type: "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if u, err := r.Start(tt.user, tt.task); err == nil {
				t.Fatalf("Start accepted it: %s", u)
			}
		})
	}
	if _, total := r.List(Filter{Source: SourceAll}); total != 0 {
		t.Fatalf("refused tasks were recorded: %d", total)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Node: testNode},
		{Dir: t.TempDir(), Node: "bad_node"},
		{Dir: t.TempDir()},
	} {
		if _, err := Open(cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestOpenDefaults(t *testing.T) {
	r, err := Open(Config{Dir: t.TempDir(), Node: testNode, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	if r.pid != uint32(os.Getpid()) || r.pstart == 0 {
		t.Fatalf("pid %d pstart %d", r.pid, r.pstart)
	}
	start := time.Now().Unix()
	st := mustRun(t, r, "root@pam", ok("t", ""))
	if st.StartTime < start-1 || st.StartTime > time.Now().Unix()+1 {
		t.Fatalf("start time %d not now", st.StartTime)
	}
}

func TestParseStatStartTime(t *testing.T) {
	stat := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 8 0 987654 12345678 500"
	if v, err := parseStatStartTime([]byte(stat)); err != nil || v != 987654 {
		t.Fatalf("parseStatStartTime = %d, %v", v, err)
	}
	for _, bad := range []string{"", "1234 (cmd) S 1 2", "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 x 0"} {
		if _, err := parseStatStartTime([]byte(bad)); err == nil {
			t.Errorf("parseStatStartTime(%q) succeeded", bad)
		}
	}
	if v, err := processStartTicks(); err != nil || v == 0 {
		t.Fatalf("processStartTicks = %d, %v", v, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPanicLogsStack(t *testing.T) {
	var buf syncBuffer
	cfg := testConfig(t, t.TempDir())
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	r := openRunner(t, cfg)
	st := mustRun(t, r, "root@pam", fn("t", "", func(context.Context, api.TaskLog) error {
		panic("boom")
	}))
	out := buf.String()
	for _, want := range []string{"task panicked", st.UPID, "panic=boom", "runtime/debug.Stack", "TestPanicLogsStack"} {
		if !strings.Contains(out, want) {
			t.Errorf("daemon log lacks %q:\n%s", want, out)
		}
	}
	for _, l := range logText(t, r, st.UPID) {
		if strings.Contains(l, "goroutine") {
			t.Errorf("stack leaked into the task log: %q", l)
		}
	}
}
