package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
)

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

type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}
func (l *memLog) Warnf(format string, args ...any) { l.Printf("WARN: "+format, args...) }
func (l *memLog) Progress(int64, int64)            {}

// startedTask is a task the fake runner started.
type startedTask struct {
	typ, id string
	cancel  context.CancelFunc
	result  chan error
	log     *memLog
}

func (st *startedTask) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-st.result:
		return err
	case <-time.After(5 * time.Second):
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
		st := &startedTask{typ: tk.Type, id: tk.ID, cancel: cancel, result: make(chan error, 1), log: &memLog{}}
		go func() { st.result <- tk.Run(ctx, st.log) }()
		tasks <- st
		return "UPID:test:" + tk.Type + ":" + tk.ID + ":", nil
	}}
	return call, tasks
}

// fakeVM listens on a VM's socket: it greets each client with banner and
// echoes the rest upper-cased, as a stand-in for QEMU.
func fakeVM(t *testing.T, path, banner string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, banner)
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write([]byte(strings.ToUpper(string(buf[:n]))))
				}
			}()
		}
	}()
}

func testConsoles(t *testing.T) (*consoles, string) {
	t.Helper()
	dir := t.TempDir()
	s := &Service{o: Options{RunDir: dir}}
	return newConsoles(s, fakeTickets{}), dir
}

// readUntil reads from r until what was read contains want.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), want) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading %q, got %q: %v", want, got, err)
		}
	}
	return string(got)
}

func TestVNCSessionLifecycle(t *testing.T) {
	c, dir := testConsoles(t)
	fakeVM(t, filepath.Join(dir, "100.vnc"), "RFB 003.008\n")
	call, tasks := consoleCall("alice@pve")

	res, err := c.open(call, 100, -1)
	if err != nil {
		t.Fatal(err)
	}
	task := <-tasks
	if res.Port != 5900 || res.User != "alice@pve" || res.Ticket != "PVEVNC:alice@pve/vms/100" || task.typ != "vncproxy" || task.id != "100" {
		t.Fatalf("session %+v, task %s %s", res, task.typ, task.id)
	}
	// The ticket opens this session only, for its user and VM.
	for _, bad := range []struct {
		port, vmid   int
		user, ticket string
	}{
		{5901, 100, "alice@pve", res.Ticket},
		{5900, 101, "alice@pve", res.Ticket},
		{5900, 100, "bob@pve", res.Ticket},
		{5900, 100, "alice@pve", "PVEVNC:other"},
	} {
		if _, err := c.lookup(bad.port, bad.vmid, bad.user, bad.ticket); err == nil {
			t.Errorf("lookup %+v found the session", bad)
		}
	}
	sess, err := c.lookup(res.Port, 100, "alice@pve", res.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- c.serve(sess, server) }()
	readUntil(t, client, "RFB 003.008\n")
	io.WriteString(client, "hello")
	readUntil(t, client, "HELLO")
	// Connected: the session takes no second client.
	if _, err := c.lookup(res.Port, 100, "alice@pve", res.Ticket); err == nil || !strings.Contains(err.Error(), "already connected") {
		t.Errorf("second lookup: %v", err)
	}
	if err := c.serve(sess, nopConn{}); err == nil {
		t.Error("a second connection took the session")
	}
	// The client leaves: the connection, the task and the session end.
	client.Close()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := task.wait(t); err != nil {
		t.Errorf("task: %v", err)
	}
	if len(c.sessions) != 0 {
		t.Errorf("sessions left: %v", c.sessions)
	}
	if log := strings.Join(task.log.lines, "\n"); !strings.Contains(log, "connected") || !strings.Contains(log, "connection closed") {
		t.Errorf("task log:\n%s", log)
	}
}

type nopConn struct{}

