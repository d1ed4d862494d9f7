package netapply

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
)

// Step is one change of a plan.
type Step struct {
	Desc string // what the step does, in words: "create bridge vmbr1"
	Do   Op
	// Undo puts back what Do changed; nil when nothing needs undoing
	// (a setting of a link that an earlier step of the plan created and
	// whose undo deletes it again).
	Undo Op
}

// Op is one operation on the kernel. The operations are plain values so
// that a plan can be compared, printed and checked before it runs; only
// this package can run them.
type Op interface {
	fmt.Stringer
	run(ctx context.Context, h Netlink) error
}

// LinkSpec describes a link to create: everything that has to be given
// when the link is made, or that is needed to make it again as it was.
type LinkSpec struct {
	Name string
	Kind string // KindBridge, KindBond or KindVLAN
	MTU  int    // 0: the kernel's default

	// Bridge.
	STP           bool
	ForwardDelay  *int // seconds; nil: the kernel's default
	VLANFiltering bool

	// Bond.
	BondMode       string
	XmitHashPolicy string // empty: the kernel's default
	MIIMon         int    // -1: the kernel's default

	// VLAN device.
	VLANID int
	Parent string
}

func (s LinkSpec) details() string {
	var parts []string
	switch s.Kind {
	case KindBridge:
		if s.STP || s.ForwardDelay != nil {
			parts = append(parts, "stp "+onOff(s.STP))
		}
		if s.ForwardDelay != nil {
			parts = append(parts, fmt.Sprintf("forward delay %ds", *s.ForwardDelay))
		}
		if s.VLANFiltering {
			parts = append(parts, "vlan-aware")
		}
	case KindBond:
		parts = append(parts, "mode "+s.BondMode)
		if s.MIIMon >= 0 {
			parts = append(parts, fmt.Sprintf("miimon %d", s.MIIMon))
		}
		if s.XmitHashPolicy != "" {
			parts = append(parts, "xmit-hash-policy "+s.XmitHashPolicy)
		}
	case KindVLAN:
		parts = append(parts, fmt.Sprintf("id %d on %s", s.VLANID, s.Parent))
	}
	if s.MTU > 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", s.MTU))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// CreateLink creates a bridge, bond or VLAN device, down and without ports.
type CreateLink struct{ Spec LinkSpec }

func (o CreateLink) String() string {
	return fmt.Sprintf("create %s %s%s", o.Spec.Kind, o.Spec.Name, o.Spec.details())
}

func (o CreateLink) run(_ context.Context, h Netlink) error {
	s := o.Spec
	attrs := netlink.NewLinkAttrs()
	attrs.Name = s.Name
	// A bridge given its MTU at creation follows its ports' MTU as soon
	// as one is added; one set afterwards keeps it.
	if s.Kind != KindBridge {
		attrs.MTU = s.MTU
	}
	var link netlink.Link
	switch s.Kind {
	case KindBridge:
		br := &netlink.Bridge{LinkAttrs: attrs}
		// Only ask for VLAN filtering when it is wanted: a kernel built
		// without it refuses the attribute even when it says "off".
		if s.VLANFiltering {
			br.VlanFiltering = ptr(true)
		}
		link = br
	case KindBond:
		b := netlink.NewLinkBond(attrs)
		b.Mode = netlink.StringToBondMode(s.BondMode)
		if s.MIIMon >= 0 {
			b.Miimon = s.MIIMon
		}
		if s.XmitHashPolicy != "" {
			b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(s.XmitHashPolicy)
		}
		link = b
	case KindVLAN:
		parent, err := lookup(h, s.Parent)
		if err != nil {
			return err
		}
		attrs.ParentIndex = parent.Attrs().Index
		link = &netlink.Vlan{LinkAttrs: attrs, VlanId: s.VLANID}
	default:
		return fmt.Errorf("cannot create a link of kind %q", s.Kind)
	}
	if err := h.LinkAdd(link); err != nil {
		return err
	}
	if s.Kind != KindBridge || (!s.STP && s.ForwardDelay == nil && s.MTU == 0) {
		return nil
	}
	// The bridge exists now; if it cannot be set up as asked, take it
	// away again so that this step either happens completely or not at all.
	created, err := lookup(h, s.Name)
	if err == nil && (s.STP || s.ForwardDelay != nil) {
		if err = h.BridgeSetOptions(created, BridgeOptions{STP: ptr(s.STP), ForwardDelay: s.ForwardDelay}); err != nil {
			err = fmt.Errorf("set bridge options: %w", err)
		}
	}
	if err == nil && s.MTU > 0 {
		if err = h.LinkSetMTU(created, s.MTU); err != nil {
			err = fmt.Errorf("set mtu: %w", err)
		}
	}
	if err != nil && created != nil {
		if derr := h.LinkDel(created); derr != nil {
			err = fmt.Errorf("%w (and deleting the half-made bridge failed: %v)", err, derr)
		}
	}
	return err
}

// DeleteLink deletes a bridge, bond or VLAN device. Plan detaches its
// ports and removes its addresses in earlier steps.
type DeleteLink struct{ Spec LinkSpec }

func (o DeleteLink) String() string { return fmt.Sprintf("delete %s %s", o.Spec.Kind, o.Spec.Name) }

func (o DeleteLink) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Spec.Name)
	if err != nil {
		return err
	}
	return h.LinkDel(link)
}

