package netapply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// These tests run against the real kernel, each in a network namespace
// of its own that the test creates and deletes; nothing touches the
// host's interfaces or routes. Addresses are from 10.99.0.0/16 and
// 2001:db8::/32, which only exist inside those namespaces.
//
// The kernel these tests were written on has no dummy links, so veth
// pairs stand in for physical NICs. It has no 802.1q VLAN devices, no
// bonding and no bridge VLAN filtering either; those paths are checked
// by the plan tests and through the recording fake in fake_test.go.

// newNamespace creates a fresh named network namespace and returns a
// Handle in it. It skips the test when not root or when the kernel
// refuses namespaces.
func newNamespace(t *testing.T) *Handle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: creating network namespaces needs root")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hearth-netapply-" + hex.EncodeToString(b[:])
	ns, err := createNamespace(name)
	if err != nil {
		t.Skipf("skipped: cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	h, err := NewHandle(ns)
	if err != nil {
		t.Fatalf("NewHandle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// createNamespace makes the namespace on a thread of its own: creating
// one moves the calling thread into it, and should moving back fail,
// that thread must die rather than run other goroutines in the wrong
// namespace. Returning from a goroutine with its thread still locked
// ends the thread.
func createNamespace(name string) (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name)
		if serr := netns.Set(orig); serr != nil {
			if err == nil {
				ns.Close()
				_ = netns.DeleteNamed(name)
			}
			done <- result{err: errors.Join(err, serr)}
			return // the thread stays locked and ends with this goroutine
		}
		runtime.UnlockOSThread()
		done <- result{ns: ns, err: err}
	}()
	r := <-done
	return r.ns, r.err
}

// addVeth creates a veth pair in the namespace: name is the stand-in
// NIC, its peer stays unconfigured.
func addVeth(t *testing.T, h *Handle, name, peer string) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: peer}); err != nil {
		t.Fatalf("create veth %s: %v", name, err)
	}
}

func observe(t *testing.T, h Netlink) State {
	t.Helper()
	st, err := Observe(context.Background(), h)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	return st
}

func linkOf(t *testing.T, st State, name string) LinkState {
	t.Helper()
	for _, l := range st.Links {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("link %s not found in %+v", name, st.Links)
	return LinkState{}
}

func hasLink(st State, name string) bool {
	return slices.ContainsFunc(st.Links, func(l LinkState) bool { return l.Name == name })
}

// converge plans and applies desired, then checks that planning again
// finds nothing left to do.
func converge(t *testing.T, h Netlink, d Desired, managed ...string) ([]Step, State) {
	t.Helper()
	steps, _, err := Plan(observe(t, h), d, managed)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	var log []string
	if err := Apply(context.Background(), h, steps, func(s string) { log = append(log, s) }); err != nil {
		t.Fatalf("Apply: %v\nlog:\n%s", err, strings.Join(log, "\n"))
	}
	st := observe(t, h)
	again, _, err := Plan(st, d, managed)
	if err != nil {
		t.Fatalf("Plan again: %v", err)
	}
	if len(again) > 0 {
		t.Fatalf("planning the applied state again is not a no-op:\n%s\nstate: %+v", descs(again), st)
	}
	return steps, st
}

func descs(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.Desc + "\n")
	}
	return b.String()
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func bridgeDesired() Desired {
	return Desired{Links: []Link{
		{Name: "eth0", Kind: KindEth, MTU: 9000},
		{Name: "eth1", Kind: KindEth, MTU: 9000},
		{Name: "vmbr1", Kind: KindBridge, Ports: []string{"eth0", "eth1"}, ForwardDelay: ptr(0), MTU: 9000,
			Addrs:    []netip.Prefix{pfx("10.99.1.1/24"), pfx("10.99.1.2/24"), pfx("2001:db8:99::1/64")},
			Gateway4: ip("10.99.1.254"), Gateway6: ip("2001:db8:99::fffe"), Up: true},
	}}
}

func TestKernelCreateBridge(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	steps, st := converge(t, h, bridgeDesired())
	t.Logf("plan:\n%s", descs(steps))

	br := linkOf(t, st, "vmbr1")
	if br.Kind != KindBridge || !br.Up || br.MTU != 9000 || br.STP || br.ForwardDelay != 0 {
		t.Errorf("vmbr1 = %+v", br)
	}
	want := []netip.Prefix{pfx("10.99.1.1/24"), pfx("10.99.1.2/24"), pfx("2001:db8:99::1/64")}
	if !slices.Equal(br.Addrs, want) {
		t.Errorf("vmbr1 addresses = %v, want %v", br.Addrs, want)
	}
	for _, p := range []string{"eth0", "eth1"} {
		if l := linkOf(t, st, p); l.Master != "vmbr1" || l.MTU != 9000 || !l.Up {
			t.Errorf("%s = %+v", p, l)
		}
	}
	wantRoutes := []Route{{Gateway: ip("10.99.1.254"), Link: "vmbr1"}, {Gateway: ip("2001:db8:99::fffe"), Link: "vmbr1"}}
	if !slices.Equal(st.Routes, wantRoutes) {
		t.Errorf("routes = %v, want %v", st.Routes, wantRoutes)
	}
}

