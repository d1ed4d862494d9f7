package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/qmp/qmptest"
)

func dial(t *testing.T, s *qmptest.Server) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, s.Path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil polls cond until it holds or five seconds pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDialNegotiatesAndReadsGreeting(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	if got := c.Greeting().Version.String(); got != "7.2.0" {
		t.Errorf("greeting version = %q, want 7.2.0", got)
	}
	// The fake refuses commands before qmp_capabilities, so this succeeding
	// proves the negotiation happened.
	if err := c.Execute(testCtx(t), "stop", nil, nil); err != nil {
		t.Fatalf("stop after dial: %v", err)
	}
	if got := s.Commands(); len(got) != 1 || got[0] != "stop" {
		t.Errorf("server saw %v, want [stop]", got)
	}
}

func TestDialFailsOnSilentPeer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, path)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to a peer that never greets = %v, want a deadline error", err)
	}
	(<-accepted).Close()
}

func TestDialRejectsPeerThatIsNotQMP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"hello": "world"}` + "\n"))
		c.Read(make([]byte, 1)) // hold the connection until the client gives up
	}()
	_, err = Dial(testCtx(t), path)
	if err == nil {
		t.Fatal("Dial accepted a peer without a QMP greeting")
	}
}

func TestRepliesAreMatchedByIDNotOrder(t *testing.T) {
	release := make(chan struct{})
	s := qmptest.NewServer(t, func(r qmptest.Request) qmptest.Response {
		if r.Command == "hold" {
			<-release
			return qmptest.Return("held")
		}
		var n int
		if err := r.Decode(&n); err != nil {
			return qmptest.Fail("GenericError", err.Error())
		}
		return qmptest.Return(n * 10)
	})
	c := dial(t, s)
	ctx := testCtx(t)

	held := make(chan error, 1)
	go func() {
		var got string
		err := c.Execute(ctx, "hold", nil, &got)
		if err == nil && got != "held" {
			err = fmt.Errorf("hold returned %q", got)
		}
		held <- err
	}()
	waitUntil(t, "the server to receive hold", func() bool { return len(s.Requests()) == 1 })

	// Many concurrent calls overtake the held one; each must get its own
	// answer.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			var got int
			if err := c.Execute(ctx, "echo", i, &got); err != nil {
				errs <- err
			} else if got != i*10 {
				errs <- fmt.Errorf("echo %d got %d", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Errorf("held call: %v", err)
	}
}

func TestQMPErrorKeepsClassAndDescription(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"device_del": {qmptest.Fail("DeviceNotFound", "Device 'net0' not found")},
	}))
	c := dial(t, s)
	err := c.Execute(testCtx(t), "device_del", map[string]string{"id": "net0"}, nil)
	var qerr *Error
	if !errors.As(err, &qerr) {
		t.Fatalf("error %v (%T) is not a *qmp.Error", err, err)
	}
	if qerr.Class != "DeviceNotFound" || err.Error() != "Device 'net0' not found" {
		t.Errorf("got class %q text %q", qerr.Class, err.Error())
	}
	// Unknown commands fail the same way, as QEMU answers them.
	err = c.Execute(testCtx(t), "no-such-command", nil, nil)
	if !errors.As(err, &qerr) || qerr.Class != "CommandNotFound" {
		t.Errorf("unknown command error = %v", err)
	}
}

func TestCancelledWaitLeavesConnectionUsable(t *testing.T) {
	s := qmptest.NewServer(t, func(r qmptest.Request) qmptest.Response {
		if r.Command == "hang" {
			return qmptest.Response{NoReply: true}
		}
		return qmptest.Return(map[string]any{"status": "running", "running": true})
	})
	c := dial(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Execute(ctx, "hang", nil, nil) }()
	waitUntil(t, "the server to receive hang", func() bool { return len(s.Requests()) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Execute = %v, want context.Canceled", err)
	}
	st, err := c.QueryStatus(testCtx(t))
	if err != nil || !st.Running {
		t.Fatalf("query-status after a cancelled call = %+v, %v", st, err)
	}
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d calls still pending after cancel and a completed call", n)
	}
}

func TestConnectionLossFailsPendingCallsAndEndsEvents(t *testing.T) {
	s := qmptest.NewServer(t, func(r qmptest.Request) qmptest.Response {
		return qmptest.Response{NoReply: true}
	})
	c := dial(t, s)
	sub, cancel := c.Subscribe(nil)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Execute(context.Background(), "query-status", nil, nil) }()
	waitUntil(t, "the server to receive query-status", func() bool { return len(s.Requests()) == 1 })
	s.Hangup()

	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending call after hangup = %v, want ErrDisconnected", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after hangup")
	}
	if _, ok := <-sub; ok {
		t.Error("event stream delivered an event after hangup instead of closing")
	}
	if err := c.Execute(testCtx(t), "query-status", nil, nil); !errors.Is(err, ErrDisconnected) {
		t.Errorf("call after hangup = %v, want ErrDisconnected", err)
	}
	sub2, cancel2 := c.Subscribe(nil)
	defer cancel2()
	if _, ok := <-sub2; ok {
		t.Error("subscription made after hangup is not closed")
	}
}

func TestQuitSeesShutdownEventThenDisconnect(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"quit": {{After: []qmptest.Event{{Name: "SHUTDOWN", Data: map[string]any{"guest": false, "reason": "host-qmp-quit"}}}, Hangup: true}},
	}))
	c := dial(t, s)
	sub, cancel := c.Subscribe(Named("SHUTDOWN"))
	defer cancel()
	if err := c.Quit(testCtx(t)); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	ev, err := WaitEvent(testCtx(t), sub, "SHUTDOWN")
	if err != nil {
		t.Fatalf("SHUTDOWN queued before the hangup was lost: %v", err)
	}
	var d struct{ Reason string }
	if err := ev.Decode(&d); err != nil || d.Reason != "host-qmp-quit" {
		t.Errorf("SHUTDOWN data = %s (%v)", ev.Data, err)
	}
	if ev.Timestamp.IsZero() {
		t.Error("event timestamp not decoded")
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrDisconnected) {
		t.Errorf("Err after quit = %v", c.Err())
	}
}

func TestSubscriberGetsEventsInOrderWithoutStallingCalls(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	all, cancelAll := c.Subscribe(nil)
	defer cancelAll()
	odd, cancelOdd := c.Subscribe(func(e Event) bool {
		var d struct{ N int }
		return e.Decode(&d) == nil && d.N%2 == 1
	})
	defer cancelOdd()

	const n = 500
	for i := range n {
		s.Emit("TICK", map[string]int{"n": i})
	}
	// Nobody has read an event yet; commands must still get through.
	if err := c.Execute(testCtx(t), "stop", nil, nil); err != nil {
		t.Fatalf("call while subscribers lag: %v", err)
	}
	for i := range n {
		ev := <-all
		var d struct{ N int }
		if err := ev.Decode(&d); err != nil || d.N != i {
			t.Fatalf("event %d: got %s (%v)", i, ev.Data, err)
		}
	}
	for i := 1; i < n; i += 2 {
		ev := <-odd
		var d struct{ N int }
		if err := ev.Decode(&d); err != nil || d.N != i {
			t.Fatalf("filtered event: want n=%d, got %s (%v)", i, ev.Data, err)
		}
	}
}

func TestEventsBeforeReplyReachEarlierSubscriber(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"cont": {{Before: []qmptest.Event{{Name: "RESUME"}}}},
	}))
	c := dial(t, s)
	sub, cancel := c.Subscribe(Named("RESUME"))
	defer cancel()
	if err := c.Cont(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitEvent(testCtx(t), sub, "RESUME"); err != nil {
		t.Fatalf("RESUME sent before the reply was missed: %v", err)
	}
}

func TestCancelClosesSubscription(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	sub, cancel := c.Subscribe(nil)
	s.Emit("A", nil)
	cancel()
	cancel() // idempotent
	waitUntil(t, "the cancelled stream to close", func() bool {
		select {
		case _, ok := <-sub:
			return !ok
		default:
			return false
		}
	})
	c.mu.Lock()
	n := len(c.subs)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d subscriptions left registered after cancel", n)
	}
}

func TestWaitEventHonoursContext(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	sub, cancel := c.Subscribe(nil)
	defer cancel()
	s.Emit("OTHER", nil)
	ctx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	_, err := WaitEvent(ctx, sub, "NEVER")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitEvent = %v, want deadline exceeded", err)
	}
}

func TestCloseFailsPendingCalls(t *testing.T) {
	s := qmptest.NewServer(t, func(qmptest.Request) qmptest.Response { return qmptest.Response{NoReply: true} })
	c := dial(t, s)
	done := make(chan error, 1)
	go func() { done <- c.Execute(context.Background(), "stop", nil, nil) }()
	waitUntil(t, "the server to receive stop", func() bool { return len(s.Requests()) == 1 })
	c.Close()
	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending call after Close = %v", err)
	}
}

func TestArgumentsAreSentAsGiven(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	if err := c.Execute(testCtx(t), "plain", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Execute(testCtx(t), "with-args", map[string]any{"a": 1, "b": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if reqs[0].Args != nil {
		t.Errorf("command without arguments sent %s", reqs[0].Args)
	}
	var got map[string]any
	if err := json.Unmarshal(reqs[1].Args, &got); err != nil || got["a"] != 1.0 || got["b"] != "x" {
		t.Errorf("arguments arrived as %s", reqs[1].Args)
	}
	if string(reqs[0].ID) == string(reqs[1].ID) {
		t.Errorf("two requests share id %s", reqs[0].ID)
	}
}

func TestCancelledContextBeforeSendKeepsConnection(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with a cancelled ctx = %v", err)
	}
	if err := c.Cont(testCtx(t)); err != nil {
		t.Fatalf("connection unusable after a cancelled call: %v", err)
	}
	if got := s.Commands(); len(got) != 1 || got[0] != "cont" {
		t.Errorf("server saw %v, want only cont", got)
	}
}
