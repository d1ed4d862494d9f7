package testguest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testGuest builds the real guest, or reuses the cached one, and skips
// the test where that cannot work here.
func testGuest(t *testing.T) (*Guest, string) {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	g, err := Build(ctx, DefaultCacheDir(), t.Logf)
	if errors.Is(err, ErrArchiveUnreachable) {
		t.Skipf("cannot build the test guest: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build took %v", time.Since(start).Round(time.Millisecond))
	return g, qemu
}

// runningGuest is a QEMU process booted from the test guest, with its
// console, monitor and agent sockets.
type runningGuest struct {
	console *consoleLog
	qmpPath string
	qgaPath string
	exited  chan error // receives Wait's result, then is closed
	stderr  *syncBuffer
}

// bootGuest starts QEMU the way the brief of the system tests has it:
// TCG, no default devices, the agent on a virtio-serial port, a NIC on
// a hub with nothing else on it (an interface to configure, no way out
// to the host's network). It returns once the guest says it is ready.
func bootGuest(t *testing.T, qemu string, g *Guest, kernelArgs string) *runningGuest {
	t.Helper()
	dir := t.TempDir()
	serialPath := filepath.Join(dir, "serial")
	vm := &runningGuest{qmpPath: filepath.Join(dir, "qmp"), qgaPath: filepath.Join(dir, "qga"), stderr: &syncBuffer{}}
	// The test listens for the console, so QEMU connects before the
	// guest prints anything and no output is lost.
	serialLn, err := net.Listen("unix", serialPath)
	if err != nil {
		t.Fatal(err)
	}
	defer serialLn.Close()
	cmd := exec.Command(qemu,
		"-accel", "tcg", "-m", "256", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", g.Kernel, "-initrd", g.Initrd, "-append", kernelArgs,
		"-chardev", "socket,id=ser0,path="+serialPath, "-serial", "chardev:ser0",
		"-qmp", "unix:"+vm.qmpPath+",server=on,wait=off",
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=qga0,path="+vm.qgaPath+",server=on,wait=off",
		"-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
		"-netdev", "hubport,id=net0,hubid=0", "-device", "virtio-net-pci,netdev=net0",
	)
	cmd.Stderr = vm.stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	vm.exited = make(chan error, 1)
	go func() { vm.exited <- cmd.Wait(); close(vm.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // fails harmlessly once QEMU has exited
		for range vm.exited {
		}
	})
	vm.console = acceptConsole(t, serialLn, vm.exited)
	if err := vm.console.waitFor(ReadyLine, 90*time.Second); err != nil {
		t.Fatalf("%v\nqemu: %s\nconsole:\n%s", err, vm.stderr, vm.console.text())
	}
	t.Logf("boot to ready: %v", time.Since(start).Round(time.Millisecond))
	return vm
}

// waitExit checks that QEMU ends on its own, cleanly, within timeout.
func (vm *runningGuest) waitExit(t *testing.T, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-vm.exited:
		if err != nil {
			t.Fatalf("qemu: %v\n%s", err, vm.stderr)
		}
	case <-time.After(timeout):
		t.Fatalf("qemu still runs %v later\nconsole:\n%s", timeout, vm.console.text())
	}
	t.Logf("guest off after %v", time.Since(start).Round(time.Millisecond))
	if testing.Verbose() {
		t.Logf("console:\n%s", vm.console.text())
	}
}

