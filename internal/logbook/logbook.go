// Package logbook keeps the daemon's own log: a slog handler that writes
// each record to stderr and to a size-bounded file, and a reader that
// serves that file to the syslog and journal API endpoints.
package logbook

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TimeLayout starts every stored line (always in UTC); it sorts as text
// and serves as the journal cursor.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// Book is the log file and its writer. Lines look like
// "2026-11-24T10:00:00.000000+00:00 node1 hearth[1234]: INFO started listen=:8006".
type Book struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	size   int64
	max    int64
	prefix string // " <node> hearth[<pid>]: "
	stderr io.Writer
	level  slog.Leveler
	last   time.Time
}

// Options configure a Book.
type Options struct {
	Dir     string
	Node    string
	MaxSize int64     // rotate after this many bytes; default 8 MiB
	Stderr  io.Writer // also write here; nil for none
	Level   slog.Leveler
}

// Open opens (or creates) the log in dir.
func Open(o Options) (*Book, error) {
	if o.MaxSize == 0 {
		o.MaxSize = 8 << 20
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	b := &Book{path: filepath.Join(o.Dir, "hearth.log"), max: o.MaxSize, stderr: o.Stderr, level: o.Level,
		prefix: fmt.Sprintf(" %s hearth[%d]: ", o.Node, os.Getpid())}
	if err := b.openFile(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Book) openFile() error {
	f, err := os.OpenFile(b.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	b.f, b.size = f, st.Size()
	return nil
}

// Close closes the file.
func (b *Book) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.f.Close()
}

// write appends one line, rotating the file when it is full: the current
// file becomes hearth.log.1 (replacing the older one), so the log never
// uses more than twice MaxSize.
func (b *Book) write(t time.Time, text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Stamps are UTC and strictly increasing, so that they sort as text
	// and each one names exactly one line (it is the journal cursor).
	t = t.UTC().Truncate(time.Microsecond)
	if !t.After(b.last) {
		t = b.last.Add(time.Microsecond)
	}
	b.last = t
	line := t.Format(TimeLayout) + b.prefix + text + "\n"
	if b.stderr != nil {
		io.WriteString(b.stderr, line)
	}
	if b.size+int64(len(line)) > b.max && b.size > 0 {
		b.f.Close()
		os.Rename(b.path, b.path+".1")
		if err := b.openFile(); err != nil {
			if b.stderr != nil {
				fmt.Fprintf(b.stderr, "logbook: reopening %s: %v\n", b.path, err)
			}
			return
		}
	}
	n, _ := io.WriteString(b.f, line)
	b.size += int64(n)
}

// Handler returns a slog handler writing to the book.
func (b *Book) Handler() slog.Handler { return &handler{book: b} }

type handler struct {
	book   *Book
	attrs  []slog.Attr
	groups []string
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.book.level.Level() }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Level.String())
	sb.WriteByte(' ')
	sb.WriteString(oneLine(r.Message))
	for _, a := range h.attrs {
		writeAttr(&sb, nil, a)
	}
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&sb, h.groups, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	h.book.write(t, sb.String())
	return nil
}

// WithAttrs stores attributes with the group path of the moment, since
// groups opened later must not apply to them.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr{}, h.attrs...)
	for _, a := range attrs {
		if len(h.groups) > 0 {
			a.Key = strings.Join(h.groups, ".") + "." + a.Key
		}
		n.attrs = append(n.attrs, a)
	}
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	n := *h
	n.groups = append(append([]string{}, h.groups...), name)
	return &n
}

// secretKeys are attribute names whose values are never written, whatever
// a caller passes by mistake.
var secretKeys = []string{"password", "secret", "ticket", "csrf", "token_value", "otp"}

func writeAttr(sb *strings.Builder, groups []string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(sb, append(groups, a.Key), g)
		}
		return
	}
	key := strings.Join(append(append([]string{}, groups...), a.Key), ".")
	val := a.Value.String()
	lower := strings.ToLower(a.Key)
	for _, s := range secretKeys {
		if strings.Contains(lower, s) {
			val = "[redacted]"
		}
	}
	val = oneLine(val)
	if strings.ContainsAny(val, " \"=") || val == "" {
		val = fmt.Sprintf("%q", val)
	}
	sb.WriteByte(' ')
	sb.WriteString(key)
	sb.WriteByte('=')
	sb.WriteString(val)
}

// oneLine keeps a record on one line, so line-based readers stay in step.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// Lines returns every stored line, oldest first.
func (b *Book) Lines() ([]string, error) {
	var out []string
	for _, p := range []string{b.path + ".1", b.path} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LineTime parses the time at the start of a stored line.
func LineTime(line string) (time.Time, bool) {
	if len(line) < len(TimeLayout) {
		return time.Time{}, false
	}
	ts, _, _ := strings.Cut(line, " ")
	t, err := time.Parse(TimeLayout, ts)
	return t, err == nil
}
