package task

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/api"
)

// Final lines of a task log, as Proxmox VE writes them: exactly one of these
// ends the log of every finished task.
const (
	finalOK       = "TASK OK"
	finalWarnings = "TASK WARNINGS: "
	finalError    = "TASK ERROR: "
)

// WarnPrefix starts every line written by TaskLog.Warnf.
const WarnPrefix = "WARN: "

// ProgressPattern matches the lines TaskLog.Progress writes, for followers
// such as the CLI that draw a progress bar:
//
//	progress 12.5% (123/987)
//
// The percentage has one decimal, is rounded down and stays within 0..100;
// the numbers in brackets are done and total as the task gave them. Use
// ParseProgress rather than matching by hand.
const ProgressPattern = `^progress ([0-9]{1,3}\.[0-9])% \((-?[0-9]+)/(-?[0-9]+)\)$`

var progressRE = regexp.MustCompile(ProgressPattern)

// ParseProgress reads a progress line. ok is false for any other line.
func ParseProgress(line string) (done, total int64, ok bool) {
	m := progressRE.FindStringSubmatch(line)
	if m == nil {
		return 0, 0, false
	}
	done, err1 := strconv.ParseInt(m[2], 10, 64)
	total, err2 := strconv.ParseInt(m[3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return done, total, true
}

// progressPermille is the progress in tenths of a percent, rounded down and
// clamped to 0..1000.
func progressPermille(done, total int64) int64 {
	if total <= 0 || done <= 0 {
		return 0
	}
	if done >= total {
		return 1000
	}
	// Floats, because done*1000 may overflow an int64; rounding can only
	// matter in the last tenth, and we clamp below 1000 for unfinished work.
	p := int64(math.Floor(float64(done) / float64(total) * 1000))
	return min(max(p, 0), 999)
}

func formatProgress(done, total int64) string {
	p := progressPermille(done, total)
	return fmt.Sprintf("progress %d.%d%% (%d/%d)", p/10, p%10, done, total)
}

// LogLine is one numbered line of a task log (N counts from 1), as the
// API returns it.
type LogLine = api.LogLine

// taskLog is the api.TaskLog handed to a task's Run. Each call writes whole
// lines in one write, so a concurrent reader sees complete lines (a partial
// last line, should it ever see one, is skipped by readLog).
type taskLog struct {
	upid   string
	logger *slog.Logger

	mu       sync.Mutex
	f        *os.File
	closed   bool
	failed   bool // a write failed; reported once to the daemon log
	warnings int
	// lastProgress is the permille of the last progress line, -1 before the
	// first, and lastDone and lastTotal its numbers; see Progress.
	lastProgress, lastDone, lastTotal int64
}

var _ api.TaskLog = (*taskLog)(nil)

func newTaskLog(f *os.File, upid string, logger *slog.Logger) *taskLog {
	return &taskLog{f: f, upid: upid, logger: logger, lastProgress: -1}
}

// Printf writes one line per line of the message. A trailing newline does not
// add an empty line, and carriage returns are dropped so that each stored
// line is what a terminal would show.
func (l *taskLog) Printf(format string, args ...any) {
	l.write(splitLines(fmt.Sprintf(format, args...), ""))
}

// Warnf writes like Printf with WarnPrefix on every line, and counts one
// warning per call.
func (l *taskLog) Warnf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.warnings++
	l.writeLocked(splitLines(fmt.Sprintf(format, args...), WarnPrefix))
}

// Progress writes a progress line, but only when the shown percentage
// changes, so that a task may report after every block it copies without
// flooding its log: at most about a thousand progress lines per task. At
// 100% a line is also written when the numbers change, since the final
// amounts are worth seeing.
func (l *taskLog) Progress(done, total int64) {
	p := progressPermille(done, total)
	l.mu.Lock()
	defer l.mu.Unlock()
	same := p == l.lastProgress && (p != 1000 || done == l.lastDone && total == l.lastTotal)
	if l.closed || same {
		return
	}
	l.lastProgress, l.lastDone, l.lastTotal = p, done, total
	l.writeLocked(formatProgress(done, total) + "\n")
}

func (l *taskLog) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return // Run went on after its task was finished (see Runner.Shutdown)
	}
	l.writeLocked(s)
}

