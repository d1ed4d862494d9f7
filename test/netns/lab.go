package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsPrefix starts every namespace name of every lab. The creating test
// process's PID follows it, so a later run can tell namespaces left behind
// by a crashed run (owner gone) from those of a live parallel test package.
const nsPrefix = "hlab-"

// nftTable is the bridge-family table in the switch namespace that holds
// the blocked port pairs.
const nftTable = "hlab"

// maxHosts is what fits in one /24 next to the switch's own .1 address.
const maxHosts = 253

// cmdTimeout bounds every ip/nft invocation, so a wedged tool fails the
// test instead of hanging it until the global go test timeout.
const cmdTimeout = 30 * time.Second

// Lab is a private switch plus the hosts attached to it. A Lab belongs to
// the test that created it; its methods may be called from several
// goroutines, but the ones that fail the test (all except Dial, Listen and
// WaitTCP) must be called from the test goroutine, as with t.Fatal.
type Lab struct {
	t       testing.TB
	id      string // 6 hex digits, part of every name this lab creates
	subnet  int    // X in 10.147.X.0/24
	swNS    string // switch namespace
	bridge  string // bridge device inside swNS
	ipPath  string
	nftPath string
	spawn   chan spawnReq // served by the spawner thread, see proc.go

	mu         sync.Mutex
	closed     bool
	swFD       int // open fd of swNS for setns; -1 when not open
	setnsWG    sync.WaitGroup
	namespaces []string // created namespaces, switch first
	hosts      map[string]*Host
	nextIdx    int
	procs      []*Process
	closers    []io.Closer // connections and listeners made in swNS
	transports []*http.Transport

	nftMu   sync.Mutex         // serialises nft updates with the record below
	blocked map[[2]string]bool // unordered port pairs, smaller name first
	cleanup sync.Once
}

// Host is one lab machine: a network namespace with one interface into the
// switch. Its fields are informational; change nothing in them.
type Host struct {
	Name string // as given to Lab.Host; Lab.Dial also accepts it as a host name
	IP   string // IPv4 address on the lab's /24
	NS   string // network namespace name (for `ip netns exec`)
	Link string // the host's interface name inside NS

	lab  *Lab
	port string // the switch-side end of the veth pair, in the switch namespace
}