// attachGuestPorts plugs stand-ins for a VM's tap and a container's veth
// into a bridge, the way qemu-server and pve-container do, outside of
// any configuration.
func attachGuestPorts(t *testing.T, h *Handle, bridge string) {
	t.Helper()
	addVeth(t, h, "tap100i0", "gpeer100")
	addVeth(t, h, "veth101i0", "gpeer101")
	br, err := h.LinkByName(bridge)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"tap100i0", "veth101i0"} {
		l, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		// qemu-server gives a tap the bridge's MTU before plugging it in.
		if err := h.LinkSetMTU(l, br.Attrs().MTU); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			t.Fatalf("attach %s to %s: %v", n, bridge, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKernelMTUChange(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	d := bridgeDesired()
	converge(t, h, d)

	// Lower everything: the ports first, then the bridge.
	for i := range d.Links {
		d.Links[i].MTU = 1500
	}
	steps, st := converge(t, h, d)
	want := []string{"set mtu of eth0 to 1500", "set mtu of eth1 to 1500", "set mtu of vmbr1 to 1500"}
	if got := strings.Split(strings.TrimSpace(descs(steps)), "\n"); !slices.Equal(got, want) {
		t.Errorf("plan = %q, want %q", got, want)
	}
	for _, n := range []string{"eth0", "eth1", "vmbr1"} {
		if l := linkOf(t, st, n); l.MTU != 1500 {
			t.Errorf("%s mtu = %d, want 1500", n, l.MTU)
		}
	}

	// Jumbo ports under a bridge that stays at 1500.
	d.Links[0].MTU, d.Links[1].MTU = 9000, 9000
	_, st = converge(t, h, d)
	if a, b := linkOf(t, st, "eth0").MTU, linkOf(t, st, "vmbr1").MTU; a != 9000 || b != 1500 {
		t.Errorf("eth0 mtu %d, vmbr1 mtu %d; want 9000 and 1500", a, b)
	}
}

func TestKernelUpDown(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	d := bridgeDesired()
	d.Links[2].Gateway4, d.Links[2].Gateway6 = netip.Addr{}, netip.Addr{}
	converge(t, h, d)

	d.Links[2].Up = false
	_, st := converge(t, h, d)
	for _, n := range []string{"eth0", "eth1", "vmbr1"} {
		if linkOf(t, st, n).Up {
			t.Errorf("%s is up, want down", n)
		}
	}
	// The kernel drops IPv6 addresses of a link that goes down; the plan
	// puts them back so the configuration still holds.
	if got := linkOf(t, st, "vmbr1").Addrs; !slices.Equal(got, d.Links[2].Addrs) {
		t.Errorf("vmbr1 addresses while down = %v, want %v", got, d.Links[2].Addrs)
	}

	d.Links[2].Up = true
	_, st = converge(t, h, d)
	for _, n := range []string{"eth0", "eth1", "vmbr1"} {
		if !linkOf(t, st, n).Up {
			t.Errorf("%s is down, want up", n)
		}
	}
}

func TestKernelRemovePort(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	d := bridgeDesired()
	converge(t, h, d)
	attachGuestPorts(t, h, "vmbr1")

	d.Links[2].Ports = []string{"eth0"}
	steps, st := converge(t, h, d)
	// eth1 is not auto and no bridge needs it any more, so it goes down.
	if got, want := descs(steps), "remove port eth1 from bridge vmbr1\nset eth1 down\n"; got != want {
		t.Errorf("plan = %q, want %q", got, want)
	}
	for n, master := range map[string]string{"eth0": "vmbr1", "eth1": "", "tap100i0": "vmbr1", "veth101i0": "vmbr1"} {
		if got := linkOf(t, st, n).Master; got != master {
			t.Errorf("%s master = %q, want %q", n, got, master)
		}
	}
}

func TestKernelDeleteBridge(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	d := bridgeDesired()
	converge(t, h, d)
	attachGuestPorts(t, h, "vmbr1")
	// A firewall bridge made by someone else: not managed, so it stays.
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "fwbr100i0"
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		t.Fatal(err)
	}

	d.Links = d.Links[:2]
	_, st := converge(t, h, d, "eth0", "eth1", "vmbr1")
	if hasLink(st, "vmbr1") {
		t.Error("vmbr1 still exists")
	}
	for _, n := range []string{"eth0", "eth1", "tap100i0", "veth101i0", "fwbr100i0"} {
		if l := linkOf(t, st, n); l.Master != "" {
			t.Errorf("%s still has master %s", n, l.Master)
		}
	}
	if len(st.Routes) != 0 {
		t.Errorf("routes left: %v", st.Routes)
	}
}

func TestKernelReapplyIsNoop(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	addVeth(t, h, "eth2", "peer2")
	d := bridgeDesired()
	d.Links = append(d.Links,
		Link{Name: "eth2", Kind: KindEth, Addrs: []netip.Prefix{pfx("192.0.2.10/24")}, Up: true},
		Link{Name: "vmbr2", Kind: KindBridge, STP: true, ForwardDelay: ptr(4), Up: true, Manual: true},
	)
	converge(t, h, d)
	st := observe(t, h)
	steps, _, err := Plan(st, d, []string{"vmbr1", "vmbr2", "eth2"})
	if err != nil || len(steps) != 0 {
		t.Fatalf("Plan of the applied state = %v, %v; want no steps", descs(steps), err)
	}
	if err := Apply(context.Background(), h, steps, nil); err != nil {
		t.Fatal(err)
	}
	if got := observe(t, h); !equalState(got, st) {
		t.Errorf("applying an empty plan changed the state:\n%+v\nwas\n%+v", got, st)
	}
	if l := linkOf(t, st, "vmbr2"); !l.STP || l.ForwardDelay != 4 {
		t.Errorf("vmbr2 stp %v forward delay %d, want on and 4", l.STP, l.ForwardDelay)
	}
}

func equalState(a, b State) bool {
	return slices.EqualFunc(a.Links, b.Links, func(x, y LinkState) bool {
		return x.Name == y.Name && x.Kind == y.Kind && x.Master == y.Master && x.MTU == y.MTU && x.Up == y.Up &&
			slices.Equal(x.Addrs, y.Addrs) && slices.Equal(x.Secondary, y.Secondary) &&
			x.STP == y.STP && x.ForwardDelay == y.ForwardDelay && x.VLANFiltering == y.VLANFiltering &&
			x.BondMode == y.BondMode && x.XmitHashPolicy == y.XmitHashPolicy && x.MIIMon == y.MIIMon &&
			x.Primary == y.Primary && x.VLANID == y.VLANID && x.Parent == y.Parent && slices.Equal(x.VIDs, y.VIDs)
	}) && slices.Equal(a.Routes, b.Routes)
}

// failApply plans desired, applies it expecting a failure at the step
// described as failing, and checks that the rollback restored before.
func failApply(t *testing.T, h *Handle, d Desired, managed []string, failing string, prepare func()) {
	t.Helper()
	steps, _, err := Plan(observe(t, h), d, managed)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if prepare != nil {
		prepare()
	}
	before := observe(t, h)
	var log []string
	err = Apply(context.Background(), h, steps, func(s string) { log = append(log, s) })
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply = %v, want an *ApplyError\nplan:\n%s", err, descs(steps))
	}
	t.Logf("error: %v\nlog:\n%s", err, strings.Join(log, "\n"))
	if ae.Step.Desc != failing || !ae.RolledBack() || ae.Undone != ae.Index {
		t.Errorf("failed at %q (rolled back %v, %d of %d undone), want a clean rollback from %q",
			ae.Step.Desc, ae.RolledBack(), ae.Undone, ae.Index, failing)
	}
	if !strings.Contains(err.Error(), failing) || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("error %q does not name the step and the rollback", err)
	}
	if after := observe(t, h); !equalState(after, before) {
		t.Errorf("state after rollback:\n%+v\nwant the state before:\n%+v", after, before)
	}
}

