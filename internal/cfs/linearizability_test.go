package cfs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability check runs clients against a cluster while a nemesis
// cuts and restarts nodes, records every operation with its call and
// return time, and lets porcupine decide whether some sequential order of
// the operations explains every value read.
//
// By default one short run (linShortDuration on 3 nodes) is part of the
// normal test suite. The robustness target sets, for example,
//
//	HEARTH_LIN_DURATION=60s HEARTH_LIN_RUNS=10
//
// (with a go test -timeout above runs × duration) and then alternates
// between 5 and 3 nodes, unless HEARTH_LIN_NODES fixes the size. Each
// subtest is named after its seed; HEARTH_LIN_SEED and HEARTH_LIN_NODES
// replay its nemesis schedule (the interleaving of the clients is never
// reproducible). A failed check writes porcupine's visualization into the
// test's artifact directory; run with -artifacts to keep it.

const (
	linShortDuration  = 5 * time.Second
	linKeys           = 5
	linClientsPerNode = 2
	// linOpTimeout bounds one client operation. It is shorter than the
	// ApplyTimeout of inmemNet.open so that clients give up on a stuck
	// write (its outcome unknown) and keep the history moving.
	linOpTimeout = 2 * time.Second
)

// linInput is the input of an operation on one key: a put of Value, or a
// get when Put is false.
type linInput struct {
	Put   bool
	Key   string
	Value string
}

// linRegister is the sequential specification: every key is an
// independent register that starts empty (""). Values are unique, so a
// read names the one put it observed. The output of a get is the value
// read; puts have no output (they cannot fail in the model, and puts
// whose outcome is unknown are handled through their return time, see
// linRecorder.put).
var linRegister = porcupine.Model{
	// Keys are independent, so each key is checked on its own: the search
	// stays small however long the history gets.
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).Key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(linInput)
		if in.Put {
			return true, in.Value
		}
		return output.(string) == state.(string), state
	},
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in := input.(linInput)
		if in.Put {
			return fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.Key, output)
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "(absent)"
		}
		return state.(string)
	},
}

// linRecorder collects the history. Times are nanoseconds on the monotonic
// clock since the start of the run; every client reads the clock in its
// own goroutine right before calling and right after the return, and the
// operations synchronize through raft's channels, so an operation that
// returned before another was called always has the smaller timestamp.
type linRecorder struct {
	start   time.Time
	clients atomic.Int64

	mu  sync.Mutex
	ops []porcupine.Operation
	// notes annotate the visualization with what the nemesis did.
	notes []porcupine.Annotation
}

func (r *linRecorder) now() int64 { return int64(time.Since(r.start)) }

// newClient returns a fresh client id. A client whose put ended with an
// unknown outcome takes a new id, as Jepsen gives a crashed process a new
// one: the put stays open until the end of time, and the visualization
// draws one row per client with operations that do not overlap.
func (r *linRecorder) newClient() int { return int(r.clients.Add(1) - 1) }

func (r *linRecorder) add(op porcupine.Operation) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *linRecorder) note(desc string, start, end int64) {
	r.mu.Lock()
	r.notes = append(r.notes, porcupine.Annotation{Tag: "nemesis", Start: start, End: end, Description: desc, BackgroundColor: "#ffd7d7"})
	r.mu.Unlock()
}

// put records a put. A put that failed may still have been committed: the
// leader may have appended it before it lost leadership or before the
// client's deadline, and a later leader commits it. So its return time is
// infinity (math.MaxInt64): it may take effect at any point after its call,
// including "after every other operation", which is the same as never.
func (r *linRecorder) put(client int, key, value string, call int64, err error) {
	ret := r.now()
	meta := any("ok")
	if err != nil {
		ret, meta = math.MaxInt64, "outcome unknown: "+err.Error()
	}
	r.add(porcupine.Operation{ClientId: client, Input: linInput{Put: true, Key: key, Value: value}, Call: call, Return: ret, Metadata: meta})
}