var hostName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$`)

// New creates an empty lab: a switch namespace holding a bridge with the
// address 10.147.X.1/24 (X random per lab) and the nftables table used by
// Block. It skips the test unless it runs as root with `ip` and `nft`
// available. Everything is removed in t.Cleanup.
func New(t testing.TB) *Lab {
	t.Helper()
	ipPath, nftPath, reason := prerequisites()
	if reason != "" {
		t.Skip("netns: " + reason)
	}
	removeStale(t, ipPath)

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("netns: random: %v", err)
	}
	id := hex.EncodeToString(rnd[:3])
	l := &Lab{
		t:       t,
		id:      id,
		subnet:  int(rnd[3]),
		swNS:    fmt.Sprintf("%s%d-%s-sw", nsPrefix, os.Getpid(), id),
		bridge:  "hl" + id + "br",
		ipPath:  ipPath,
		nftPath: nftPath,
		spawn:   make(chan spawnReq),
		swFD:    -1,
		hosts:   map[string]*Host{},
		nextIdx: 2,
		blocked: map[[2]string]bool{},
	}
	go l.spawner()
	// Registered before anything exists, so a failure half-way through New
	// is cleaned up too.
	t.Cleanup(l.close)
	if err := l.setupSwitch(); err != nil {
		t.Fatalf("netns: creating the switch: %v", err)
	}
	return l
}

func (l *Lab) setupSwitch() error {
	if err := l.addNamespace(l.swNS); err != nil {
		return err
	}
	// STP off and no forward delay: a port comes up forwarding at once, so
	// Restore takes effect without a 15 s listening phase.
	if err := l.ipBatch(l.swNS, fmt.Sprintf(
		"link set lo up\n"+
			"link add name %[1]s type bridge stp_state 0 forward_delay 0\n"+
			"addr add %[2]s/24 dev %[1]s\n"+
			"link set %[1]s up\n", l.bridge, l.SwitchIP())); err != nil {
		return err
	}
	// Interface pairs rather than addresses: that also stops ARP and IPv6
	// and whatever address a process adds on its host later.
	if err := l.nft(fmt.Sprintf("table bridge %s {\n"+
		"  set blocked { type ifname . ifname; }\n"+
		"  chain forward {\n"+
		"    type filter hook forward priority 0; policy accept;\n"+
		"    iifname . oifname @blocked drop\n"+
		"  }\n"+
		"}\n", nftTable)); err != nil {
		return err
	}
	fd, err := unix.Open(nsPath(l.swNS), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", nsPath(l.swNS), err)
	}
	l.mu.Lock()
	l.swFD = fd
	l.mu.Unlock()
	return nil
}

// SwitchIP is the switch's own address on the lab network, from which
// Dial, Listen and HTTPClient work. Lab hosts can reach it (a Listen-ed
// server there is how a test offers a service to its hosts).
func (l *Lab) SwitchIP() string { return fmt.Sprintf("10.147.%d.1", l.subnet) }

// Prefix is the lab network, e.g. "10.147.42.0/24".
func (l *Lab) Prefix() string { return fmt.Sprintf("10.147.%d.0/24", l.subnet) }

// Host adds a host: a namespace named after the lab and name, with
// loopback up and one interface into the switch carrying the next free
// address of the lab's /24. Names are unique per lab.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	h, err := l.addHost(name)
	if err != nil {
		l.t.Fatalf("netns: host %q: %v", name, err)
	}
	return h
}

func (l *Lab) addHost(name string) (*Host, error) {
	if !hostName.MatchString(name) {
		return nil, errors.New("name must be 1-32 of [a-zA-Z0-9_-], starting alphanumeric")
	}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, errClosed
	case l.hosts[name] != nil:
		l.mu.Unlock()
		return nil, errors.New("already exists in this lab")
	case l.nextIdx > maxHosts+1:
		l.mu.Unlock()
		return nil, fmt.Errorf("a lab holds at most %d hosts", maxHosts)
	}
	idx := l.nextIdx
	l.nextIdx++
	h := &Host{
		Name: name,
		IP:   fmt.Sprintf("10.147.%d.%d", l.subnet, idx),
		NS:   fmt.Sprintf("%s%d-%s-%s", nsPrefix, os.Getpid(), l.id, name),
		// "hl" + 6 + "h" + at most 3 digits: within IFNAMSIZ-1 (15).
		Link: fmt.Sprintf("hl%sh%d", l.id, idx),
		port: fmt.Sprintf("hl%sp%d", l.id, idx),
		lab:  l,
	}
	l.hosts[name] = h // reserves the name while the namespace is built
	l.mu.Unlock()

	if err := l.addNamespace(h.NS); err != nil {
		return nil, err
	}
	// The pair is created with each end directly in its namespace, so no
	// interface of a lab ever appears in the machine's own namespace, not
	// even for a moment or after a crash.
	if err := l.ipBatch(l.swNS, fmt.Sprintf(
		"link add name %s type veth peer name %s netns %s\n"+
			"link set %[1]s master %[4]s up\n", h.port, h.Link, h.NS, l.bridge)); err != nil {
		return nil, err
	}
	if err := l.ipBatch(h.NS, fmt.Sprintf(
		"link set lo up\n"+
			"addr add %s/24 dev %s\n"+
			"link set %[2]s up\n", h.IP, h.Link)); err != nil {
		return nil, err
	}
	return h, nil
}

// addNamespace creates a namespace and records it for cleanup.
func (l *Lab) addNamespace(name string) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errClosed
	}
	// Recorded before creation: deleting one that never came to be only
	// costs a logged error, forgetting one would leak it.
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
	return l.run("", l.ipPath, "netns", "add", name)
}

// ipBatch runs ip commands, one per line, inside namespace ns.
func (l *Lab) ipBatch(ns, script string) error {
	return l.run(script, l.ipPath, "-n", ns, "-batch", "-")
}

// nft runs an nft script in the switch namespace.
func (l *Lab) nft(script string) error {
	return l.run(script, l.ipPath, "netns", "exec", l.swNS, l.nftPath, "-f", "-")
}

func (l *Lab) run(stdin, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

var errClosed = errors.New("netns: lab already cleaned up")

// close tears the lab down in dependency order: processes first (they keep
// namespaces alive and may hold sockets), then our own sockets in the
// switch namespace (they pin it too), then the namespaces, hosts before the
// switch. Failures are reported with t.Errorf: a leak should fail the test.
func (l *Lab) close() {
	l.cleanup.Do(func() {
		l.mu.Lock()
		l.closed = true
		procs, closers, transports := l.procs, l.closers, l.transports
		namespaces := append([]string(nil), l.namespaces...)
		l.mu.Unlock()

		for _, p := range procs {
			p.kill()
		}
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
		for _, c := range closers {
			_ = c.Close()
		}
		// No setns can start any more (closed is set); wait for those under
		// way before closing the fd they use.
		l.setnsWG.Wait()
		l.mu.Lock()
		if l.swFD >= 0 {
			_ = unix.Close(l.swFD)
			l.swFD = -1
		}
		l.mu.Unlock()

		// Processes that were never Start-ed, or that left their process
		// group (setsid), are found by the namespace they live in.
		killed, err := killInNamespaces(namespaces, 10*time.Second)
		for _, k := range killed {
			l.t.Logf("netns: killed leftover process %s", k)
		}
		if err != nil {
			l.t.Errorf("netns: cleanup: %v", err)
		}
		for i := len(namespaces) - 1; i >= 0; i-- {
			if _, err := os.Stat(nsPath(namespaces[i])); errors.Is(err, os.ErrNotExist) {
				continue // creation failed before it existed
			}
			if err := l.run("", l.ipPath, "netns", "delete", namespaces[i]); err != nil {
				l.t.Errorf("netns: cleanup: %v", err)
			}
		}
		close(l.spawn)
	})
}

// Namespaces lists the names of the lab's namespaces, the switch first.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.namespaces...)
}

func nsPath(name string) string { return filepath.Join("/run/netns", name) }

// prerequisites finds the tools, or says why the lab cannot run here.
func prerequisites() (ipPath, nftPath, reason string) {
	if os.Geteuid() != 0 {
		return "", "", fmt.Sprintf("needs root to create network namespaces (euid %d)", os.Geteuid())
	}
	if ipPath = lookTool("ip"); ipPath == "" {
		return "", "", "`ip` (iproute2) not found"
	}
	if nftPath = lookTool("nft"); nftPath == "" {
		return "", "", "`nft` (nftables) not found"
	}
	return ipPath, nftPath, ""
}

// lookTool also looks in the sbin directories, which a root shell started
// with a user's PATH may lack.
func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

var staleOnce sync.Once

// removeStale deletes namespaces left by test processes that died without
// running their cleanups (killed by go test's timeout, for instance). Only
// names this package makes are considered, and only when the PID in the
// name is gone; a live PID, even a reused one, keeps its namespaces.
// Processes still inside are left alone: they were not started by us.
func removeStale(t testing.TB, ipPath string) {
	staleOnce.Do(func() {
		entries, _ := os.ReadDir("/run/netns")
		re := regexp.MustCompile("^" + regexp.QuoteMeta(nsPrefix) + `(\d+)-[0-9a-f]{6}-`)
		for _, e := range entries {
			m := re.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			pid, err := strconv.Atoi(m[1])
			if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
				continue
			}
			out, err := exec.Command(ipPath, "netns", "delete", e.Name()).CombinedOutput()
			if err != nil {
				t.Logf("netns: removing stale namespace %s: %v: %s", e.Name(), err, bytes.TrimSpace(out))
				continue
			}
			t.Logf("netns: removed stale namespace %s of dead test process %d", e.Name(), pid)
		}
	})
}
