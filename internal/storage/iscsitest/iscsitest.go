package iscsitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Target is one iSCSI target served by a tgtd started for the test.
type Target struct {
	// Portal is where the target listens: "127.0.0.1:<port>".
	Portal string
	// IQN names the target.
	IQN string
	// LUNs are the logical units in the order they were asked for; the
	// first is LUN 1 (tgtd keeps LUN 0 for its controller).
	LUNs []LUN
	srv  *server
}

// LUN is one logical unit of a target.
type LUN struct {
	Number int
	Size   int64  // bytes
	File   string // the backing file in the test's temporary directory
}

// URL is the libiscsi URL of a LUN: iscsi://<portal>/<iqn>/<lun>.
func (tg *Target) URL(lun int) string {
	return fmt.Sprintf("iscsi://%s/%s/%d", tg.Portal, tg.IQN, lun)
}

// PID is the process id of the tgtd serving the target.
func (tg *Target) PID() int { return tg.srv.pid }

// server is one tgtd process.
type server struct {
	pid    int
	ctl    int // tgtd's control port: the number in its socket's name
	portal string
	dir    string

	mu      sync.Mutex
	nextTID int
}

const (
	tgtdBin   = "tgtd"
	tgtadmBin = "tgtadm"
	// socketDir is where tgtd puts its control socket and lock file,
	// named after the control port; the directory is fixed at build time.
	socketDir = "/var/run/tgtd"
)

// Start runs a tgtd on a free loopback port with a new target holding one
// logical unit per size given (in bytes; sizes should be multiples of 512,
// tgtd ignores a partial last block). The server is killed and its files
// removed when the test ends. The test is skipped when it does not run as
// root or the tgt package is not installed.
func Start(t testing.TB, luns ...int64) *Target {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("iscsitest: tgtd needs root (it keeps its control socket in " + socketDir + ")")
	}
	for _, prog := range []string{tgtdBin, tgtadmBin} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("iscsitest: %s is not installed (Debian package tgt): %v", prog, err)
		}
	}
	srv := startServer(t)
	return srv.addTarget(t, luns)
}

// AddTarget creates another target, with its own IQN and logical units,
// on the same tgtd and portal.
func (tg *Target) AddTarget(t testing.TB, luns ...int64) *Target {
	t.Helper()
	return tg.srv.addTarget(t, luns)
}

func startServer(t testing.TB) *server {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	// A port or control port picked here can be taken by another process
	// before tgtd binds it; that attempt is then thrown away and another
	// pair tried.
	for attempt := 0; attempt < 20; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("iscsitest: %v", err)
		}
		ctl, err := randomControlPort()
		if err != nil {
			t.Fatalf("iscsitest: %v", err)
		}
		srv, retry, err := tryStart(t, dir, attempt, port, ctl)
		if err == nil {
			return srv
		}
		if !retry {
			t.Fatalf("iscsitest: %v", err)
		}
		lastErr = err
	}
	t.Fatalf("iscsitest: could not start tgtd after 20 attempts: %v", lastErr)
	return nil
}