// get records a read that succeeded. Failed reads are not recorded: they
// observed nothing and change nothing.
func (r *linRecorder) get(client int, key, value string, call int64, node string) {
	r.add(porcupine.Operation{ClientId: client, Input: linInput{Key: key}, Output: value, Call: call, Return: r.now(), Metadata: "on " + node})
}

func linPath(key string) string { return "lin/" + key }

// linGet is a linearizable read: Sync waits until this node has applied
// everything acknowledged anywhere before the call, then Get reads the
// local tree. A missing file reads as "".
func linGet(ctx context.Context, s *Store, key string) (string, error) {
	if err := s.Sync(ctx); err != nil {
		return "", err
	}
	e, err := s.Get(linPath(key))
	switch {
	case errors.Is(err, ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return string(e.Data), nil
}

// storeOf returns the current store of a node: the nemesis replaces it
// when it restarts the node.
func (n *inmemNet) storeOf(id string) *Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stores[id]
}

// linClient issues random puts and gets on one node until stop is closed.
func linClient(rec *linRecorder, net *inmemNet, node string, slot int, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(slot)))
	client := rec.newClient()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		s := net.storeOf(node)
		key := "k" + strconv.Itoa(rng.IntN(linKeys))
		// Operations run to their own deadline even when the run ends, so
		// that a stop does not turn acknowledged writes into unknown ones.
		ctx, cancel := context.WithTimeout(context.Background(), linOpTimeout)
		var err error
		call := rec.now()
		if rng.IntN(2) == 0 {
			value := fmt.Sprintf("c%d.%d", slot, seq)
			_, err = s.Apply(ctx, Write(linPath(key), []byte(value)))
			rec.put(client, key, value, call, err)
			if err != nil {
				client = rec.newClient()
			}
		} else {
			var v string
			if v, err = linGet(ctx, s, key); err == nil {
				rec.get(client, key, v, call, node)
			}
		}
		cancel()
		if err != nil {
			// Without a leader every call fails at once; backing off keeps
			// the number of open-ended puts, which the checker must place
			// somewhere, small.
			time.Sleep(time.Duration(20+rng.IntN(30)) * time.Millisecond)
		}
	}
}

// linNemesis injects one fault at a time until the deadline, and heals
// everything before it returns. It runs on the test goroutine because
// reopening a node uses the test's helpers, which may call t.Fatal.
type linNemesis struct {
	t    *testing.T
	net  *inmemNet
	rec  *linRecorder
	rng  *rand.Rand
	ids  []string
	dirs map[string]string
}

func (m *linNemesis) stores() []*Store {
	var out []*Store
	for _, id := range m.ids {
		out = append(out, m.net.storeOf(id))
	}
	return out
}

func (m *linNemesis) leader() string { return string(leaderOf(m.t, m.stores()).localID) }

