package daemon

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cli"
	"github.com/hearth-virt/hearth/internal/qemu/testguest"
)

// requireQEMUBinary skips a test that starts QEMU where that is
// impossible.
func requireQEMUBinary(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: running VMs needs root")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("skipping: qemu-system-x86_64 is not installed (make deps installs it)")
	}
}

// requireQEMU skips a test that needs to run real VMs where that is
// impossible, and builds the test guest.
func requireQEMU(t *testing.T) *testguest.Guest {
	t.Helper()
	requireQEMUBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g, err := testguest.Build(ctx, testguest.DefaultCacheDir(), t.Logf)
	if errors.Is(err, testguest.ErrArchiveUnreachable) {
		t.Skipf("skipping: the test guest cannot be built: %v", err)
	}
	if err != nil {
		t.Fatalf("building the test guest: %v", err)
	}
	return g
}

// killVMs ends the QEMU processes a test daemon left running: VMs outlive
// their daemon on purpose, so a test must end them itself.
func killVMs(t *testing.T, runDir string) {
	t.Cleanup(func() {
		pids, _ := filepath.Glob(filepath.Join(runDir, "qemu", "*.pid"))
		for _, f := range pids {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				continue
			}
			// Only the QEMU that wrote this pid file, never a reused pid.
			if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(cmdline), f) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// restartDaemon shuts a test node down and starts it again on the same
// state, as a daemon upgrade or crash would.
func restartDaemon(t *testing.T, td *testDaemon) *testDaemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := td.Daemon.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	cfg := td.cfg
	d, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return &testDaemon{Daemon: d, base: "https://" + d.Addr().String() + "/api2/json", client: td.client, out: td.out}
}

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// qmTerminal runs qm terminal, types input until want shows up, then
// leaves with Ctrl+O.
func qmTerminal(t *testing.T, sock, vmid, input, want string) {
	t.Helper()
	pr, pw := io.Pipe()
	out := &lockedBuffer{}
	env := cli.Env{Stdin: pr, Stdout: out, Stderr: out, Getenv: func(string) string { return "" },
		Endpoints: api.All(), IsTerminal: func(any) bool { return false }}
	done := make(chan int, 1)
	go func() { done <- cli.Main(context.Background(), []string{"hearth", "qm", "terminal", vmid, sock}, env) }()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			pw.Close()
			t.Fatalf("qm terminal: %q never showed up; output:\n%s", want, out.String())
		}
		pw.Write([]byte(input))
		for wait := time.Now().Add(2 * time.Second); time.Now().Before(wait) && !strings.Contains(out.String(), want); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	pw.Write([]byte{0x0f})
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("qm terminal ended with %d:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("qm terminal did not end on Ctrl+O:\n%s", out.String())
	}
}

// serialReader connects to a VM's serial console socket.
type serialReader struct {
	conn net.Conn
	r    *bufio.Reader
	seen strings.Builder
}