// TestBootUnderTCG boots the real guest under QEMU without KVM and
// drives it the way Hearth will: the agent over its virtio-serial port,
// power-off through the ACPI button.
func TestBootUnderTCG(t *testing.T) {
	t.Parallel()
	g, qemu := testGuest(t)
	if head, err := readHead(g.Kernel, 4); err != nil || !bytes.Equal(head, []byte("\x7fELF")) {
		t.Errorf("kernel %s is not the extracted ELF image that boots fast through PVH (%v)", g.Kernel, err)
	}

	// Building again finds the cache: the same files, and no download.
	start := time.Now()
	again, err := newBuilder(DefaultCacheDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingArchive{archive: again.archive}
	again.archive = counter
	g2, err := again.build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counter.fetches.Load() != 0 || g2.Kernel != g.Kernel || g2.Initrd != g.Initrd {
		t.Errorf("second build downloaded %d times and gave %s; want the cached %s without downloads",
			counter.fetches.Load(), g2.Kernel, g.Kernel)
	}
	t.Logf("cached Build took %v", time.Since(start).Round(time.Millisecond))

	vm := bootGuest(t, qemu, g, KernelArgs("10.0.0.2/24", "10.0.0.1"))
	agent := dialAgent(t, vm.qgaPath)
	agent.call(t, "guest-ping", nil, nil)

	var osinfo struct {
		ID            string `json:"id"`
		KernelRelease string `json:"kernel-release"`
	}
	agent.call(t, "guest-get-osinfo", nil, &osinfo)
	if osinfo.ID != "hearth-testguest" {
		t.Errorf("guest-get-osinfo id = %q, want hearth-testguest", osinfo.ID)
	}

	out := agent.exec(t, "cat", "/proc/version")
	if !strings.HasPrefix(out, "Linux version "+osinfo.KernelRelease+" ") || osinfo.KernelRelease == "" {
		t.Errorf("cat /proc/version printed %q, want the guest kernel %q", out, osinfo.KernelRelease)
	}

	var ifaces []struct {
		Name string `json:"name"`
		Addr []struct {
			IP     string `json:"ip-address"`
			Prefix int    `json:"prefix"`
		} `json:"ip-addresses"`
	}
	agent.call(t, "guest-network-get-interfaces", nil, &ifaces)
	if got := fmt.Sprint(ifaces); !strings.Contains(got, "10.0.0.2 24") {
		t.Errorf("guest interfaces %s lack 10.0.0.2/24 from the kernel command line", got)
	}
	if route := agent.exec(t, "ip", "route"); !strings.Contains(route, "default via 10.0.0.1") {
		t.Errorf("guest routes %q lack the gateway 10.0.0.1", route)
	}

	var handle int
	agent.call(t, "guest-file-open", map[string]any{"path": "/tmp/probe", "mode": "w+"}, &handle)
	agent.call(t, "guest-file-write", map[string]any{"handle": handle, "buf-b64": base64.StdEncoding.EncodeToString([]byte("hearth"))}, nil)
	agent.call(t, "guest-file-close", map[string]any{"handle": handle}, nil)
	if got := agent.exec(t, "cat", "/tmp/probe"); got != "hearth" {
		t.Errorf("file written through guest-file-write reads %q", got)
	}

	qmp := dialQMP(t, vm.qmpPath)
	qmp.call(t, "system_powerdown", nil, nil)
	vm.waitExit(t, 60*time.Second)
	if !strings.Contains(vm.console.text(), "power button pressed") {
		t.Errorf("QEMU exited but the guest never saw the power button:\n%s", vm.console.text())
	}
}

// TestGuestShutdownThroughAgent powers the guest off the other way
// Hearth does it: qemu-ga's guest-shutdown, which runs /sbin/shutdown.
func TestGuestShutdownThroughAgent(t *testing.T) {
	t.Parallel()
	g, qemu := testGuest(t)
	vm := bootGuest(t, qemu, g, KernelArgs("", ""))
	agent := dialAgent(t, vm.qgaPath)
	// guest-shutdown answers nothing when it works.
	agent.send(t, "guest-shutdown", map[string]any{"mode": "powerdown"})
	vm.waitExit(t, 60*time.Second)
}

// syncBuffer collects a process's output for messages while the process
// may still be writing.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// consoleLog collects the serial console and lets the test wait for a line.
type consoleLog struct {
	mu     sync.Mutex
	buf    strings.Builder
	change chan struct{} // closed and replaced on every new line
	done   bool
}

func acceptConsole(t *testing.T, ln net.Listener, exited <-chan error) *consoleLog {
	t.Helper()
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			conns <- c
		}
	}()
	var conn net.Conn
	select {
	case conn = <-conns:
	case err := <-exited:
		t.Fatalf("qemu exited before opening the console: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("qemu did not connect to the console socket")
	}
	t.Cleanup(func() { conn.Close() })
	c := &consoleLog{change: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			c.mu.Lock()
			c.buf.WriteString(strings.TrimRight(sc.Text(), "\r") + "\n")
			close(c.change)
			c.change = make(chan struct{})
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.done = true
		close(c.change)
		c.mu.Unlock()
	}()
	return c
}

