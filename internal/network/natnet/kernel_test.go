package natnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The kernel test builds three "machines" as network namespaces:
//
//	guest  eth0 (DHCP) ── veth100i0 ┐
//	host   hearthnat0 10.213.0.1/24 ┘   up0 192.0.2.1/24, default via 192.0.2.2
//	remote eth0 192.0.2.2/24 ────────── up0   (no route to 10.213.0.0/24)
//
// The host runs the NAT network. The remote answering the guest's ping
// proves the masquerade: it can only answer 192.0.2.1.

func needTools(t *testing.T) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: kernel test needs root to create network namespaces")
	}
	paths := map[string]string{}
	for _, bin := range []string{"ip", "nft", "dnsmasq", "busybox"} {
		p, err := exec.LookPath(bin)
		if err != nil {
			t.Skipf("skipping: kernel test needs %s: %v", bin, err)
		}
		paths[bin] = p
	}
	return paths
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newNS(t *testing.T, role string) (string, netns.NsHandle) {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "hnat-" + role + "-" + hex.EncodeToString(b[:])
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", name, err, out)
		}
	})
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return name, h
}

// upIn calls Up from a thread inside ns, as a daemon in that namespace
// would. The thread is discarded afterwards.
func upIn(ctx context.Context, ns netns.NsHandle, cfg Config) (*Network, error) {
	type result struct {
		n   *Network
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			c <- result{err: err}
			return
		}
		n, err := Up(ctx, cfg)
		c <- result{n, err}
	}()
	r := <-c
	return r.n, r.err
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s within %v: %s", what, limit, detail)
		}
		<-tick.C
	}
}

func processGone(pid int) bool { return !alive(pid) }

