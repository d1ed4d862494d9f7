package ct

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
)

// readUntil reads from r until what was read contains want, failing the
// test when r ends first or nothing comes for a while.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	type deadliner interface{ SetReadDeadline(time.Time) error }
	if d, ok := r.(deadliner); ok {
		d.SetReadDeadline(time.Now().Add(10 * time.Second))
		defer d.SetReadDeadline(time.Time{})
	}
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), want) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading until %q, got %q: %v", want, got, err)
		}
	}
	return string(got)
}

// ptyReader reads a ptyProcess with a deadline on its terminal.
type ptyReader struct{ p *ptyProcess }

func (r ptyReader) Read(b []byte) (int, error)        { return r.p.Read(b) }
func (r ptyReader) SetReadDeadline(t time.Time) error { return r.p.master.SetReadDeadline(t) }

func testEnv() []string { return []string{"PATH=" + os.Getenv("PATH"), "TERM=xterm"} }

func TestPTYRunsAProgramOnATerminal(t *testing.T) {
	p, err := startPTY([]string{"sh", "-c", `read x; echo "got:$x"; stty size; read y; stty size`}, testEnv(), 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait()
	defer p.Close()
	r := ptyReader{p}
	io.WriteString(p, "hello\n")
	// The terminal is raw: no echo of the input, no \r added to the
	// output; the console program inside does such things.
	if out := readUntil(t, r, "30 100"); !strings.HasPrefix(out, "got:hello\n30 100") {
		t.Errorf("output %q", out)
	}
	if err := p.Resize(120, 40); err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "\n")
	readUntil(t, r, "40 120")
	// The program ended: reading ends.
	p.master.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(p); err != nil {
		t.Fatalf("reading to the end: %q, %v", rest, err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not end")
	}
}

func TestPTYCloseEndsAProgramIgnoringHangups(t *testing.T) {
	p, err := startPTY([]string{"sh", "-c", `trap "" HUP; echo ready; while :; do sleep 0.05; done`}, testEnv(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.grace = 100 * time.Millisecond
	readUntil(t, ptyReader{p}, "ready")
	p.Close()
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the program outlived Close")
	}
	if err := p.Resize(80, 24); err == nil {
		t.Error("resizing a closed terminal worked")
	}
}

func TestStartPTYFailsForAMissingProgram(t *testing.T) {
	if _, err := startPTY([]string{"/nonexistent/program"}, testEnv(), 0, 0); err == nil {
		t.Fatal("started a program that does not exist")
	}
	if _, err := startPTY(nil, testEnv(), 0, 0); err == nil {
		t.Fatal("started no program")
	}
}

type termEvent struct {
	Input  string
	Resize [][2]int
}

func TestDecodeTerm(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    termEvent
		wantErr string // "" for none, "EOF" for io.ErrUnexpectedEOF, else part of a protocol error
	}{
		{in: "", want: termEvent{}},
		{in: "0:5:hello", want: termEvent{Input: "hello"}},
		{in: "0:0:", want: termEvent{}},
		{in: "0:3:a:b", want: termEvent{Input: "a:b"}},
		{in: "1:80:24:", want: termEvent{Resize: [][2]int{{80, 24}}}},
		{in: "1:0:24:1:80:0:", want: termEvent{}},
		{in: "2", want: termEvent{}},
		{in: "2220:1:x1:100:50:2", want: termEvent{Input: "x", Resize: [][2]int{{100, 50}}}},
		{in: "0:2:\r\n0:1:q", want: termEvent{Input: "\r\nq"}},
		{in: "0:3:ab", want: termEvent{Input: "ab"}, wantErr: "EOF"},
		{in: "0:3", wantErr: "EOF"},
		{in: "1:80", wantErr: "EOF"},
		{in: "0", wantErr: "EOF"},
		{in: "9", wantErr: "unknown terminal message type '9'"},
		{in: "0:1:x3", want: termEvent{Input: "x"}, wantErr: "unknown terminal message type '3'"},
		{in: "0x", wantErr: "'x' where ':' belongs"},
		{in: "0:a:", wantErr: "'a' in a number"},
		{in: "0::", wantErr: "a number is missing"},
		{in: "1:123456:1:", wantErr: "more than 5 digits"},
		{in: "0:12345678901:", wantErr: "more than 10 digits"},
		{in: "0:2000000000:", wantErr: "more than the 1073741824 allowed"},
	} {
		var got termEvent
		var input strings.Builder
		err := decodeTerm(bufio.NewReader(strings.NewReader(tc.in)), &input, func(c, r int) {
			got.Resize = append(got.Resize, [2]int{c, r})
		})
		got.Input = input.String()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: decoded %+v, want %+v", tc.in, got, tc.want)
		}
		switch {
		case tc.wantErr == "":
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			}
		case tc.wantErr == "EOF":
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%q: error %v, want an unexpected end", tc.in, err)
			}
		default:
			if !isTermProtocolError(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want a protocol error with %q", tc.in, err, tc.wantErr)
			}
		}
	}
}