func (m *linNemesis) followers(leader string) []string {
	var out []string
	for _, id := range m.ids {
		if id != leader {
			out = append(out, id)
		}
	}
	m.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// hold keeps a fault for 300-900 ms: longer than an election (150 ms
// timeouts), short enough for several faults in a 5 s run.
func (m *linNemesis) hold() { time.Sleep(time.Duration(300+m.rng.IntN(600)) * time.Millisecond) }

func (m *linNemesis) cut(desc string, ids ...string) {
	start := m.rec.now()
	for _, id := range ids {
		m.net.setCut(id, true)
	}
	m.hold()
	for _, id := range ids {
		m.net.setCut(id, false)
	}
	m.rec.note(fmt.Sprintf("%s %v", desc, ids), start, m.rec.now())
	m.t.Logf("nemesis: %s %v for %v", desc, ids, time.Duration(m.rec.now()-start).Round(time.Millisecond))
}

// restart crashes a node (cut off first, as a dead process stops
// answering at once rather than after a send timeout) and opens it again
// from its directory.
func (m *linNemesis) restart(id string) {
	start := m.rec.now()
	m.net.setCut(id, true)
	if err := m.net.storeOf(id).Close(); err != nil {
		m.t.Logf("closing %s: %v", id, err)
	}
	m.hold()
	m.net.setCut(id, false)
	m.net.open(m.t, id, m.dirs[id], false)
	m.rec.note("restart "+id, start, m.rec.now())
	m.t.Logf("nemesis: restarted %s, down for %v", id, time.Duration(m.rec.now()-start).Round(time.Millisecond))
}

// run cycles through the faults. One fault at a time leaves a majority
// connected, except the brief loss of quorum, which checks that writes
// refused without a majority do not come back wrong.
func (m *linNemesis) run(until time.Time) {
	minority := (len(m.ids) - 1) / 2
	faults := []func(){
		func() { m.cut("cut the leader", m.leader()) },
		func() { m.restart(m.ids[m.rng.IntN(len(m.ids))]) },
		func() { m.cut("cut followers", m.followers(m.leader())[:minority]...) },
		func() { m.restart(m.leader()) },
		func() {
			l := m.leader()
			m.cut("cut a majority", append([]string{l}, m.followers(l)[:minority]...)...)
		},
	}
	for i := 0; time.Now().Before(until); i++ {
		faults[i%len(faults)]()
		// Quiet time between faults, so that clients get work done.
		time.Sleep(time.Duration(200+m.rng.IntN(300)) * time.Millisecond)
	}
}

func linEnv(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func TestLinearizableUnderFaults(t *testing.T) {
	duration, long := linShortDuration, false
	if v := os.Getenv("HEARTH_LIN_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("HEARTH_LIN_DURATION=%q: %v", v, err)
		}
		duration, long = d, true
	}
	runs := linEnv(t, "HEARTH_LIN_RUNS", 1)
	fixedSize := linEnv(t, "HEARTH_LIN_NODES", 0)
	seed := uint64(linEnv(t, "HEARTH_LIN_SEED", int(time.Now().UnixNano()&math.MaxInt32)))
	for run := range runs {
		size := 3
		switch {
		case fixedSize > 0:
			size = fixedSize
		case long && run%2 == 0:
			size = 5
		}
		s := seed + uint64(run)
		t.Run(fmt.Sprintf("run%d-%dnodes-seed%d", run+1, size, s), func(t *testing.T) {
			linRun(t, size, duration, s)
		})
	}
}

func linRun(t *testing.T, size int, duration time.Duration, seed uint64) {
	net, _, dirs := startCluster(t, size)
	m := &linNemesis{t: t, net: net, rng: rand.New(rand.NewPCG(seed, 0)), dirs: map[string]string{}}
	for i := range size {
		id := fmt.Sprintf("n%d", i+1)
		m.ids = append(m.ids, id)
		m.dirs[id] = dirs[i]
	}
	rec := &linRecorder{start: time.Now()}
	m.rec = rec

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range size * linClientsPerNode {
		wg.Go(func() { linClient(rec, net, m.ids[i%size], i, seed, stop) })
	}
	m.run(time.Now().Add(duration))
	close(stop)
	wg.Wait()

	// Everything is healed: every node must answer a linearizable read of
	// every key, and all must agree. These reads join the history, so an
	// acknowledged write that vanished shows up as an illegal read too.
	final := map[string]string{}
	for _, id := range m.ids {
		s := net.storeOf(id)
		client := rec.newClient()
		for k := range linKeys {
			key := "k" + strconv.Itoa(k)
			var v string
			eventually(t, "a synced read of "+key+" on "+id, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), linOpTimeout)
				defer cancel()
				call := rec.now()
				var err error
				if v, err = linGet(ctx, s, key); err != nil {
					return false
				}
				rec.get(client, key, v, call, id)
				return true
			})
			if want, seen := final[key]; seen && want != v {
				t.Errorf("nodes disagree on %s after healing: %q and %q on %s", key, want, v, id)
			}
			final[key] = v
		}
	}

	history, stats := linPrune(rec.ops)
	t.Logf("%d nodes, %v: %s", size, duration, stats)
	timeout := max(30*time.Second, duration)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linRegister, history, timeout)
	t.Logf("porcupine: %s in %v", res, time.Since(start).Round(time.Millisecond))
	switch res {
	case porcupine.Illegal:
		linExplain(t, history, info)
		info.AddAnnotations(rec.notes)
		path := filepath.Join(t.ArtifactDir(), "linearizability.html")
		if err := porcupine.VisualizePath(linRegister, info, path); err != nil {
			t.Errorf("writing the visualization: %v", err)
		}
		t.Errorf("the history is not linearizable; visualization: %s (kept with go test -artifacts)", path)
	case porcupine.Unknown:
		// A timeout found no violation, and the history is probably just
		// too large; say so rather than fail.
		t.Logf("porcupine gave up after %v: no verdict", timeout)
	}
	for _, l := range linLostWrites(history) {
		t.Errorf("acknowledged, never read and never overwritten: %s", l)
	}
}

