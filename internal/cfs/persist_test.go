package cfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

func nopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func TestRestartRestoresFromLog(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(t, dir))
	mustApply(t, s, Write("a/b", []byte("1")), Mkdir("d"))
	mustApply(t, s, Rename("a/b", "a/c"))
	_, _ = s.Apply(ctxT(t), Delete("a").If(Cond{Version: 1})) // refused, must stay refused
	want := s.fsm.dump()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, testConfig(t, dir))
	if got := s2.fsm.dump(); got != want {
		t.Fatalf("after restart:\n%s\nwant\n%s", got, want)
	}
	if v := mustApply(t, s2, Write("after", nil)); v != 3 {
		t.Errorf("version after restart and one write = %d, want 3", v)
	}
}

func TestRestartRestoresFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(t, dir))
	mustApply(t, s, Write("before/snap", []byte("in the snapshot")))
	mustApply(t, s, Mkdir("empty-dir"))
	fut := s.raft.Snapshot()
	if err := fut.Error(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	meta, rc, err := fut.Open()
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	mustApply(t, s, Write("after/snap", []byte("in the log")), Delete("before/snap"), Write("before/x", nil))
	want := s.fsm.dump()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Drop every log entry the snapshot covers, so that what was written
	// before it can only come back from the snapshot.
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bolt.FirstIndex()
	if err := bolt.DeleteRange(first, meta.Index); err != nil {
		t.Fatal(err)
	}
	bolt.Close()

	s2 := openStore(t, testConfig(t, dir))
	if got := s2.fsm.dump(); got != want {
		t.Fatalf("after restart from snapshot:\n%s\nwant\n%s", got, want)
	}
	if e := mustGet(t, s2, "empty-dir"); !e.Dir {
		t.Errorf("empty-dir = %+v", e)
	}
}

func TestNoQuorum(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Logger = testLoggerAt(t, slogOff) // raft complains loudly about the missing peer
	s := openStore(t, cfg)
	mustApply(t, s, Write("f", []byte("kept")))

	// Make the cluster need a second voter that does not exist: the leader
	// loses its lease and no new one can be elected, as when a node is cut
	// off from the majority.
	s.raft.AddVoter("ghost", "ghost", 0, time.Second)
	eventually(t, "loss of quorum", func() bool { return !s.Quorate() })

	start := time.Now()
	_, err := s.Apply(ctxT(t), Write("f", []byte("lost")))
	if !errors.Is(err, ErrNoQuorum) || err.Error() != "cluster not ready - no quorum?" {
		t.Fatalf("Apply without quorum = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Apply without quorum took %v; it must fail fast", d)
	}
	if e := mustGet(t, s, "f"); string(e.Data) != "kept" {
		t.Errorf("read without quorum = %+v", e)
	}
	if _, err := s.List(""); err != nil {
		t.Errorf("List without quorum: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.WaitReady(ctx); !errors.Is(err, ErrNoQuorum) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady without quorum = %v", err)
	}
}

