package task

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/atomicfile"
)

// TestRecoveryAfterCrash leaves a task running in one runner and opens a
// second runner (another daemon process: other pid and pstart) on the same
// directory, as after a crash of the first.
func TestRecoveryAfterCrash(t *testing.T) {
	dir := t.TempDir()
	cfg1 := testConfig(t, dir)
	cfg1.PID, cfg1.PStart = 100, 1000
	r1 := openRunner(t, cfg1)
	finished := mustRun(t, r1, "root@pam", ok("qmstart", "100")).UPID
	g := newGate()
	lost := mustStart(t, r1, "root@pam", g.task("vzdump", "100"))
	<-g.started

	cfg2 := testConfig(t, dir)
	cfg2.PID, cfg2.PStart = 200, 5000
	r2 := openRunner(t, cfg2)

	st, err := r2.Status(lost)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StateStopped || st.ExitStatus != ExitDaemonLost {
		t.Fatalf("lost task: %+v", st)
	}
	if st, _ := r2.Status(finished); st.ExitStatus != "OK" {
		t.Fatalf("finished task: %+v", st)
	}
	want := []string{"waiting", "TASK ERROR: " + ExitDaemonLost}
	if got := logText(t, r2, lost); !reflect.DeepEqual(got, want) {
		t.Fatalf("log %q, want %q", got, want)
	}
	items, total := r2.List(Filter{StatusFilter: []string{OutcomeUnknown}})
	if total != 1 || items[0].UPID != lost || items[0].EndTime == 0 {
		t.Fatalf("unknown tasks: %+v", items)
	}
	if _, total := r2.List(Filter{Source: SourceActive}); total != 0 {
		t.Fatalf("%d tasks still running after recovery", total)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "active")); len(data) != 0 {
		t.Fatalf("active file after recovery: %q", data)
	}
	u, err := r2.Start("root@pam", ok("qmstart", "100"))
	if err != nil {
		t.Fatal(err)
	}
	if u.PID != 200 || u.PStart != 5000 {
		t.Fatalf("new task %s does not carry the new daemon's pid and pstart", u)
	}
	if _, err := r2.Wait(context.Background(), u.String()); err != nil {
		t.Fatal(err)
	}
}

// taskOnDisk sets up the files a previous daemon might have left.
type taskOnDisk struct {
	upid   UPID
	log    *string // nil: no log file
	index  string  // exit status already in the index, or ""
	active bool
}

func str(s string) *string { return &s }

