package netapply

import (
	"fmt"
	"net/netip"
	"strings"
)

// Kinds of links in a Desired configuration.
const (
	KindBridge = "bridge"
	KindBond   = "bond"
	KindVLAN   = "vlan"
	// KindEth is a link Hearth configures but never creates or deletes:
	// a physical NIC, or anything else that exists on its own.
	KindEth = "eth"
)

// VIDRange is an inclusive range of VLAN ids, as in `bridge-vids 2-4094`.
type VIDRange struct {
	From, To int
}

func (r VIDRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

func rangesString(rs []VIDRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Link is one interface of the desired configuration.
type Link struct {
	Name string
	Kind string // KindBridge, KindBond, KindVLAN or KindEth

	// Bridge.
	Ports        []string
	STP          bool
	ForwardDelay *int // seconds (bridge-fd); nil leaves the kernel's value
	VLANAware    bool
	VIDs         []VIDRange // allowed on a VLAN-aware bridge and its ports; empty means 2-4094

	// Bond.
	Slaves         []string
	BondMode       string // balance-rr (default) active-backup balance-xor broadcast 802.3ad balance-tlb balance-alb
	XmitHashPolicy string // empty leaves the kernel's value
	MIIMon         int    // milliseconds; 0 leaves the kernel's value
	Primary        string

	// VLAN device.
	VLANID int
	Parent string

	MTU      int // 0 leaves the kernel's value
	Addrs    []netip.Prefix
	Gateway4 netip.Addr
	Gateway6 netip.Addr

	// Up is auto / allow-hotplug. A link that is not up by itself is
	// still brought up when an up link is built on it (a bridge's ports,
	// a VLAN device's parent, a bond's slaves); otherwise it is set down.
	Up     bool
	Manual bool // method manual: up without addresses
}

// Desired is the whole configuration to apply.
type Desired struct {
	Links []Link
}

// State is what Observe read from a network namespace. Plan only reads it.
type State struct {
	Links  []LinkState // sorted by name
	Routes []Route     // default routes of the main table with the plain metric
}

// LinkState is one link as the kernel reports it.
type LinkState struct {
	Name string
	// Kind is "bridge", "bond" or "vlan" for the links Hearth can create,
	// and the kernel's type otherwise ("device" for a physical NIC,
	// "veth", "tuntap", ...).
	Kind   string
	Master string
	MTU    int
	Up     bool // administratively up
	// Addrs are the permanent addresses in kernel order, without IPv6
	// link-local ones (the kernel makes those itself).
	Addrs []netip.Prefix
	// Secondary lists the IPv4 addresses the kernel marks as secondary:
	// they disappear with their primary.
	Secondary []netip.Prefix

	// Bridge.
	STP           bool
	ForwardDelay  int // seconds
	VLANFiltering bool

	// Bond.
	BondMode       string
	XmitHashPolicy string
	MIIMon         int
	Primary        string

	// VLAN device.
	VLANID int
	Parent string

	// VIDs are the VLANs allowed on this link as a port of a VLAN-aware
	// bridge, or on a VLAN-aware bridge itself, without the PVID. Only
	// read for such bridges and their ports.
	VIDs []VIDRange
}

// Route is a default route via a gateway.
type Route struct {
	Gateway netip.Addr
	Link    string
	// OnLink says the gateway is reachable on the link although no
	// address of the link covers it.
	OnLink bool
}

func (r Route) String() string {
	s := fmt.Sprintf("default route via %s dev %s", r.Gateway, r.Link)
	if r.OnLink {
		s += " onlink"
	}
	return s
}

// BridgeOptions are the bridge options the netlink package cannot set;
// nil fields are left alone.
type BridgeOptions struct {
	STP          *bool
	ForwardDelay *int // seconds
}

func (o BridgeOptions) String() string {
	var parts []string
	if o.STP != nil {
		parts = append(parts, "stp "+onOff(*o.STP))
	}
	if o.ForwardDelay != nil {
		parts = append(parts, fmt.Sprintf("forward delay %ds", *o.ForwardDelay))
	}
	return strings.Join(parts, ", ")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func isCreatable(kind string) bool {
	return kind == KindBridge || kind == KindBond || kind == KindVLAN
}

// isGuestLink says whether a link belongs to a guest or the firewall:
// QEMU taps, container veths and the firewall bridge with its veth pair.
// Plan never deletes or detaches them, even when a configuration names
// them by mistake, because that would cut a running guest off.
func isGuestLink(name string) bool {
	for _, p := range [...]string{"tap", "veth", "fwbr", "fwpr", "fwln"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
