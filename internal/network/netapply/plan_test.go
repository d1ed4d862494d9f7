package netapply

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// step builds an expected step; Desc is checked separately in
// TestStepDescriptions, so here it simply follows the operation.
func step(do, undo Op) Step { return Step{Desc: do.String(), Do: do, Undo: undo} }

// nic is a physical interface as Observe reports it.
func nic(name string, up bool, master string) LinkState {
	return LinkState{Name: name, Kind: "device", MTU: 1500, Up: up, Master: master}
}

func pfxs(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = pfx(s)
	}
	return out
}

func route(gw, link string) Route { return Route{Gateway: ip(gw), Link: link} }

func bridgeSpec(name string) LinkSpec {
	return LinkSpec{Name: name, Kind: KindBridge, ForwardDelay: ptr(0), MIIMon: -1}
}

// observedBridge is the spec Plan takes from an observed bridge.
func observedBridge(name string, fd int) LinkSpec {
	return LinkSpec{Name: name, Kind: KindBridge, MTU: 1500, ForwardDelay: ptr(fd), MIIMon: -1}
}

func TestPlan(t *testing.T) {
	vmbr0 := func(ports []string, addrs ...string) Link {
		return Link{Name: "vmbr0", Kind: KindBridge, Ports: ports, ForwardDelay: ptr(0), Addrs: pfxs(addrs...), Up: true}
	}
	eth := func(name string) Link { return Link{Name: name, Kind: KindEth} }
	applied := func(addrs ...string) LinkState {
		return LinkState{Name: "vmbr0", Kind: KindBridge, MTU: 1500, Up: true, Addrs: pfxs(addrs...)}
	}
	withGW := func(l Link, gw4, gw6 string) Link {
		if gw4 != "" {
			l.Gateway4 = ip(gw4)
		}
		if gw6 != "" {
			l.Gateway6 = ip(gw6)
		}
		return l
	}
	withSecondary := func(l LinkState, sec ...string) LinkState { l.Secondary = pfxs(sec...); return l }

	tests := []struct {
		name    string
		current State
		desired []Link
		managed []string
		want    []Step
		notes   []string
	}{{
		name:    "new bridge on two NICs with addresses and gateways",
		current: State{Links: []LinkState{nic("eno1", false, ""), nic("eno2", false, "")}},
		desired: []Link{eth("eno1"), eth("eno2"),
			withGW(vmbr0([]string{"eno1", "eno2"}, "192.0.2.10/24", "2001:db8::10/64"), "192.0.2.1", "2001:db8::1")},
		want: []Step{
			step(CreateLink{bridgeSpec("vmbr0")}, DeleteLink{bridgeSpec("vmbr0")}),
			step(AttachPort{"eno1", "vmbr0", KindBridge}, DetachPort{"eno1", "vmbr0", KindBridge, false}),
			step(AttachPort{"eno2", "vmbr0", KindBridge}, DetachPort{"eno2", "vmbr0", KindBridge, false}),
			step(SetUp{"eno1", true}, SetUp{"eno1", false}),
			step(SetUp{"eno2", true}, SetUp{"eno2", false}),
			step(SetUp{"vmbr0", true}, SetUp{"vmbr0", false}),
			step(AddAddr{"vmbr0", pfx("192.0.2.10/24")}, DelAddr{"vmbr0", pfx("192.0.2.10/24")}),
			step(AddAddr{"vmbr0", pfx("2001:db8::10/64")}, DelAddr{"vmbr0", pfx("2001:db8::10/64")}),
			step(ReplaceRoute{route("192.0.2.1", "vmbr0")}, DelRoute{route("192.0.2.1", "vmbr0")}),
			step(ReplaceRoute{route("2001:db8::1", "vmbr0")}, DelRoute{route("2001:db8::1", "vmbr0")}),
		},
	}, {
		name: "the applied state plans nothing",
		current: State{
			Links:  []LinkState{nic("eno1", true, "vmbr0"), nic("eno2", true, "vmbr0"), applied("192.0.2.10/24", "2001:db8::10/64")},
			Routes: []Route{route("192.0.2.1", "vmbr0"), route("2001:db8::1", "vmbr0")},
		},
		desired: []Link{eth("eno1"), eth("eno2"),
			withGW(vmbr0([]string{"eno1", "eno2"}, "192.0.2.10/24", "2001:db8::10/64"), "192.0.2.1", "2001:db8::1")},
		managed: []string{"eno1", "eno2", "vmbr0"},
	}, {
		name: "changed addresses leave the unchanged ones and the route alone",
		current: State{
			Links:  []LinkState{applied("192.0.2.10/24", "198.51.100.10/24", "2001:db8::10/64")},
			Routes: []Route{route("192.0.2.1", "vmbr0")},
		},
		desired: []Link{withGW(vmbr0(nil, "192.0.2.10/24", "203.0.113.10/24", "2001:db8::10/64"), "192.0.2.1", "")},
		want: []Step{
			step(DelAddr{"vmbr0", pfx("198.51.100.10/24")}, AddAddr{"vmbr0", pfx("198.51.100.10/24")}),
			step(AddAddr{"vmbr0", pfx("203.0.113.10/24")}, DelAddr{"vmbr0", pfx("203.0.113.10/24")}),
		},
	}, {
		// The kernel deletes secondaries with their primary, and the
		// route with the subnet's last address: both become steps.
		name: "a primary address goes while its secondary stays",
		current: State{
			Links:  []LinkState{withSecondary(applied("10.99.0.1/24", "10.99.0.2/24"), "10.99.0.2/24")},
			Routes: []Route{route("10.99.0.254", "vmbr0")},
		},
		desired: []Link{withGW(vmbr0(nil, "10.99.0.2/24"), "10.99.0.254", "")},
		want: []Step{
			step(DelRoute{route("10.99.0.254", "vmbr0")}, ReplaceRoute{route("10.99.0.254", "vmbr0")}),
			step(DelAddr{"vmbr0", pfx("10.99.0.2/24")}, AddAddr{"vmbr0", pfx("10.99.0.2/24")}),
			step(DelAddr{"vmbr0", pfx("10.99.0.1/24")}, AddAddr{"vmbr0", pfx("10.99.0.1/24")}),
			step(AddAddr{"vmbr0", pfx("10.99.0.2/24")}, DelAddr{"vmbr0", pfx("10.99.0.2/24")}),
			step(ReplaceRoute{route("10.99.0.254", "vmbr0")}, DelRoute{route("10.99.0.254", "vmbr0")}),
		},
	}, {
		name: "a new gateway replaces the route in one step",
		current: State{
			Links:  []LinkState{applied("192.0.2.10/24")},
			Routes: []Route{route("192.0.2.1", "vmbr0")},
		},
		desired: []Link{withGW(vmbr0(nil, "192.0.2.10/24"), "192.0.2.254", "")},
		want: []Step{
			step(ReplaceRoute{route("192.0.2.254", "vmbr0")}, ReplaceRoute{route("192.0.2.1", "vmbr0")}),
		},
	}, {
		name:    "a gateway outside the link's subnets is on-link",
		current: State{Links: []LinkState{applied("203.0.113.5/32")}},
		desired: []Link{withGW(vmbr0(nil, "203.0.113.5/32"), "203.0.113.1", "")},
		want: []Step{
			step(ReplaceRoute{Route{ip("203.0.113.1"), "vmbr0", true}}, DelRoute{Route{ip("203.0.113.1"), "vmbr0", true}}),
		},
	}, {
		name: "a bridge losing a port keeps the guest ports",
		current: State{Links: []LinkState{nic("eno1", true, "vmbr0"), nic("eno2", true, "vmbr0"),
			{Name: "fwpr100p0", Kind: "veth", MTU: 1500, Up: true, Master: "vmbr0"},
			{Name: "tap100i0", Kind: "tuntap", MTU: 1500, Up: true, Master: "vmbr0"},
			{Name: "veth101i0", Kind: "veth", MTU: 1500, Up: true, Master: "vmbr0"},
			applied()}},
		desired: []Link{eth("eno1"), eth("eno2"), vmbr0([]string{"eno1"})},
		managed: []string{"eno1", "eno2", "vmbr0"},
		want: []Step{
			step(DetachPort{"eno2", "vmbr0", KindBridge, false}, AttachPort{"eno2", "vmbr0", KindBridge}),
			// Not auto, and no longer needed by an up bridge.
			step(SetUp{"eno2", false}, SetUp{"eno2", true}),
		},
	}, {
		name: "deleting a managed bridge spares what Hearth does not manage",
		current: State{
			Links: []LinkState{nic("eno2", true, "vmbr1"),
				{Name: "fwbr100i0", Kind: KindBridge, MTU: 1500, Up: true},
				{Name: "tap101i0", Kind: "tuntap", MTU: 1500, Up: true, Master: "vmbr1"},
				{Name: "vmbr1", Kind: KindBridge, MTU: 1500, Up: true, Addrs: pfxs("10.99.1.1/24"), ForwardDelay: 0},
				{Name: "vmbr9", Kind: KindBridge, MTU: 1500, Up: true, ForwardDelay: 15}},
			Routes: []Route{route("10.99.1.254", "vmbr1")},
		},
		managed: []string{"eno2", "vmbr1"},
		want: []Step{
			step(DelRoute{route("10.99.1.254", "vmbr1")}, ReplaceRoute{route("10.99.1.254", "vmbr1")}),
			step(DelAddr{"vmbr1", pfx("10.99.1.1/24")}, AddAddr{"vmbr1", pfx("10.99.1.1/24")}),
			step(DetachPort{"eno2", "vmbr1", KindBridge, false}, AttachPort{"eno2", "vmbr1", KindBridge}),
			step(DetachPort{"tap101i0", "vmbr1", KindBridge, false}, AttachPort{"tap101i0", "vmbr1", KindBridge}),
			step(SetUp{"vmbr1", false}, SetUp{"vmbr1", true}),
			step(DeleteLink{observedBridge("vmbr1", 0)}, CreateLink{observedBridge("vmbr1", 0)}),
			// eno2 left the configuration: down, but never deleted.
			step(SetUp{"eno2", false}, SetUp{"eno2", true}),
		},
	}, {
		name:    "a NIC that left the configuration loses its address",
		current: State{Links: []LinkState{{Name: "eno3", Kind: "device", MTU: 1500, Up: true, Addrs: pfxs("192.0.2.50/24")}}},
		managed: []string{"eno3"},
		want: []Step{
			step(DelAddr{"eno3", pfx("192.0.2.50/24")}, AddAddr{"eno3", pfx("192.0.2.50/24")}),
			step(SetUp{"eno3", false}, SetUp{"eno3", true}),
		},
	}, {
		// The kernel drops IPv6 addresses of a link that goes down:
		// removed first (so the undo finds them gone), added back after.
		name:    "a link going down keeps its IPv6 address",
		current: State{Links: []LinkState{applied("10.99.0.1/24", "2001:db8::1/64")}},
		desired: []Link{{Name: "vmbr0", Kind: KindBridge, Addrs: pfxs("10.99.0.1/24", "2001:db8::1/64")}},
		want: []Step{
			step(DelAddr{"vmbr0", pfx("2001:db8::1/64")}, AddAddr{"vmbr0", pfx("2001:db8::1/64")}),
			step(SetUp{"vmbr0", false}, SetUp{"vmbr0", true}),
			step(AddAddr{"vmbr0", pfx("2001:db8::1/64")}, DelAddr{"vmbr0", pfx("2001:db8::1/64")}),
		},
	}, {
		name:    "bridge options change in place",
		current: State{Links: []LinkState{{Name: "vmbr0", Kind: KindBridge, MTU: 1500, Up: true, ForwardDelay: 15}}},
		desired: []Link{{Name: "vmbr0", Kind: KindBridge, STP: true, ForwardDelay: ptr(2), Up: true}},
		want: []Step{
			step(SetBridge{Link: "vmbr0", STP: ptr(true), ForwardDelay: ptr(2)}, SetBridge{Link: "vmbr0", STP: ptr(false), ForwardDelay: ptr(15)}),
		},
	}, {
		name:    "a NIC that does not exist and that nothing uses is skipped",
		desired: []Link{{Name: "eno9", Kind: KindEth, Up: true}},
		notes:   []string{"eno9 does not exist; skipped"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, notes, err := Plan(tt.current, Desired{Links: tt.desired}, tt.managed)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			checkSteps(t, got, tt.want)
			if !slices.Equal(notes, tt.notes) {
				t.Errorf("notes = %q, want %q", notes, tt.notes)
			}
		})
	}
}

