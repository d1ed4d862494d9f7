package guestport

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The VLAN paths are tested only here, against the recording fake: the
// kernel that runs the test suite has neither 802.1q VLAN devices nor
// bridge VLAN filtering, so neither the VLAN-aware nor the traditional
// (vmbrXvY) setup can be built for real on it. The fake checks the exact
// netlink calls, which are what a host with those features receives.

func wantCalls(t *testing.T, f *fakeNL, want ...string) {
	t.Helper()
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(f.calls, "\n  "), strings.Join(want, "\n  "))
	}
	f.calls = nil
}

func mustPlug(t *testing.T, f *fakeNL, p Port, hook FirewallHook) {
	t.Helper()
	if err := Plug(context.Background(), f, p, hook); err != nil {
		t.Fatalf("Plug(%+v): %v", p, err)
	}
}

func mustUnplug(t *testing.T, f *fakeNL, name string, hook FirewallHook) {
	t.Helper()
	if err := Unplug(context.Background(), f, name, hook); err != nil {
		t.Fatalf("Unplug(%s): %v", name, err)
	}
}

func TestPlugDirect(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0"}, nil)
	wantCalls(t, f,
		"LinkSetMaster tap100i0 vmbr0",
		"LinkSetUp tap100i0",
	)
	// Plugging again changes nothing but the link state.
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0"}, nil)
	wantCalls(t, f, "LinkSetUp tap100i0")
}

func TestPlugMTU(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 9000, false)
	f.tap(t, "tap100i0", "")
	f.tap(t, "tap100i1", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0"}, nil)
	mustPlug(t, f, Port{Name: "tap100i1", Bridge: "vmbr0", MTU: 1400}, nil)
	wantCalls(t, f,
		"LinkSetMTU tap100i0 9000", // the bridge's
		"LinkSetMaster tap100i0 vmbr0",
		"LinkSetUp tap100i0",
		"LinkSetMTU tap100i1 1400", // the NIC's own
		"LinkSetMaster tap100i1 vmbr0",
		"LinkSetUp tap100i1",
	)
}

func TestPlugLinkDown(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", LinkDown: true}, nil)
	// Down before it reaches the bridge, and never up.
	wantCalls(t, f,
		"LinkSetDown tap100i0",
		"LinkSetMaster tap100i0 vmbr0",
	)
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0"}, nil)
	wantCalls(t, f, "LinkSetUp tap100i0")
}

func TestPlugRate(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", RateMBps: 12.5}, nil)
	// 12.5 MiB/s = 13107200 B/s, with the limits in place before the port
	// reaches the bridge.
	wantCalls(t, f,
		"QdiscAdd tap100i0 htb 1:0 parent root default 1",
		"ClassAdd tap100i0 htb 1:1 parent 1:0 rate 13107200B/s ceil 13107200B/s",
		"QdiscAdd tap100i0 ingress ffff:0 parent ingress",
		"FilterAdd tap100i0 u32 parent ffff:0 prio 50 proto 0x3 match 00000000/00000000 at 0 flowid 0:1 police rate 13107200B/s burst 1048576B mtu 65536B shot",
		"LinkSetMaster tap100i0 vmbr0",
		"LinkSetUp tap100i0",
	)
	// A new rate replaces the old limits.
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", RateMBps: 1}, nil)
	wantCalls(t, f,
		"QdiscDel tap100i0 htb 1:0 parent root default 1",
		"QdiscDel tap100i0 ingress ffff:0 parent ingress",
		"QdiscAdd tap100i0 htb 1:0 parent root default 1",
		"ClassAdd tap100i0 htb 1:1 parent 1:0 rate 1048576B/s ceil 1048576B/s",
		"QdiscAdd tap100i0 ingress ffff:0 parent ingress",
		"FilterAdd tap100i0 u32 parent ffff:0 prio 50 proto 0x3 match 00000000/00000000 at 0 flowid 0:1 police rate 1048576B/s burst 1048576B mtu 65536B shot",
		"LinkSetUp tap100i0",
	)
	// Unplug takes them away.
	mustUnplug(t, f, "tap100i0", nil)
	wantCalls(t, f,
		"QdiscDel tap100i0 htb 1:0 parent root default 1",
		"QdiscDel tap100i0 ingress ffff:0 parent ingress",
		"LinkSetNoMaster tap100i0",
	)
}

