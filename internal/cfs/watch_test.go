package cfs

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestWatchPrefix(t *testing.T) {
	s := newStore(t)
	ch, cancel := s.Watch("nodes/a")
	defer cancel()
	all, cancelAll := s.Watch("")
	defer cancelAll()

	v1 := mustApply(t, s, Write("nodes/a/x", []byte("1")))
	mustApply(t, s, Write("nodes/ab/y", []byte("2"))) // sibling with the same leading bytes
	v3 := mustApply(t, s, Rename("nodes/a/x", "nodes/a/z"), Delete("nodes/a/z"))
	v4 := mustApply(t, s, Delete("nodes/a"))

	want := []Event{
		{"nodes/a", EventWritten, v1},
		{"nodes/a/x", EventWritten, v1},
		{"nodes/a/x", EventDeleted, v3},
		{"nodes/a/z", EventWritten, v3},
		{"nodes/a/z", EventDeleted, v3},
		{"nodes/a", EventDeleted, v4},
	}
	if got := recvEvents(t, ch, len(want)); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v\nwant %v", got, want)
	}
	// The root watcher sees everything, in log order: 3+2+3+1.
	if got := recvEvents(t, all, 9); got[0] != (Event{"nodes", EventWritten, v1}) || got[8] != want[5] {
		t.Errorf("root watcher: %v", got)
	}

	// Cancelling closes the channel.
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed by cancel")
	}
	cancel() // idempotent
}

func TestWatchOverflow(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.WatchBuffer = 4
	s := openStore(t, cfg)
	ch, cancel := s.Watch("o")
	defer cancel()

	// Nobody reads while 40 events are produced; Apply must not block.
	var ops []Op
	for i := range 20 {
		ops = append(ops, Write(fmt.Sprintf("o/%02d", i), nil))
	}
	mustApply(t, s, ops...)
	var last uint64
	for i := range 20 {
		last = mustApply(t, s, Write(fmt.Sprintf("o/%02d", i), []byte("x")))
	}

	// The reader gets what fit, then one Overflow, without any further
	// write being needed to push it out.
	var got []Event
	for {
		e := recvEvents(t, ch, 1)[0]
		got = append(got, e)
		if e.Kind == EventOverflow {
			break
		}
		if e.Kind != EventWritten {
			t.Fatalf("unexpected event %v", e)
		}
	}
	ov := got[len(got)-1]
	if ov.Path != "o" || ov.Version != last {
		t.Errorf("overflow = %+v, want path o and version %d", ov, last)
	}
	if n := len(got) - 1; n == 0 || n > 2*cfg.WatchBuffer+1 {
		t.Errorf("%d events before the overflow with a buffer of %d", n, cfg.WatchBuffer)
	}

	// After the overflow the watcher works normally again.
	v := mustApply(t, s, Write("o/again", nil))
	if e := recvEvents(t, ch, 1)[0]; e != (Event{"o/again", EventWritten, v}) {
		t.Errorf("after overflow: %v", e)
	}
}

func TestWatchClosedByClose(t *testing.T) {
	s, err := Open(ctxT(t), testConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := s.Watch("")
	defer cancel()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch channel not closed by Close")
	}
	late, cancelLate := s.Watch("")
	defer cancelLate()
	if _, ok := <-late; ok {
		t.Fatal("Watch after Close delivered an event")
	}
}

func TestRestoreOverflowsWatchers(t *testing.T) {
	src := newTestFSM(t)
	applyEntry(src, 1, txnEntry(t, 1, 0, 0, Write("a", []byte("x"))))
	snap := snapshotBytes(t, src)

	dst := newTestFSM(t)
	ch, cancel := dst.hub.watch("")
	defer cancel()
	if err := dst.Restore(nopCloser(snap)); err != nil {
		t.Fatal(err)
	}
	if e := recvEvents(t, ch, 1)[0]; e.Kind != EventOverflow || e.Version != 1 {
		t.Errorf("after restore: %v", e)
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{EventWritten: "written", EventDeleted: "deleted", EventOverflow: "overflow", 0: "EventKind(0)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}