func checkSteps(t *testing.T, got, want []Step) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("plan:\n%swant:\n%s", descs(got), descs(want))
	for i := range max(len(got), len(want)) {
		var g, w any = "(none)", "(none)"
		if i < len(got) {
			g = dump(got[i])
		}
		if i < len(want) {
			w = dump(want[i])
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("step %d:\n got %v\nwant %v", i+1, g, w)
		}
	}
}

// dump prints every field of a step, pointers followed, for comparing.
func dump(s Step) string {
	return deref(s.Do) + " | undo " + deref(s.Undo)
}

func deref(op Op) string {
	if op == nil {
		return "<nil>"
	}
	b, err := json.Marshal(op)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%T%s", op, b)
}

// A bond stack: eno1+eno2 in bond0, bond0 in vmbr0, and the VLAN device
// bond0.100, all at 9000; then all lowered to 1500.
func bondStack(mtu int) State {
	l := func(ls LinkState) LinkState { ls.MTU, ls.Up = mtu, true; return ls }
	return State{Links: []LinkState{
		l(LinkState{Name: "bond0", Kind: KindBond, Master: "vmbr0", BondMode: "802.3ad", XmitHashPolicy: "layer3+4", MIIMon: 100}),
		l(LinkState{Name: "bond0.100", Kind: KindVLAN, VLANID: 100, Parent: "bond0"}),
		l(LinkState{Name: "eno1", Kind: "device", Master: "bond0"}),
		l(LinkState{Name: "eno2", Kind: "device", Master: "bond0"}),
		l(LinkState{Name: "vmbr0", Kind: KindBridge}),
	}}
}

