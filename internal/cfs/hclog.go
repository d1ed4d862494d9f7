package cfs

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"strconv"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is below slog.LevelDebug: raft's trace output is only wanted
// when a handler is explicitly opened that far.
const levelTrace = slog.LevelDebug - 4

// hclogAdapter sends hashicorp/raft's hclog output to an slog.Logger, so
// the daemon has one log with one format and one level setting. The slog
// handler decides what is shown; SetLevel is therefore a no-op.
type hclogAdapter struct {
	base    *slog.Logger // as handed in, without name or implied args
	l       *slog.Logger // base with the name and implied args attached
	name    string
	implied []any
}

// HCLog adapts a slog logger for hashicorp libraries (raft and its
// transports), so their messages land in the daemon's log.
func HCLog(l *slog.Logger, name string) hclog.Logger {
	return derive(l, name, nil)
}

// derive builds an adapter from scratch rather than stacking With calls,
// so that renaming does not leave an old name attribute behind.
func derive(base *slog.Logger, name string, implied []any) *hclogAdapter {
	l := base
	if name != "" {
		l = l.With("logger", name)
	}
	if len(implied) > 0 {
		l = l.With(implied...)
	}
	return &hclogAdapter{base: base, l: l, name: name, implied: implied}
}

// slogLevel maps hclog levels one to one; raft uses Info for rare events
// worth seeing (leadership changes, snapshots) and Warn/Error for trouble.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lv := slogLevel(level)
	if !a.l.Enabled(context.Background(), lv) {
		return
	}
	args = plainArgs(args)
	// Every start of a node passes through its first election, and raft
	// announces that as a warning. Only a timeout that loses a known
	// leader deserves one.
	if level == hclog.Warn && msg == "heartbeat timeout reached, starting election" && argValue(args, "last-leader-id") == "" {
		lv = slog.LevelInfo
	}
	a.l.Log(context.Background(), lv, msg, args...)
}

// plainArgs turns hclog's formatting wrappers into the strings hclog would
// print, since slog would otherwise show them as raw slices or numbers.
func plainArgs(args []any) []any {
	out, copied := args, false
	for i := 1; i < len(args); i += 2 {
		var s string
		switch v := args[i].(type) {
		case hclog.Format:
			if len(v) == 0 {
				continue
			}
			format, _ := v[0].(string)
			s = fmt.Sprintf(format, v[1:]...)
		case hclog.Hex:
			s = "0x" + strconv.FormatInt(int64(v), 16)
		case hclog.Octal:
			s = "0" + strconv.FormatInt(int64(v), 8)
		case hclog.Binary:
			s = "0b" + strconv.FormatInt(int64(v), 2)
		case hclog.Quote:
			s = strconv.Quote(string(v))
		default:
			continue
		}
		if !copied {
			out, copied = slices.Clone(args), true // never write into the caller's slice
		}
		out[i] = s
	}
	return out
}

// argValue returns the value of key in alternating key/value args as text,
// or "".
func argValue(args []any, key string) string {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == key {
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return a.l.Enabled(context.Background(), slogLevel(l))
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	return derive(a.base, a.name, append(a.implied[:len(a.implied):len(a.implied)], args...))
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return derive(a.base, name, a.implied)
}

func (a *hclogAdapter) SetLevel(hclog.Level) {}

func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(opts).Writer()
}
