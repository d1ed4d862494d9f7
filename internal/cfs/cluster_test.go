package cfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// inmemNet connects in-memory raft transports of several stores and
// delivers forwarded requests to the leader in-process. A node can be cut
// off (its transport disconnected) and restored.
type inmemNet struct {
	mu     sync.Mutex
	trans  map[raft.ServerAddress]*raft.InmemTransport
	stores map[string]*Store
	cut    map[raft.ServerAddress]bool
}

func newInmemNet() *inmemNet {
	return &inmemNet{trans: map[raft.ServerAddress]*raft.InmemTransport{}, stores: map[string]*Store{}, cut: map[raft.ServerAddress]bool{}}
}

// transport returns the factory for one node: each call makes a fresh
// transport wired to every other node that is not cut off.
func (n *inmemNet) transport(id string) func() (raft.Transport, error) {
	return func() (raft.Transport, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		addr := raft.ServerAddress(id)
		_, t := raft.NewInmemTransport(addr)
		n.trans[addr] = t
		n.rewire()
		return t, nil
	}
}

func (n *inmemNet) rewire() {
	for a, ta := range n.trans {
		ta.DisconnectAll()
		for b, tb := range n.trans {
			if a != b && !n.cut[a] && !n.cut[b] {
				ta.Connect(b, tb)
			}
		}
	}
}

func (n *inmemNet) setCut(id string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[raft.ServerAddress(id)] = cut
	n.rewire()
}

func (n *inmemNet) forward(from string) Forwarder {
	return func(ctx context.Context, leader Server, req ForwardRequest) (ForwardResult, error) {
		n.mu.Lock()
		s, ok := n.stores[leader.ID]
		unreachable := n.cut[raft.ServerAddress(from)] || n.cut[raft.ServerAddress(leader.ID)]
		n.mu.Unlock()
		if !ok || unreachable {
			return ForwardResult{}, fmt.Errorf("no route to %s", leader.ID)
		}
		return s.Execute(ctx, req), nil
	}
}

func (n *inmemNet) open(t *testing.T, id, dir string, bootstrap bool) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{
		Dir: dir, NodeID: id, Logger: slog.New(slog.DiscardHandler),
		Transport: n.transport(id), NoBootstrap: !bootstrap, Forward: n.forward(id),
		HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		ApplyTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.stores[id] = s
	n.mu.Unlock()
	t.Cleanup(func() { s.Close() })
	return s
}