func (l *taskLog) writeLocked(s string) {
	if _, err := l.f.WriteString(s); err != nil && !l.failed {
		// The task goes on: losing log lines must not fail the work.
		l.failed = true
		l.logger.Error("cannot write task log", "upid", l.upid, "err", err)
	}
}

// finish ends the log: it asks exitFor for the exit status given the
// warning count, appends the matching final line, syncs and closes the file.
// Deciding under the lock means no warning can slip in between counting and
// the final line. Later writes are dropped.
func (l *taskLog) finish(exitFor func(warnings int) string) (exit string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	exit = exitFor(l.warnings)
	if l.closed {
		return exit, nil
	}
	l.closed = true
	_, err = l.f.WriteString(finalLine(exit) + "\n")
	if serr := l.f.Sync(); err == nil {
		err = serr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return exit, err
}

// splitLines turns a message into newline-terminated lines with prefix.
func splitLines(msg, prefix string) string {
	msg = strings.ReplaceAll(msg, "\r", "")
	msg = strings.TrimSuffix(msg, "\n")
	var b strings.Builder
	b.Grow(len(msg) + len(prefix) + 1)
	for line := range strings.SplitSeq(msg, "\n") {
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// finalLine is the last line of the log of a task that ended with exitstatus.
func finalLine(exitstatus string) string {
	switch Outcome(exitstatus) {
	case OutcomeOK:
		return finalOK
	case OutcomeWarning:
		return "TASK " + exitstatus
	}
	return finalError + exitstatus
}

// exitFromFinalLine is the inverse of finalLine; ok is false if line is not a
// final line.
func exitFromFinalLine(line string) (exitstatus string, ok bool) {
	switch {
	case line == finalOK:
		return ExitOK, true
	case strings.HasPrefix(line, finalWarnings) && warningsRE.MatchString(line[len("TASK "):]):
		return line[len("TASK "):], true
	case strings.HasPrefix(line, finalError) && len(line) > len(finalError):
		return line[len(finalError):], true
	}
	return "", false
}

// DefaultLogLimit is the number of lines ReadLog returns when limit is 0,
// the default of Proxmox VE's log endpoint.
const DefaultLogLimit = 50

// readLog returns the complete lines [start, start+limit) of the file at path
// and the number of complete lines in it.
func readLog(path string, start, limit int) ([]LogLine, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	lines := []LogLine{}
	total := 0
	err = eachLine(f, func(line []byte) {
		if total >= start && (limit < 0 || len(lines) < limit) {
			lines = append(lines, LogLine{N: total + 1, T: string(line)})
		}
		total++
	})
	return lines, total, err
}

// eachLine calls fn for each newline-terminated line of r, without the
// newline. A last line without newline is one still being written (or torn
// by a crash) and is skipped. fn must not keep the slice.
func eachLine(r io.Reader, fn func(line []byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the buffer, being assembled
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line := chunk[:len(chunk)-1]
			if long != nil {
				line = append(long, line...)
				long = nil
			}
			fn(line)
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, chunk...)
		case err == io.EOF:
			return nil
		default:
			return err
		}
	}
}

// lastLine returns the last complete line of the file at path, and whether
// the file ends with a newline (or is empty).
func lastLine(path string) (line string, clean bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	size := fi.Size()
	if size == 0 {
		return "", true, nil
	}
	// Final lines are short; reading the tail is enough to find the last
	// one without scanning a log of many megabytes.
	const tail = 8 << 10
	off := max(size-tail, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return "", false, err
	}
	clean = buf[len(buf)-1] == '\n'
	if !clean {
		// Drop the torn line: only complete lines count.
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 {
			return "", false, nil
		}
		buf = buf[:i+1]
	}
	buf = buf[:len(buf)-1]
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	} else if off > 0 {
		return "", clean, nil // the last line is longer than the tail: not a final line
	}
	return string(buf), clean, nil
}