func TestReadTermAuth(t *testing.T) {
	for _, tc := range []struct {
		in, user, ticket string
		ok               bool
	}{
		{"root@pam:PVEVNC:5F00::c2ln\n0:1:x", "root@pam", "PVEVNC:5F00::c2ln", true},
		{"alice@pve!tok:T\r\n", "alice@pve!tok", "T", true},
		{"no-colon\n", "", "", false},
		{":ticket\n", "", "", false},
		{"user:\n", "", "", false},
		{"user:ticket", "", "", false},
		{"u:" + strings.Repeat("t", maxTermAuth) + "\n", "", "", false},
	} {
		u, tk, err := readTermAuth(bufio.NewReader(strings.NewReader(tc.in)))
		if (err == nil) != tc.ok || u != tc.user || tk != tc.ticket {
			t.Errorf("%.30q: %q %q %v", tc.in, u, tk, err)
		}
	}
}

func FuzzDecodeTerm(f *testing.F) {
	for _, s := range []string{"0:5:hello", "1:80:24:", "2", "0:3:ab", "9", "1:123456:1:"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var input strings.Builder
		err := decodeTerm(bufio.NewReader(strings.NewReader(string(data))), &input, func(c, r int) {
			if c <= 0 || r <= 0 || c > 0xffff || r > 0xffff {
				t.Fatalf("size %dx%d passed on", c, r)
			}
		})
		if input.Len() > len(data) {
			t.Fatalf("%d bytes of input out of %d bytes of messages", input.Len(), len(data))
		}
		if err != nil && !isTermProtocolError(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error of an unexpected kind: %v", err)
		}
	})
}

// fakeTickets makes tickets that name their user and path.
type fakeTickets struct{}

func (fakeTickets) VNCTicket(authid, path string) (string, error) {
	return "PVEVNC:" + authid + path, nil
}

func (fakeTickets) VerifyVNCTicket(ticket, authid, path string) error {
	if ticket != "PVEVNC:"+authid+path {
		return errors.New("bad ticket")
	}
	return nil
}

type taskRecord struct {
	mu    sync.Mutex
	lines []string
}

func (l *taskRecord) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}
func (l *taskRecord) Warnf(format string, args ...any) { l.Printf("WARN: "+format, args...) }
func (l *taskRecord) Progress(int64, int64)            {}

func (l *taskRecord) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startedTask is a task the fake runner started.
type startedTask struct {
	typ, id string
	cancel  context.CancelFunc
	result  chan error
	log     *taskRecord
}

func (st *startedTask) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-st.result:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the console task did not end")
		return nil
	}
}

// consoleCall is a caller whose tasks run in goroutines; they arrive on
// the returned channel.
func consoleCall(user string) (*api.Call, chan *startedTask) {
	tasks := make(chan *startedTask, 200)
	call := &api.Call{User: user, StartTask: func(tk api.Task) (string, error) {
		ctx, cancel := context.WithCancel(context.Background())
		st := &startedTask{typ: tk.Type, id: tk.ID, cancel: cancel, result: make(chan error, 1), log: &taskRecord{}}
		go func() { st.result <- tk.Run(ctx, st.log) }()
		tasks <- st
		return "UPID:test:" + tk.Type + ":" + tk.ID + ":", nil
	}}
	return call, tasks
}

// testConsoles runs sessions with a shell script standing in for
// lxc-console and lxc-attach.
func testConsoles(t *testing.T) *consoles {
	t.Helper()
	c := newConsoles(&Service{}, fakeTickets{})
	c.start = func(argv []string) (*ptyProcess, error) {
		p, err := startPTY(argv, testEnv(), 0, 0)
		if err == nil {
			p.grace = 100 * time.Millisecond
		}
		return p, err
	}
	return c
}

