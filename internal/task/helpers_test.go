package task

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
)

const testNode = "pve1"

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(unix int64) *clock { return &clock{t: time.Unix(unix, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(unix int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Unix(unix, 0)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(t *testing.T, dir string) Config {
	return Config{Dir: dir, Node: testNode, PID: 0x4242, PStart: 0x1000, Logger: testLogger(t)}
}

// openRunner opens a runner on cfg and shuts it down when the test ends.
func openRunner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	r, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

func newRunner(t *testing.T) *Runner {
	t.Helper()
	return openRunner(t, testConfig(t, t.TempDir()))
}

// gate is a task that signals when it runs and then waits to be released
// (or stopped); release decides what Run returns.
type gate struct {
	started chan struct{}
	release chan error
}

func newGate() *gate { return &gate{started: make(chan struct{}), release: make(chan error, 1)} }

func (g *gate) task(typ, id string) api.Task {
	return api.Task{Type: typ, ID: id, Run: func(ctx context.Context, log api.TaskLog) error {
		log.Printf("waiting")
		close(g.started)
		select {
		case err := <-g.release:
			return err
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}
}

// fn makes a task from a function.
func fn(typ, id string, run func(context.Context, api.TaskLog) error) api.Task {
	return api.Task{Type: typ, ID: id, Run: run}
}

func ok(typ, id string) api.Task {
	return fn(typ, id, func(context.Context, api.TaskLog) error { return nil })
}

func fail(typ, id, msg string) api.Task {
	return fn(typ, id, func(context.Context, api.TaskLog) error { return errors.New(msg) })
}

func warn(typ, id string) api.Task {
	return fn(typ, id, func(_ context.Context, l api.TaskLog) error { l.Warnf("careful"); return nil })
}

// mustStart starts a task and fails the test if that fails.
func mustStart(t *testing.T, r *Runner, user string, task api.Task) string {
	t.Helper()
	u, err := r.Start(user, task)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return u.String()
}

// mustRun starts a task and waits for it to end.
func mustRun(t *testing.T, r *Runner, user string, task api.Task) Status {
	t.Helper()
	id := mustStart(t, r, user, task)
	st, err := r.Wait(context.Background(), id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func logText(t *testing.T, r *Runner, upid string) []string {
	t.Helper()
	lines, total, err := r.ReadLog(upid, 0, -1)
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	if total != len(lines) {
		t.Fatalf("ReadLog total %d, got %d lines", total, len(lines))
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if l.N != i+1 {
			t.Fatalf("line %d numbered %d", i+1, l.N)
		}
		out[i] = l.T
	}
	return out
}
