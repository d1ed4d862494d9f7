package guestport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Kernel tests build a small host in fresh network namespaces: "br" holds
// the bridge vmbr0 and the guests' host ends veth100i0 and veth101i0; the
// far ends are eth0 in the namespaces g1 (10.77.0.2/24) and g2
// (10.77.0.3/24), standing for the guests. Nothing touches the test
// machine's own namespace.

type kernelHost struct {
	br, g1, g2 string // namespace names
	h          *netlink.Handle
}

func needKernel(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: kernel test needs root to create network namespaces")
	}
	for _, bin := range []string{"ip", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("skipping: kernel test needs %s: %v", bin, err)
		}
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNS creates a network namespace with a unique name, deleted when the
// test ends.
func newNS(t *testing.T, role string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "hgp-" + role + "-" + hex.EncodeToString(b[:])
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func handleAt(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatalf("open namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { nsh.Close() })
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns, err)
	}
	t.Cleanup(h.Close)
	return h
}

func newKernelHost(t *testing.T) *kernelHost {
	t.Helper()
	needKernel(t)
	k := &kernelHost{br: newNS(t, "br"), g1: newNS(t, "g1"), g2: newNS(t, "g2")}
	k.h = handleAt(t, k.br)
	run(t, "ip", "-n", k.br, "link", "add", "vmbr0", "type", "bridge")
	run(t, "ip", "-n", k.br, "link", "set", "vmbr0", "up")
	for _, g := range []struct{ port, ns, addr string }{
		{"veth100i0", k.g1, "10.77.0.2/24"},
		{"veth101i0", k.g2, "10.77.0.3/24"},
	} {
		run(t, "ip", "-n", k.br, "link", "add", g.port, "type", "veth", "peer", "name", "eth0", "netns", g.ns)
		run(t, "ip", "-n", g.ns, "addr", "add", g.addr, "dev", "eth0")
		run(t, "ip", "-n", g.ns, "link", "set", "eth0", "up")
	}
	return k
}

// ping sends one echo request from namespace ns and tells whether the
// answer came within the wait.
func ping(ns, addr string, wait time.Duration) (bool, string) {
	secs := int(wait / time.Second)
	out, err := exec.Command("ip", "netns", "exec", ns, "busybox", "ping", "-c1", "-W", strconv.Itoa(secs), addr).CombinedOutput()
	return err == nil, string(out)
}

func (k *kernelHost) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := k.h.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	return l
}