func TestRecoveryCases(t *testing.T) {
	mk := func(start int64, typ string) UPID {
		return UPID{Node: testNode, PID: 1, PStart: 2, StartTime: start, Type: typ, ID: "100", User: "root@pam"}
	}
	tests := []struct {
		name     string
		task     taskOnDisk
		wantExit string
		wantLog  string
	}{
		{
			name:     "no final line",
			task:     taskOnDisk{upid: mk(1000, "a"), log: str("copying\n"), active: true},
			wantExit: ExitDaemonLost,
			wantLog:  "copying\nTASK ERROR: " + ExitDaemonLost + "\n",
		},
		{
			name:     "torn last line",
			task:     taskOnDisk{upid: mk(1000, "b"), log: str("copying\nhalf a li"), active: true},
			wantExit: ExitDaemonLost,
			wantLog:  "copying\nhalf a li\nTASK ERROR: " + ExitDaemonLost + "\n",
		},
		{
			name:     "empty log",
			task:     taskOnDisk{upid: mk(1000, "c"), log: str(""), active: true},
			wantExit: ExitDaemonLost,
			wantLog:  "TASK ERROR: " + ExitDaemonLost + "\n",
		},
		{
			name:     "no log",
			task:     taskOnDisk{upid: mk(1000, "d"), active: true},
			wantExit: ExitDaemonLost,
			wantLog:  "TASK ERROR: " + ExitDaemonLost + "\n",
		},
		{
			name:     "finished, index append lost",
			task:     taskOnDisk{upid: mk(1000, "e"), log: str("done\nTASK OK\n"), active: true},
			wantExit: "OK",
			wantLog:  "done\nTASK OK\n",
		},
		{
			name:     "finished with warnings, index append lost",
			task:     taskOnDisk{upid: mk(1000, "f"), log: str("WARN: x\nWARN: y\nTASK WARNINGS: 2\n"), active: true},
			wantExit: "WARNINGS: 2",
			wantLog:  "WARN: x\nWARN: y\nTASK WARNINGS: 2\n",
		},
		{
			name:     "failed, index append lost",
			task:     taskOnDisk{upid: mk(1000, "g"), log: str("TASK ERROR: disk full\n"), active: true},
			wantExit: "disk full",
			wantLog:  "TASK ERROR: disk full\n",
		},
		{
			name:     "archived, active update lost",
			task:     taskOnDisk{upid: mk(1000, "h"), log: str("TASK ERROR: boom\n"), index: "boom", active: true},
			wantExit: "boom",
			wantLog:  "TASK ERROR: boom\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			id := tt.task.upid.String()
			path := logPath(dir, tt.task.upid, id)
			const mtime = 1042
			if tt.task.log != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tt.task.log), 0o640); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, time.Unix(mtime, 0), time.Unix(mtime, 0)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.task.index != "" {
				line := fmt.Sprintf("%s %08X %s\n", id, mtime, tt.task.index)
				if err := os.WriteFile(filepath.Join(dir, "index"), []byte(line), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			if tt.task.active {
				if err := os.WriteFile(filepath.Join(dir, "active"), []byte(id+"\n"), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig(t, dir)
			cfg.Now = newClock(2000).Now
			r := openRunner(t, cfg)
			st, err := r.Status(id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != StateStopped || st.ExitStatus != tt.wantExit {
				t.Errorf("Status = %+v, want stopped with %q", st, tt.wantExit)
			}
			data, err := os.ReadFile(path)
			if err != nil || string(data) != tt.wantLog {
				t.Errorf("log = %q, %v; want %q", data, err, tt.wantLog)
			}
			items, total := r.List(Filter{})
			wantEnd := int64(mtime)
			if tt.task.log == nil {
				wantEnd = 2000 // no sign of life: the time of recovery
			}
			if total != 1 || items[0].EndTime != wantEnd {
				t.Errorf("List = %+v (total %d), want one task ending at %d", items, total, wantEnd)
			}
			index, _ := os.ReadFile(filepath.Join(dir, "index"))
			if n := strings.Count(string(index), id); n != 1 {
				t.Errorf("index lists the task %d times:\n%s", n, index)
			}
			// Reopening changes nothing.
			r2 := openRunner(t, cfg)
			if st2, err := r2.Status(id); err != nil || st2 != st {
				t.Errorf("after reopening: %+v, %v", st2, err)
			}
		})
	}
}

func TestOpenRepairsIndex(t *testing.T) {
	dir := t.TempDir()
	u1 := UPID{Node: testNode, PID: 1, PStart: 2, StartTime: 1000, Type: "a", User: "root@pam"}
	u2 := u1
	u2.Type = "b"
	index := u1.String() + " 000003E8 OK\n" +
		"garbage line\n" +
		u1.String() + " 000003E9 OK\n" + // duplicate: the first one counts
		u2.String() + " 0000" // torn by a crash mid-append
	if err := os.WriteFile(filepath.Join(dir, "index"), []byte(index), 0o640); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, atomicfile.TempPrefix+"active-123")
	if err := os.WriteFile(stale, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	r := openRunner(t, testConfig(t, dir))
	items, total := r.List(Filter{})
	if total != 1 || items[0].UPID != u1.String() || items[0].EndTime != 1000 {
		t.Fatalf("List = %+v", items)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file survived: %v", err)
	}
	// The next append starts on a line of its own.
	st := mustRun(t, r, "root@pam", ok("c", ""))
	data, _ := os.ReadFile(filepath.Join(dir, "index"))
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, st.UPID+" ") {
		t.Fatalf("last index line %q, want the new task", last)
	}
	r2 := openRunner(t, testConfig(t, dir))
	if _, total := r2.List(Filter{}); total != 2 {
		t.Fatalf("after reopening: %d tasks, want 2", total)
	}
}

func TestArchiveRotation(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.MaxArchive = 10
	clk := newClock(1000)
	cfg.Now = clk.Now
	r := openRunner(t, cfg)
	var upids []string
	for i := range 11 {
		clk.Set(int64(1000 + i))
		upids = append(upids, mustRun(t, r, "root@pam", ok("t", fmt.Sprint(i))).UPID)
		wantTotal := i + 1
		if i == 10 {
			wantTotal = 5 // the 11th exceeded 10: the newest 5 remain
		}
		if _, total := r.List(Filter{}); total != wantTotal {
			t.Fatalf("after %d tasks the archive has %d, want %d", i+1, total, wantTotal)
		}
	}
	items, _ := r.List(Filter{})
	for i, it := range items {
		if want := upids[10-i]; it.UPID != want {
			t.Errorf("item %d = %s, want %s", i, it.UPID, want)
		}
	}
	index, _ := os.ReadFile(filepath.Join(dir, "index"))
	if n := strings.Count(string(index), "\n"); n != 5 {
		t.Errorf("index has %d lines, want 5:\n%s", n, index)
	}
	for i, upid := range upids {
		_, err := os.Stat(logPath(dir, mustParse(t, upid), upid))
		if gone := errors.Is(err, fs.ErrNotExist); gone != (i < 6) {
			t.Errorf("log of task %d: %v", i, err)
		}
		_, err = r.Status(upid)
		if gone := errors.Is(err, ErrNotFound); gone != (i < 6) {
			t.Errorf("Status of task %d: %v", i, err)
		}
	}

	// A smaller limit takes effect when the runner opens.
	cfg.MaxArchive = 4
	r2 := openRunner(t, cfg)
	if items, total := r2.List(Filter{}); total != 2 || items[0].UPID != upids[10] || items[1].UPID != upids[9] {
		t.Fatalf("after reopening with limit 4: %+v", items)
	}
	index, _ = os.ReadFile(filepath.Join(dir, "index"))
	if n := strings.Count(string(index), "\n"); n != 2 {
		t.Errorf("index has %d lines, want 2", n)
	}
}

func mustParse(t *testing.T, s string) UPID {
	t.Helper()
	u, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