func (c *consoleLog) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor returns once a whole line on the console contains line.
func (c *consoleLog) waitFor(line string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		found := strings.Contains(c.buf.String(), line)
		done, change := c.done, c.change
		c.mu.Unlock()
		switch {
		case found:
			return nil
		case done:
			return fmt.Errorf("console closed before %q", line)
		}
		select {
		case <-change:
		case <-deadline:
			return fmt.Errorf("no %q on the console within %v", line, timeout)
		}
	}
}

// jsonConn speaks the line-less JSON of QMP and the guest agent.
type jsonConn struct {
	conn net.Conn
	dec  *json.Decoder
	rd   *bufio.Reader
}

type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

func (j *jsonConn) send(t *testing.T, cmd string, args any) {
	t.Helper()
	msg := map[string]any{"execute": cmd}
	if args != nil {
		msg["arguments"] = args
	}
	data, _ := json.Marshal(msg)
	j.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := j.conn.Write(data); err != nil {
		t.Fatalf("send %s: %v", cmd, err)
	}
}

// recv reads replies, skipping QMP events, until a return or an error.
func (j *jsonConn) recv(t *testing.T, cmd string, into any) {
	t.Helper()
	for {
		var r reply
		if err := j.dec.Decode(&r); err != nil {
			t.Fatalf("%s: read reply: %v", cmd, err)
		}
		if r.Event != "" {
			continue
		}
		if r.Error != nil {
			t.Fatalf("%s: %s: %s", cmd, r.Error.Class, r.Error.Desc)
		}
		if into != nil {
			if err := json.Unmarshal(r.Return, into); err != nil {
				t.Fatalf("%s: decode %s: %v", cmd, r.Return, err)
			}
		}
		return
	}
}

func (j *jsonConn) call(t *testing.T, cmd string, args any, into any) {
	t.Helper()
	j.send(t, cmd, args)
	j.recv(t, cmd, into)
}

// dialAgent connects to the agent and synchronises: guest-sync-delimited
// makes the agent send 0xFF before its reply, which marks where stale
// bytes from an earlier client end.
func dialAgent(t *testing.T, path string) *jsonConn {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	j := &jsonConn{conn: conn, rd: bufio.NewReader(conn)}
	id := time.Now().UnixNano() % 1000000
	j.send(t, "guest-sync-delimited", map[string]any{"id": id})
	if _, err := j.rd.ReadBytes(0xff); err != nil {
		t.Fatalf("guest-sync-delimited: no sentinel from the agent: %v", err)
	}
	j.dec = json.NewDecoder(j.rd)
	var got int64
	j.recv(t, "guest-sync-delimited", &got)
	if got != id {
		t.Fatalf("guest-sync-delimited answered %d, want %d", got, id)
	}
	return j
}

// exec runs a program in the guest and returns its standard output,
// polling guest-exec-status until the program has ended.
func (j *jsonConn) exec(t *testing.T, prog string, args ...string) string {
	t.Helper()
	var started struct {
		PID int `json:"pid"`
	}
	j.call(t, "guest-exec", map[string]any{"path": prog, "arg": args, "capture-output": true}, &started)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			OutData  string `json:"out-data"`
			ErrData  string `json:"err-data"`
		}
		j.call(t, "guest-exec-status", map[string]any{"pid": started.PID}, &st)
		if st.Exited {
			out, _ := base64.StdEncoding.DecodeString(st.OutData)
			if st.ExitCode != 0 {
				errOut, _ := base64.StdEncoding.DecodeString(st.ErrData)
				t.Fatalf("guest %s %v exited %d: %s", prog, args, st.ExitCode, errOut)
			}
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest %s %v still runs after 20 s", prog, args)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of guest-exec-status
	}
}

func dialQMP(t *testing.T, path string) *jsonConn {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	j := &jsonConn{conn: conn}
	j.dec = json.NewDecoder(conn)
	var greeting map[string]any
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := j.dec.Decode(&greeting); err != nil || greeting["QMP"] == nil {
		t.Fatalf("QMP greeting: %v %v", greeting, err)
	}
	j.call(t, "qmp_capabilities", nil, nil)
	return j
}

// countingArchive counts downloads of a real archive.
type countingArchive struct {
	archive
	fetches atomic.Int32
}

func (c *countingArchive) Fetch(ctx context.Context, dir string, pkgs []debPackage) error {
	c.fetches.Add(1)
	return c.archive.Fetch(ctx, dir, pkgs)
}

func readHead(file string, n int) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, n)
	_, err = io.ReadFull(f, head)
	return head, err
}
