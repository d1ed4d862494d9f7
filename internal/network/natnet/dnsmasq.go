package natnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// dnsmasqConf renders dnsmasq's configuration. dnsmasq reads only this
// file (--conf-file replaces /etc/dnsmasq.conf, and with it any conf-dir
// the host's configuration would add), so the host's own dnsmasq setup
// never leaks in. The file is kept in the state directory so that an
// operator can read what runs, and so that Up can tell whether a running
// dnsmasq still matches the configuration it would write.
func dnsmasqConf(c Config) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Written by Hearth for the NAT network on %s; rewritten by every start.", c.Bridge)
	line("interface=%s", c.Bridge)
	line("bind-interfaces")
	line("except-interface=lo")
	line("dhcp-range=%s,%s,%s,1h", c.DHCPRange.Start, c.DHCPRange.End, net.IP(net.CIDRMask(c.Subnet.Bits(), 32)))
	line("dhcp-option=option:router,%s", c.Gateway)
	line("dhcp-leasefile=%s", c.leasePath())
	line("pid-file=%s", c.pidPath())
	// The network is ours alone: answer clients whose leases another
	// instance (before a restart) handed out, instead of making them wait.
	line("dhcp-authoritative")
	// The node's /etc/hosts is none of the guests' business.
	line("no-hosts")
	// dnsmasq's ping check stays on: it delays a new guest's first lease
	// by about 3s, but keeps a guest with a static address inside the
	// range from losing it to a DHCP client.
	if !c.DNS {
		line("port=0")
	} else {
		line("domain-needed")
		line("bogus-priv")
	}
	if c.Domain != "" {
		line("domain=%s", c.Domain)
		if c.DNS {
			// Names in the domain are answered here or not at all.
			line("local=/%s/", c.Domain)
		}
	}
	return b.String()
}

// daemon is one running dnsmasq: either a child this Network started, or
// one a previous Network (or daemon) started and this one adopted.
type daemon struct {
	pid  int
	done chan struct{} // closed once the process is gone
	// err is why it ended; set before done is closed, owned children only.
	err error
}

// ownedBy tells whether pid is a live dnsmasq running with our
// configuration file, so that a pid file left by a crash and since reused
// by another process never gets that process signaled.
func ownedBy(pid int, conf string) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(raw) == 0 {
		return false
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	if filepath.Base(args[0]) != "dnsmasq" {
		return false
	}
	for _, a := range args[1:] {
		if a == "--conf-file="+conf {
			return alive(pid)
		}
	}
	return false
}

// alive tells whether pid has not finished exiting. An exiting process
// loses its command line before it closes its sockets, so only the zombie
// state (or no process at all) says that its ports are free again.
func alive(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain them.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 || i+2 >= len(raw) {
		return false
	}
	return raw[i+2] != 'Z' && raw[i+2] != 'X'
}

// runningDnsmasq returns the pid of the dnsmasq serving this
// configuration, or 0.
func runningDnsmasq(c Config) int {
	raw, err := os.ReadFile(c.pidPath())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 || !ownedBy(pid, c.confPath()) {
		return 0
	}
	return pid
}

// adopt watches a dnsmasq this Network did not start (checked with
// ownedBy by the caller). It cannot wait for it, so it looks every second
// until it is gone or stop is closed.
func adopt(pid int, stop <-chan struct{}) *daemon {
	d := &daemon{pid: pid, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for alive(pid) {
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
		close(d.done)
	}()
	return d
}

// startDnsmasq starts dnsmasq in ns and waits until it has written its
// pid file, which it does after binding its sockets; it fails with
// dnsmasq's own complaint when dnsmasq exits first.
//
// dnsmasq logs to syslog, as a dnsmasq of the host would. Its standard
// error, where it explains why it cannot start, goes to a file in the
// state directory rather than a pipe: a pipe would kill it with SIGPIPE
// once a released Network's daemon has exited.
func startDnsmasq(ctx context.Context, ns netns.NsHandle, bin string, c Config) (*daemon, error) {
	// -k keeps it a child of ours, so that we learn at once when it dies.
	cmd := exec.Command(bin, "--keep-in-foreground", "--conf-file="+c.confPath())
	// Its own process group: a ^C meant for a daemon in a terminal must
	// not take the guests' DHCP down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	errFile, err := os.OpenFile(c.stderrPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("start dnsmasq: %w", err)
	}
	defer errFile.Close() // the child has its own copy
	cmd.Stderr = errFile
	if err := os.Remove(c.pidPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale pid file: %w", err)
	}
	if err := inNS(ns, cmd.Start); err != nil {
		return nil, fmt.Errorf("start dnsmasq: %w", err)
	}
	d := &daemon{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()

	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if raw, err := os.ReadFile(c.pidPath()); err == nil && strings.TrimSpace(string(raw)) == strconv.Itoa(d.pid) {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("dnsmasq exited at start (%v): %s", d.err, complaint(c))
		case <-ctx.Done():
			stopDaemon(d, c.confPath())
			return nil, fmt.Errorf("waiting for dnsmasq to start: %w", ctx.Err())
		case <-deadline.C:
			stopDaemon(d, c.confPath())
			return nil, fmt.Errorf("dnsmasq did not write its pid file within 10s: %s", complaint(c))
		case <-tick.C:
		}
	}
}

// complaint returns what dnsmasq printed on standard error, briefly.
func complaint(c Config) string {
	raw, _ := os.ReadFile(c.stderrPath())
	msg := strings.Join(strings.Fields(string(raw)), " ")
	if msg == "" {
		return "no message"
	}
	if len(msg) > 500 {
		msg = msg[len(msg)-500:]
	}
	return msg
}

// stopDaemon ends d by its pid: SIGTERM, then SIGKILL after five seconds.
// The pid is checked against our configuration before every signal, so a
// reused pid is never hit.
func stopDaemon(d *daemon, conf string) {
	if !ownedBy(d.pid, conf) {
		return
	}
	_ = syscall.Kill(d.pid, syscall.SIGTERM)
	if waitGone(d, conf, 5*time.Second) {
		return
	}
	if ownedBy(d.pid, conf) {
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
	}
	waitGone(d, conf, 5*time.Second)
}

// waitGone waits for d to end: through its done channel when it is our
// child (Wait reaps it), by looking at /proc otherwise.
func waitGone(d *daemon, conf string, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-d.done:
			return true
		case <-deadline.C:
			return false
		case <-tick.C:
			if !alive(d.pid) {
				return true
			}
		}
	}
}