func TestPlugRateErrors(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.tap(t, "tap100i0", "")
	err := Plug(context.Background(), f, Port{Name: "tap100i0", Bridge: "vmbr0", RateMBps: 5000}, nil)
	if err == nil || !strings.Contains(err.Error(), "4095 MB/s") {
		t.Errorf("rate 5000: got %v, want the policer's limit", err)
	}
	f.calls = nil
	f.fail["FilterAdd tap100i0 u32 parent ffff:0 prio 50 proto 0x3 match 00000000/00000000 at 0 flowid 0:1 police rate 1048576B/s burst 1048576B mtu 65536B shot"] = unix.ENOENT
	err = Plug(context.Background(), f, Port{Name: "tap100i0", Bridge: "vmbr0", RateMBps: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "act_police") || !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing policer: got %v", err)
	}
	if slices.Contains(f.calls, "LinkSetMaster tap100i0 vmbr0") {
		t.Error("a port whose limits failed was connected to the bridge")
	}
}

func TestPlugVlanAware(t *testing.T) {
	for _, tc := range []struct {
		name string
		port Port
		want []string
	}{
		{"untagged", Port{Name: "tap100i0", Bridge: "vmbr0"}, []string{
			"LinkSetMaster tap100i0 vmbr0",
			"BridgeVlanDelRange tap100i0 1-4094 master",
			"BridgeVlanAddRange tap100i0 2-4094 master",
			"BridgeVlanAdd tap100i0 1 pvid untagged master",
			"LinkSetUp tap100i0",
		}},
		{"tag", Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5}, []string{
			"LinkSetMaster tap100i0 vmbr0",
			"BridgeVlanDelRange tap100i0 1-4094 master",
			"BridgeVlanAdd tap100i0 5 pvid untagged master",
			"LinkSetUp tap100i0",
		}},
		{"tag and trunks", Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5, Trunks: []int{10, 20}}, []string{
			"LinkSetMaster tap100i0 vmbr0",
			"BridgeVlanDelRange tap100i0 1-4094 master",
			"BridgeVlanAdd tap100i0 10 master",
			"BridgeVlanAdd tap100i0 20 master",
			"BridgeVlanAdd tap100i0 5 pvid untagged master",
			"LinkSetUp tap100i0",
		}},
		{"trunks only", Port{Name: "tap100i0", Bridge: "vmbr0", Trunks: []int{7}}, []string{
			"LinkSetMaster tap100i0 vmbr0",
			"BridgeVlanDelRange tap100i0 1-4094 master",
			"BridgeVlanAdd tap100i0 7 master",
			"BridgeVlanAdd tap100i0 1 pvid untagged master",
			"LinkSetUp tap100i0",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.bridge(t, "vmbr0", 1500, true)
			f.nic(t, "eno1", "vmbr0")
			f.tap(t, "tap100i0", "")
			mustPlug(t, f, tc.port, nil)
			wantCalls(t, f, tc.want...)
			// Unplugging from a VLAN-aware bridge creates or deletes nothing.
			mustUnplug(t, f, "tap100i0", nil)
			wantCalls(t, f, "LinkSetNoMaster tap100i0")
		})
	}
}

func TestPlugTraditionalVlan(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.nic(t, "eno1", "vmbr0")
	f.tap(t, "tap100i0", "")
	f.add(t, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth101i0"}}, "")

	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5}, nil)
	wantCalls(t, f,
		"LinkAdd bridge vmbr0v5 mtu=1500",
		"LinkSetAlias vmbr0v5 "+helperAlias,
		"LinkAdd vlan eno1.5 parent=eno1 id=5 mtu=1500",
		"LinkSetAlias eno1.5 "+helperAlias,
		"LinkSetMaster eno1.5 vmbr0v5",
		"LinkSetUp eno1.5",
		"LinkSetUp vmbr0v5",
		"LinkSetMaster tap100i0 vmbr0v5",
		"LinkSetUp tap100i0",
	)

	// A second guest on the same VLAN reuses the helper.
	mustPlug(t, f, Port{Name: "veth101i0", Bridge: "vmbr0", Tag: 5}, nil)
	wantCalls(t, f,
		"LinkSetUp vmbr0v5",
		"LinkSetMaster veth101i0 vmbr0v5",
		"LinkSetUp veth101i0",
	)

	// The helper stays while a guest uses it and goes with the last one.
	mustUnplug(t, f, "tap100i0", nil)
	wantCalls(t, f, "LinkSetNoMaster tap100i0")
	mustUnplug(t, f, "veth101i0", nil)
	wantCalls(t, f,
		"LinkSetNoMaster veth101i0",
		"LinkDel eno1.5",
		"LinkDel vmbr0v5",
	)
	if f.find("vmbr0v5") != nil || f.find("eno1.5") != nil {
		t.Error("helper devices left behind")
	}
}