func TestKernelRollbackOnRefusedMTU(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	d := Desired{Links: []Link{
		{Name: "eth0", Kind: KindEth},
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"eth0"}, ForwardDelay: ptr(0), Up: true,
			Addrs: []netip.Prefix{pfx("10.99.0.1/24"), pfx("10.99.0.5/24"), pfx("2001:db8:1::1/64")}, Gateway4: ip("10.99.0.254")},
	}}
	converge(t, h, d)

	// Change vmbr0's primary address and gateway, and add vmbr1 on an
	// eth1 whose MTU the veth driver refuses: the new bridge must go and
	// vmbr0's addresses and route must come back.
	d.Links[1].Addrs = []netip.Prefix{pfx("10.99.0.2/24"), pfx("10.99.0.5/24")}
	d.Links[1].Gateway4 = ip("10.99.0.253")
	d.Links = append(d.Links,
		Link{Name: "eth1", Kind: KindEth, MTU: 70000},
		Link{Name: "vmbr1", Kind: KindBridge, Ports: []string{"eth1"}, Up: true, Addrs: []netip.Prefix{pfx("10.99.5.1/24")}})
	failApply(t, h, d, nil, "set mtu of eth1 to 70000", nil)
	st := observe(t, h)
	if hasLink(st, "vmbr1") {
		t.Error("vmbr1, created before the failure, still exists")
	}
	if got, want := linkOf(t, st, "vmbr0").Addrs, pfxs("10.99.0.1/24", "10.99.0.5/24", "2001:db8:1::1/64"); !slices.Equal(got, want) {
		t.Errorf("vmbr0 addresses = %v, want the original %v", got, want)
	}
	if want := []Route{route("10.99.0.254", "vmbr0")}; !slices.Equal(st.Routes, want) {
		t.Errorf("routes = %v, want the original %v", st.Routes, want)
	}
}

