package cfs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestApplyGetList(t *testing.T) {
	s := newStore(t)
	before := time.Now().Unix()

	data := []byte("keyboard: en-us\n")
	v := mustApply(t, s, Write("datacenter.cfg", data))
	if v != 1 || s.Version() != 1 {
		t.Fatalf("version after first write = %d (Store.Version %d), want 1", v, s.Version())
	}
	// Read-your-writes: the entry is there as soon as Apply returns.
	e := mustGet(t, s, "datacenter.cfg")
	if string(e.Data) != string(data) || e.Version != 1 || e.Dir || e.MTime < before || e.MTime > time.Now().Unix() {
		t.Fatalf("Get = %+v", e)
	}

	// One transaction, several files, parents created on the way.
	v = mustApply(t, s,
		Write("nodes/pve1/qemu-server/100.conf", []byte("memory: 512\n")),
		Write("nodes/pve1/qemu-server/101.conf", []byte("memory: 1024\n")),
		Write("nodes/pve1/lxc/200.conf", nil),
	)
	if v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	for _, dir := range []string{"nodes", "nodes/pve1", "nodes/pve1/qemu-server"} {
		if e := mustGet(t, s, dir); !e.Dir || e.Version != 2 || e.Data != nil {
			t.Errorf("Get(%q) = %+v, want a directory of version 2", dir, e)
		}
	}
	if e := mustGet(t, s, "nodes/pve1/lxc/200.conf"); e.Dir || e.Data == nil || len(e.Data) != 0 {
		t.Errorf("empty file = %+v", e)
	}

	names := func(es []Entry) (out []string) {
		for _, e := range es {
			out = append(out, e.Path)
		}
		return out
	}
	root, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(root), []string{"datacenter.cfg", "nodes"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List root = %v, want %v", got, want)
	}
	qs, err := s.List("nodes/pve1/qemu-server")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(qs), []string{"nodes/pve1/qemu-server/100.conf", "nodes/pve1/qemu-server/101.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if string(qs[1].Data) != "memory: 1024\n" {
		t.Errorf("List data = %q", qs[1].Data)
	}
	if r := mustGet(t, s, ""); !r.Dir {
		t.Errorf("Get root = %+v", r)
	}

	// Not found, not a directory, invalid.
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing = %v", err)
	}
	if _, err := s.List("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("List missing = %v", err)
	}
	if _, err := s.List("datacenter.cfg"); !errors.Is(err, ErrNotDir) {
		t.Errorf("List file = %v", err)
	}
	if _, err := s.Get("/abs"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get invalid = %v", err)
	}

	// Neither the caller's input nor a returned entry reaches into the tree.
	in := []byte("original")
	mustApply(t, s, Write("copy", in))
	in[0] = 'X'
	out := mustGet(t, s, "copy")
	out.Data[1] = 'Y'
	if got := mustGet(t, s, "copy"); string(got.Data) != "original" {
		t.Errorf("tree changed through a shared slice: %q", got.Data)
	}
}

func TestApplyRefusesBadInput(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		name string
		ops  []Op
		want error
	}{
		{"no ops", nil, ErrInvalid},
		{"zero kind", []Op{{Path: "a"}}, ErrInvalid},
		{"bad path", []Op{Write("a//b", nil)}, ErrInvalid},
		{"bad target", []Op{Rename("a", "../b")}, ErrInvalid},
		{"data on mkdir", []Op{{Kind: OpMkdir, Path: "d", Data: []byte("x")}}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Apply(ctxT(t), tc.ops...); !errors.Is(err, tc.want) {
				t.Fatalf("Apply = %v, want %v", err, tc.want)
			}
		})
	}
	if s.Version() != 0 {
		t.Errorf("refused input reached the log: version %d", s.Version())
	}
}

func TestPreconditions(t *testing.T) {
	s := newStore(t)
	data := []byte("content")
	v := mustApply(t, s, Write("f", data), Mkdir("d"))
	dig := Digest(data)
	if dig != "040f06fd774092478d450774f5ba30c5da78acc8" {
		t.Fatalf("Digest = %s", dig)
	}

	for _, tc := range []struct {
		name  string
		op    Op
		check string // "" = must succeed
	}{
		{"must-not-exist holds", Write("new", nil).If(Cond{MustNotExist: true}), ""},
		{"must-not-exist fails", Write("f", nil).If(Cond{MustNotExist: true}), "existence"},
		{"version fails", Write("f", nil).If(Cond{Version: v + 100}), "version"},
		{"version of missing", Write("missing", nil).If(Cond{Version: 1}), "version"},
		{"digest fails", Write("f", nil).If(Cond{Digest: Digest([]byte("other"))}), "digest"},
		{"digest of missing", Delete("missing").If(Cond{Digest: dig}), "digest"},
		{"digest of directory", Delete("d").If(Cond{Digest: dig}), "digest"},
		{"rename checks source", Rename("f", "g").If(Cond{Version: v + 1}), "version"},
		{"mkdir checks too", Mkdir("d2").If(Cond{Version: 5}), "version"},
		{"version and digest hold", Write("f", []byte("next")).If(Cond{Version: v, Digest: strings.ToUpper(dig)}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Version()
			_, err := s.Apply(ctxT(t), tc.op)
			if tc.check == "" {
				if err != nil {
					t.Fatalf("Apply = %v", err)
				}
				return
			}
			var ce *ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
				t.Fatalf("Apply = %v, want a *ConflictError", err)
			}
			if ce.Path != tc.op.Path || ce.Check != tc.check || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.op.Path)) {
				t.Errorf("conflict = %+v (%v), want path %q check %q", ce, err, tc.op.Path, tc.check)
			}
			if s.Version() != before {
				t.Errorf("a refused transaction changed the version")
			}
		})
	}
}