// AttachPort makes Link a port of the bridge or a slave of the bond Master.
type AttachPort struct {
	Link, Master string
	MasterKind   string // KindBridge or KindBond
}

func (o AttachPort) String() string {
	if o.MasterKind == KindBond {
		return fmt.Sprintf("enslave %s to bond %s", o.Link, o.Master)
	}
	return fmt.Sprintf("add port %s to %s %s", o.Link, o.MasterKind, o.Master)
}

func (o AttachPort) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	master, err := lookup(h, o.Master)
	if err != nil {
		return err
	}
	// A bond only takes a slave that is down, and brings it up itself.
	wasUp := link.Attrs().Flags&net.FlagUp != 0
	downed := false
	if o.MasterKind == KindBond && wasUp {
		if err := h.LinkSetDown(link); err != nil {
			return fmt.Errorf("set %s down before enslaving it: %w", o.Link, err)
		}
		downed = true
	}
	if err := h.LinkSetMaster(link, master); err != nil {
		if downed {
			if uerr := h.LinkSetUp(link); uerr != nil {
				err = fmt.Errorf("%w (and setting %s up again failed: %v)", err, o.Link, uerr)
			}
		}
		return err
	}
	return nil
}

// DetachPort takes Link out of the bridge or bond Master.
type DetachPort struct {
	Link, Master string
	MasterKind   string
	// RestoreUp sets the link up afterwards: a bond sets released slaves
	// down, which an undo has to repair.
	RestoreUp bool
}

func (o DetachPort) String() string {
	s := fmt.Sprintf("remove port %s from %s %s", o.Link, o.MasterKind, o.Master)
	if o.MasterKind == KindBond {
		s = fmt.Sprintf("release %s from bond %s", o.Link, o.Master)
	}
	if o.RestoreUp {
		s += " and set it up"
	}
	return s
}

func (o DetachPort) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	if err := h.LinkSetNoMaster(link); err != nil {
		return err
	}
	if o.RestoreUp {
		return h.LinkSetUp(link)
	}
	return nil
}

// SetMTU sets the MTU of a link.
type SetMTU struct {
	Link string
	MTU  int
}

func (o SetMTU) String() string { return fmt.Sprintf("set mtu of %s to %d", o.Link, o.MTU) }

func (o SetMTU) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	return h.LinkSetMTU(link, o.MTU)
}

// SetUp sets a link administratively up or down.
type SetUp struct {
	Link string
	Up   bool
}

func (o SetUp) String() string {
	if o.Up {
		return fmt.Sprintf("set %s up", o.Link)
	}
	return fmt.Sprintf("set %s down", o.Link)
}

func (o SetUp) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	if o.Up {
		return h.LinkSetUp(link)
	}
	return h.LinkSetDown(link)
}

// AddAddr adds an address to a link.
type AddAddr struct {
	Link   string
	Prefix netip.Prefix
}

func (o AddAddr) String() string { return fmt.Sprintf("add %s to %s", o.Prefix, o.Link) }

func (o AddAddr) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	return h.AddrAdd(link, toAddr(o.Prefix))
}

// DelAddr removes an address from a link.
type DelAddr struct {
	Link   string
	Prefix netip.Prefix
}

func (o DelAddr) String() string { return fmt.Sprintf("remove %s from %s", o.Prefix, o.Link) }

func (o DelAddr) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	return h.AddrDel(link, toAddr(o.Prefix))
}

// ReplaceRoute sets the default route of the gateway's address family,
// replacing the one there is.
type ReplaceRoute struct{ Route Route }

func (o ReplaceRoute) String() string { return "set " + o.Route.String() }

func (o ReplaceRoute) run(_ context.Context, h Netlink) error {
	r, err := toRoute(h, o.Route)
	if err != nil {
		return err
	}
	return h.RouteReplace(r)
}

// DelRoute deletes a default route.
type DelRoute struct{ Route Route }

func (o DelRoute) String() string { return "delete " + o.Route.String() }

func (o DelRoute) run(_ context.Context, h Netlink) error {
	r, err := toRoute(h, o.Route)
	if err != nil {
		return err
	}
	return h.RouteDel(r)
}

// SetBridge changes options of an existing bridge; nil fields stay.
type SetBridge struct {
	Link          string
	STP           *bool
	ForwardDelay  *int // seconds
	VLANFiltering *bool
}