// linExplain logs, for each key whose history alone is illegal, the end
// of the longest order porcupine found and the operation that had to come
// next but could not: a summary for the log beside the visualization. The
// keys are checked again one by one because porcupine stops the other
// partitions at the first violation, which leaves their partial orders
// short too.
func linExplain(t *testing.T, history []porcupine.Operation, info porcupine.LinearizationInfo) {
	parts := linRegister.Partition(history)
	for i, partials := range info.PartialLinearizationsOperations() {
		if porcupine.CheckOperationsTimeout(linRegister, parts[i], 10*time.Second) != porcupine.Illegal {
			continue
		}
		var best []porcupine.Operation
		for _, l := range partials {
			if len(l) > len(best) {
				best = l
			}
		}
		key := parts[i][0].Input.(linInput).Key
		t.Logf("key %s: at most %d of %d operations linearize; the longest order ends with:", key, len(best), len(parts[i]))
		for _, op := range best[max(0, len(best)-3):] {
			t.Logf("  %s", linDescribe(op))
		}
		// Of the operations left out, the one that returned first had to
		// be placed before any operation called after its return.
		placed := map[string]bool{}
		for _, op := range best {
			placed[linDescribe(op)] = true
		}
		var next *porcupine.Operation
		for j, op := range parts[i] {
			if !placed[linDescribe(op)] && (next == nil || op.Return < next.Return) {
				next = &parts[i][j]
			}
		}
		if next != nil {
			t.Logf("  and cannot continue with %s", linDescribe(*next))
		}
	}
}

func linDescribe(op porcupine.Operation) string {
	ret := "never"
	if op.Return != math.MaxInt64 {
		ret = time.Duration(op.Return).String()
	}
	return fmt.Sprintf("%s [%v, %s] client %d, %v", linRegister.DescribeOperation(op.Input, op.Output),
		time.Duration(op.Call), ret, op.ClientId, op.Metadata)
}

// linPrune drops the puts of unknown outcome whose value nobody read. Such
// a put can always be placed after every other operation, where it changes
// nothing observed, so the verdict is the same without it; leaving it in
// would only make the checker try every place for it.
func linPrune(ops []porcupine.Operation) ([]porcupine.Operation, string) {
	read := map[string]bool{}
	for _, op := range ops {
		if in := op.Input.(linInput); !in.Put {
			read[op.Output.(string)] = true
		}
	}
	var out []porcupine.Operation
	var puts, acked, unknownRead, unknownDropped, gets int
	for _, op := range ops {
		in := op.Input.(linInput)
		switch {
		case !in.Put:
			gets++
		case op.Return != math.MaxInt64:
			puts++
			acked++
		case read[in.Value]:
			puts++
			unknownRead++
		default:
			puts++
			unknownDropped++
			continue
		}
		out = append(out, op)
	}
	stats := fmt.Sprintf("%d operations: %d gets, %d puts (%d acknowledged, %d unknown but read, %d unknown and dropped)",
		len(ops), gets, puts, acked, unknownRead, unknownDropped)
	return out, stats
}

