package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTaskFollowingPrintsTheLogAndSetsTheExitStatus(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		outcome string
		code    int
		out     string
		err     string
	}{
		{"ok", 0, "starting work\nprogress 50.0% (1/2)\nprogress 100.0% (2/2)\nfinishing work\nTASK OK\n", ""},
		{"warn", 0, "starting work\nprogress 50.0% (1/2)\nprogress 100.0% (2/2)\nfinishing work\nWARN: something odd\nTASK WARNINGS: 1\n", ""},
		{"fail", 1, "starting work\nprogress 50.0% (1/2)\nprogress 100.0% (2/2)\nfinishing work\nTASK ERROR: it broke\n", ""},
	}
	for _, c := range cases {
		start := time.Now()
		r := f.run("thingctl", "work", c.outcome)
		if r.code != c.code || r.out != c.out || r.err != c.err {
			t.Errorf("work %s: exit %d, stdout\n%s\nstderr %q; want exit %d, stdout\n%s", c.outcome, r.code, r.out, r.err, c.code, c.out)
		}
		// The task pauses 250 ms: following must have waited for its end.
		if time.Since(start) < 250*time.Millisecond {
			t.Errorf("work %s returned before the task ended", c.outcome)
		}
	}
	// pvesh create on a task endpoint follows too.
	r := f.run("pvesh", "create", "/nodes/n1/work", "--outcome", "fail")
	expectCode(t, r, 1)
	if !strings.HasSuffix(r.out, "TASK ERROR: it broke\n") {
		t.Errorf("pvesh create on a task: %q", r.out)
	}
}

// isHangUPID matches the task id of a "hang" work task started by root.
func isHangUPID(s string) bool {
	return regexp.MustCompile(`^UPID:n1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:thingwork:hang:root@pam:$`).MatchString(s)
}

func TestTaskWaitZeroPrintsTheUPID(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("thingctl", "work", "hang", "--wait", "0")
	expectCode(t, r, 0)
	if !isHangUPID(strings.TrimSuffix(r.out, "\n")) {
		t.Errorf("--wait 0 printed %q", r.out)
	}
	r = f.run("thingctl", "work", "hang", "--wait=no", "--output-format", "json")
	expectCode(t, r, 0)
	if !strings.HasPrefix(r.out, `"UPID:n1:`) {
		t.Errorf("--wait no as json printed %q", r.out)
	}
}

func TestTaskProgressBarOnATerminal(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.runWith(cliOpts{terminal: true}, "thingctl", "work", "ok")
	expectCode(t, r, 0)
	if strings.Contains(r.out, "progress 50.0%") {
		t.Errorf("progress lines printed as text on a terminal:\n%q", r.out)
	}
	bar := "\r\x1b[K[####################--------------------]  50.0%"
	if !strings.Contains(r.out, bar) {
		t.Errorf("no progress bar in %q", r.out)
	}
	// Without the bar drawings and erasures, what remains is the log
	// without its progress lines; the bar is erased at the end.
	plain := regexp.MustCompile(`\r\x1b\[K|\[[#-]{40}\] +[0-9.]+%`).ReplaceAllString(r.out, "")
	if want := "starting work\nfinishing work\nTASK OK\n"; plain != want {
		t.Errorf("text around the bar: %q, want %q", plain, want)
	}
	if !strings.HasSuffix(r.out, "\r\x1b[K") {
		t.Errorf("bar left on screen after the end: %q", r.out)
	}
}

func TestInterruptStopsFollowingButNotTheTask(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Like Ctrl-C, once the task is surely running.
		time.Sleep(400 * time.Millisecond)
		cancel()
	}()
	r := f.runWith(cliOpts{ctx: ctx}, "thingctl", "work", "hang")
	expectCode(t, r, exitInterrupted)
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if lines[0] != "starting work" || !isHangUPID(lines[len(lines)-1]) {
		t.Errorf("stdout %q: want the log so far, then the UPID", r.out)
	}
	if !strings.Contains(r.err, "the task keeps running") {
		t.Errorf("stderr %q", r.err)
	}
	upid := lines[len(lines)-1]
	if running, _, _ := f.tasks.status(upid); !running {
		t.Errorf("the task was stopped")
	}
}
