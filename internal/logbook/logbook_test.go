package logbook

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandlerWritesRedactedSingleLines(t *testing.T) {
	var stderr bytes.Buffer
	b, err := Open(Options{Dir: t.TempDir(), Node: "n1", Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	log := slog.New(b.Handler())
	log.Info("login", "user", "admin@pve", "password", "hunter2", "remote", "127.0.0.1:5000")
	log.With("component", "api").WithGroup("req").Warn("two\nlines", "Ticket", "PVE:x", "path", "/a b")
	log.Debug("hidden at info level")
	lines, err := b.Lines()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.Contains(lines[0], " n1 hearth[") || !strings.Contains(lines[0], "]: INFO login user=admin@pve password=[redacted] remote=127.0.0.1:5000") {
		t.Errorf("line 0: %s", lines[0])
	}
	if strings.Contains(stderr.String(), "hunter2") || strings.Contains(strings.Join(lines, ""), "hunter2") {
		t.Error("a password reached the log")
	}
	if !strings.Contains(lines[1], `WARN two\nlines component=api req.Ticket=[redacted] req.path="/a b"`) {
		t.Errorf("line 1: %s", lines[1])
	}
	if _, ok := LineTime(lines[0]); !ok {
		t.Errorf("no time stamp: %s", lines[0])
	}
	t0, _ := LineTime(lines[0])
	t1, _ := LineTime(lines[1])
	if !t1.After(t0) {
		t.Error("time stamps are not strictly increasing")
	}
}

func TestRotationBoundsTheFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(Options{Dir: dir, Node: "n1", MaxSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	log := slog.New(b.Handler())
	for i := 0; i < 200; i++ {
		log.Info("filler line", "i", i)
	}
	for _, name := range []string{"hearth.log", "hearth.log.1"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2000 {
			t.Errorf("%s is %d bytes, above the limit", name, st.Size())
		}
	}
	lines, _ := b.Lines()
	if !strings.HasSuffix(lines[len(lines)-1], "i=199") {
		t.Errorf("newest line lost: %s", lines[len(lines)-1])
	}
}

func writeLines(t *testing.T, n int) *Book {
	t.Helper()
	b, err := Open(Options{Dir: t.TempDir(), Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		b.write(base.Add(time.Duration(i)*time.Minute), "INFO line "+string(rune('a'+i)))
	}
	return b
}

func TestSyslogPagingAndTimeFilter(t *testing.T) {
	b := writeLines(t, 6)
	lines, total, err := b.Syslog(SyslogQuery{Start: 1, Limit: 2})
	if err != nil || total != 6 || len(lines) != 2 || !strings.HasSuffix(lines[0], "line b") {
		t.Fatalf("paging: %q %d %v", lines, total, err)
	}
	since := time.Date(2026, 1, 2, 3, 2, 0, 0, time.UTC)
	until := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	lines, total, _ = b.Syslog(SyslogQuery{Since: since, Until: until})
	if total != 2 || !strings.HasSuffix(lines[0], "line c") || !strings.HasSuffix(lines[1], "line d") {
		t.Fatalf("time filter: %q", lines)
	}
	if _, total, _ := b.Syslog(SyslogQuery{Service: "sshd"}); total != 0 {
		t.Fatal("service filter let other services through")
	}
	if lines, total, _ := b.Syslog(SyslogQuery{Start: 10}); total != 6 || lines != nil {
		t.Fatal("start beyond the end")
	}
}

func TestJournalCursors(t *testing.T) {
	b := writeLines(t, 5)
	out, err := b.Journal(JournalQuery{LastEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 || !strings.HasSuffix(out[1], "line d") || !strings.HasPrefix(out[1], out[0]) || !strings.HasPrefix(out[2], out[3]) {
		t.Fatalf("last entries: %q", out)
	}
	// Reading on from the last cursor returns nothing new until a line is added.
	next, _ := b.Journal(JournalQuery{StartCursor: out[3]})
	if len(next) != 2 || next[0] != out[3] {
		t.Fatalf("nothing new: %q", next)
	}
	b.write(time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC), "INFO fresh")
	next, _ = b.Journal(JournalQuery{StartCursor: out[3]})
	if len(next) != 3 || !strings.HasSuffix(next[1], "fresh") {
		t.Fatalf("new line: %q", next)
	}
	upto, _ := b.Journal(JournalQuery{EndCursor: out[0]})
	if len(upto) != 6 || !strings.HasSuffix(upto[len(upto)-2], "line d") {
		t.Fatalf("end cursor: %q", upto)
	}
}