func dialSerial(t *testing.T, path string) *serialReader {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("serial console: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &serialReader{conn: c, r: bufio.NewReader(c)}
}

func (s *serialReader) waitFor(line string, d time.Duration) error {
	s.conn.SetReadDeadline(time.Now().Add(d))
	for {
		l, err := s.r.ReadString('\n')
		s.seen.WriteString(l)
		if strings.Contains(l, line) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestVMBootsAndShutsDownWithTheTestGuest runs the whole life of a VM on
// real QEMU (TCG here): create with a disk and a NIC on a bridge, start,
// the guest's ready line on the serial console, the guest agent, a ping
// from the host side of the bridge, ACPI shutdown, destroy. One boot
// serves all assertions, as booting is the slow part.
func TestVMBootsAndShutsDownWithTheTestGuest(t *testing.T) {
	g := requireQEMU(t)
	nsPath, _ := testNetNS(t)
	ns := filepath.Base(nsPath)
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "vmbr0", "type", "bridge"},
		{"-n", ns, "addr", "add", "10.77.0.1/24", "dev", "vmbr0"},
		{"-n", ns, "link", "set", "vmbr0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	file := filepath.Join(t.TempDir(), "interfaces")
	if err := os.WriteFile(file, []byte("auto lo\niface lo inet loopback\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, "alpha", func(c *Config) {
		c.NetworkInterfaces, c.NetworkNamespace, c.NATNetwork = file, nsPath, "none"
	})
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	args := "-kernel " + g.Kernel + " -initrd " + g.Initrd + " -append '" + testguest.KernelArgs("10.77.0.2/24", "10.77.0.1") + "'"
	out, code := runCLI(t, "qm", "create", "100", "--name", "testguest", "--memory", "256", "--scsi0", "local:1",
		"--net0", "virtio,bridge=vmbr0", "--agent", "1", "--serial0", "socket", "--args", args, sock)
	if code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	conf := s.must(t, "GET", "/nodes/alpha/qemu/100/config", nil).body["data"].(map[string]any)
	if !strings.HasPrefix(conf["scsi0"].(string), "local:100/vm-100-disk-0.") || !strings.Contains(conf["net0"].(string), "bridge=vmbr0") {
		t.Fatalf("config after create: %v", conf)
	}
	if out, code := runCLI(t, "qm", "start", "100", sock); code != 0 {
		t.Fatalf("qm start: %d\n%s", code, out)
	}
	serial := dialSerial(t, filepath.Join(td.cfg.RunDir, "qemu", "100.serial0"))
	st := s.must(t, "GET", "/nodes/alpha/qemu/100/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "running" || st["qmpstatus"] != "running" || st["pid"] == nil {
		t.Fatalf("status after start: %v", st)
	}
	conf = s.must(t, "GET", "/nodes/alpha/qemu/100/config", nil).body["data"].(map[string]any)
	if m, _ := conf["machine"].(string); !strings.HasPrefix(m, "pc-i440fx-") {
		t.Fatalf("the machine version was not pinned on the first start: %v", conf["machine"])
	}
	if err := serial.waitFor(testguest.ReadyLine, 2*time.Minute); err != nil {
		t.Fatalf("the guest did not report ready: %v\n%s", err, serial.seen.String())
	}
	// The agent answers through the API.
	deadline := time.Now().Add(time.Minute)
	for {
		r := s.do(t, "POST", "/nodes/alpha/qemu/100/agent/ping", nil)
		if r.code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent ping: %s %s", r.status, r.raw)
		}
		time.Sleep(500 * time.Millisecond)
	}
	osinfo := s.must(t, "GET", "/nodes/alpha/qemu/100/agent/get-osinfo", nil).body["data"].(map[string]any)
	if _, ok := osinfo["result"].(map[string]any)["kernel-release"]; !ok {
		t.Fatalf("get-osinfo: %v", osinfo)
	}
	// qm guest exec runs a program in the guest and prints its outcome.
	out, code = runCLI(t, "qm", "guest", "exec", "100", "cat", "/proc/version", sock)
	if code != 0 || !strings.Contains(out, `"exitcode" : 0`) && !strings.Contains(out, `"exitcode": 0`) || !strings.Contains(out, "Linux version") {
		t.Fatalf("qm guest exec: %d\n%s", code, out)
	}
	// qm terminal attaches to the serial console (one client at a time:
	// the test's own reader lets go first).
	serial.conn.Close()
	qmTerminal(t, sock, "100", "echo term-$((6*7))\n", "term-42")
	// The NIC is on the bridge: the host side reaches the guest.
	if out, err := exec.Command("ip", "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "10", "10.77.0.2").CombinedOutput(); err != nil {
		t.Fatalf("ping from the bridge: %v\n%s", err, out)
	}
	// A NIC is hot-plugged; memory waits for the next start.
	if out, code := runCLI(t, "qm", "set", "100", "--net1", "virtio,bridge=vmbr0", "--memory", "300", sock); code != 0 {
		t.Fatalf("qm set: %d\n%s", code, out)
	}
	pending := s.must(t, "GET", "/nodes/alpha/qemu/100/pending", nil).body["data"].([]any)
	for _, row := range pending {
		r := row.(map[string]any)
		switch r["key"] {
		case "net1":
			if r["pending"] != nil || !strings.Contains(r["value"].(string), "bridge=vmbr0") {
				t.Fatalf("net1 was not hot-plugged: %v", r)
			}
		case "memory":
			if r["pending"] != "300" {
				t.Fatalf("memory should wait for the next start: %v", r)
			}
		}
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "show", "master", "vmbr0").CombinedOutput(); err != nil || !strings.Contains(string(out), "tap100i1") {
		t.Fatalf("the hot-plugged NIC's tap is not on the bridge: %v\n%s", err, out)
	}
	if out, code := runCLI(t, "qm", "showcmd", "100", "--pretty", sock); code != 0 || !strings.Contains(out, "-blockdev") || !strings.Contains(out, "tap100i0") {
		t.Fatalf("qm showcmd: %d\n%s", code, out)
	}
	// The VM outlives a restart of the daemon, which takes it over again.
	pid := st["pid"]
	td = restartDaemon(t, td)
	s = td.loginAs(t, "admin@pve", testPassword)
	st = s.must(t, "GET", "/nodes/alpha/qemu/100/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "running" || st["pid"] != pid || st["qmpstatus"] != "running" {
		t.Fatalf("status after the daemon restarted: %v (pid before: %v)", st, pid)
	}
	s.must(t, "POST", "/nodes/alpha/qemu/100/agent/ping", nil)
	// ACPI shutdown ends the VM cleanly.
	r := s.must(t, "POST", "/nodes/alpha/qemu/100/status/shutdown", url.Values{"timeout": {"60"}})
	if status := td.waitTask(t, r); status != "OK" {
		t.Fatalf("shutdown: %s\n%s", status, td.taskLog(t, r))
	}
	st = s.must(t, "GET", "/nodes/alpha/qemu/100/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "stopped" {
		t.Fatalf("status after shutdown: %v", st)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(td.cfg.RunDir, "qemu", "100.*")); len(leftovers) != 0 {
		t.Fatalf("runtime files left after the VM stopped: %v", leftovers)
	}
	if out, code := runCLI(t, "qm", "destroy", "100", "--purge", sock); code != 0 {
		t.Fatalf("qm destroy: %d\n%s", code, out)
	}
	if left, _ := filepath.Glob(filepath.Join(td.cfg.LocalStorage, "images", "100", "*")); len(left) != 0 {
		t.Fatalf("disks left after destroy: %v", left)
	}
	if r := s.do(t, "GET", "/nodes/alpha/qemu/100/config", nil); r.code != 500 || !strings.Contains(r.status, "does not exist") {
		t.Fatalf("config after destroy: %s", r.status)
	}
}
