package natnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network is a NAT network that Up brought up. Its methods are safe for
// concurrent use.
type Network struct {
	cfg     Config
	log     *slog.Logger
	ns      netns.NsHandle
	nl      *netlink.Handle
	nftBin  string
	dnsBin  string
	stop    chan struct{} // closed by Down or Release
	stopped chan struct{} // closed when the supervisor has returned
	once    sync.Once     // closes stop
	closed  sync.Once     // releases ns and nl

	mu       sync.Mutex
	cur      *daemon // the dnsmasq serving now; nil while it is being restarted
	released bool    // Release was called
	down     bool    // Down succeeded
}

// Up brings the network described by cfg up in the calling thread's
// network namespace, adopting and repairing whatever of it already
// exists: a missing bridge, address or table is created again, and a
// running dnsmasq is kept only when its configuration is unchanged and
// the bridge kept its address (otherwise its sockets point nowhere).
func Up(ctx context.Context, cfg Config) (*Network, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("NAT network: %w", err)
	}
	n := &Network{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), stopped: make(chan struct{})}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("bridge", cfg.Bridge)
	var err error
	if n.nftBin, err = exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("NAT network %s: nftables' nft command is needed: %w", cfg.Bridge, err)
	}
	if n.dnsBin, err = exec.LookPath("dnsmasq"); err != nil {
		return nil, fmt.Errorf("NAT network %s: dnsmasq is needed for DHCP: %w", cfg.Bridge, err)
	}
	if n.ns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("NAT network %s: open the current network namespace: %w", cfg.Bridge, err)
	}
	if n.nl, err = netlink.NewHandleAt(n.ns); err != nil {
		n.ns.Close()
		return nil, fmt.Errorf("NAT network %s: open netlink: %w", cfg.Bridge, err)
	}
	if err := n.up(ctx); err != nil {
		n.close()
		return nil, fmt.Errorf("NAT network %s: %w", cfg.Bridge, err)
	}
	go n.supervise()
	return n, nil
}

func (n *Network) up(ctx context.Context) error {
	c := n.cfg
	if err := os.MkdirAll(c.StateDir, 0o750); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	fresh, err := n.ensureBridge()
	if err != nil {
		return err
	}
	if err := inNS(n.ns, enableForwarding); err != nil {
		return err
	}
	if err := inNS(n.ns, func() error { return nft(ctx, n.nftBin, ruleset(c)) }); err != nil {
		return fmt.Errorf("install nftables table inet %s: %w", c.Table(), err)
	}

	conf := dnsmasqConf(c)
	old, _ := os.ReadFile(c.confPath())
	if pid := runningDnsmasq(c); pid != 0 {
		d := adopt(pid, n.stop)
		if string(old) == conf && !fresh {
			n.log.Info("adopted running dnsmasq", "pid", pid)
			n.cur = d
			return nil
		}
		n.log.Info("restarting dnsmasq for a changed configuration or bridge", "pid", pid)
		stopDaemon(d, c.confPath())
	}
	if string(old) != conf {
		if err := atomicfile.Write(c.confPath(), []byte(conf), 0o644); err != nil {
			return fmt.Errorf("write dnsmasq configuration: %w", err)
		}
	}
	d, err := startDnsmasq(ctx, n.ns, n.dnsBin, c)
	if err != nil {
		return err
	}
	n.cur = d
	return nil
}

// ensureBridge creates the bridge or repairs it. fresh reports that the
// bridge or its address had to be made, so a running dnsmasq, bound to
// what was there before, must be restarted.
func (n *Network) ensureBridge() (fresh bool, err error) {
	c := n.cfg
	l, err := n.nl.LinkByName(c.Bridge)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
		if err := n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: c.Bridge}}); err != nil {
			return false, fmt.Errorf("create bridge: %w", err)
		}
		if l, err = n.nl.LinkByName(c.Bridge); err != nil {
			return false, fmt.Errorf("find the new bridge: %w", err)
		}
		fresh = true
	case err != nil:
		return false, fmt.Errorf("look for bridge: %w", err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return false, fmt.Errorf("%s exists but is a %s device, not a bridge", c.Bridge, l.Type())
	}

	// The bridge is the network's own: an IPv4 address other than the
	// gateway is a leftover of an earlier configuration.
	addrs, err := n.nl.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("list addresses of the bridge: %w", err)
	}
	want := &net.IPNet{IP: c.Gateway.AsSlice(), Mask: net.CIDRMask(c.Subnet.Bits(), 32)}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := n.nl.AddrDel(l, &a); err != nil {
			return false, fmt.Errorf("remove old address %s from the bridge: %w", a.IPNet, err)
		}
		fresh = true
	}
	if !have {
		if err := n.nl.AddrAdd(l, &netlink.Addr{IPNet: want}); err != nil {
			return false, fmt.Errorf("add gateway address %s to the bridge: %w", want, err)
		}
		fresh = true
	}
	if err := n.nl.LinkSetUp(l); err != nil {
		return false, fmt.Errorf("set bridge up: %w", err)
	}
	return fresh, nil
}

