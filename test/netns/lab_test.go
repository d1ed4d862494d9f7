package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTwoHostsTCP(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := New(t)
	a, b := l.Host("a"), l.Host("b")
	if a.IP == b.IP || a.NS == b.NS || len(a.Link) > 15 || len(a.port) > 15 {
		t.Fatalf("bad hosts: %+v %+v", a, b)
	}
	startAgent(ctx, t, a)

	// A plain command in b, run with Output rather than Start.
	exe, _ := os.Executable()
	cmd := b.Command(ctx, exe, fmt.Sprintf("%s:%d", a.IP, echoPort), "over the switch")
	cmd.Env = append(os.Environ(), helperEnv+"=client")
	out, err := cmd.Output()
	if err != nil || string(out) != "over the switch" {
		t.Fatalf("client in b: %q, %v", out, err)
	}

	// From the test's namespace, through the switch. The local address
	// proves the socket was made in the switch namespace and did not leave
	// through the machine's own default route.
	c, err := l.Dial(ctx, "tcp", fmt.Sprintf("a:%d", echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if host, _, _ := net.SplitHostPort(c.LocalAddr().String()); host != l.SwitchIP() {
		t.Fatalf("local address %s, want the switch's %s", c.LocalAddr(), l.SwitchIP())
	}
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}

	if _, err := l.Dial(ctx, "tcp", "nosuchhost:1"); err == nil {
		t.Fatal("dialled a name that is not a lab host")
	}
}

func TestHTTPClientAndListen(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := New(t)
	a := l.Host("a")
	startAgent(ctx, t, a)
	hc := l.HTTPClient(nil)
	for _, host := range []string{a.IP, a.Name} {
		got, err := get(ctx, hc, fmt.Sprintf("http://%s:%d/whoami", host, agentPort))
		if err != nil || got != "a" {
			t.Fatalf("whoami via %s: %q, %v", host, got, err)
		}
	}

	// A server of the test, reached by a host at the switch address.
	ln, err := l.Listen(ctx, "tcp", l.SwitchIP()+":0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	got, err := get(ctx, hc, fmt.Sprintf("http://a:%d/echo?addr=%s&msg=back", agentPort, ln.Addr()))
	if err != nil || got != "back" {
		t.Fatalf("host to test listener: %q, %v", got, err)
	}
}

func TestCutRestore(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := New(t)
	a, b := l.Host("a"), l.Host("b")
	pa := startAgent(ctx, t, a)
	startAgent(ctx, t, b)
	hc := l.HTTPClient(nil)
	if err := talk(ctx, hc, b, a); err != nil {
		t.Fatal(err)
	}
	// Opened before the cut, used after the restore.
	old, err := l.Dial(ctx, "tcp", fmt.Sprintf("%s:%d", a.IP, echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	a.Cut()
	if err := talk(ctx, hc, b, a); err == nil {
		t.Fatal("b reached a after Cut")
	}
	dctx, cancel := context.WithTimeout(ctx, probeLimit)
	_, err = l.Dial(dctx, "tcp", fmt.Sprintf("%s:%d", a.IP, echoPort))
	cancel()
	if err == nil {
		t.Fatal("the switch reached a after Cut")
	}
	select {
	case <-pa.Done():
		t.Fatal("Cut killed the host's process")
	default:
	}

	a.Restore()
	eventually(ctx, t, func() error { return talk(ctx, hc, b, a) })
	if _, err := io.WriteString(old, "still here\n"); err != nil {
		t.Fatal(err)
	}
	_ = old.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(old).ReadString('\n'); err != nil || line != "still here\n" {
		t.Fatalf("connection across Cut/Restore: %q, %v", line, err)
	}
}

func TestBlockPartitionHeal(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := New(t)
	a, b, c := l.Host("a"), l.Host("b"), l.Host("c")
	for _, h := range []*Host{a, b, c} {
		startAgent(ctx, t, h)
	}
	hc := l.HTTPClient(nil)
	// expect checks every ordered pair; reachable pairs may need a retry
	// (a neighbour entry that failed while blocked is re-resolved), a
	// blocked pair must fail within the agent's connect timeout.
	expect := func(blocked ...[2]*Host) {
		t.Helper()
		for _, from := range []*Host{a, b, c} {
			for _, to := range []*Host{a, b, c} {
				if from == to {
					continue
				}
				if slices.Contains(blocked, [2]*Host{from, to}) || slices.Contains(blocked, [2]*Host{to, from}) {
					if err := talk(ctx, hc, from, to); err == nil {
						t.Fatalf("%s reached %s across a block", from.Name, to.Name)
					}
					continue
				}
				eventually(ctx, t, func() error { return talk(ctx, hc, from, to) })
			}
		}
	}

	expect()
	l.Block(a, b)
	l.Block(b, a) // already blocked: no-op
	expect([2]*Host{a, b})
	l.Unblock(a, b)
	expect()

	l.Partition([]*Host{a}, []*Host{b, c})
	expect([2]*Host{a, b}, [2]*Host{a, c})
	l.Unblock(a, c)
	expect([2]*Host{a, b})
	l.Heal()
	expect()
}

func TestProcessStopKill(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := New(t)
	a := l.Host("a")

	p := startAgent(ctx, t, a)
	p.Stop(5 * time.Second)
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// A process that ignores SIGTERM is killed after the timeout, with the
	// child in its process group.
	p = startAgent(ctx, t, a, noTermEnv+"=1")
	hc := l.HTTPClient(nil)
	out, err := get(ctx, hc, fmt.Sprintf("http://a:%d/spawn", agentPort))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(out)
	start := time.Now()
	p.Stop(200 * time.Millisecond)
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Stop took %v", time.Since(start))
	}
	var ee *exec.ExitError
	if err := p.Wait(ctx); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("stubborn process: %v, want killed", err)
	}
	waitGone(t, child)

	p = startAgent(ctx, t, a)
	p.Kill()
	select {
	case <-p.Done():
	default:
		t.Fatal("Kill returned before the process was reaped")
	}
}

// TestCleanup leaves a lab through the Goexit path that t.FailNow takes,
// with a Start-ed process, a child that escaped its process group, an open
// connection and a blocked pair, and checks that nothing is left behind.
func TestCleanup(t *testing.T) {
	if _, _, reason := prerequisites(); reason != "" {
		t.Skip(reason)
	}
	nsBefore := netnsList(t)
	linksBefore := rootLinks(t)

	var namespaces []string
	var pids []int
	var id string
	t.Run("lab", func(t *testing.T) {
		ctx := testCtx(t)
		l := New(t)
		id = l.id
		a, b := l.Host("a"), l.Host("b")
		pa := startAgent(ctx, t, a)
		startAgent(ctx, t, b)
		l.Block(a, b)
		hc := l.HTTPClient(nil)
		out, err := get(ctx, hc, fmt.Sprintf("http://a:%d/spawn?setsid=1", agentPort))
		if err != nil {
			t.Fatal(err)
		}
		escapee, _ := strconv.Atoi(out)
		if _, err := l.Dial(ctx, "tcp", fmt.Sprintf("b:%d", echoPort)); err != nil {
			t.Fatal(err)
		}
		// A process never given to Start: only the namespace sweep finds it.
		exe, _ := os.Executable()
		stray := b.Command(ctx, exe)
		stray.Env = append(os.Environ(), helperEnv+"=sleep")
		if err := stray.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = stray.Wait() }()

		namespaces = l.Namespaces()
		pids = []int{pa.Cmd.Process.Pid, escapee, stray.Process.Pid}
		for _, ns := range namespaces {
			if !slices.Contains(netnsList(t), ns) {
				t.Errorf("namespace %s not listed", ns)
			}
		}
		t.SkipNow() // runtime.Goexit, as t.Fatal would
	})
	if len(pids) != 3 {
		t.Fatal("the lab was not set up")
	}
	after := netnsList(t)
	for _, ns := range namespaces {
		if slices.Contains(after, ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	for _, n := range rootLinks(t) {
		if !slices.Contains(linksBefore, n) || strings.Contains(n, id) {
			t.Errorf("link %s appeared in the machine's namespace", n)
		}
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("process %d left running", pid)
		}
	}
	// Other tests may run labs meanwhile: only our names must be gone.
	for _, ns := range after {
		if !slices.Contains(nsBefore, ns) && strings.Contains(ns, id) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

func TestParallelLabs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ids, names []string
	for i := range 2 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			l := New(t)
			// Same host names in both labs: the lab's suffix keeps them apart.
			a, b := l.Host("a"), l.Host("b")
			startAgent(ctx, t, a)
			startAgent(ctx, t, b)
			if err := talk(ctx, l.HTTPClient(nil), b, a); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			ids = append(ids, l.id)
			names = append(names, l.Namespaces()...)
			mu.Unlock()
		})
	}
	t.Cleanup(func() {
		if len(ids) != 2 {
			return // skipped
		}
		if ids[0] == ids[1] {
			t.Errorf("two labs share the id %s", ids[0])
		}
		slices.Sort(names)
		if len(slices.Compact(names)) != 6 {
			t.Errorf("namespace names collide: %v", names)
		}
	})
}

func TestHostNames(t *testing.T) {
	t.Parallel()
	l := New(t)
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("x", 33)} {
		if _, err := l.addHost(bad); err == nil {
			t.Errorf("host name %q accepted", bad)
		}
	}
	l.Host("dup")
	if _, err := l.addHost("dup"); err == nil {
		t.Error("duplicate host name accepted")
	}
	if _, err := l.Host("x").start(exec.Command("true")); err == nil {
		t.Error("Start accepted a command not made by Host.Command")
	}
}

func netnsList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(lookTool("ip"), "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func rootLinks(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(lookTool("ip"), "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	return names
}
