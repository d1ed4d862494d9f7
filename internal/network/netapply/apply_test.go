package netapply

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The kernel these tests run on has no bonding, no 802.1q VLAN devices
// and no bridge VLAN filtering, so these paths cannot run against it.
// They run against fakeKernel instead, which records the exact netlink
// calls, so the translation from steps to netlink requests is checked
// even where the real kernel path is not.

func bondVLANDesired() Desired {
	return Desired{Links: []Link{
		{Name: "eno1", Kind: KindEth, MTU: 9000},
		{Name: "eno2", Kind: KindEth, MTU: 9000},
		{Name: "bond0", Kind: KindBond, Slaves: []string{"eno1", "eno2"}, BondMode: "802.3ad", MIIMon: 100, XmitHashPolicy: "layer3+4", MTU: 9000},
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"bond0"}, VLANAware: true, ForwardDelay: ptr(0), MTU: 9000, Up: true},
		{Name: "vmbr0.50", Kind: KindVLAN, VLANID: 50, Parent: "vmbr0", MTU: 1500,
			Addrs: []netip.Prefix{pfx("10.99.50.2/24")}, Gateway4: ip("10.99.50.1"), Up: true},
	}}
}

func newBondFake() *fakeKernel {
	f := newFakeKernel("eno1", "eno2")
	f.links[0].Attrs().Flags |= net.FlagUp // eno1 was up; a bond wants it down first
	return f
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func stepDescs(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Desc
	}
	return out
}

func TestFakeBondVLANAwareBridge(t *testing.T) {
	f := newBondFake()
	steps, _ := converge(t, f, bondVLANDesired())
	checkLines(t, "plan", stepDescs(steps), []string{
		"create bond bond0 (mode 802.3ad, miimon 100, xmit-hash-policy layer3+4)",
		"enslave eno1 to bond bond0",
		"enslave eno2 to bond bond0",
		"create bridge vmbr0 (stp off, forward delay 0s, vlan-aware)",
		"add port bond0 to bridge vmbr0",
		"create vlan vmbr0.50 (id 50 on vmbr0)",
		"set mtu of bond0 to 9000", // and so of eno1 and eno2
		"set mtu of vmbr0 to 9000",
		"allow vlans 2-4094 on bridge vmbr0",
		"allow vlans 2-4094 on port bond0",
		"set bond0 up",
		"set vmbr0 up",
		"set vmbr0.50 up",
		"add 10.99.50.2/24 to vmbr0.50",
		"set default route via 10.99.50.1 dev vmbr0.50",
	})
	checkLines(t, "netlink calls", f.calls, []string{
		"LinkAdd bond bond0 mode=802.3ad miimon=100 xmit_hash_policy=layer3+4",
		"LinkSetDown eno1",
		"LinkSetMaster eno1 bond0",
		"LinkSetMaster eno2 bond0",
		"LinkAdd bridge vmbr0 vlan_filtering=true",
		"BridgeSetOptions vmbr0 stp off, forward delay 0s",
		"LinkSetMaster bond0 vmbr0",
		"LinkAdd vlan vmbr0.50 id=50 parent=vmbr0",
		"LinkSetMTU bond0 9000",
		"LinkSetMTU vmbr0 9000",
		"BridgeVlanAdd vmbr0 2-4094 self",
		"BridgeVlanAdd bond0 2-4094 master",
		"LinkSetUp bond0",
		"LinkSetUp vmbr0",
		"LinkSetUp vmbr0.50",
		"AddrAdd vmbr0.50 10.99.50.2/24",
		"RouteReplace default via 10.99.50.1 dev vmbr0.50",
	})
	st := observe(t, f)
	for _, n := range []string{"eno1", "eno2"} {
		if l := linkOf(t, st, n); l.Master != "bond0" || l.MTU != 9000 || !l.Up {
			t.Errorf("%s = %+v", n, l)
		}
	}
}