func TestTraditionalVlanMove(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.nic(t, "eno1", "vmbr0")
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5}, nil)
	f.calls = nil
	// Re-plugging the only guest of VLAN 5 into VLAN 6 leaves vmbr0v5
	// unused, so it goes at once.
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 6}, nil)
	wantCalls(t, f,
		"LinkAdd bridge vmbr0v6 mtu=1500",
		"LinkSetAlias vmbr0v6 "+helperAlias,
		"LinkAdd vlan eno1.6 parent=eno1 id=6 mtu=1500",
		"LinkSetAlias eno1.6 "+helperAlias,
		"LinkSetMaster eno1.6 vmbr0v6",
		"LinkSetUp eno1.6",
		"LinkSetUp vmbr0v6",
		"LinkSetMaster tap100i0 vmbr0v6",
		"LinkSetUp tap100i0",
		"LinkDel eno1.5",
		"LinkDel vmbr0v5",
	)
}

func TestTraditionalVlanAdministratorsHelperKept(t *testing.T) {
	// A vmbr0v5 from the host's configuration (Proxmox VE's management
	// VLAN example) is used, and neither it nor its eno1.5 is ever
	// deleted.
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.nic(t, "eno1", "vmbr0")
	f.bridge(t, "vmbr0v5", 1500, false)
	f.add(t, &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "eno1.5"}, VlanId: 5}, "vmbr0v5")
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5}, nil)
	wantCalls(t, f,
		"LinkSetUp vmbr0v5",
		"LinkSetMaster tap100i0 vmbr0v5",
		"LinkSetUp tap100i0",
	)
	mustUnplug(t, f, "tap100i0", nil)
	wantCalls(t, f, "LinkSetNoMaster tap100i0")
}

func TestTraditionalVlanExistingVlanDevice(t *testing.T) {
	// eno1.7 exists (host configuration) but no bridge uses it: the helper
	// bridge is created around it, and only the bridge is deleted later.
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.nic(t, "eno1", "vmbr0")
	f.add(t, &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "eno1.7"}, VlanId: 7}, "")
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 7}, nil)
	wantCalls(t, f,
		"LinkAdd bridge vmbr0v7 mtu=1500",
		"LinkSetAlias vmbr0v7 "+helperAlias,
		"LinkSetMaster eno1.7 vmbr0v7",
		"LinkSetUp eno1.7",
		"LinkSetUp vmbr0v7",
		"LinkSetMaster tap100i0 vmbr0v7",
		"LinkSetUp tap100i0",
	)
	mustUnplug(t, f, "tap100i0", nil)
	wantCalls(t, f,
		"LinkSetNoMaster tap100i0",
		"LinkSetNoMaster eno1.7",
		"LinkDel vmbr0v7",
	)
}

func TestUnplugVanishedPort(t *testing.T) {
	// QEMU removed tap100i0 when it exited; its helper is still cleaned.
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.nic(t, "eno1", "vmbr0")
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5}, nil)
	f.links = slices.DeleteFunc(f.links, func(l netlink.Link) bool { return l.Attrs().Name == "tap100i0" })
	f.calls = nil
	mustUnplug(t, f, "tap100i0", nil)
	wantCalls(t, f, "LinkDel eno1.5", "LinkDel vmbr0v5")
}

func TestFirewallHook(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, true)
	f.tap(t, "tap100i0", "")
	f.add(t, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fwpr100p0"}}, "")
	hook := &fakeHook{f: f, attachTo: "fwpr100p0"}

	// The hook's device, not the port, joins the bridge and gets the VLAN.
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5, RateMBps: 1, Firewall: true}, hook)
	wantCalls(t, f,
		"QdiscAdd tap100i0 htb 1:0 parent root default 1",
		"ClassAdd tap100i0 htb 1:1 parent 1:0 rate 1048576B/s ceil 1048576B/s",
		"QdiscAdd tap100i0 ingress ffff:0 parent ingress",
		"FilterAdd tap100i0 u32 parent ffff:0 prio 50 proto 0x3 match 00000000/00000000 at 0 flowid 0:1 police rate 1048576B/s burst 1048576B mtu 65536B shot",
		"hook.Attach tap100i0",
		"LinkSetMaster fwpr100p0 vmbr0",
		"BridgeVlanDelRange fwpr100p0 1-4094 master",
		"BridgeVlanAdd fwpr100p0 5 pvid untagged master",
		"LinkSetUp tap100i0",
	)

	// Switching the firewall off detaches it and plugs the port itself.
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 5}, hook)
	wantCalls(t, f,
		"QdiscDel tap100i0 htb 1:0 parent root default 1",
		"QdiscDel tap100i0 ingress ffff:0 parent ingress",
		"hook.Detach tap100i0",
		"LinkSetMaster tap100i0 vmbr0",
		"BridgeVlanDelRange tap100i0 1-4094 master",
		"BridgeVlanAdd tap100i0 5 pvid untagged master",
		"LinkSetUp tap100i0",
	)

	mustUnplug(t, f, "tap100i0", hook)
	wantCalls(t, f, "LinkSetNoMaster tap100i0", "hook.Detach tap100i0")
}