func (o SetBridge) String() string {
	opts := BridgeOptions{STP: o.STP, ForwardDelay: o.ForwardDelay}.String()
	if o.VLANFiltering != nil {
		if opts != "" {
			opts += ", "
		}
		opts += "vlan-aware " + onOff(*o.VLANFiltering)
	}
	return fmt.Sprintf("set bridge %s %s", o.Link, opts)
}

func (o SetBridge) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	if o.VLANFiltering != nil {
		br := &netlink.Bridge{LinkAttrs: bareAttrs(link), VlanFiltering: ptr(*o.VLANFiltering)}
		if err := h.LinkModify(br); err != nil {
			return fmt.Errorf("set vlan filtering: %w", err)
		}
	}
	if o.STP != nil || o.ForwardDelay != nil {
		return h.BridgeSetOptions(link, BridgeOptions{STP: o.STP, ForwardDelay: o.ForwardDelay})
	}
	return nil
}

// SetBond changes options of an existing bond; nil fields stay.
type SetBond struct {
	Link           string
	XmitHashPolicy *string
	MIIMon         *int
	Primary        *string // "" clears the primary slave
}

func (o SetBond) String() string {
	var parts []string
	if o.XmitHashPolicy != nil {
		parts = append(parts, "xmit-hash-policy "+*o.XmitHashPolicy)
	}
	if o.MIIMon != nil {
		parts = append(parts, fmt.Sprintf("miimon %d", *o.MIIMon))
	}
	if o.Primary != nil {
		p := *o.Primary
		if p == "" {
			p = "none"
		}
		parts = append(parts, "primary "+p)
	}
	return fmt.Sprintf("set bond %s %s", o.Link, strings.Join(parts, ", "))
}

func (o SetBond) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	b := netlink.NewLinkBond(bareAttrs(link))
	if o.XmitHashPolicy != nil {
		b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(*o.XmitHashPolicy)
	}
	if o.MIIMon != nil {
		b.Miimon = *o.MIIMon
	}
	if o.Primary != nil {
		b.Primary = 0 // no such interface index: the kernel clears the primary
		if *o.Primary != "" {
			p, err := lookup(h, *o.Primary)
			if err != nil {
				return err
			}
			b.Primary = p.Attrs().Index
		}
	}
	return h.LinkModify(b)
}

// AddVIDs allows VLANs on a port of a VLAN-aware bridge, or with Self on
// the bridge itself, which VLAN devices on top of the bridge need.
type AddVIDs struct {
	Link string
	Self bool
	VIDs []VIDRange
}

func (o AddVIDs) String() string {
	return fmt.Sprintf("allow vlans %s on %s", rangesString(o.VIDs), vidTarget(o.Link, o.Self))
}

func (o AddVIDs) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	for _, r := range o.VIDs {
		if err := h.BridgeVlanAddRange(link, uint16(r.From), uint16(r.To), false, false, o.Self, !o.Self); err != nil {
			return fmt.Errorf("vlans %s: %w", r, err)
		}
	}
	return nil
}

// DelVIDs removes VLANs from a port of a VLAN-aware bridge, or with Self
// from the bridge itself.
type DelVIDs struct {
	Link string
	Self bool
	VIDs []VIDRange
}

func (o DelVIDs) String() string {
	return fmt.Sprintf("remove vlans %s from %s", rangesString(o.VIDs), vidTarget(o.Link, o.Self))
}

func (o DelVIDs) run(_ context.Context, h Netlink) error {
	link, err := lookup(h, o.Link)
	if err != nil {
		return err
	}
	for _, r := range o.VIDs {
		if err := h.BridgeVlanDelRange(link, uint16(r.From), uint16(r.To), false, false, o.Self, !o.Self); err != nil {
			return fmt.Errorf("vlans %s: %w", r, err)
		}
	}
	return nil
}

func vidTarget(link string, self bool) string {
	if self {
		return "bridge " + link
	}
	return "port " + link
}

func ptr[T any](v T) *T { return &v }

func lookup(h Netlink, name string) (netlink.Link, error) {
	link, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	return link, nil
}

// bareAttrs names an existing link for a change request without
// repeating its other attributes, which the kernel would apply again.
func bareAttrs(link netlink.Link) netlink.LinkAttrs {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = link.Attrs().Name
	attrs.Index = link.Attrs().Index
	return attrs
}

func toAddr(p netip.Prefix) *netlink.Addr {
	a := p.Addr()
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}}
}

func toRoute(h Netlink, r Route) (*netlink.Route, error) {
	link, err := lookup(h, r.Link)
	if err != nil {
		return nil, err
	}
	nr := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(r.Gateway.AsSlice())}
	if r.OnLink {
		nr.Flags = int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}