func TestKernelNATNetwork(t *testing.T) {
	bin := needTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	host, hostNS := newNS(t, "host")
	guest, guestNS := newNS(t, "guest")
	remote, _ := newNS(t, "remote")

	// The host's uplink to the remote, and its default route.
	sh(t, "ip", "-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", remote)
	sh(t, "ip", "-n", host, "addr", "add", "192.0.2.1/24", "dev", "up0")
	sh(t, "ip", "-n", host, "link", "set", "up0", "up")
	sh(t, "ip", "-n", host, "route", "add", "default", "via", "192.0.2.2")
	sh(t, "ip", "-n", remote, "addr", "add", "192.0.2.2/24", "dev", "eth0")
	sh(t, "ip", "-n", remote, "link", "set", "eth0", "up")

	state := t.TempDir()
	cfg := Config{StateDir: state, DNS: true, Domain: "nat.test"}
	n, err := upIn(ctx, hostNS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := n.Config()
	downed := false
	t.Cleanup(func() {
		if downed {
			return
		}
		// n is nil when a later Up failed; the dnsmasq a released Network
		// left running is found through its pid file.
		if n != nil {
			if err := n.Down(context.Background()); err != nil {
				t.Errorf("Down in cleanup: %v", err)
			}
		}
		if pid := runningDnsmasq(c); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	pid1 := n.DnsmasqPID()
	if pid1 == 0 {
		t.Fatal("no dnsmasq after Up")
	}

	// The guest: a veth plugged into the NAT bridge by guestport.
	sh(t, "ip", "-n", host, "link", "add", "veth100i0", "type", "veth", "peer", "name", "eth0", "netns", guest)
	hostNL, err := netlink.NewHandleAt(hostNS)
	if err != nil {
		t.Fatal(err)
	}
	defer hostNL.Close()
	if err := guestport.Plug(ctx, hostNL, guestport.Port{Name: "veth100i0", Bridge: c.Bridge}, nil); err != nil {
		t.Fatal(err)
	}
	sh(t, "ip", "-n", guest, "link", "set", "eth0", "up")

	script := filepath.Join(t.TempDir(), "udhcpc.script")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
# udhcpc calls this with the event in $1 and the lease in the environment.
case "$1" in
deconfig)
	%[1]s addr flush dev "$interface"
	;;
bound|renew)
	%[1]s addr flush dev "$interface"
	%[1]s addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && %[1]s route replace default via "${router%%%% *}" dev "$interface"
	;;
esac
exit 0
`, bin["ip"])), 0o755); err != nil {
		t.Fatal(err)
	}
	dhcpCtx, dhcpCancel := context.WithTimeout(ctx, 30*time.Second)
	out, err := exec.CommandContext(dhcpCtx, "ip", "netns", "exec", guest,
		bin["busybox"], "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "10", "-T", "1",
		"-x", "hostname:guest100", "-s", script).CombinedOutput()
	dhcpCancel()
	if err != nil {
		t.Fatalf("udhcpc in the guest: %v\n%s", err, out)
	}

	guestNL, err := netlink.NewHandleAt(guestNS)
	if err != nil {
		t.Fatal(err)
	}
	defer guestNL.Close()
	eth0, err := guestNL.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	inRange := func(a netip.Addr) bool {
		return !a.Less(c.DHCPRange.Start) && !c.DHCPRange.End.Less(a)
	}
	var guestIP netip.Addr
	eventually(t, 10*time.Second, "guest address from the DHCP range", func() (bool, string) {
		addrs, err := guestNL.AddrList(eth0, netlink.FAMILY_V4)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && inRange(ip.Unmap()) {
				guestIP = ip.Unmap()
				return true, ""
			}
		}
		return false, fmt.Sprintf("addresses %v", addrs)
	})
	eventually(t, 10*time.Second, "lease in dnsmasq's lease file", func() (bool, string) {
		leases, err := n.Leases()
		if err != nil {
			return false, err.Error()
		}
		for _, l := range leases {
			if l.MAC.String() == eth0.Attrs().HardwareAddr.String() && l.IP == guestIP &&
				l.Hostname == "guest100" && l.Expiry.After(time.Now()) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("leases %+v", leases)
	})

	// The remote has no way back to the guest's subnet…
	if out, err := exec.Command("ip", "-n", remote, "route", "get", guestIP.String()).CombinedOutput(); err == nil {
		t.Fatalf("the remote has a route to %s, which would void the test:\n%s", guestIP, out)
	}
	// …and still answers the guest: its source was masqueraded.
	if out, err := exec.Command("ip", "netns", "exec", guest, bin["busybox"], "ping", "-c1", "-W2", "192.0.2.2").CombinedOutput(); err != nil {
		t.Fatalf("guest cannot reach the remote through the NAT: %v\n%s", err, out)
	}
	// dnsmasq answers DNS on the gateway with the guests' names.
	if out, err := exec.Command("ip", "netns", "exec", guest, bin["busybox"], "nslookup", "guest100.nat.test", c.Gateway.String()).CombinedOutput(); err != nil || !strings.Contains(string(out), guestIP.String()) {
		t.Errorf("DNS for guest100.nat.test: %v\n%s", err, out)
	}
	table := sh(t, "ip", "netns", "exec", host, "nft", "list", "table", "inet", c.Table())
	if !strings.Contains(table, "masquerade") {
		t.Errorf("table inet %s has no masquerade rule:\n%s", c.Table(), table)
	}
	if fwd := strings.TrimSpace(sh(t, "ip", "netns", "exec", host, "cat", "/proc/sys/net/ipv4/ip_forward")); fwd != "1" {
		t.Errorf("ip_forward in the host namespace is %s", fwd)
	}

	// A released network keeps running and the next Up adopts it.
	n.Release()
	n, err = upIn(ctx, hostNS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pid := n.DnsmasqPID(); pid != pid1 {
		t.Errorf("Up after Release started dnsmasq %d instead of adopting %d", pid, pid1)
	}

	// Up repairs: a lost table and a lost gateway address come back, and
	// dnsmasq, whose sockets went with the address, is restarted.
	sh(t, "ip", "netns", "exec", host, "nft", "delete", "table", "inet", c.Table())
	sh(t, "ip", "-n", host, "addr", "flush", "dev", c.Bridge)
	n.Release()
	n, err = upIn(ctx, hostNS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh(t, "ip", "netns", "exec", host, "nft", "list", "table", "inet", c.Table())
	if out := sh(t, "ip", "-n", host, "-4", "addr", "show", "dev", c.Bridge); !strings.Contains(out, "10.213.0.1/24") {
		t.Errorf("gateway address not restored:\n%s", out)
	}
	pid2 := n.DnsmasqPID()
	if pid2 == pid1 || !processGone(pid1) {
		t.Errorf("dnsmasq %d kept after its bridge address was repaired (now %d)", pid1, pid2)
	}

	// The supervisor brings a killed dnsmasq back.
	if err := syscall.Kill(pid2, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var pid3 int
	eventually(t, 10*time.Second, "dnsmasq restarted", func() (bool, string) {
		pid3 = n.DnsmasqPID()
		return pid3 != 0 && pid3 != pid2 && ownedBy(pid3, c.confPath()), fmt.Sprintf("pid %d", pid3)
	})
	if out, err := exec.Command("ip", "netns", "exec", guest, bin["busybox"], "nslookup", "guest100.nat.test", c.Gateway.String()).CombinedOutput(); err != nil {
		t.Errorf("DNS after the restart: %v\n%s", err, out)
	}

	// Down removes everything but the leases.
	downed = true
	if err := n.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid3) {
		t.Errorf("dnsmasq %d still running after Down", pid3)
	}
	if _, err := hostNL.LinkByName(c.Bridge); err == nil {
		t.Error("bridge still exists after Down")
	}
	if out, err := exec.Command("ip", "netns", "exec", host, "nft", "list", "table", "inet", c.Table()).CombinedOutput(); err == nil {
		t.Errorf("table still exists after Down:\n%s", out)
	}
	if _, err := os.Stat(c.pidPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Down: %v", err)
	}
	if _, err := os.Stat(c.leasePath()); err != nil {
		t.Errorf("lease file gone after Down: %v", err)
	}
	// Down twice is harmless.
	if err := n.Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestKernelUpErrors(t *testing.T) {
	needTools(t)
	_, hostNS := newNS(t, "host")
	// A non-bridge under the bridge's name is refused, nothing is started.
	cfg := Config{StateDir: t.TempDir(), Bridge: "natx0"}
	nl, err := netlink.NewHandleAt(hostNS)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	if err := nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "natx0"}, PeerName: "natx1"}); err != nil {
		t.Fatal(err)
	}
	_, err = upIn(context.Background(), hostNS, cfg)
	if err == nil || !strings.Contains(err.Error(), "natx0 exists but is a veth device, not a bridge") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "dnsmasq.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after a failed Up: %v", err)
	}
}

func TestKernelDnsmasqStartFailure(t *testing.T) {
	needTools(t)
	_, hostNS := newNS(t, "host")
	ctx := context.Background()
	first, err := upIn(ctx, hostNS, Config{StateDir: t.TempDir(), DNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := first.Down(context.Background()); err != nil {
			t.Error(err)
		}
	})
	// A second network on the same bridge, with a state directory of its
	// own, finds the DNS port of the gateway taken: Up fails with dnsmasq's
	// words.
	second, err := upIn(ctx, hostNS, Config{StateDir: t.TempDir(), DNS: true})
	if err == nil {
		if err := second.Down(ctx); err != nil {
			t.Error(err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "dnsmasq exited at start") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("got %v, want dnsmasq's complaint about the taken port", err)
	}
}