func TestClosedStore(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, Write("f", []byte("x")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Apply(ctxT(t), Write("g", nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v", err)
	}
	if err := s.WaitReady(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitReady after Close = %v", err)
	}
	if s.Quorate() {
		t.Error("closed store claims quorum")
	}
	if e := mustGet(t, s, "f"); string(e.Data) != "x" {
		t.Errorf("Get after Close = %+v", e)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	if _, err := Open(t.Context(), Config{Dir: t.TempDir()}); err == nil {
		t.Error("Open without NodeID succeeded")
	}
	cfg := testConfig(t, t.TempDir())
	cfg.HeartbeatTimeout, cfg.LeaderLeaseTimeout = 10*time.Millisecond, 20*time.Millisecond
	if _, err := Open(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "LeaderLeaseTimeout") {
		t.Errorf("Open with lease > heartbeat = %v", err)
	}
	// A second store on the same directory cannot get the lock on raft.db.
	dir := t.TempDir()
	openStore(t, testConfig(t, dir))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if s, err := Open(ctx, testConfig(t, dir)); err == nil {
		s.Close()
		t.Error("second Open of the same directory succeeded")
	} else if !strings.Contains(err.Error(), "raft.db") {
		t.Errorf("second Open = %v, want it to name raft.db", err)
	}
}

func TestUnknownCommandIsSkipped(t *testing.T) {
	// Directly: the state machine logs and skips, leaving tree and version.
	f := newTestFSM(t)
	applyEntry(f, 1, txnEntry(t, 5, 0, 0, Write("a", []byte("x"))))
	want := f.dump()
	for i, entry := range [][]byte{{0xEE}, {0xEE, '{', '}'}, {0}, {}} {
		res := applyEntry(f, uint64(2+i), entry)
		if res.err == nil || res.version != 1 {
			t.Errorf("entry %x: result %+v", entry, res)
		}
		if got := f.dump(); got != want {
			t.Fatalf("entry %x changed the tree:\n%s", entry, got)
		}
	}
	if res := applyEntry(f, 9, txnEntry(t, 5, 0, 0, Write("b", nil))); res.err != nil || res.version != 2 {
		t.Errorf("after skipped entries: %+v", res)
	}

	// Through raft, including a restart that replays the skipped entry.
	dir := t.TempDir()
	s := openStore(t, testConfig(t, dir))
	fut := s.raft.Apply([]byte{0xEE, 'n', 'e', 'w'}, time.Second)
	if err := fut.Error(); err != nil {
		t.Fatal(err)
	}
	if res := fut.Response().(applyResult); !errors.Is(res.err, errUnknownCommand) {
		t.Errorf("response = %+v", res)
	}
	if v := mustApply(t, s, Write("a", nil)); v != 1 {
		t.Errorf("version after a skipped entry = %d, want 1", v)
	}
	s.Close()
	s2 := openStore(t, testConfig(t, dir))
	if s2.Version() != 1 {
		t.Errorf("version after replay = %d", s2.Version())
	}
}

// randomOps returns a transaction of 1-2 random ops over a small set of
// paths, so that many of them collide, fail preconditions or conflict.
func randomOps(r *rand.Rand) []Op {
	paths := []string{"a", "b", "a/x", "a/y", "b/z", "c/d/e"}
	pick := func() string { return paths[r.IntN(len(paths))] }
	ops := make([]Op, 1+r.IntN(2))
	for i := range ops {
		var o Op
		switch r.IntN(5) {
		case 0, 1:
			o = Write(pick(), []byte(strings.Repeat("d", r.IntN(40))))
		case 2:
			o = Delete(pick())
		case 3:
			o = Mkdir(pick())
		case 4:
			o = Rename(pick(), pick())
		}
		switch r.IntN(8) {
		case 0:
			o.Cond.Version = uint64(r.IntN(20))
		case 1:
			o.Cond.MustNotExist = true
		}
		ops[i] = o
	}
	return ops
}

func TestFSMDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var log [][]byte
	for i := range 400 {
		if i%50 == 7 {
			log = append(log, []byte{0xEE, byte(i)}) // unknown type
			continue
		}
		log = append(log, txnEntry(t, int64(1e9+i), 0, 300, randomOps(r)...))
	}
	a, b := newTestFSM(t), newTestFSM(t)
	applied := 0
	for i, e := range log {
		ra, rb := applyEntry(a, uint64(i+1), e), applyEntry(b, uint64(i+1), e)
		if ra.version != rb.version || fmt.Sprint(ra.err) != fmt.Sprint(rb.err) {
			t.Fatalf("entry %d: %+v vs %+v", i, ra, rb)
		}
		if ra.err == nil {
			applied++
		}
	}
	if applied < 80 || applied > 320 {
		t.Errorf("%d of %d transactions applied; the generator should mix success and failure", applied, len(log))
	}
	if a.dump() != b.dump() || !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
		t.Fatalf("replicas differ:\n%s\n%s", a.dump(), b.dump())
	}
	if a.version != uint64(applied) {
		t.Errorf("version %d, applied %d", a.version, applied)
	}
	checkTotal(t, a)

	// A snapshot restores the same tree.
	c := newTestFSM(t)
	if err := c.Restore(nopCloser(snapshotBytes(t, a))); err != nil {
		t.Fatal(err)
	}
	if c.dump() != a.dump() {
		t.Fatalf("restored tree differs:\n%s\n%s", c.dump(), a.dump())
	}
}

// checkTotal verifies the running total against the files in the tree.
func checkTotal(t testing.TB, f *fsm) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	var sum int64
	walk(f.root, "", func(_ string, n *node) { sum += int64(len(n.data)) })
	if sum != f.total {
		t.Fatalf("total %d, files add up to %d", f.total, sum)
	}
}

func TestReplayRealLog(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(t, dir))
	r := rand.New(rand.NewPCG(3, 4))
	for range 60 {
		_, _ = s.Apply(ctxT(t), randomOps(r)...)
	}
	want := s.fsm.dump()
	s.Close()

	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	first, _ := bolt.FirstIndex()
	last, _ := bolt.LastIndex()
	a, b := newTestFSM(t), newTestFSM(t)
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := bolt.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if l.Type == raft.LogCommand {
			a.Apply(&l)
			b.Apply(&l)
		}
	}
	if a.dump() != want || b.dump() != want {
		t.Fatalf("replaying the log gave\n%s\n%s\nwant\n%s", a.dump(), b.dump(), want)
	}
}

func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	f := newTestFSM(t)
	applyEntry(f, 1, txnEntry(t, 1, 0, 0, Write("keep", []byte("x"))))
	want := f.dump()
	for name, snap := range map[string]string{
		"empty":          ``,
		"other format":   `{"format":2,"version":1,"entries":0}`,
		"missing entry":  `{"format":1,"version":1,"entries":1}`,
		"orphan":         `{"format":1,"version":1,"entries":1}` + "\n" + `{"p":"a/b","v":1,"m":1}`,
		"duplicate":      `{"format":1,"version":1,"entries":2}` + "\n" + `{"p":"a","v":1,"m":1}{"p":"a","v":1,"m":1}`,
		"bad path":       `{"format":1,"version":1,"entries":1}` + "\n" + `{"p":"../a","v":1,"m":1}`,
		"dir with data":  `{"format":1,"version":1,"entries":1}` + "\n" + `{"p":"a","dir":true,"d":"eA==","v":1,"m":1}`,
		"trailing value": `{"format":1,"version":1,"entries":0}` + "\n" + `{"p":"a","v":1,"m":1}`,
	} {
		if err := f.Restore(nopCloser([]byte(snap))); err == nil {
			t.Errorf("%s: Restore succeeded", name)
		}
		if f.dump() != want {
			t.Fatalf("%s: a refused snapshot changed the tree", name)
		}
	}
}

func TestReopenUnderAnotherName(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(t, dir))
	s.Close()

	rec := newRecorder(slog.LevelWarn)
	cfg := testConfig(t, dir)
	cfg.NodeID, cfg.Logger = "renamed", slog.New(rec)
	s2, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	found := false
	for _, r := range rec.records() {
		found = found || strings.Contains(r.Message, "not a member of the stored raft configuration")
	}
	if !found {
		t.Error("no warning about the node missing from the configuration")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := s2.WaitReady(ctx); !errors.Is(err, ErrNoQuorum) {
		t.Errorf("WaitReady = %v", err)
	}
}