// tryStart starts tgtd on port with control port ctl. retry tells that
// another process holds one of them.
func tryStart(t testing.TB, dir string, attempt, port, ctl int) (srv *server, retry bool, err error) {
	logPath := filepath.Join(dir, fmt.Sprintf("tgtd-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, false, err
	}
	defer logFile.Close()
	portal := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(tgtdBin, "-f", "-C", strconv.Itoa(ctl), "--iscsi", "portal="+portal)
	// A file rather than a pipe: whatever tgtd wrote before it answered
	// its first request is then certainly readable.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("starting tgtd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := &server{pid: cmd.Process.Pid, ctl: ctl, portal: portal, dir: dir, nextTID: 1}
	owned := false
	kill := func() {
		// tgtd ignores SIGTERM.
		_ = syscall.Kill(s.pid, syscall.SIGKILL)
		<-exited
		if owned {
			// The socket and lock file are named by the control port,
			// which this tgtd held; nobody else uses them.
			_ = os.Remove(s.socket())
			_ = os.Remove(s.socket() + ".lock")
		}
	}
	readLog := func() string {
		data, _ := os.ReadFile(logPath)
		return string(data)
	}

	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !owned {
		if err := s.admin(context.Background(), "--mode", "target", "--op", "show"); err == nil {
			// The socket answered; it is this tgtd's only if this tgtd holds
			// the lock that guards it. Otherwise another tgtd uses the same
			// control port and this one is about to exit.
			if owned = holdsLock(s.pid, s.socket()+".lock"); owned {
				break
			}
		}
		if time.Now().After(deadline) {
			kill()
			return nil, false, fmt.Errorf("tgtd (pid %d) not ready after 20 s: %s", s.pid, readLog())
		}
		select {
		case werr := <-exited:
			exited <- werr
			log := readLog()
			if strings.Contains(log, "another tgtd is using") {
				return nil, true, fmt.Errorf("control port %d is taken", ctl)
			}
			return nil, false, fmt.Errorf("tgtd exited before it was ready (%v): %s", werr, log)
		case <-tick.C:
		}
	}
	// tgtd binds its portals before it serves its control socket and, when
	// the port is taken, carries on without a portal.
	if log := readLog(); strings.Contains(log, "failed to create/bind to portal") {
		kill()
		return nil, true, fmt.Errorf("port %d is taken", port)
	}
	conn, err := net.DialTimeout("tcp", portal, 5*time.Second)
	if err != nil {
		kill()
		return nil, false, fmt.Errorf("tgtd serves its control socket but not %s: %w", portal, err)
	}
	conn.Close()
	t.Cleanup(kill)
	return s, false, nil
}

func (s *server) socket() string { return filepath.Join(socketDir, "socket."+strconv.Itoa(s.ctl)) }

// admin runs tgtadm against this server.
func (s *server) admin(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	full := append([]string{"-C", strconv.Itoa(s.ctl), "--lld", "iscsi"}, args...)
	out, err := exec.CommandContext(ctx, tgtadmBin, full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tgtadm %s: %w: %s", strings.Join(full, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (s *server) addTarget(t testing.TB, luns []int64) *Target {
	t.Helper()
	s.mu.Lock()
	tid := s.nextTID
	s.nextTID++
	s.mu.Unlock()
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	tg := &Target{Portal: s.portal, IQN: "iqn.2024-01.org.hearth.test:t" + hex.EncodeToString(suffix), srv: s}
	ctx := context.Background()
	id := strconv.Itoa(tid)
	if err := s.admin(ctx, "--mode", "target", "--op", "new", "--tid", id, "--targetname", tg.IQN); err != nil {
		t.Fatalf("iscsitest: %v", err)
	}
	for i, size := range luns {
		file := filepath.Join(s.dir, fmt.Sprintf("tid%d-lun%d.img", tid, i+1))
		f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			err = f.Truncate(size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Fatalf("iscsitest: backing file for LUN %d: %v", i+1, err)
		}
		if err := s.admin(ctx, "--mode", "logicalunit", "--op", "new", "--tid", id,
			"--lun", strconv.Itoa(i+1), "--backing-store", file); err != nil {
			t.Fatalf("iscsitest: %v", err)
		}
		tg.LUNs = append(tg.LUNs, LUN{Number: i + 1, Size: size, File: file})
	}
	if err := s.admin(ctx, "--mode", "target", "--op", "bind", "--tid", id, "--initiator-address", "ALL"); err != nil {
		t.Fatalf("iscsitest: %v", err)
	}
	return tg
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before tgtd binds it; startServer retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomControlPort picks a control port (tgtd accepts 0-32767) away
// from the default 0 a host tgtd uses.
func randomControlPort() (int, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(31000))
	if err != nil {
		return 0, err
	}
	return 1024 + int(n.Int64()), nil
}

// holdsLock reports whether process pid holds the POSIX lock tgtd takes
// on its control socket's lock file, from /proc/locks.
func holdsLock(pid int, lockFile string) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(lockFile, &st); err != nil {
		return false
	}
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	return lockHeld(string(data), pid, st.Ino)
}

// lockHeld finds a lock of pid on inode ino in /proc/locks text, whose
// lines read "1: POSIX  ADVISORY  WRITE 4278 fe:00:828064 0 0".
func lockHeld(locks string, pid int, ino uint64) bool {
	for _, line := range strings.Split(locks, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "POSIX" {
			continue
		}
		p, err := strconv.Atoi(f[4])
		if err != nil || p != pid {
			continue
		}
		dev := strings.Split(f[5], ":")
		if i, err := strconv.ParseUint(dev[len(dev)-1], 10, 64); err == nil && i == ino {
			return true
		}
	}
	return false
}