// Rebuilding a bond for a new mode fails at its last step; the rollback
// must rebuild the old bond with its slaves, its place in the bridge and
// its VLANs there.
func TestFakeRollbackRebuildsBond(t *testing.T) {
	f := newBondFake()
	d := bondVLANDesired()
	converge(t, f, d)
	d.Links[2].BondMode, d.Links[2].XmitHashPolicy, d.Links[2].Primary = "active-backup", "", "eno2"
	steps, _, err := Plan(observe(t, f), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := observe(t, f)
	f.calls = nil
	f.fail = map[string]error{"LinkSetUp bond0": syscall.ENOBUFS}
	var log []string
	err = Apply(context.Background(), f, steps, func(s string) { log = append(log, s) })
	var ae *ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack() || ae.Step.Desc != "set bond0 up" {
		t.Fatalf("Apply = %v, want a rolled back failure of the last step", err)
	}
	if want := "step 15 of 15 (set bond0 up) failed: no buffer space available; rolled back the 14 steps before it"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("error does not wrap the kernel's error")
	}
	checkLines(t, "netlink calls", f.calls, []string{
		"LinkSetNoMaster eno1",
		"LinkSetNoMaster eno2",
		"BridgeVlanDel bond0 2-4094 master",
		"LinkSetNoMaster bond0",
		"LinkSetDown bond0",
		"LinkDel bond0",
		"LinkAdd bond bond0 mode=active-backup miimon=100",
		"LinkSetMaster eno1 bond0",
		"LinkSetMaster eno2 bond0",
		"LinkModify bond bond0 primary=2",
		"LinkSetMaster bond0 vmbr0",
		"LinkSetMTU bond0 9000",
		"LinkSetMTU vmbr0 9000",
		"BridgeVlanAdd bond0 2-4094 master",
		"LinkSetUp bond0", // fails; the rollback follows
		"BridgeVlanDel bond0 2-4094 master",
		"LinkSetMTU vmbr0 9000",
		"LinkSetNoMaster bond0",
		"LinkModify bond bond0 primary=0",
		"LinkSetNoMaster eno2",
		"LinkSetNoMaster eno1",
		"LinkDel bond0",
		"LinkAdd bond bond0 mode=802.3ad miimon=100 xmit_hash_policy=layer3+4 mtu=9000",
		"LinkSetUp bond0",
		"LinkSetMaster bond0 vmbr0",
		"BridgeVlanAdd bond0 2-4094 master",
		"LinkSetMaster eno2 bond0",
		"LinkSetMaster eno1 bond0",
	})
	if got := log[len(log)-1]; got != "undo: enslave eno1 to bond bond0" {
		t.Errorf("last log line = %q", got)
	}
	if after := observe(t, f); !equalState(after, before) {
		t.Errorf("state after rollback:\n%+v\nwant:\n%+v", after, before)
	}
}

// A cancelled context stops the plan between steps and rolls back.
func TestApplyCancelled(t *testing.T) {
	f := newFakeKernel("eno1")
	steps, _, err := Plan(observe(t, f), Desired{Links: []Link{
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"eno1"}, Up: true, Addrs: []netip.Prefix{pfx("10.99.0.1/24")}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err = Apply(ctx, f, steps, func(s string) {
		if n++; n == 2 {
			cancel() // while the second step runs
		}
	})
	var ae *ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, context.Canceled) || ae.Index != 2 || !ae.RolledBack() {
		t.Fatalf("Apply = %v, want a cancellation before step 3, rolled back", err)
	}
	checkLines(t, "netlink calls", f.calls, []string{
		"LinkAdd bridge vmbr0",
		"LinkSetMaster eno1 vmbr0",
		"LinkSetNoMaster eno1",
		"LinkDel vmbr0",
	})
}

func TestApplyReportsWhatRollbackCouldNotRestore(t *testing.T) {
	f := newFakeKernel("eno1")
	steps, _, err := Plan(observe(t, f), Desired{Links: []Link{
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"eno1"}, Up: true, Addrs: []netip.Prefix{pfx("10.99.0.1/24")}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.fail = map[string]error{"AddrAdd vmbr0 10.99.0.1/24": syscall.EEXIST, "LinkDel vmbr0": syscall.EBUSY}
	err = Apply(context.Background(), f, steps, nil)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.RolledBack() || ae.Undone != 3 {
		t.Fatalf("Apply = %v, want an incomplete rollback with 3 of 4 undone", err)
	}
	want := "step 5 of 5 (add 10.99.0.1/24 to vmbr0) failed: file exists; rollback incomplete, could not restore: " +
		`delete bridge vmbr0 (undoing "create bridge vmbr0"): device or resource busy`
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

func TestApplyFirstStepFails(t *testing.T) {
	f := newFakeKernel("eno1")
	steps := []Step{step(SetMTU{"eno9", 9000}, SetMTU{"eno9", 1500})}
	err := Apply(context.Background(), f, steps, nil)
	want := "step 1 of 1 (set mtu of eno9 to 9000) failed: link eno9: Link not found; nothing had been changed"
	if err == nil || err.Error() != want {
		t.Errorf("Apply = %v, want %q", err, want)
	}
	if err := Apply(context.Background(), f, nil, nil); err != nil {
		t.Errorf("Apply of an empty plan = %v", err)
	}
}