// session opens a session running script and connects a client to it.
func (c *consoles) testSession(t *testing.T, call *api.Call, tasks chan *startedTask, script string) (net.Conn, *startedTask, chan error, string) {
	t.Helper()
	res, err := c.open(call, 100, "a test shell", []string{"sh", "-c", script})
	if err != nil {
		t.Fatal(err)
	}
	task := <-tasks
	t.Cleanup(task.cancel)
	sess, err := c.lookup(res.Port, 100, call.User, res.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	served := make(chan error, 1)
	go func() { served <- c.serve(sess, server) }()
	return client, task, served, res.Ticket
}

func waitServed(t *testing.T, served chan error) error {
	t.Helper()
	select {
	case err := <-served:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
		return nil
	}
}

func TestTerminalSession(t *testing.T) {
	c := testConsoles(t)
	call, tasks := consoleCall("root@pam")
	client, task, served, ticket := c.testSession(t, call, tasks, `read x; echo "got:$x"; stty size; read y; echo "bye:$y"`)
	if task.typ != "vncproxy" || task.id != "100" {
		t.Errorf("task %s %s", task.typ, task.id)
	}
	go func() {
		// Credentials and messages split and joined anywhere, as a byte
		// stream may carry them.
		io.WriteString(client, "root@pam:"+ticket[:5])
		io.WriteString(client, ticket[5:]+"\n1:90:20:0:6:")
		io.WriteString(client, "hello\n2")
	}()
	got := readUntil(t, client, "got:hello")
	if !strings.HasPrefix(got, "OK") {
		t.Fatalf("terminal output %q: want OK first", got)
	}
	readUntil(t, client, "20 90")
	// The client leaves: the program is hung up on, the session ends.
	client.Close()
	if err := waitServed(t, served); err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := task.wait(t); err != nil {
		t.Errorf("task: %v", err)
	}
	if len(c.sessions) != 0 {
		t.Errorf("sessions left: %v", c.sessions)
	}
	if log := task.log.text(); !strings.Contains(log, "on a test shell of CT 100") || !strings.Contains(log, "connection closed") {
		t.Errorf("task log:\n%s", log)
	}
}

func TestTerminalSessionEndsWithItsProgram(t *testing.T) {
	c := testConsoles(t)
	call, tasks := consoleCall("root@pam")
	client, task, served, ticket := c.testSession(t, call, tasks, `echo "the end"`)
	go io.WriteString(client, "root@pam:"+ticket+"\n")
	readUntil(t, client, "OK")
	readUntil(t, client, "the end")
	// The program is gone: the client is disconnected.
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Errorf("the client was not disconnected: %v", err)
	}
	if err := waitServed(t, served); err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := task.wait(t); err != nil {
		t.Errorf("task: %v", err)
	}
}

func TestTerminalSessionRefusals(t *testing.T) {
	c := testConsoles(t)
	call, tasks := consoleCall("root@pam")

	// A forged ticket: no OK, no program.
	client, task, served, _ := c.testSession(t, call, tasks, `echo started`)
	go io.WriteString(client, "root@pam:PVEVNC:forged\n")
	if err := waitServed(t, served); !errors.Is(err, errTermAuth) {
		t.Fatalf("forged ticket: %v", err)
	}
	if err := task.wait(t); !errors.Is(err, errTermAuth) {
		t.Fatalf("task after a forged ticket: %v", err)
	}

	// Someone else's ticket.
	client, _, served, ticket := c.testSession(t, call, tasks, `echo started`)
	go io.WriteString(client, "bob@pve:"+ticket+"\n")
	if err := waitServed(t, served); !errors.Is(err, errTermAuth) {
		t.Fatalf("another user: %v", err)
	}

	// Garbage after the credentials ends the session with the reason.
	client, _, served, ticket = c.testSession(t, call, tasks, `read x`)
	go io.WriteString(client, "root@pam:"+ticket+"\n")
	readUntil(t, client, "OK")
	go io.WriteString(client, "7")
	if err := waitServed(t, served); err == nil || !strings.Contains(err.Error(), "unknown terminal message type") {
		t.Fatalf("garbage input: %v", err)
	}

	// No credentials in time.
	c.connectTimeout.Store(int64(50 * time.Millisecond))
	_, _, served, _ = c.testSession(t, call, tasks, `echo started`)
	if err := waitServed(t, served); err == nil || !strings.Contains(err.Error(), "no terminal credentials") {
		t.Fatalf("silent client: %v", err)
	}
}