func TestFirewallHookOnPortItself(t *testing.T) {
	// A hook that filters on the port itself returns "" and the port is
	// plugged as usual; a nil hook ignores Firewall.
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.tap(t, "tap100i0", "")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Firewall: true}, &fakeHook{f: f})
	wantCalls(t, f, "hook.Attach tap100i0", "LinkSetMaster tap100i0 vmbr0", "LinkSetUp tap100i0")
	mustPlug(t, f, Port{Name: "tap100i0", Bridge: "vmbr0", Firewall: true}, nil)
	wantCalls(t, f, "LinkSetUp tap100i0")
}

func TestPlugErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fakeNL)
		port  Port
		want  string
	}{
		{"no name", nil, Port{Bridge: "vmbr0"}, "has no name"},
		{"long name", nil, Port{Name: "tap10000000000i0", Bridge: "vmbr0"}, "longer than 15"},
		{"no bridge", nil, Port{Name: "tap100i0"}, "has no bridge"},
		{"bad tag", nil, Port{Name: "tap100i0", Bridge: "vmbr0", Tag: 4095}, "VLAN tag 4095"},
		{"bad trunk", nil, Port{Name: "tap100i0", Bridge: "vmbr0", Trunks: []int{0}}, "trunk VLAN 0"},
		{"bad mtu", nil, Port{Name: "tap100i0", Bridge: "vmbr0", MTU: -1}, "MTU -1"},
		{"bad rate", nil, Port{Name: "tap100i0", Bridge: "vmbr0", RateMBps: -1}, "rate -1"},
		{"missing port", nil, Port{Name: "tap999i0", Bridge: "vmbr0"}, "plug tap999i0: find the guest port"},
		{"missing bridge", nil, Port{Name: "tap100i0", Bridge: "vmbr9"}, "find bridge vmbr9"},
		{"not a bridge", nil, Port{Name: "tap100i0", Bridge: "eno1"}, "eno1 is a device device, not a bridge"},
		{"trunks on traditional", nil, Port{Name: "tap100i0", Bridge: "vmbr0", Trunks: []int{5}}, "trunks need a VLAN-aware bridge"},
		{"no uplink", nil, Port{Name: "tap100i0", Bridge: "vmbr1", Tag: 5}, "bridge vmbr1 has no physical port to carry VLAN 5"},
		{"long vlan device", func(t *testing.T, f *fakeNL) {
			f.bridge(t, "vmbr2", 1500, false)
			f.nic(t, "enp0s31f6np0", "vmbr2")
		}, Port{Name: "tap100i0", Bridge: "vmbr2", Tag: 4000}, "VLAN device name enp0s31f6np0.4000 is longer than 15"},
		{"enslave fails", func(_ *testing.T, f *fakeNL) {
			f.fail["LinkSetMaster tap100i0 vmbr0"] = unix.EBUSY
		}, Port{Name: "tap100i0", Bridge: "vmbr0"}, "plug tap100i0: add tap100i0 to bridge vmbr0: device or resource busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.bridge(t, "vmbr0", 1500, false)
			f.bridge(t, "vmbr1", 1500, false)
			f.nic(t, "eno1", "vmbr0")
			f.tap(t, "tap100i0", "")
			if tc.setup != nil {
				tc.setup(t, f)
			}
			err := Plug(context.Background(), f, tc.port, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPlugCanceled(t *testing.T) {
	f := newFake()
	f.bridge(t, "vmbr0", 1500, false)
	f.tap(t, "tap100i0", "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Plug(ctx, f, Port{Name: "tap100i0", Bridge: "vmbr0"}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls after cancel: %v", f.calls)
	}
}
