package cfs

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// slogOff is above every level anyone logs at.
const slogOff = slog.Level(100)

func testLoggerAt(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// recorder is an slog.Handler that keeps records for inspection.
type recorder struct {
	level slog.Level
	attrs []slog.Attr
	mu    *sync.Mutex
	recs  *[]slog.Record
}

func newRecorder(level slog.Level) *recorder {
	return &recorder{level: level, mu: &sync.Mutex{}, recs: &[]slog.Record{}}
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(r.attrs...)
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.recs = append(*r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr{}, r.attrs...), as...)
	return &c
}
func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record{}, *r.recs...)
}

func attrsOf(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

func TestHclogAdapter(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	l := HCLog(slog.New(rec), "raft")
	if !l.IsDebug() || l.IsTrace() || l.GetLevel() != hclog.Debug {
		t.Errorf("levels: debug %v trace %v level %v", l.IsDebug(), l.IsTrace(), l.GetLevel())
	}
	l.Trace("hidden")
	l.Info("entering leader state", "leader", "pve1", "servers", hclog.Fmt("%d+%d", 1, 2), "mask", hclog.Hex(255), "q", hclog.Quote("x y"))
	l.Named("snapshot").With("id", 7).Warn("slow")
	l.Named("a").ResetNamed("b").Error("bad")
	l.StandardLogger(nil).Print("from the standard logger")

	// The first election after a start is routine, a lost leader is not.
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "b", "last-leader-id", "pve2")

	recs := rec.records()
	if len(recs) != 6 {
		t.Fatalf("got %d records: %v", len(recs), recs)
	}
	for i, want := range []struct {
		level slog.Level
		msg   string
		attrs map[string]string
	}{
		{slog.LevelInfo, "entering leader state", map[string]string{"logger": "raft", "leader": "pve1", "servers": "1+2", "mask": "0xff", "q": `"x y"`}},
		{slog.LevelWarn, "slow", map[string]string{"logger": "raft.snapshot", "id": "7"}},
		{slog.LevelError, "bad", map[string]string{"logger": "b"}},
		{slog.LevelInfo, "from the standard logger", map[string]string{"logger": "raft"}},
		{slog.LevelInfo, "heartbeat timeout reached, starting election", nil},
		{slog.LevelWarn, "heartbeat timeout reached, starting election", map[string]string{"last-leader-id": "pve2"}},
	} {
		got := recs[i]
		if got.Level != want.level || got.Message != want.msg {
			t.Errorf("record %d = %v %q, want %v %q", i, got.Level, got.Message, want.level, want.msg)
		}
		a := attrsOf(got)
		for k, v := range want.attrs {
			if a[k] != v {
				t.Errorf("record %d: %s=%q, want %q (all: %v)", i, k, a[k], v, a)
			}
		}
	}
}

func TestRaftLogsReachSlog(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	cfg := testConfig(t, t.TempDir())
	cfg.Logger = slog.New(rec)
	openStore(t, cfg)
	for _, r := range rec.records() {
		if r.Message == "entering leader state" && attrsOf(r)["logger"] == "raft" {
			return
		}
	}
	t.Errorf("raft's leadership message did not reach slog; got %d records", len(rec.records()))
}