// linLostWrites checks, independently of porcupine, that every
// acknowledged put was read back or overwritten: some other put of the
// same key that took effect (acknowledged, or read by someone) was still
// running when it was called or came later. The final reads after healing
// are in the history, so a write that vanished from the cluster is
// reported here. It returns the lost puts.
func linLostWrites(ops []porcupine.Operation) []string {
	read := map[string]bool{}
	for _, op := range ops {
		if in := op.Input.(linInput); !in.Put {
			read[op.Output.(string)] = true
		}
	}
	var lost []string
	for _, p := range ops {
		in := p.Input.(linInput)
		if !in.Put || p.Return == math.MaxInt64 || read[in.Value] {
			continue
		}
		overwritten := slices.ContainsFunc(ops, func(q porcupine.Operation) bool {
			qi := q.Input.(linInput)
			took := q.Return != math.MaxInt64 || read[qi.Value]
			return qi.Put && qi.Key == in.Key && qi.Value != in.Value && took && q.Return >= p.Call
		})
		if !overwritten {
			lost = append(lost, linDescribe(p))
		}
	}
	return lost
}

// TestLinearizabilityCheckerCatchesViolations feeds the checker small
// histories with known verdicts, so that a check which can no longer fail
// is noticed.
func TestLinearizabilityCheckerCatchesViolations(t *testing.T) {
	put := func(key, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: linInput{Put: true, Key: key, Value: v}, Call: call, Return: ret}
	}
	get := func(key, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: linInput{Key: key}, Output: v, Call: call, Return: ret}
	}
	never := int64(math.MaxInt64)
	for _, c := range []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
		lost    int
	}{
		{"read after write", []porcupine.Operation{put("a", "1", 0, 10), get("a", "1", 11, 12)}, porcupine.Ok, 0},
		{"stale read", []porcupine.Operation{put("a", "1", 0, 10), put("a", "2", 11, 20), get("a", "2", 21, 22), get("a", "1", 23, 24)}, porcupine.Illegal, 0},
		{"concurrent read sees either", []porcupine.Operation{put("a", "1", 0, 10), get("a", "", 5, 6), get("a", "1", 7, 8)}, porcupine.Ok, 0},
		{"no read goes back in time", []porcupine.Operation{put("a", "1", 0, 10), get("a", "1", 2, 3), get("a", "", 4, 5)}, porcupine.Illegal, 0},
		{"unknown put seen late", []porcupine.Operation{put("a", "1", 0, never), get("a", "", 5, 6), get("a", "1", 100, 101)}, porcupine.Ok, 0},
		{"unknown put cannot precede its call", []porcupine.Operation{get("a", "1", 0, 1), put("a", "1", 2, never)}, porcupine.Illegal, 0},
		{"keys are independent", []porcupine.Operation{put("a", "1", 0, 10), get("b", "", 11, 12), get("a", "1", 11, 12)}, porcupine.Ok, 0},
		{"acknowledged write lost", []porcupine.Operation{put("a", "1", 0, 10), put("a", "2", 20, 30), get("a", "1", 40, 41)}, porcupine.Illegal, 1},
		{"overwritten by a concurrent put", []porcupine.Operation{put("a", "1", 0, 10), put("a", "2", 5, 15), get("a", "2", 20, 21)}, porcupine.Ok, 0},
	} {
		history, _ := linPrune(c.history)
		if got := porcupine.CheckOperations(linRegister, history); got != (c.want == porcupine.Ok) {
			t.Errorf("%s: linearizable %v, want %s", c.name, got, c.want)
		}
		if lost := linLostWrites(history); len(lost) != c.lost {
			t.Errorf("%s: lost writes %v, want %d", c.name, lost, c.lost)
		}
	}
}