func TestTransactionIsAtomic(t *testing.T) {
	s := newStore(t)
	mustApply(t, s, Write("keep", []byte("old")), Mkdir("dir"))
	want := s.fsm.dump()
	for _, tc := range []struct {
		name string
		ops  []Op
		err  error
	}{
		{"late conflict", []Op{Write("keep", []byte("new")), Write("a/b/c", nil), Delete("keep").If(Cond{Version: 99})}, ErrConflict},
		{"write over dir", []Op{Write("x", nil), Delete("keep"), Write("dir", nil)}, ErrIsDir},
		{"delete twice", []Op{Delete("keep"), Delete("keep")}, ErrNotFound},
		{"rename then clash", []Op{Rename("keep", "moved"), Mkdir("moved")}, ErrExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Apply(ctxT(t), tc.ops...); !errors.Is(err, tc.err) {
				t.Fatalf("Apply = %v, want %v", err, tc.err)
			}
			if got := s.fsm.dump(); got != want {
				t.Fatalf("tree changed by a refused transaction:\n%s\nwant\n%s", got, want)
			}
		})
	}
	// Later ops see earlier ones.
	mustApply(t, s, Write("seq", []byte("1")), Rename("seq", "seq2"), Write("seq", []byte("2")))
	if a, b := mustGet(t, s, "seq"), mustGet(t, s, "seq2"); string(a.Data) != "2" || string(b.Data) != "1" {
		t.Errorf("seq=%q seq2=%q", a.Data, b.Data)
	}
}

func TestLimits(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxFileSize, cfg.MaxTotalSize = 100, 250
	s := openStore(t, cfg)
	blob := func(n int) []byte { return []byte(strings.Repeat("z", n)) }

	var le *LimitError
	// Per file, refused before it reaches the log.
	_, err := s.Apply(ctxT(t), Write("ok", blob(10)), Write("big", blob(101)))
	if !errors.As(err, &le) || le.Path != "big" || le.Size != 101 || le.Limit != 100 || le.Total || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("per-file limit: %v (%+v)", err, le)
	}
	if !strings.Contains(err.Error(), `"big"`) || !strings.Contains(err.Error(), "101") || !strings.Contains(err.Error(), "100") {
		t.Errorf("message %q should name path, size and limit", err)
	}
	// More data in one transaction than the total allows.
	if _, err = s.Apply(ctxT(t), Write("a", blob(100)), Write("b", blob(100)), Write("c", blob(60))); !errors.As(err, &le) || !le.Total {
		t.Fatalf("total limit in one transaction: %v", err)
	}

	mustApply(t, s, Write("a", blob(100)))
	mustApply(t, s, Write("b", blob(100)))
	want := s.fsm.dump()
	// The total is judged inside the state machine against the tree.
	_, err = s.Apply(ctxT(t), Write("c", blob(30)), Write("d", blob(30)))
	if !errors.As(err, &le) || !le.Total || le.Path != "d" || le.Size != 260 || le.Limit != 250 {
		t.Fatalf("total limit: %v (%+v)", err, le)
	}
	if s.fsm.dump() != want {
		t.Fatal("a transaction over the total limit was half applied")
	}
	// Overwriting counts the difference; replacing within one transaction
	// is judged on the end state.
	mustApply(t, s, Write("a", blob(90)), Write("c", blob(50)))
	mustApply(t, s, Delete("b"), Write("e", blob(100)))
	if s.fsm.total != 240 {
		t.Errorf("total = %d, want 240", s.fsm.total)
	}
}

