package nfstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
)

// Server is a running ganesha.nfsd exporting a temporary directory.
type Server struct {
	// Host is the server's address inside its namespace.
	Host string
	// Export is the path clients mount (NFSv3 and NFSv4 alike).
	Export string
	// Dir is the exported directory as the host sees it. Change it only
	// through NFS while the server runs: ganesha caches what it has read.
	Dir string
	// NetNS is the network namespace the server listens in.
	NetNS string
	pid   int // ganesha.nfsd, the first process of the namespaces
}

const exportPath = "/export"

// Start runs a server for the test and stops it when the test ends. It
// skips the test when it is not run as root or a needed program is
// missing (Debian packages nfs-ganesha, nfs-ganesha-vfs, rpcbind,
// util-linux, iproute2).
func Start(t testing.TB) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("nfstest: starting an NFS server needs root (network, mount and PID namespaces)")
	}
	for _, prog := range []string{"ganesha.nfsd", "rpcbind", "unshare", "nsenter", "ip", "showmount"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("nfstest: %s is not installed: %v", prog, err)
		}
	}
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Export: exportPath, Dir: filepath.Join(dir, "export")}
	for _, d := range []string{s.Dir, filepath.Join(dir, "recovery")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "ganesha.conf")
	if err := os.WriteFile(conf, []byte(config(s.Dir, filepath.Join(dir, "recovery"))), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "ganesha.log")
	script := filepath.Join(dir, "init.sh")
	if err := os.WriteFile(script, []byte(initScript(conf, logFile, filepath.Join(dir, "ganesha.pid"))), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("unshare", "--net", "--mount", "--pid", "--fork", "--kill-child",
		"--propagation", "private", "sh", script)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("nfstest: starting unshare: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		if s.pid > 0 {
			_ = syscall.Kill(s.pid, syscall.SIGKILL)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)

	failed := func(format string, args ...any) {
		t.Helper()
		logText, _ := os.ReadFile(logFile)
		t.Fatalf("nfstest: "+format+"\noutput: %s\nganesha log (tail): %s", append(args, out.String(), tail(string(logText), 3000))...)
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	// The namespaces belong to unshare's child, which exists only once
	// unshare has created them.
	for s.pid == 0 {
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)); err == nil {
			if f := strings.Fields(string(data)); len(f) > 0 {
				s.pid, _ = strconv.Atoi(f[0])
			}
		}
		if s.pid != 0 {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			failed("the namespace exited before the server started: %v", err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			failed("no server process after 30 s")
		}
	}
	s.NetNS = fmt.Sprintf("/proc/%d/ns/net", s.pid)
	ctx := context.Background()
	for {
		res, err := s.Runner(runner.Exec{}).Run(ctx, runner.Cmd{Name: "showmount", Args: []string{"--no-headers", "--exports", s.Host}})
		if err == nil && strings.HasPrefix(string(res.Stdout), exportPath+" ") {
			return s
		}
		select {
		case err := <-exited:
			exited <- err
			failed("ganesha.nfsd exited: %v", err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			failed("the export did not appear within 30 s (last showmount: %v)", err)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// config is ganesha's configuration: one VFS export, root not squashed,
// no grace period (a fresh server has no clients to reclaim state), no
// NLM or rquota (they would need more RPC services).
func config(export, recovery string) string {
	return fmt.Sprintf(`NFS_CORE_PARAM {
	Protocols = 3, 4;
	Mount_Path_Pseudo = true;
	Enable_NLM = false;
	Enable_RQUOTA = false;
}
NFSv4 {
	Graceless = true;
	RecoveryBackend = fs;
	RecoveryRoot = %q;
}
EXPORT {
	Export_Id = 1;
	Path = %q;
	Pseudo = %q;
	Protocols = 3, 4;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
	FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
`, recovery, export, exportPath)
}

// initScript runs as the first process of the new namespaces: loopback
// up, a private /run (rpcbind's socket and lock live there, and another
// test's rpcbind must not see ours), rpcbind, then ganesha in the
// foreground.
func initScript(conf, logFile, pidFile string) string {
	return fmt.Sprintf(`set -e
ip link set lo up
mount -t tmpfs tmpfs /run
rpcbind -f -w &
i=0
while [ ! -S /run/rpcbind.sock ]; do
	i=$((i+1)); [ $i -lt 400 ] || { echo "rpcbind did not start" >&2; exit 1; }
	sleep 0.025
done
exec ganesha.nfsd -F -f %q -L %q -p %q
`, conf, logFile, pidFile)
}

// URL is the nfs:// URL of a path below the export.
func (s *Server) URL(p string) string {
	return "nfs://" + s.Host + s.Export + "/" + strings.TrimPrefix(p, "/")
}

// Runner runs commands of inner inside the server's network namespace.
func (s *Server) Runner(inner runner.Runner) runner.Runner {
	return nsRunner{ns: s.NetNS, inner: inner}
}

type nsRunner struct {
	ns    string
	inner runner.Runner
}

func (r nsRunner) Run(ctx context.Context, c runner.Cmd) (runner.Result, error) {
	wrapped := c
	wrapped.Name = "nsenter"
	wrapped.Args = append([]string{"--net=" + r.ns, "--", c.Name}, c.Args...)
	return r.inner.Run(ctx, wrapped)
}

// Dial connects from inside the server's network namespace: the socket
// is created on a thread switched into it, and a socket keeps its
// namespace for life.
func (s *Server) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked (and so discarded by the runtime)
		// unless it is safely back in its own namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(s.NetNS)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("nfstest: entering %s: %w", s.NetNS, err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}
