package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api/schema"
)

// Task log polling: start quickly, for the many tasks that end within a
// second, and back off so that long tasks cost one request pair a second.
const (
	pollFirst = 100 * time.Millisecond
	pollMax   = time.Second
	// logPage is how many log lines one request asks for.
	logPage = 500
)

// progressPattern matches the progress lines the task runner writes, such
// as "progress 12.5% (123/987)".
const progressPattern = `^progress (\d+(?:\.\d+)?)%`

// task handles the answer of a task endpoint: it follows the task unless
// --wait 0 was given, in which case it prints the task id.
func (r *run) task(ctx context.Context, data json.RawMessage) int {
	var upid string
	if err := json.Unmarshal(data, &upid); err != nil || upid == "" {
		return r.fail(fmt.Errorf("the task endpoint did not answer with a task id: %s", data))
	}
	if r.opts.wait != nil && !*r.opts.wait {
		if r.opts.format == "text" {
			if !r.opts.quiet {
				fmt.Fprintln(r.stdout, upid)
			}
			return exitOK
		}
		return r.fail(r.printResult(nil, nil, data))
	}
	return r.followTask(ctx, upid)
}

// upidNode is the node field of a task id, the node that runs the task.
func upidNode(upid string) string {
	f := strings.Split(upid, ":")
	if len(f) < 3 || f[0] != "UPID" {
		return ""
	}
	return f[1]
}

type taskStatus struct {
	Status     string `json:"status"`
	ExitStatus string `json:"exitstatus"`
}

// taskSucceeded is true for the exit statuses PVE counts as success.
func taskSucceeded(exit string) bool {
	return exit == "OK" || strings.HasPrefix(exit, "WARNINGS")
}

// followTask prints a task's log as it grows until the task stops; the
// exit status says whether it succeeded. Cancelling ctx stops following
// but not the task.
func (r *run) followTask(ctx context.Context, upid string) int {
	node := upidNode(upid)
	if node == "" {
		return r.fail(fmt.Errorf("malformed task id %q", upid))
	}
	c, err := r.connect(ctx)
	if err != nil {
		return r.fail(err)
	}
	base := "/nodes/" + node + "/tasks/" + upid
	out := &taskPrinter{w: r.stdout, quiet: r.opts.quiet, bar: !r.opts.quiet && r.env.IsTerminal(r.env.Stdout),
		progress: regexp.MustCompile(progressPattern)}
	interrupted := func() int {
		out.clearBar()
		fmt.Fprintln(r.stderr, "stopped following; the task keeps running:")
		fmt.Fprintln(r.stdout, upid)
		return exitInterrupted
	}
	start := 0
	delay := pollFirst
	for {
		// Status first: when it says stopped, the log read after it is
		// complete.
		res, err := c.Do(ctx, "GET", base+"/status", nil)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			out.clearBar()
			return r.fail(fmt.Errorf("reading the status of %s: %w", upid, err))
		}
		var st taskStatus
		if err := json.Unmarshal(res.Data, &st); err != nil {
			return r.fail(fmt.Errorf("reading the status of %s: %w", upid, err))
		}
		if err := r.readTaskLog(ctx, c, base, &start, out); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			out.clearBar()
			return r.fail(fmt.Errorf("reading the log of %s: %w", upid, err))
		}
		if st.Status == "stopped" {
			out.clearBar()
			if taskSucceeded(st.ExitStatus) {
				return exitOK
			}
			if !strings.HasPrefix(out.last, "TASK ERROR") {
				// The log normally ends with this line already.
				fmt.Fprintf(r.stderr, "TASK ERROR: %s\n", st.ExitStatus)
			}
			return exitFail
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return interrupted()
		case <-t.C:
		}
		delay = min(delay*3/2, pollMax)
	}
}

// readTaskLog prints the log lines after *start, page by page.
func (r *run) readTaskLog(ctx context.Context, c Client, base string, start *int, out *taskPrinter) error {
	for {
		q := schema.Raw{}
		q.Set("start", strconv.Itoa(*start))
		q.Set("limit", strconv.Itoa(logPage))
		res, err := c.Do(ctx, "GET", base+"/log", q)
		if err != nil {
			return err
		}
		var lines []struct {
			T string `json:"t"`
		}
		if err := json.Unmarshal(res.Data, &lines); err != nil {
			return err
		}
		for _, l := range lines {
			out.line(l.T)
		}
		*start += len(lines)
		if len(lines) < logPage {
			return nil
		}
	}
}

// taskPrinter prints log lines; on a terminal it draws progress lines as
// one bar that updates in place.
type taskPrinter struct {
	w        io.Writer
	quiet    bool
	bar      bool
	progress *regexp.Regexp
	shown    string // the bar on screen, "" when none
	last     string // the last line printed
}

func (p *taskPrinter) line(text string) {
	if p.quiet {
		return
	}
	if m := p.progress.FindStringSubmatch(text); m != nil && p.bar {
		pct, _ := strconv.ParseFloat(m[1], 64)
		p.shown = progressBar(pct)
		fmt.Fprint(p.w, "\r\x1b[K"+p.shown)
		return
	}
	if p.shown != "" {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(p.w, text)
	p.last = text
	if p.shown != "" {
		fmt.Fprint(p.w, p.shown)
	}
}

func (p *taskPrinter) clearBar() {
	if p.shown != "" {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = ""
	}
}

// progressBar draws "[#########-----------]  45.0%".
func progressBar(pct float64) string {
	const width = 40
	pct = min(max(pct, 0), 100)
	n := int(pct / 100 * width)
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "] " + fmt.Sprintf("%5.1f%%", pct)
}