// Without promote_secondaries the kernel deletes an IPv4 primary's
// secondaries with it, and the default route with the subnet's last
// address. Replacing the primary must still end with the secondary and
// the route in place.
func TestKernelReplacePrimaryAddress(t *testing.T) {
	h := newNamespace(t)
	d := Desired{Links: []Link{{Name: "vmbr0", Kind: KindBridge, Up: true,
		Addrs: pfxs("10.99.0.1/24", "10.99.0.2/24"), Gateway4: ip("10.99.0.254")}}}
	_, st := converge(t, h, d)
	if got := linkOf(t, st, "vmbr0").Secondary; !slices.Equal(got, pfxs("10.99.0.2/24")) {
		t.Fatalf("secondary addresses = %v, want 10.99.0.2/24", got)
	}
	d.Links[0].Addrs = pfxs("10.99.0.2/24")
	_, st = converge(t, h, d)
	if got := linkOf(t, st, "vmbr0").Addrs; !slices.Equal(got, pfxs("10.99.0.2/24")) {
		t.Errorf("addresses = %v, want 10.99.0.2/24", got)
	}
	if want := []Route{route("10.99.0.254", "vmbr0")}; !slices.Equal(st.Routes, want) {
		t.Errorf("routes = %v, want %v", st.Routes, want)
	}
}

func TestKernelRollbackOnMissingPort(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	addVeth(t, h, "eth1", "peer1")
	addVeth(t, h, "eth2", "peer2")
	converge(t, h, Desired{Links: []Link{{Name: "vmbr0", Kind: KindBridge, Ports: []string{"eth0"}, Up: true,
		Addrs: []netip.Prefix{pfx("10.99.0.1/24")}}}})

	// eth2 disappears between planning and applying (a NIC unplugged).
	d := Desired{Links: []Link{
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"eth0"}, Up: true, Addrs: []netip.Prefix{pfx("10.99.0.2/24")}},
		{Name: "vmbr1", Kind: KindBridge, Ports: []string{"eth1", "eth2"}, Up: true},
	}}
	failApply(t, h, d, nil, "add port eth2 to bridge vmbr1", func() {
		l, err := h.LinkByName("eth2")
		if err == nil {
			err = h.LinkDel(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestKernelRollbackRestoresDeletedBridge(t *testing.T) {
	h := newNamespace(t)
	addVeth(t, h, "eth0", "peer0")
	d := Desired{Links: []Link{
		{Name: "eth0", Kind: KindEth},
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"eth0"}, ForwardDelay: ptr(0), MTU: 1400, Up: true,
			Addrs: []netip.Prefix{pfx("10.99.0.1/24"), pfx("2001:db8:1::1/64")}, Gateway4: ip("10.99.0.254"), Gateway6: ip("2001:db8:1::fffe")},
	}}
	converge(t, h, d)
	attachGuestPorts(t, h, "vmbr0")

	// Replace vmbr0 by vmbr9 on an eth0 with an impossible MTU: vmbr0
	// must come back whole, with its guest ports.
	d.Links[0].MTU = 70000
	d.Links[1].Name = "vmbr9"
	failApply(t, h, d, []string{"eth0", "vmbr0"}, "set mtu of eth0 to 70000", nil)
}