func TestLimitsComeWithTheCommand(t *testing.T) {
	// The state machine enforces the limits written into the entry, not
	// any local setting, so every node decides the same.
	f := newTestFSM(t)
	res := applyEntry(f, 1, txnEntry(t, 1, 5, 0, Write("a", []byte("123456"))))
	var le *LimitError
	if !errors.As(res.err, &le) || le.Limit != 5 || le.Path != "a" {
		t.Fatalf("file limit from the entry: %v", res.err)
	}
	res = applyEntry(f, 2, txnEntry(t, 1, 0, 7, Write("a", []byte("1234")), Write("b", []byte("1234"))))
	if !errors.As(res.err, &le) || !le.Total || le.Limit != 7 {
		t.Fatalf("total limit from the entry: %v", res.err)
	}
	// Zero limits in an entry mean the package defaults.
	if res = applyEntry(f, 3, txnEntry(t, 1, 0, 0, Write("a", make([]byte, DefaultMaxFileSize)))); res.err != nil {
		t.Fatalf("default limit: %v", res.err)
	}
}

func TestDeleteMkdirRename(t *testing.T) {
	s := newStore(t)
	mustApply(t, s,
		Write("dir/a", []byte("A")),
		Write("dir/sub/b", []byte("B")),
		Write("file", []byte("F")),
		Write("other", []byte("O")),
		Mkdir("empty"),
	)
	for _, tc := range []struct {
		name string
		op   Op
		err  error // nil = must succeed
	}{
		{"delete non-empty dir", Delete("dir"), ErrNotEmpty},
		{"delete missing", Delete("nope"), ErrNotFound},
		{"delete below a file", Delete("file/x"), ErrNotFound},
		{"mkdir existing dir", Mkdir("empty"), ErrExist},
		{"mkdir over file", Mkdir("file"), ErrExist},
		{"mkdir below a file", Mkdir("file/x"), ErrNotDir},
		{"write below a file", Write("file/x", nil), ErrNotDir},
		{"write over dir", Write("dir", nil), ErrIsDir},
		{"rename missing", Rename("nope", "x"), ErrNotFound},
		{"rename to itself", Rename("file", "file"), ErrInvalid},
		{"rename dir below itself", Rename("dir", "dir/sub/dir"), ErrInvalid},
		{"rename file below itself", Rename("file", "file/x"), ErrNotDir},
		{"rename file onto dir", Rename("file", "empty"), ErrIsDir},
		{"rename dir onto file", Rename("dir", "file"), ErrExist},
		{"rename dir onto dir", Rename("dir", "empty"), ErrExist},
		{"delete empty dir", Delete("empty"), nil},
		{"mkdir with parents", Mkdir("p/q/r"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Apply(ctxT(t), tc.op)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("Apply(%+v) = %v, want %v", tc.op, err, tc.err)
			}
			var oe *OpError
			if tc.err != nil && errors.As(err, &oe) && oe.Path == "" {
				t.Errorf("error %v names no path", err)
			}
		})
	}
	if e := mustGet(t, s, "p/q/r"); !e.Dir {
		t.Errorf("mkdir -p: %+v", e)
	}

	// A file replaces an existing file, as rename(2) does.
	oldOther := mustGet(t, s, "other")
	v := mustApply(t, s, Rename("file", "other"))
	if _, err := s.Get("file"); !errors.Is(err, ErrNotFound) {
		t.Errorf("source still there: %v", err)
	}
	if e := mustGet(t, s, "other"); string(e.Data) != "F" || e.Version != v || e.Version == oldOther.Version {
		t.Errorf("replaced target = %+v", e)
	}
	if s.fsm.total != 3 {
		t.Errorf("total after replacing rename = %d, want 3", s.fsm.total)
	}

	// A directory moves with its subtree, into new parents.
	aBefore := mustGet(t, s, "dir/a")
	v = mustApply(t, s, Rename("dir", "new/place"))
	if _, err := s.Get("dir"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old directory still there: %v", err)
	}
	a, b := mustGet(t, s, "new/place/a"), mustGet(t, s, "new/place/sub/b")
	if string(a.Data) != "A" || string(b.Data) != "B" || a.Version != v || a.MTime != aBefore.MTime {
		t.Errorf("moved entries: %+v %+v", a, b)
	}
}

func TestConcurrentApplyAndRead(t *testing.T) {
	s := newStore(t)
	const writers, writes = 8, 15
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = s.List("")
				_, _ = s.Get("w0/0")
				// Snapshots stream the tree while writes go on; the race
				// detector checks that they share nothing mutable.
				_ = s.raft.Snapshot().Error()
			}
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				p := fmt.Sprintf("w%d/%d", w, i)
				if _, err := s.Apply(ctxT(t), Write(p, []byte(p))); err != nil {
					t.Errorf("Apply %s: %v", p, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if v := s.Version(); v != writers*writes {
		t.Errorf("version = %d, want %d", v, writers*writes)
	}
}

func TestDigest(t *testing.T) {
	if got := Digest(nil); got != "da39a3ee5e6b4b0d3255bfef95601890afd80709" {
		t.Errorf("Digest(nil) = %s", got)
	}
}