// enableForwarding switches on IPv4 forwarding in the namespace of the
// calling thread (/proc/sys/net follows the thread's namespace). It is
// left on by Down: other networks of the node may rely on it.
func enableForwarding() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if raw, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(raw)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

// supervise restarts dnsmasq when it ends without being asked to, waiting
// longer after each failure (from 200ms up to 30s) so that a dnsmasq that
// cannot start does not spin.
func (n *Network) supervise() {
	defer close(n.stopped)
	// A start in progress is abandoned (and its dnsmasq stopped) as soon as
	// Down or Release asks, instead of holding them up for its deadline.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	const (
		first = 200 * time.Millisecond
		limit = 30 * time.Second
	)
	delay := first
	for {
		n.mu.Lock()
		d := n.cur
		n.mu.Unlock()
		started := time.Now()
		if d != nil {
			select {
			case <-n.stop:
				return
			case <-d.done:
			}
			if time.Since(started) > time.Minute {
				delay = first
			}
			n.log.Warn("dnsmasq ended unexpectedly; restarting", "pid", d.pid, "err", d.err, "after", delay)
		}
		wait := time.NewTimer(delay)
		select {
		case <-n.stop:
			wait.Stop()
			return
		case <-wait.C:
		}
		delay = min(2*delay, limit)

		n.mu.Lock()
		select {
		case <-n.stop:
			n.mu.Unlock()
			return
		default:
		}
		nd, err := startDnsmasq(ctx, n.ns, n.dnsBin, n.cfg)
		if err != nil {
			n.log.Error("restarting dnsmasq failed", "err", err)
		}
		n.cur = nd
		n.mu.Unlock()
	}
}

// Config returns the network's configuration with defaults filled in.
func (n *Network) Config() Config { return n.cfg }

// DnsmasqPID returns the pid of the dnsmasq serving the network, or 0
// while it is being restarted.
func (n *Network) DnsmasqPID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return 0
	}
	return n.cur.pid
}

// Leases returns the DHCP leases dnsmasq has handed out; none before the
// first.
func (n *Network) Leases() ([]Lease, error) {
	// dnsmasq rewrites the file in place, so a read can catch it half
	// written; a second or third read gets a whole one.
	var err error
	for range 3 {
		var leases []Lease
		if leases, err = n.readLeases(); err == nil {
			return leases, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("NAT network %s: %w", n.cfg.Bridge, err)
}

func (n *Network) readLeases() ([]Lease, error) {
	f, err := os.Open(n.cfg.leasePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	defer f.Close()
	leases, err := ParseLeases(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.cfg.leasePath(), err)
	}
	return leases, nil
}

// haltSupervisor stops restarts and returns the dnsmasq that is running.
func (n *Network) haltSupervisor() *daemon {
	n.once.Do(func() { close(n.stop) })
	<-n.stopped
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur
}

// Release lets go of the network without stopping anything: dnsmasq keeps
// serving, and the next Up adopts it. For a daemon that exits while its
// guests keep running.
func (n *Network) Release() {
	n.haltSupervisor()
	n.mu.Lock()
	n.released = true
	n.mu.Unlock()
	n.close()
}

// Down stops dnsmasq (by the pid it runs under, checked to be ours),
// removes the nftables table and deletes the bridge. The lease file is
// kept, so that guests get their addresses back when the network returns.
// A failed Down may be called again; after a successful one it does
// nothing.
func (n *Network) Down(ctx context.Context) error {
	c := n.cfg
	n.mu.Lock()
	released, down := n.released, n.down
	n.mu.Unlock()
	switch {
	case down:
		return nil
	case released:
		return fmt.Errorf("NAT network %s was released; bring it up again to take it down", c.Bridge)
	}
	if d := n.haltSupervisor(); d != nil {
		stopDaemon(d, c.confPath())
		if alive(d.pid) {
			return fmt.Errorf("NAT network %s: dnsmasq (pid %d) did not stop", c.Bridge, d.pid)
		}
	}
	var errs []error
	if err := os.Remove(c.pidPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove dnsmasq pid file: %w", err))
	}
	if err := inNS(n.ns, func() error { return nft(ctx, n.nftBin, removal(c)) }); err != nil {
		errs = append(errs, fmt.Errorf("remove nftables table inet %s: %w", c.Table(), err))
	}
	if l, err := n.nl.LinkByName(c.Bridge); err == nil {
		if err := n.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete bridge: %w", err))
		}
	} else if nf := (netlink.LinkNotFoundError{}); !errors.As(err, &nf) {
		errs = append(errs, fmt.Errorf("look for bridge: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("NAT network %s down: %w", c.Bridge, err)
	}
	n.mu.Lock()
	n.down = true
	n.mu.Unlock()
	n.close()
	return nil
}

func (n *Network) close() {
	n.closed.Do(func() {
		if n.nl != nil {
			n.nl.Close()
		}
		n.ns.Close()
	})
}
