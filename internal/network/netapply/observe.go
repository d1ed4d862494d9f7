package netapply

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Netlink is the part of the kernel's netlink interface that this package
// uses, in one network namespace. *Handle implements it for a real
// namespace; the method set is a subset of *netlink.Handle's plus the
// two bridge option calls the netlink package lacks, so that a test can
// record exactly what would be sent to the kernel.
type Netlink interface {
	LinkList() ([]netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	LinkAdd(link netlink.Link) error
	LinkDel(link netlink.Link) error
	LinkModify(link netlink.Link) error
	LinkSetUp(link netlink.Link) error
	LinkSetDown(link netlink.Link) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkSetMaster(link, master netlink.Link) error
	LinkSetNoMaster(link netlink.Link) error
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
	RouteReplace(route *netlink.Route) error
	RouteDel(route *netlink.Route) error
	BridgeVlanList() (map[int32][]*nl.BridgeVlanInfo, error)
	BridgeVlanAddRange(link netlink.Link, vid, vidEnd uint16, pvid, untagged, self, master bool) error
	BridgeVlanDelRange(link netlink.Link, vid, vidEnd uint16, pvid, untagged, self, master bool) error
	// BridgeGetOptions returns the bridge's STP state and forward delay,
	// both non-nil.
	BridgeGetOptions(link netlink.Link) (BridgeOptions, error)
	BridgeSetOptions(link netlink.Link, opts BridgeOptions) error
}

// The plain metric of a default route: what the kernel gives a route
// added without one. Routes with other metrics (a DHCP client's, say)
// are not Hearth's and are left alone.
const (
	metric4 = 0
	metric6 = 1024
)

// Observe reads the links, their addresses, bridge and bond options and
// the default routes of the namespace h works in.
func Observe(ctx context.Context, h Netlink) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	links, err := h.LinkList()
	if err != nil {
		return State{}, fmt.Errorf("list links: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	byIndex := make(map[int]*LinkState, len(links))
	st := State{Links: make([]LinkState, len(links))}
	filtering := map[int]bool{} // VLAN-aware bridges by index
	for i, l := range links {
		if err := ctx.Err(); err != nil {
			return State{}, err
		}
		a := l.Attrs()
		ls := LinkState{
			Name:   a.Name,
			Kind:   l.Type(),
			Master: names[a.MasterIndex],
			MTU:    a.MTU,
			Up:     a.Flags&net.FlagUp != 0,
		}
		switch l := l.(type) {
		case *netlink.Bridge:
			ls.VLANFiltering = l.VlanFiltering != nil && *l.VlanFiltering
			if ls.VLANFiltering {
				filtering[a.Index] = true
			}
			opts, err := h.BridgeGetOptions(l)
			if err != nil {
				return State{}, fmt.Errorf("read options of bridge %s: %w", a.Name, err)
			}
			ls.STP, ls.ForwardDelay = *opts.STP, *opts.ForwardDelay
		case *netlink.Bond:
			ls.BondMode = l.Mode.String()
			ls.XmitHashPolicy = l.XmitHashPolicy.String()
			ls.MIIMon = l.Miimon
			if l.Primary > 0 {
				ls.Primary = names[l.Primary]
			}
		case *netlink.Vlan:
			ls.VLANID = l.VlanId
			ls.Parent = names[a.ParentIndex]
		}
		st.Links[i] = ls
		byIndex[a.Index] = &st.Links[i]
	}
	if err := observeAddrs(h, byIndex); err != nil {
		return State{}, err
	}
	if len(filtering) > 0 {
		if err := observeVIDs(h, links, filtering, byIndex); err != nil {
			return State{}, err
		}
	}
	st.Routes, err = observeRoutes(h, names)
	if err != nil {
		return State{}, err
	}
	slices.SortFunc(st.Links, func(a, b LinkState) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

func observeAddrs(h Netlink, byIndex map[int]*LinkState) error {
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ls := byIndex[a.LinkIndex]
		if ls == nil || a.IPNet == nil {
			continue
		}
		p, ok := fromIPNet(a.IPNet)
		if !ok {
			continue
		}
		// Addresses with a lifetime belong to DHCP or autoconfiguration,
		// and link-local IPv6 ones to the kernel; none of them are
		// configuration.
		if a.Flags&unix.IFA_F_PERMANENT == 0 || (p.Addr().Is6() && p.Addr().IsLinkLocalUnicast()) {
			continue
		}
		ls.Addrs = append(ls.Addrs, p)
		if a.Flags&unix.IFA_F_SECONDARY != 0 {
			ls.Secondary = append(ls.Secondary, p)
		}
	}
	return nil
}

func observeVIDs(h Netlink, links []netlink.Link, filtering map[int]bool, byIndex map[int]*LinkState) error {
	vlans, err := h.BridgeVlanList()
	if err != nil {
		return fmt.Errorf("list bridge vlans: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if !filtering[a.MasterIndex] && !filtering[a.Index] {
			continue
		}
		var vids []int
		for _, v := range vlans[int32(a.Index)] {
			// The PVID is the bridge's default VLAN, which the kernel
			// gives every port by itself.
			if v.Flags&nl.BRIDGE_VLAN_INFO_PVID != 0 {
				continue
			}
			vids = append(vids, int(v.Vid))
		}
		byIndex[a.Index].VIDs = compress(vids)
	}
	return nil
}

func observeRoutes(h Netlink, names map[int]string) ([]Route, error) {
	var out []Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if r.Gw == nil || len(r.MultiPath) > 0 || names[r.LinkIndex] == "" {
				continue
			}
			if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
				continue
			}
			gw, ok := netip.AddrFromSlice(r.Gw)
			if !ok {
				continue
			}
			gw = gw.Unmap()
			if (gw.Is4() && r.Priority != metric4) || (gw.Is6() && r.Priority != metric6 && r.Priority != 0) {
				continue
			}
			out = append(out, Route{Gateway: gw, Link: names[r.LinkIndex], OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0})
		}
	}
	return out, nil
}

func fromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits == 0 || ones > a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// compress turns VLAN ids into sorted ranges.
func compress(vids []int) []VIDRange {
	if len(vids) == 0 {
		return nil
	}
	vids = slices.Clone(vids)
	slices.Sort(vids)
	vids = slices.Compact(vids)
	var out []VIDRange
	for _, v := range vids {
		if n := len(out); n > 0 && out[n-1].To+1 == v {
			out[n-1].To = v
			continue
		}
		out = append(out, VIDRange{From: v, To: v})
	}
	return out
}

// expand turns ranges into a set of VLAN ids.
func expand(rs []VIDRange) map[int]bool {
	set := map[int]bool{}
	for _, r := range rs {
		for v := r.From; v <= r.To; v++ {
			set[v] = true
		}
	}
	return set
}