func (k *kernelHost) ports(t *testing.T) []string {
	t.Helper()
	br := k.link(t, "vmbr0")
	links, err := k.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

func TestKernelPlugPingLinkDownUnplug(t *testing.T) {
	k := newKernelHost(t)
	ctx := context.Background()
	for _, name := range []string{"veth100i0", "veth101i0"} {
		if err := Plug(ctx, k.h, Port{Name: name, Bridge: "vmbr0"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := k.ports(t); len(got) != 2 {
		t.Fatalf("bridge ports after plug: %v", got)
	}
	if ok, out := ping(k.g1, "10.77.0.3", 2*time.Second); !ok {
		t.Fatalf("guest 1 cannot reach guest 2 through the bridge:\n%s", out)
	}

	// link_down=1: the port is down and stays down, and the guests are cut.
	if err := Plug(ctx, k.h, Port{Name: "veth101i0", Bridge: "vmbr0", LinkDown: true}, nil); err != nil {
		t.Fatal(err)
	}
	if l := k.link(t, "veth101i0"); l.Attrs().Flags&net.FlagUp != 0 {
		t.Fatal("veth101i0 is up after a plug with LinkDown")
	}
	if ok, _ := ping(k.g1, "10.77.0.3", time.Second); ok {
		t.Fatal("ping passed through a port whose link is down")
	}
	if err := Plug(ctx, k.h, Port{Name: "veth101i0", Bridge: "vmbr0"}, nil); err != nil {
		t.Fatal(err)
	}
	if ok, out := ping(k.g1, "10.77.0.3", 2*time.Second); !ok {
		t.Fatalf("no ping after the link came back up:\n%s", out)
	}

	for _, name := range []string{"veth100i0", "veth101i0"} {
		if err := Unplug(ctx, k.h, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := k.ports(t); len(got) != 0 {
		t.Fatalf("bridge still has ports after unplug: %v", got)
	}
	// Unplugging again, or a port that is gone, is not an error.
	if err := Unplug(ctx, k.h, "veth100i0", nil); err != nil {
		t.Fatal(err)
	}
	if err := Unplug(ctx, k.h, "tap999i0", nil); err != nil {
		t.Fatal(err)
	}
}

func TestKernelMTU(t *testing.T) {
	k := newKernelHost(t)
	ctx := context.Background()
	run(t, "ip", "-n", k.br, "link", "set", "vmbr0", "mtu", "1400")
	if err := Plug(ctx, k.h, Port{Name: "veth100i0", Bridge: "vmbr0"}, nil); err != nil {
		t.Fatal(err)
	}
	if mtu := k.link(t, "veth100i0").Attrs().MTU; mtu != 1400 {
		t.Errorf("MTU %d, want the bridge's 1400", mtu)
	}
	if err := Plug(ctx, k.h, Port{Name: "veth100i0", Bridge: "vmbr0", MTU: 1300}, nil); err != nil {
		t.Fatal(err)
	}
	if mtu := k.link(t, "veth100i0").Attrs().MTU; mtu != 1300 {
		t.Errorf("MTU %d, want the port's own 1300", mtu)
	}
}

func TestKernelRateLimit(t *testing.T) {
	k := newKernelHost(t)
	ctx := context.Background()
	err := Plug(ctx, k.h, Port{Name: "veth100i0", Bridge: "vmbr0", RateMBps: 10}, nil)
	// This test kernel lacks act_police; Plug must then say so and leave
	// the port out of the bridge. Everything before the policer is still
	// checked below.
	policer := true
	if err != nil {
		if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "act_police") {
			t.Fatal(err)
		}
		t.Logf("kernel without tc police action, ingress policer not installed: %v", err)
		policer = false
		if got := k.ports(t); len(got) != 0 {
			t.Fatalf("port joined the bridge although its limits failed: %v", got)
		}
	}
	port := k.link(t, "veth100i0")
	const rate = 10 << 20

	qdiscs, err := k.h.QdiscList(port)
	if err != nil {
		t.Fatal(err)
	}
	var htb *netlink.Htb
	var ingress *netlink.Ingress
	for _, q := range qdiscs {
		switch q := q.(type) {
		case *netlink.Htb:
			htb = q
		case *netlink.Ingress:
			ingress = q
		}
	}
	if htb == nil || htb.Handle != netlink.MakeHandle(1, 0) || htb.Parent != netlink.HANDLE_ROOT || htb.Defcls != 1 {
		t.Errorf("no root htb 1: default 1 in %v", qdiscs)
	}
	if ingress == nil || ingress.Handle != netlink.MakeHandle(0xffff, 0) {
		t.Errorf("no ingress qdisc ffff: in %v", qdiscs)
	}
	classes, err := k.h.ClassList(port, netlink.MakeHandle(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range classes {
		if c, ok := c.(*netlink.HtbClass); ok && c.Handle == netlink.MakeHandle(1, 1) {
			found = true
			if c.Rate != rate {
				t.Errorf("htb class 1:1 rate %d B/s, want %d", c.Rate, rate)
			}
		}
	}
	if !found {
		t.Errorf("no htb class 1:1 in %v", classes)
	}
	if policer {
		filters, err := k.h.FilterList(port, netlink.MakeHandle(0xffff, 0))
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, f := range filters {
			if u, isU32 := f.(*netlink.U32); isU32 && u.Police != nil && u.Police.Rate == rate {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no u32 police filter at rate %d in %v", rate, filters)
		}
	}

	// No rate, no qdiscs; the port is plugged either way.
	if err := Plug(ctx, k.h, Port{Name: "veth100i0", Bridge: "vmbr0"}, nil); err != nil {
		t.Fatal(err)
	}
	if qs := ownQdiscs(t, k.h, port); len(qs) != 0 {
		t.Errorf("qdiscs left after removing the rate: %v", qs)
	}
	if got := k.ports(t); len(got) != 1 {
		t.Errorf("bridge ports: %v", got)
	}
}

// ownQdiscs lists the qdiscs a rate limit would have left: root qdiscs
// with a handle and ingress qdiscs.
func ownQdiscs(t *testing.T, h *netlink.Handle, l netlink.Link) []netlink.Qdisc {
	t.Helper()
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Qdisc
	for _, q := range qs {
		a := q.Attrs()
		if (a.Parent == netlink.HANDLE_ROOT && a.Handle != 0) || a.Parent == netlink.HANDLE_INGRESS {
			out = append(out, q)
		}
	}
	return out
}

// bridgeHook is a FirewallHook built the way Proxmox VE builds its
// firewall bridge: the guest port goes into fwbr<id>, which reaches the
// real bridge through the veth pair fwln<id> / fwpr<id>. Filtering rules
// would sit on fwbr; the test checks that the plumbing carries traffic.
type bridgeHook struct{ h *netlink.Handle }

func (b bridgeHook) names(port string) (fwbr, fwln, fwpr string) {
	id := strings.TrimPrefix(strings.TrimPrefix(port, "veth"), "tap")
	return "fwbr" + id, "fwln" + id, "fwpr" + id
}

func (b bridgeHook) Attach(_ context.Context, p Port) (string, error) {
	fwbr, fwln, fwpr := b.names(p.Name)
	if err := b.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fwbr}}); err != nil {
		return "", err
	}
	if err := b.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fwln}, PeerName: fwpr}); err != nil {
		return "", err
	}
	for _, pair := range [][2]string{{p.Name, fwbr}, {fwln, fwbr}} {
		l, _ := b.h.LinkByName(pair[0])
		m, _ := b.h.LinkByName(pair[1])
		if err := b.h.LinkSetMaster(l, m); err != nil {
			return "", err
		}
	}
	for _, name := range []string{fwbr, fwln, fwpr} {
		l, _ := b.h.LinkByName(name)
		if err := b.h.LinkSetUp(l); err != nil {
			return "", err
		}
	}
	return fwpr, nil
}

func (b bridgeHook) Detach(_ context.Context, name string) error {
	fwbr, fwln, _ := b.names(name)
	for _, n := range []string{fwln, fwbr} { // deleting fwln takes fwpr too
		if l, err := b.h.LinkByName(n); err == nil {
			if err := b.h.LinkDel(l); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestKernelFirewallHook(t *testing.T) {
	k := newKernelHost(t)
	ctx := context.Background()
	hook := bridgeHook{k.h}
	if err := Plug(ctx, k.h, Port{Name: "veth100i0", Bridge: "vmbr0", Firewall: true}, hook); err != nil {
		t.Fatal(err)
	}
	if err := Plug(ctx, k.h, Port{Name: "veth101i0", Bridge: "vmbr0"}, hook); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(k.ports(t), ","); got != "veth101i0,fwpr100i0" && got != "fwpr100i0,veth101i0" {
		t.Fatalf("bridge ports %s, want fwpr100i0 and veth101i0", got)
	}
	if ok, out := ping(k.g1, "10.77.0.3", 2*time.Second); !ok {
		t.Fatalf("no ping through the firewall bridge:\n%s", out)
	}
	if err := Unplug(ctx, k.h, "veth100i0", hook); err != nil {
		t.Fatal(err)
	}
	if _, err := k.h.LinkByName("fwbr100i0"); err == nil {
		t.Error("firewall bridge left after Unplug")
	}
	if got := k.ports(t); len(got) != 1 || got[0] != "veth101i0" {
		t.Errorf("bridge ports after unplug: %v", got)
	}
}