func bondStackDesired(mtu int) []Link {
	return []Link{
		{Name: "eno1", Kind: KindEth, MTU: mtu},
		{Name: "eno2", Kind: KindEth, MTU: mtu},
		{Name: "bond0", Kind: KindBond, Slaves: []string{"eno1", "eno2"}, BondMode: "802.3ad", XmitHashPolicy: "layer3+4", MIIMon: 100, MTU: mtu},
		{Name: "vmbr0", Kind: KindBridge, Ports: []string{"bond0"}, MTU: mtu, Up: true},
		{Name: "bond0.100", Kind: KindVLAN, VLANID: 100, Parent: "bond0", MTU: mtu, Up: true},
	}
}

// MTUs go lower links first. The bond sets its slaves' MTU, so they get
// no step of their own; a VLAN device shrinks with its parent, so
// lowering needs no step for it, while raising does.
func TestPlanMTUOrder(t *testing.T) {
	got, _, err := Plan(bondStack(9000), Desired{Links: bondStackDesired(1500)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSteps(t, got, []Step{
		step(SetMTU{"bond0", 1500}, SetMTU{"bond0", 9000}),
		// The bridge followed its port, or kept its MTU: it cannot be
		// told which, so the step is there either way.
		step(SetMTU{"vmbr0", 1500}, SetMTU{"vmbr0", 9000}),
	})

	got, _, err = Plan(bondStack(1500), Desired{Links: bondStackDesired(9000)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSteps(t, got, []Step{
		step(SetMTU{"bond0", 9000}, SetMTU{"bond0", 1500}),
		step(SetMTU{"vmbr0", 9000}, SetMTU{"vmbr0", 1500}),
		step(SetMTU{"bond0.100", 9000}, SetMTU{"bond0.100", 1500}),
	})
}

// A bond's mode cannot change in place: the bond is rebuilt, and each
// thing the kernel would drop with it (its place in the bridge, its
// VLANs there) is taken away and put back as a step of its own.
func TestPlanBondModeChange(t *testing.T) {
	cur := bondStack(9000)
	cur.Links = slices.DeleteFunc(cur.Links, func(l LinkState) bool { return l.Name == "bond0.100" })
	cur.Links[0].VIDs = []VIDRange{{2, 4094}}
	cur.Links[3].VLANFiltering, cur.Links[3].VIDs = true, []VIDRange{{2, 4094}}
	d := bondStackDesired(9000)[:4]
	d[2].BondMode, d[2].XmitHashPolicy, d[2].Primary = "active-backup", "", "eno2"
	d[3].VLANAware = true

	got, _, err := Plan(cur, Desired{Links: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := LinkSpec{Name: "bond0", Kind: KindBond, MTU: 9000, BondMode: "802.3ad", XmitHashPolicy: "layer3+4", MIIMon: 100}
	mode := LinkSpec{Name: "bond0", Kind: KindBond, BondMode: "active-backup", MIIMon: 100}
	all := []VIDRange{{2, 4094}}
	checkSteps(t, got, []Step{
		step(DetachPort{"eno1", "bond0", KindBond, false}, AttachPort{"eno1", "bond0", KindBond}),
		step(DetachPort{"eno2", "bond0", KindBond, false}, AttachPort{"eno2", "bond0", KindBond}),
		step(DelVIDs{"bond0", false, all}, AddVIDs{"bond0", false, all}),
		step(DetachPort{"bond0", "vmbr0", KindBridge, false}, AttachPort{"bond0", "vmbr0", KindBridge}),
		step(SetUp{"bond0", false}, SetUp{"bond0", true}),
		step(DeleteLink{old}, CreateLink{old}),
		step(CreateLink{mode}, DeleteLink{mode}),
		// eno1 and eno2 were closed by the release; the undo leaves them so.
		step(AttachPort{"eno1", "bond0", KindBond}, DetachPort{"eno1", "bond0", KindBond, false}),
		step(AttachPort{"eno2", "bond0", KindBond}, DetachPort{"eno2", "bond0", KindBond, false}),
		step(SetBond{Link: "bond0", Primary: ptr("eno2")}, SetBond{Link: "bond0", Primary: ptr("")}),
		step(AttachPort{"bond0", "vmbr0", KindBridge}, DetachPort{"bond0", "vmbr0", KindBridge, false}),
		step(SetMTU{"bond0", 9000}, nil),
		step(SetMTU{"vmbr0", 9000}, SetMTU{"vmbr0", 9000}),
		step(AddVIDs{"bond0", false, all}, DelVIDs{"bond0", false, all}),
		step(SetUp{"bond0", true}, SetUp{"bond0", false}),
	})
}

func TestPlanVLANAwareBridge(t *testing.T) {
	d := []Link{{Name: "eno1", Kind: KindEth}, {Name: "vmbr0", Kind: KindBridge, Ports: []string{"eno1"}, VLANAware: true, Up: true}}
	got, _, err := Plan(State{Links: []LinkState{nic("eno1", false, "")}}, Desired{Links: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := LinkSpec{Name: "vmbr0", Kind: KindBridge, VLANFiltering: true, MIIMon: -1}
	all := []VIDRange{{2, 4094}}
	checkSteps(t, got, []Step{
		step(CreateLink{spec}, DeleteLink{spec}),
		step(AttachPort{"eno1", "vmbr0", KindBridge}, DetachPort{"eno1", "vmbr0", KindBridge, false}),
		step(AddVIDs{"vmbr0", true, all}, DelVIDs{"vmbr0", true, all}),
		step(AddVIDs{"eno1", false, all}, DelVIDs{"eno1", false, all}),
		step(SetUp{"eno1", true}, SetUp{"eno1", false}),
		step(SetUp{"vmbr0", true}, SetUp{"vmbr0", false}),
	})

	// Narrowing bridge-vids removes the rest from the bridge and its
	// port, and leaves the guest's tap alone.
	cur := State{Links: []LinkState{nic("eno1", true, "vmbr0"),
		{Name: "tap100i0", Kind: "tuntap", MTU: 1500, Up: true, Master: "vmbr0", VIDs: []VIDRange{{5, 5}}},
		{Name: "vmbr0", Kind: KindBridge, MTU: 1500, Up: true, ForwardDelay: 15, VLANFiltering: true, VIDs: all}}}
	cur.Links[0].VIDs = all
	d[1].VIDs = []VIDRange{{20, 30}, {10, 19}}
	got, _, err = Plan(cur, Desired{Links: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rest := []VIDRange{{2, 9}, {31, 4094}}
	checkSteps(t, got, []Step{
		step(DelVIDs{"vmbr0", true, rest}, AddVIDs{"vmbr0", true, rest}),
		step(DelVIDs{"eno1", false, rest}, AddVIDs{"eno1", false, rest}),
	})
}

// A VLAN device whose parent is rebuilt goes and comes back with it;
// one Hearth does not manage stops the plan instead.
func TestPlanVLANFollowsParent(t *testing.T) {
	cur := bondStack(1500)
	d := bondStackDesired(0)
	d[2].BondMode = "balance-xor"
	got, _, err := Plan(cur, Desired{Links: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, s := range got {
		ds = append(ds, s.Desc)
	}
	i, j := slices.Index(ds, "delete vlan bond0.100"), slices.Index(ds, "delete bond bond0")
	k := slices.Index(ds, "create vlan bond0.100 (id 100 on bond0)")
	if i < 0 || j < 0 || k < 0 || !(i < j && j < k) {
		t.Errorf("plan does not delete the vlan before the bond and create it again:\n%s", descs(got))
	}

	d = slices.DeleteFunc(d, func(l Link) bool { return l.Name == "bond0.100" })
	if _, _, err := Plan(cur, Desired{Links: d}, nil); err == nil || !strings.Contains(err.Error(), "vlan bond0.100") {
		t.Errorf("Plan = %v, want a refusal naming the unmanaged vlan bond0.100", err)
	}
}

func TestPlanErrors(t *testing.T) {
	cur := State{Links: []LinkState{nic("eno1", false, ""), nic("eno2", false, ""),
		{Name: "vmbr5", Kind: "veth", MTU: 1500}, {Name: "vmbr6", Kind: KindBridge, MTU: 1500}}}
	br := func(name string, ports ...string) Link {
		return Link{Name: name, Kind: KindBridge, Ports: ports, Up: true}
	}
	tests := []struct {
		name  string
		links []Link
		want  string
	}{
		{"no name", []Link{{Kind: KindBridge}}, "interface 1: no name"},
		{"long name", []Link{{Name: "vmbr0123456789012", Kind: KindBridge}}, "longer than 15 bytes"},
		{"duplicate", []Link{br("vmbr0"), br("vmbr0")}, "vmbr0: defined twice"},
		{"unknown kind", []Link{{Name: "x", Kind: "ovs"}}, `unknown kind "ovs"`},
		{"bridge option on a NIC", []Link{{Name: "eno1", Kind: KindEth, STP: true}}, "eth eno1: bridge options"},
		{"port in two bridges", []Link{br("vmbr0", "eno1"), br("vmbr1", "eno1")}, "eno1 is a port or slave of both vmbr0 and vmbr1"},
		{"missing port", []Link{br("vmbr0", "eno7")}, "bridge vmbr0: eno7 does not exist and is not defined"},
		{"missing NIC others need", []Link{{Name: "eno7", Kind: KindEth}, br("vmbr0", "eno7")}, "eno7 does not exist, but other interfaces are built on it"},
		{"bridge as NIC", []Link{{Name: "vmbr6", Kind: KindEth}}, "vmbr6 is a bridge, not a physical interface"},
		{"name of an unmanaged link", []Link{br("vmbr5")}, "bridge vmbr5: a veth link of that name exists"},
		{"guest name", []Link{br("tap100i0")}, "belong to guests"},
		{"circle", []Link{br("vmbr0", "vmbr1"), br("vmbr1", "vmbr0")}, "in a circle: vmbr0 -> vmbr1 -> vmbr0"},
		{"bad bond mode", []Link{{Name: "bond0", Kind: KindBond, BondMode: "lacp"}}, `bond bond0: unknown bond mode "lacp"`},
		{"primary not a slave", []Link{{Name: "bond0", Kind: KindBond, BondMode: "active-backup", Slaves: []string{"eno1"}, Primary: "eno2"}}, "primary eno2 is not one of its slaves"},
		{"primary in wrong mode", []Link{{Name: "bond0", Kind: KindBond, Slaves: []string{"eno1"}, Primary: "eno1"}}, "needs mode active-backup"},
		{"vlan id", []Link{{Name: "eno1.5000", Kind: KindVLAN, VLANID: 5000, Parent: "eno1"}}, "vlan id 5000"},
		{"vlan without parent", []Link{{Name: "vlan5", Kind: KindVLAN, VLANID: 5}}, "no parent interface"},
		{"vlan larger than parent", []Link{{Name: "eno1.5", Kind: KindVLAN, VLANID: 5, Parent: "eno1", MTU: 9000}}, "vlan eno1.5: mtu 9000 is larger than the mtu 1500 of its parent eno1"},
		{"bond and slave mtu", []Link{{Name: "eno1", Kind: KindEth, MTU: 1500}, {Name: "bond0", Kind: KindBond, Slaves: []string{"eno1"}, MTU: 9000}}, "differs from the mtu 1500 of its slave eno1"},
		{"manual with address", []Link{{Name: "vmbr0", Kind: KindBridge, Manual: true, Addrs: pfxs("10.0.0.1/24")}}, "method manual takes no addresses"},
		{"link-local address", []Link{{Name: "vmbr0", Kind: KindBridge, Addrs: pfxs("fe80::1/64")}}, "is link-local"},
		{"two gateways", []Link{{Name: "vmbr0", Kind: KindBridge, Up: true, Gateway4: ip("10.0.0.1")}, {Name: "vmbr1", Kind: KindBridge, Up: true, Gateway4: ip("10.0.1.1")}}, "vmbr1: a second IPv4 gateway (vmbr0 has one already)"},
		{"gateway family", []Link{{Name: "vmbr0", Kind: KindBridge, Up: true, Gateway4: ip("2001:db8::1")}}, "is not an IPv4 address"},
		{"gateway on a link that stays down", []Link{{Name: "vmbr0", Kind: KindBridge, Gateway4: ip("10.0.0.1")}}, "vmbr0 has a gateway but is not brought up"},
		{"stp with no forward delay", []Link{{Name: "vmbr0", Kind: KindBridge, STP: true, ForwardDelay: ptr(0)}}, "with stp on, the kernel needs a forward delay"},
		{"vids out of range", []Link{{Name: "vmbr0", Kind: KindBridge, VLANAware: true, VIDs: []VIDRange{{0, 10}}}}, "vlan range 0-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Plan(cur, Desired{Links: tt.links}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Plan must not change the caller's values while normalising them.
func TestPlanLeavesInputAlone(t *testing.T) {
	d := Desired{Links: []Link{{Name: "vmbr0", Kind: KindBridge, VLANAware: true}, {Name: "bond0", Kind: KindBond}}}
	cur := bondStack(1500)
	before := fmt.Sprintf("%+v %+v", d, cur)
	if _, _, err := Plan(cur, d, []string{"bond0.100"}); err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprintf("%+v %+v", d, cur); after != before {
		t.Errorf("Plan changed its input:\n%s\nwas\n%s", after, before)
	}
}

func TestStepDescriptions(t *testing.T) {
	fd := ptr(0)
	ops := []Op{
		CreateLink{LinkSpec{Name: "vmbr1", Kind: KindBridge, ForwardDelay: fd, VLANFiltering: true, MIIMon: -1}},
		CreateLink{LinkSpec{Name: "bond0", Kind: KindBond, BondMode: "802.3ad", MIIMon: 100, XmitHashPolicy: "layer3+4"}},
		CreateLink{LinkSpec{Name: "eno1.100", Kind: KindVLAN, VLANID: 100, Parent: "eno1", MIIMon: -1, MTU: 1400}},
		DeleteLink{LinkSpec{Name: "vmbr1", Kind: KindBridge}},
		AttachPort{"eno1", "vmbr1", KindBridge},
		AttachPort{"eno1", "bond0", KindBond},
		DetachPort{"eno1", "vmbr1", KindBridge, false},
		DetachPort{"eno1", "bond0", KindBond, true},
		SetMTU{"vmbr1", 9000},
		SetUp{"vmbr1", true},
		SetUp{"vmbr1", false},
		AddAddr{"vmbr1", pfx("10.0.0.1/24")},
		DelAddr{"vmbr1", pfx("2001:db8::1/64")},
		ReplaceRoute{Route{ip("10.0.0.254"), "vmbr1", false}},
		DelRoute{Route{ip("203.0.113.1"), "vmbr1", true}},
		SetBridge{Link: "vmbr1", STP: ptr(true), ForwardDelay: ptr(2), VLANFiltering: ptr(false)},
		SetBond{Link: "bond0", XmitHashPolicy: ptr("layer2+3"), MIIMon: ptr(100), Primary: ptr("")},
		AddVIDs{"eno1", false, []VIDRange{{2, 9}, {11, 11}}},
		DelVIDs{"vmbr1", true, []VIDRange{{10, 20}}},
	}
	want := []string{
		"create bridge vmbr1 (stp off, forward delay 0s, vlan-aware)",
		"create bond bond0 (mode 802.3ad, miimon 100, xmit-hash-policy layer3+4)",
		"create vlan eno1.100 (id 100 on eno1, mtu 1400)",
		"delete bridge vmbr1",
		"add port eno1 to bridge vmbr1",
		"enslave eno1 to bond bond0",
		"remove port eno1 from bridge vmbr1",
		"release eno1 from bond bond0 and set it up",
		"set mtu of vmbr1 to 9000",
		"set vmbr1 up",
		"set vmbr1 down",
		"add 10.0.0.1/24 to vmbr1",
		"remove 2001:db8::1/64 from vmbr1",
		"set default route via 10.0.0.254 dev vmbr1",
		"delete default route via 203.0.113.1 dev vmbr1 onlink",
		"set bridge vmbr1 stp on, forward delay 2s, vlan-aware off",
		"set bond bond0 xmit-hash-policy layer2+3, miimon 100, primary none",
		"allow vlans 2-9,11 on port eno1",
		"remove vlans 10-20 from bridge vmbr1",
	}
	for i, op := range ops {
		if got := op.String(); got != want[i] {
			t.Errorf("%T: %q, want %q", op, got, want[i])
		}
	}
}
