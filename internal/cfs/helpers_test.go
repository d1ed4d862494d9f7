package cfs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testLogger shows warnings and errors in the output of a failed test (or
// with -v). Raft's routine messages stay hidden.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func testConfig(t testing.TB, dir string) Config {
	return Config{Dir: dir, NodeID: "pve1", Logger: testLogger(t)}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a store on cfg, waits until it is ready and closes it
// when the test ends.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.WaitReady(ctxT(t)); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return s
}

func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, testConfig(t, t.TempDir()))
}

func mustApply(t testing.TB, s *Store, ops ...Op) uint64 {
	t.Helper()
	v, err := s.Apply(ctxT(t), ops...)
	if err != nil {
		t.Fatalf("Apply(%v): %v", ops, err)
	}
	return v
}

func mustGet(t testing.TB, s *Store, p string) Entry {
	t.Helper()
	e, err := s.Get(p)
	if err != nil {
		t.Fatalf("Get(%q): %v", p, err)
	}
	return e
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newTestFSM returns a state machine without raft, for feeding log entries
// directly.
func newTestFSM(t testing.TB) *fsm {
	return newFSM(testLogger(t), newHub(0))
}

// txnEntry builds the log entry Store.Apply would propose.
func txnEntry(t testing.TB, mtime, maxFile, maxTotal int64, ops ...Op) []byte {
	t.Helper()
	c := txnCmd{MTime: mtime, MaxFile: maxFile, MaxTotal: maxTotal}
	for _, o := range ops {
		c.Ops = append(c.Ops, toWire(o))
	}
	b, err := encodeTxn(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func applyEntry(f *fsm, index uint64, data []byte) applyResult {
	return f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}).(applyResult)
}

// dump renders the whole tree and the version, for comparing trees.
func (f *fsm) dump() string {
	var b bytes.Buffer
	f.mu.RLock()
	defer f.mu.RUnlock()
	fmt.Fprintf(&b, "version %d total %d\n", f.version, f.total)
	walk(f.root, "", func(p string, n *node) {
		if p != "" {
			fmt.Fprintf(&b, "%s dir=%v v=%d m=%d %q\n", p, n.dir, n.version, n.mtime, n.data)
		}
	})
	return b.String()
}

// snapshotBytes persists a snapshot of f into memory.
func snapshotBytes(t testing.TB, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := snap.(*fsmSnapshot).writeTo(&b); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	return b.Bytes()
}

// recvEvents reads n events from ch or fails at the deadline.
func recvEvents(t testing.TB, ch <-chan Event, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d events: %v", len(out), n, out)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("got %d of %d events: %v", len(out), n, out)
		}
	}
	return out
}