func TestTerminalSessionStopsWithItsTask(t *testing.T) {
	c := testConsoles(t)
	call, tasks := consoleCall("root@pam")
	client, task, served, ticket := c.testSession(t, call, tasks, `trap "" HUP; echo ready; while :; do sleep 0.05; done`)
	go io.WriteString(client, "root@pam:"+ticket+"\n")
	readUntil(t, client, "ready")
	task.cancel()
	if err := task.wait(t); err != nil {
		t.Errorf("stopped task: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Errorf("the client was not disconnected: %v", err)
	}
	if err := waitServed(t, served); err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestConsoleSessionLookup(t *testing.T) {
	c := testConsoles(t)
	c.connectTimeout.Store(int64(50 * time.Millisecond))
	call, tasks := consoleCall("alice@pve")
	res, err := c.open(call, 100, "the console", []string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Port != api.ConsolePortMin || res.User != "alice@pve" || res.Ticket != "PVEVNC:alice@pve/vms/100" {
		t.Fatalf("session %+v", res)
	}
	for _, bad := range []struct {
		port, vmid   int
		user, ticket string
	}{
		{res.Port + 1, 100, "alice@pve", res.Ticket},
		{res.Port, 101, "alice@pve", res.Ticket},
		{res.Port, 100, "bob@pve", res.Ticket},
		{res.Port, 100, "alice@pve", "PVEVNC:other"},
	} {
		if _, err := c.lookup(bad.port, bad.vmid, bad.user, bad.ticket); err == nil {
			t.Errorf("lookup %+v found the session", bad)
		}
	}
	// Nobody connects: the task fails and the port is free again.
	if err := (<-tasks).wait(t); err == nil || err.Error() != "connection timed out" {
		t.Fatalf("task: %v", err)
	}
	if _, err := c.lookup(res.Port, 100, "alice@pve", res.Ticket); err == nil {
		t.Fatal("an expired session was found")
	}
}

func TestConsoleCommand(t *testing.T) {
	withBash, shOnly, noShell := t.TempDir(), t.TempDir(), t.TempDir()
	for dir, files := range map[string][]string{withBash: {"bin/sh", "bin/bash"}, shOnly: {"bin/sh"}, noShell: {"bin/true"}} {
		for _, f := range files {
			os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A bash that is no program does not count.
	os.WriteFile(filepath.Join(shOnly, "bin/bash"), nil, 0o644)

	attach := "lxc-attach -n 100 -P /run/hearth/lxc --clear-env --set-var TERM=xterm-256color --set-var HOME=/root"
	for _, tc := range []struct {
		name, conf, mode, root string
		netns                  string
		want                   string // the command line, or "error: <part of it>"
	}{
		{name: "default cmode is tty", mode: "console", want: "lxc-console -n 100 -P /run/hearth/lxc -e -1"},
		{name: "no mode", want: "lxc-console -n 100 -P /run/hearth/lxc -e -1"},
		{name: "cmode console", conf: "cmode: console\n", mode: "console", want: "lxc-console -n 100 -P /run/hearth/lxc -t 0 -e -1"},
		{name: "cmode shell", conf: "cmode: shell\n", mode: "console", want: attach},
		{name: "in a namespace", conf: "cmode: console\n", mode: "console", netns: "/run/netns/hearth",
			want: "nsenter --net=/run/netns/hearth -- lxc-console -n 100 -P /run/hearth/lxc -t 0 -e -1"},
		{name: "console off", conf: "cmode: console\nconsole: 0\n", mode: "console", want: "error: console: 0"},
		{name: "no ttys", conf: "tty: 0\n", mode: "console", want: "error: tty: 0"},
		{name: "enter with bash", mode: "enter", root: withBash, want: attach + " -- /bin/bash -l"},
		{name: "enter with sh", mode: "enter", root: shOnly, want: attach + " -- /bin/sh -l"},
		{name: "enter without a shell", mode: "enter", root: noShell, want: "error: neither /bin/bash nor /bin/sh"},
		{name: "enter ignores cmode", conf: "cmode: console\nconsole: 0\n", mode: "enter", root: withBash, want: attach + " -- /bin/bash -l"},
		{name: "bad mode", mode: "attach", want: "error: " + api.ParamVerificationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := guestconf.Parse(guestconf.KindLXC, []byte(tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			s := &Service{o: Options{LXCPath: "/run/hearth/lxc", NetNS: tc.netns}}
			_, argv, err := s.consoleCommand(100, f.Main, tc.mode, tc.root)
			got := strings.Join(argv, " ")
			if err != nil {
				got = "error: " + err.Error()
			}
			if !strings.HasPrefix(tc.want, "error: ") && got != tc.want || strings.HasPrefix(tc.want, "error: ") && !strings.Contains(got, tc.want[7:]) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