func (nopConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
func (nopConn) Close() error                { return nil }

func TestConsoleSessionTimesOutAndStops(t *testing.T) {
	c, dir := testConsoles(t)
	c.connectTimeout = 50 * time.Millisecond
	fakeVM(t, filepath.Join(dir, "100.vnc"), "RFB 003.008\n")
	call, tasks := consoleCall("alice@pve")

	// Nobody connects: the task fails as Proxmox VE's does and the port
	// is free again.
	res, err := c.open(call, 100, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := (<-tasks).wait(t); err == nil || err.Error() != "connection timed out" {
		t.Fatalf("task: %v", err)
	}
	if _, err := c.lookup(res.Port, 100, "alice@pve", res.Ticket); err == nil {
		t.Fatal("an expired session was found")
	}

	// Stopping the task cuts a connected client off.
	res, err = c.open(call, 100, -1)
	if err != nil {
		t.Fatal(err)
	}
	task := <-tasks
	sess, err := c.lookup(res.Port, 100, "alice@pve", res.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	go c.serve(sess, server)
	readUntil(t, client, "RFB")
	task.cancel()
	if err := task.wait(t); err != nil {
		t.Errorf("stopped task: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Errorf("the client was not disconnected: %v", err)
	}
}

func TestConsoleTaskFailsWithTheConnection(t *testing.T) {
	c, _ := testConsoles(t)
	call, tasks := consoleCall("alice@pve")
	res, err := c.open(call, 100, -1)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.lookup(res.Port, 100, "alice@pve", res.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	// No VNC socket: the VM stopped since the session was opened.
	if err := c.serve(sess, nopConn{}); err == nil || err.Error() != "VM 100 not running" {
		t.Fatalf("serve: %v", err)
	}
	if err := (<-tasks).wait(t); err == nil || err.Error() != "VM 100 not running" {
		t.Fatalf("task: %v", err)
	}
}

func TestConsolePortsAreReused(t *testing.T) {
	c, _ := testConsoles(t)
	c.connectTimeout = time.Hour
	call, tasks := consoleCall("alice@pve")
	defer func() {
		close(tasks)
		for st := range tasks {
			st.cancel()
		}
	}()
	n := api.ConsolePortMax - api.ConsolePortMin + 1
	for i := 0; i < n; i++ {
		res, err := c.open(call, 100, -1)
		if err != nil || res.Port != api.ConsolePortMin+i {
			t.Fatalf("session %d: port %d, %v", i, res.Port, err)
		}
	}
	if _, err := c.open(call, 100, -1); err == nil || !strings.Contains(err.Error(), "no free console port") {
		t.Fatalf("session beyond the range: %v", err)
	}
	c.expire(c.sessions[5907])
	if res, err := c.open(call, 100, -1); err != nil || res.Port != 5907 {
		t.Fatalf("after a session ended: port %d, %v", res.Port, err)
	}
}

func TestTerminalSession(t *testing.T) {
	c, dir := testConsoles(t)
	fakeVM(t, filepath.Join(dir, "100.serial1"), "login: ")
	call, tasks := consoleCall("root@pam")

	connect := func() (net.Conn, chan error, string) {
		res, err := c.open(call, 100, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup((<-tasks).cancel)
		sess, err := c.lookup(res.Port, 100, "root@pam", res.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		t.Cleanup(func() { client.Close() })
		served := make(chan error, 1)
		go func() { served <- c.serve(sess, server) }()
		return client, served, res.Ticket
	}

	// Wrong credentials: no OK, and the connection ends.
	client, served, _ := connect()
	go io.WriteString(client, "root@pam:PVEVNC:forged\n")
	if err := <-served; !errors.Is(err, errTermAuth) {
		t.Fatalf("forged ticket: %v", err)
	}

	client, served, ticket := connect()
	go func() {
		// Credentials and messages arrive split and joined at random
		// places, as a byte stream may.
		io.WriteString(client, "root@pam:"+ticket[:5])
		io.WriteString(client, ticket[5:]+"\n1:80:24:0:3:")
		io.WriteString(client, "ls\r2")
	}()
	r := bufio.NewReader(client)
	got := readUntil(t, r, "LS\r")
	if !strings.HasPrefix(got, "OKlogin: ") {
		t.Fatalf("terminal output %q, want OK first, then the port's output", got)
	}
	// Input that is not a message ends the session with the reason.
	go io.WriteString(client, "9")
	if err := <-served; err == nil || !strings.Contains(err.Error(), "unknown terminal message type") {
		t.Fatalf("garbage input: %v", err)
	}
}