// startCluster makes a cluster of size voters: n1 bootstraps, the others
// join as voters.
func startCluster(t *testing.T, size int) (*inmemNet, []*Store, []string) {
	t.Helper()
	n := newInmemNet()
	var stores []*Store
	var dirs []string
	for i := 1; i <= size; i++ {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		stores = append(stores, n.open(t, fmt.Sprintf("n%d", i), dir, i == 1))
	}
	ctx := context.Background()
	waitReady(t, stores[0])
	for i := 2; i <= size; i++ {
		if err := stores[0].AddVoter(ctx, fmt.Sprintf("n%d", i), fmt.Sprintf("n%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stores {
		waitReady(t, s)
	}
	return n, stores, dirs
}

func waitReady(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("%s not ready: %v", s.localID, err)
	}
}

func leaderOf(t *testing.T, stores []*Store) *Store {
	t.Helper()
	var l *Store
	eventually(t, "a leader", func() bool {
		for _, s := range stores {
			if !s.isClosed() && s.IsLeader() {
				l = s
				return true
			}
		}
		return false
	})
	return l
}

func TestWritesOnFollowersAreForwardedAndReadBackAtOnce(t *testing.T) {
	_, stores, _ := startCluster(t, 3)
	ctx := context.Background()
	leader := leaderOf(t, stores)
	for _, s := range stores {
		if s == leader {
			continue
		}
		path := "nodes/" + string(s.localID) + "/note"
		if _, err := s.Apply(ctx, Write(path, []byte("from "+string(s.localID)))); err != nil {
			t.Fatalf("write on follower %s: %v", s.localID, err)
		}
		// Read-your-writes: no waiting between the write and the read.
		e, err := s.Get(path)
		if err != nil || string(e.Data) != "from "+string(s.localID) {
			t.Fatalf("follower %s does not see its own write: %q %v", s.localID, e.Data, err)
		}
	}
	// Errors keep their type across the hop.
	follower := stores[0]
	if follower == leader {
		follower = stores[1]
	}
	_, err := follower.Apply(ctx, Write("nodes/x", []byte("a")).If(Cond{MustNotExist: true}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = follower.Apply(ctx, Write("nodes/x", []byte("b")).If(Cond{MustNotExist: true}))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Path != "nodes/x" || !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict through forwarding: %v", err)
	}
	_, err = follower.Apply(ctx, Delete("missing/file"))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("not-found through forwarding: %v", err)
	}
	// Every node converges to the same tree.
	for _, s := range stores {
		eventually(t, "replication to "+string(s.localID), func() bool { return s.Version() == leader.Version() })
	}
}

func TestLeaderLossAndQuorum(t *testing.T) {
	n, stores, _ := startCluster(t, 3)
	ctx := context.Background()
	old := leaderOf(t, stores)
	if _, err := old.Apply(ctx, Write("a", []byte("1"))); err != nil {
		t.Fatal(err)
	}
	// Kill the leader: the others elect a new one and take writes.
	start := time.Now()
	n.setCut(string(old.localID), true)
	old.Close()
	var rest []*Store
	for _, s := range stores {
		if s != old {
			rest = append(rest, s)
		}
	}
	var err error
	eventually(t, "writes after the leader died", func() bool {
		_, err = rest[0].Apply(ctx, Write("b", []byte("2")))
		return err == nil
	})
	t.Logf("writes resumed %v after the leader was killed", time.Since(start).Round(time.Millisecond))
	// A synced read on the other survivor sees the write acknowledged by
	// the dead leader.
	if err := rest[1].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := rest[1].Get("a"); err != nil || string(e.Data) != "1" {
		t.Fatalf("acknowledged write lost: %v", err)
	}

	// With one of three left, writes are refused quickly and reads work.
	n.setCut(string(rest[1].localID), true)
	rest[1].Close()
	eventually(t, "loss of quorum", func() bool { return !rest[0].Quorate() })
	begin := time.Now()
	_, err = rest[0].Apply(ctx, Write("c", []byte("3")))
	if !errors.Is(err, ErrNoQuorum) || err.Error() != "cluster not ready - no quorum?" {
		t.Fatalf("write without quorum: %v", err)
	}
	if d := time.Since(begin); d > 500*time.Millisecond {
		t.Fatalf("refusal took %v", d)
	}
	if e, err := rest[0].Get("b"); err != nil || string(e.Data) != "2" {
		t.Fatalf("read without quorum: %v", err)
	}
}

func TestRestartedFollowerCatchesUp(t *testing.T) {
	n, stores, dirs := startCluster(t, 3)
	ctx := context.Background()
	leader := leaderOf(t, stores)
	var follower *Store
	var dir string
	for i, s := range stores {
		if s != leader {
			follower, dir = s, dirs[i]
		}
	}
	id := string(follower.localID)
	follower.Close()
	for i := 0; i < 50; i++ {
		if _, err := leader.Apply(ctx, Write(fmt.Sprintf("f/%d", i), []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	// Force a snapshot so the follower may need one to catch up.
	if err := leader.r().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	again := n.open(t, id, dir, false)
	eventually(t, "catch-up after restart", func() bool { return again.Version() == leader.Version() })
	if _, err := again.Get("f/49"); err != nil {
		t.Fatal(err)
	}
}

func TestNewNodeReceivesTheWholeTree(t *testing.T) {
	n, stores, _ := startCluster(t, 3)
	ctx := context.Background()
	leader := leaderOf(t, stores)
	const files = 10000
	payload := make([]byte, 400)
	for i := 0; i < files; i += 100 {
		ops := make([]Op, 0, 100)
		for j := i; j < i+100; j++ {
			ops = append(ops, Write(fmt.Sprintf("nodes/n1/qemu-server/%d.conf", 100+j), payload))
		}
		// The writes are idempotent: a batch whose commit was cut short
		// by an election (a loaded CI machine) is simply written again.
		for attempt := 0; ; attempt++ {
			_, err := leader.Apply(ctx, ops...)
			if err == nil {
				break
			}
			if attempt == 5 || !errors.Is(err, ErrNoQuorum) && !errors.Is(err, ErrNotLeader) {
				t.Fatal(err)
			}
			leader = leaderOf(t, stores)
		}
	}
	if err := leader.r().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	joiner := n.open(t, "n4", t.TempDir(), false)
	if err := stores[1].AddNonvoter(ctx, "n4", "n4"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new node to hold every file", func() bool { return joiner.Version() == leader.Version() })
	list, err := joiner.List("nodes/n1/qemu-server")
	if err != nil || len(list) != files {
		t.Fatalf("joiner has %d files: %v", len(list), err)
	}
	t.Logf("a new node received %d guest configs in %v", files, time.Since(start).Round(time.Millisecond))
	servers, _ := leader.Servers()
	for _, s := range servers {
		if s.ID == "n4" && s.Voter {
			t.Fatal("a non-voter was added as voter")
		}
	}
}

func TestResetJoinsAnotherCluster(t *testing.T) {
	n, stores, _ := startCluster(t, 2)
	ctx := context.Background()
	if _, err := stores[0].Apply(ctx, Write("cluster-file", []byte("shared"))); err != nil {
		t.Fatal(err)
	}
	// A standalone node with its own data.
	dir := filepath.Join(t.TempDir(), "cfs")
	alone := n.open(t, "solo", dir, true)
	waitReady(t, alone)
	if _, err := alone.Apply(ctx, Write("private", []byte("mine"))); err != nil {
		t.Fatal(err)
	}
	events, cancel := alone.Watch("")
	defer cancel()
	if err := alone.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alone.Get("private"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old data survived the reset: %v", err)
	}
	select {
	case ev := <-events:
		if ev.Kind != EventOverflow {
			t.Fatalf("first event after reset: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no overflow event after the reset")
	}
	backups, _ := filepath.Glob(dir + ".before-join-*")
	if len(backups) != 1 {
		t.Fatalf("old state not kept: %v", backups)
	}
	if err := stores[0].AddVoter(ctx, "solo", "solo"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reset node to receive the cluster's tree", func() bool {
		e, err := alone.Get("cluster-file")
		return err == nil && string(e.Data) == "shared"
	})
	if _, err := alone.Apply(ctx, Write("written-by-solo", []byte("ok"))); err != nil {
		t.Fatalf("write from the joined node: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverAfterLosingTheMajority(t *testing.T) {
	n, stores, _ := startCluster(t, 3)
	ctx := context.Background()
	if _, err := stores[0].Apply(ctx, Write("before", []byte("1"))); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		eventually(t, "replication", func() bool { return s.Version() == stores[0].Version() })
	}
	survivor := stores[2]
	for _, s := range stores[:2] {
		n.setCut(string(s.localID), true)
		s.Close()
	}
	eventually(t, "loss of quorum", func() bool { return !survivor.Quorate() })
	if err := survivor.Recover(ctx, []string{"n3"}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, survivor)
	if _, err := survivor.Apply(ctx, Write("after", []byte("2"))); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if e, err := survivor.Get("before"); err != nil || string(e.Data) != "1" {
		t.Fatalf("data before recovery: %v", err)
	}
	if err := survivor.Recover(ctx, []string{"nobody"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("recover with a stranger: %v", err)
	}
}

func TestWireErrorsRoundTrip(t *testing.T) {
	errs := []error{
		&ConflictError{Path: "p", Check: "version", Have: "2", Want: "1"},
		&LimitError{Path: "p", Size: 10, Limit: 5, Total: true},
		&PathError{Path: "../x", Reason: "no dot segments"},
		&OpError{Op: "delete", Path: "d", Err: ErrNotEmpty},
		ErrNoQuorum, ErrNotLeader, ErrClosed, errors.New("something else"),
	}
	for _, e := range errs {
		back := wireError(e).Unwrap()
		if back.Error() != e.Error() {
			t.Errorf("%v came back as %v", e, back)
		}
		for _, s := range []error{ErrConflict, ErrTooLarge, ErrInvalid, ErrNotEmpty, ErrNoQuorum, ErrNotLeader} {
			if errors.Is(e, s) != errors.Is(back, s) {
				t.Errorf("%v: errors.Is(%v) differs after the round trip", e, s)
			}
		}
	}
}

func TestLocksAcrossNodes(t *testing.T) {
	_, stores, _ := startCluster(t, 3)
	ctx := context.Background()
	a, b := stores[1], stores[2]
	lease, err := a.Lock(ctx, "vm-100", "n2:migrate", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Lock(ctx, "vm-100", "n3:start", time.Minute)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder != "n2:migrate" || !errors.Is(err, ErrLocked) {
		t.Fatalf("second holder: %v", err)
	}
	// The holder renews its own lock.
	if _, err := a.Lock(ctx, "vm-100", "n2:migrate", time.Minute); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if err := b.Unlock(ctx, Lease{Name: "vm-100", Holder: "n3:start"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("unlock by a stranger: %v", err)
	}
	if err := a.Unlock(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "vm-100", "n3:start", 50*time.Millisecond); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	// An expired lock is free for the taking.
	eventually(t, "expiry", func() bool {
		_, err := a.Lock(ctx, "vm-100", "n2:ha", time.Minute)
		return err == nil
	})
	// Races: of many nodes taking the same free lock, exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			holder := fmt.Sprintf("h%d", i)
			if _, err := stores[i%3].Lock(ctx, "race", holder, time.Minute); err == nil {
				wins <- holder
			}
		}(i)
	}
	wg.Wait()
	close(wins)
	if len(wins) != 1 {
		t.Fatalf("%d holders won the same lock", len(wins))
	}
	if _, err := a.Lock(ctx, "a/b", "x", 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nested lock name: %v", err)
	}
}

func TestFiveVotersTolerateTwoFailures(t *testing.T) {
	n, stores, _ := startCluster(t, 5)
	ctx := context.Background()
	leader := leaderOf(t, stores)
	down := 0
	for _, s := range stores {
		if s != leader && down < 2 {
			n.setCut(string(s.localID), true)
			s.Close()
			down++
		}
	}
	if _, err := leader.Apply(ctx, Write("still", []byte("writable"))); err != nil {
		t.Fatalf("write with 3 of 5: %v", err)
	}
	for _, s := range stores {
		if s != leader && !s.isClosed() {
			n.setCut(string(s.localID), true)
			s.Close()
			break
		}
	}
	eventually(t, "loss of quorum with 2 of 5", func() bool { return !leader.Quorate() })
}
