package netapply

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// fakeKernel implements Netlink in memory and records every call that
// changes something, in a compact text form. It models the kernel
// behaviour the plan relies on (a bond takes only slaves that are down
// and brings them up, sets its slaves' MTU and closes released slaves; a
// VLAN device cannot exceed its parent's MTU; a link going down loses
// its IPv6 addresses and routes; deleting a link takes its addresses,
// routes, VLAN devices and ports with it), so that tests can apply a
// plan, observe the result and plan again.
type fakeKernel struct {
	links  []netlink.Link // in index order
	next   int
	addrs  []netlink.Addr
	routes []netlink.Route
	vids   map[int][]uint16 // bridge port index -> VLANs besides the PVID
	stp    map[int]BridgeOptions
	calls  []string
	fail   map[string]error // calls that fail, once each
}

func newFakeKernel(devices ...string) *fakeKernel {
	f := &fakeKernel{vids: map[int][]uint16{}, stp: map[int]BridgeOptions{}}
	for _, n := range devices {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = n, 1500
		f.next++
		attrs.Index = f.next
		f.links = append(f.links, &netlink.Device{LinkAttrs: attrs})
	}
	return f
}

func (f *fakeKernel) record(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, c)
	err := f.fail[c]
	delete(f.fail, c)
	return err
}

func copyLink(l netlink.Link) netlink.Link {
	switch l := l.(type) {
	case *netlink.Bridge:
		c := *l
		return &c
	case *netlink.Bond:
		c := *l
		return &c
	case *netlink.Vlan:
		c := *l
		return &c
	case *netlink.Device:
		c := *l
		return &c
	}
	panic(fmt.Sprintf("fake kernel: unexpected link type %T", l))
}

func (f *fakeKernel) byIndex(i int) netlink.Link {
	for _, l := range f.links {
		if l.Attrs().Index == i {
			return l
		}
	}
	return nil
}

// get finds the fake's own link for the one a caller passes in.
func (f *fakeKernel) get(l netlink.Link) (netlink.Link, error) {
	for _, k := range f.links {
		if k.Attrs().Name == l.Attrs().Name {
			return k, nil
		}
	}
	return nil, syscall.ENODEV
}

func (f *fakeKernel) name(i int) string {
	if l := f.byIndex(i); l != nil {
		return l.Attrs().Name
	}
	return "?"
}

func (f *fakeKernel) LinkList() ([]netlink.Link, error) {
	out := make([]netlink.Link, len(f.links))
	for i, l := range f.links {
		out[i] = copyLink(l)
	}
	return out, nil
}

func (f *fakeKernel) LinkByName(name string) (netlink.Link, error) {
	for _, l := range f.links {
		if l.Attrs().Name == name {
			return copyLink(l), nil
		}
	}
	return nil, errors.New("Link not found") // what the netlink package says
}

func (f *fakeKernel) LinkAdd(l netlink.Link) error {
	a := *l.Attrs()
	var desc string
	switch l := l.(type) {
	case *netlink.Bridge:
		desc = fmt.Sprintf("bridge %s", a.Name)
		if l.VlanFiltering != nil {
			desc += fmt.Sprintf(" vlan_filtering=%v", *l.VlanFiltering)
		}
	case *netlink.Bond:
		desc = fmt.Sprintf("bond %s mode=%s%s", a.Name, l.Mode, bondDesc(l))
	case *netlink.Vlan:
		desc = fmt.Sprintf("vlan %s id=%d parent=%s", a.Name, l.VlanId, f.name(a.ParentIndex))
	default:
		desc = fmt.Sprintf("%s %s", l.Type(), a.Name)
	}
	if a.MTU > 0 {
		desc += fmt.Sprintf(" mtu=%d", a.MTU)
	}
	if err := f.record("LinkAdd %s", desc); err != nil {
		return err
	}
	if _, err := f.LinkByName(a.Name); err == nil {
		return syscall.EEXIST
	}
	c := copyLink(l)
	f.next++
	c.Attrs().Index = f.next
	if c.Attrs().MTU == 0 {
		c.Attrs().MTU = 1500
		if v, ok := c.(*netlink.Vlan); ok {
			c.Attrs().MTU = f.byIndex(v.ParentIndex).Attrs().MTU
		}
	}
	switch b := c.(type) {
	case *netlink.Bond:
		if b.Miimon < 0 {
			b.Miimon = 100
		}
		if b.XmitHashPolicy < 0 {
			b.XmitHashPolicy = netlink.BOND_XMIT_HASH_POLICY_LAYER2
		}
	case *netlink.Bridge:
		if b.VlanFiltering == nil {
			b.VlanFiltering = ptr(false)
		}
		f.stp[f.next] = BridgeOptions{STP: ptr(false), ForwardDelay: ptr(15)}
	}
	f.links = append(f.links, c)
	return nil
}

func (f *fakeKernel) LinkDel(l netlink.Link) error {
	if err := f.record("LinkDel %s", l.Attrs().Name); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	f.remove(k)
	return nil
}

func (f *fakeKernel) remove(k netlink.Link) {
	idx := k.Attrs().Index
	for _, o := range slices.Clone(f.links) {
		if v, ok := o.(*netlink.Vlan); ok && v.ParentIndex == idx {
			f.remove(o)
		}
		if o.Attrs().MasterIndex == idx {
			f.release(o, k)
		}
	}
	f.links = slices.DeleteFunc(f.links, func(o netlink.Link) bool { return o.Attrs().Index == idx })
	f.addrs = slices.DeleteFunc(f.addrs, func(a netlink.Addr) bool { return a.LinkIndex == idx })
	f.routes = slices.DeleteFunc(f.routes, func(r netlink.Route) bool { return r.LinkIndex == idx })
}

func (f *fakeKernel) LinkModify(l netlink.Link) error {
	k, err := f.get(l)
	if err != nil {
		f.calls = append(f.calls, "LinkModify "+l.Attrs().Name)
		return err
	}
	switch l := l.(type) {
	case *netlink.Bridge:
		if err := f.record("LinkModify bridge %s vlan_filtering=%v", l.Name, *l.VlanFiltering); err != nil {
			return err
		}
		k.(*netlink.Bridge).VlanFiltering = ptr(*l.VlanFiltering)
	case *netlink.Bond:
		if err := f.record("LinkModify bond %s%s", l.Name, bondDesc(l)); err != nil {
			return err
		}
		kb := k.(*netlink.Bond)
		if l.Miimon >= 0 {
			kb.Miimon = l.Miimon
		}
		if l.XmitHashPolicy >= 0 {
			kb.XmitHashPolicy = l.XmitHashPolicy
		}
		if l.Primary >= 0 {
			kb.Primary = l.Primary
		}
	default:
		return fmt.Errorf("fake kernel: LinkModify of %T", l)
	}
	return nil
}

// bondDesc lists the options a bond request sets (the netlink package
// sends those that are not -1).
func bondDesc(b *netlink.Bond) string {
	var s string
	if b.Miimon >= 0 {
		s += fmt.Sprintf(" miimon=%d", b.Miimon)
	}
	if b.XmitHashPolicy >= 0 {
		s += " xmit_hash_policy=" + b.XmitHashPolicy.String()
	}
	if b.Primary >= 0 {
		s += fmt.Sprintf(" primary=%d", b.Primary)
	}
	return s
}

func isUp(l netlink.Link) bool { return l.Attrs().Flags&net.FlagUp != 0 }

func (f *fakeKernel) LinkSetUp(l netlink.Link) error {
	if err := f.record("LinkSetUp %s", l.Attrs().Name); err != nil {
		return err
	}
	k, err := f.get(l)
	if err == nil {
		k.Attrs().Flags |= net.FlagUp
	}
	return err
}

func (f *fakeKernel) LinkSetDown(l netlink.Link) error {
	if err := f.record("LinkSetDown %s", l.Attrs().Name); err != nil {
		return err
	}
	k, err := f.get(l)
	if err == nil {
		f.down(k)
	}
	return err
}

func (f *fakeKernel) down(k netlink.Link) {
	k.Attrs().Flags &^= net.FlagUp
	idx := k.Attrs().Index
	f.addrs = slices.DeleteFunc(f.addrs, func(a netlink.Addr) bool { return a.LinkIndex == idx && a.IP.To4() == nil })
	f.routes = slices.DeleteFunc(f.routes, func(r netlink.Route) bool { return r.LinkIndex == idx })
}

func (f *fakeKernel) LinkSetMTU(l netlink.Link, mtu int) error {
	if err := f.record("LinkSetMTU %s %d", l.Attrs().Name, mtu); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	if v, ok := k.(*netlink.Vlan); ok && mtu > f.byIndex(v.ParentIndex).Attrs().MTU {
		return syscall.ERANGE
	}
	k.Attrs().MTU = mtu
	for _, o := range f.links {
		if v, ok := o.(*netlink.Vlan); ok && v.ParentIndex == k.Attrs().Index && v.MTU > mtu {
			v.MTU = mtu
		}
		if _, bond := k.(*netlink.Bond); bond && o.Attrs().MasterIndex == k.Attrs().Index {
			o.Attrs().MTU = mtu
		}
	}
	return nil
}

func (f *fakeKernel) LinkSetMaster(l, master netlink.Link) error {
	if err := f.record("LinkSetMaster %s %s", l.Attrs().Name, master.Attrs().Name); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	m, err := f.get(master)
	if err != nil {
		return err
	}
	if k.Attrs().MasterIndex != 0 {
		return syscall.EBUSY
	}
	if _, bond := m.(*netlink.Bond); bond {
		if isUp(k) {
			return syscall.EPERM // "Device can not be enslaved while up"
		}
		k.Attrs().MTU = m.Attrs().MTU
		k.Attrs().Flags |= net.FlagUp
	}
	k.Attrs().MasterIndex = m.Attrs().Index
	return nil
}

func (f *fakeKernel) LinkSetNoMaster(l netlink.Link) error {
	if err := f.record("LinkSetNoMaster %s", l.Attrs().Name); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	f.release(k, f.byIndex(k.Attrs().MasterIndex))
	return nil
}

func (f *fakeKernel) release(k, master netlink.Link) {
	k.Attrs().MasterIndex = 0
	delete(f.vids, k.Attrs().Index)
	if b, ok := master.(*netlink.Bond); ok {
		f.down(k)
		if b.Primary == k.Attrs().Index {
			b.Primary = 0
		}
	}
}

func (f *fakeKernel) AddrList(l netlink.Link, family int) ([]netlink.Addr, error) {
	if l != nil || family != netlink.FAMILY_ALL {
		return nil, fmt.Errorf("fake kernel: only lists all addresses")
	}
	return slices.Clone(f.addrs), nil
}

func prefixOf(a *netlink.Addr) netip.Prefix {
	p, _ := fromIPNet(a.IPNet)
	return p
}

func (f *fakeKernel) AddrAdd(l netlink.Link, a *netlink.Addr) error {
	p := prefixOf(a)
	if err := f.record("AddrAdd %s %s", l.Attrs().Name, p); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	flags := unix.IFA_F_PERMANENT
	for _, o := range f.addrs {
		q := prefixOf(&o)
		if o.LinkIndex == k.Attrs().Index && q == p {
			return syscall.EEXIST
		}
		if o.LinkIndex == k.Attrs().Index && p.Addr().Is4() && sameSubnet(p, q) {
			flags |= unix.IFA_F_SECONDARY
		}
	}
	f.addrs = append(f.addrs, netlink.Addr{IPNet: toAddr(p).IPNet, LinkIndex: k.Attrs().Index, Flags: flags})
	return nil
}

func (f *fakeKernel) AddrDel(l netlink.Link, a *netlink.Addr) error {
	p := prefixOf(a)
	if err := f.record("AddrDel %s %s", l.Attrs().Name, p); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(f.addrs, func(o netlink.Addr) bool { return o.LinkIndex == k.Attrs().Index && prefixOf(&o) == p })
	if i < 0 {
		return syscall.EADDRNOTAVAIL
	}
	primary := f.addrs[i].Flags&unix.IFA_F_SECONDARY == 0
	f.addrs = slices.DeleteFunc(f.addrs, func(o netlink.Addr) bool {
		q := prefixOf(&o)
		return o.LinkIndex == k.Attrs().Index && (q == p || (primary && p.Addr().Is4() && sameSubnet(p, q)))
	})
	return nil
}

func (f *fakeKernel) RouteListFiltered(family int, filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	var out []netlink.Route
	for _, r := range f.routes {
		if (r.Gw.To4() != nil) == (family == netlink.FAMILY_V4) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeKernel) routeDesc(r *netlink.Route) string {
	s := fmt.Sprintf("default via %s dev %s", r.Gw, f.name(r.LinkIndex))
	if r.Flags&int(netlink.FLAG_ONLINK) != 0 {
		s += " onlink"
	}
	return s
}

func (f *fakeKernel) RouteReplace(r *netlink.Route) error {
	if err := f.record("RouteReplace %s", f.routeDesc(r)); err != nil {
		return err
	}
	if l := f.byIndex(r.LinkIndex); l == nil || !isUp(l) {
		return syscall.ENETDOWN
	}
	v4 := r.Gw.To4() != nil
	f.routes = slices.DeleteFunc(f.routes, func(o netlink.Route) bool { return (o.Gw.To4() != nil) == v4 })
	c := *r
	c.Table = unix.RT_TABLE_MAIN
	if !v4 {
		c.Priority = metric6
	}
	f.routes = append(f.routes, c)
	return nil
}

func (f *fakeKernel) RouteDel(r *netlink.Route) error {
	if err := f.record("RouteDel %s", f.routeDesc(r)); err != nil {
		return err
	}
	i := slices.IndexFunc(f.routes, func(o netlink.Route) bool { return o.Gw.Equal(r.Gw) && o.LinkIndex == r.LinkIndex })
	if i < 0 {
		return syscall.ESRCH
	}
	f.routes = slices.Delete(f.routes, i, i+1)
	return nil
}

func (f *fakeKernel) BridgeVlanList() (map[int32][]*nl.BridgeVlanInfo, error) {
	out := map[int32][]*nl.BridgeVlanInfo{}
	for _, l := range f.links {
		if _, bridge := l.(*netlink.Bridge); l.Attrs().MasterIndex == 0 && !bridge {
			continue
		}
		idx := l.Attrs().Index
		// Every port has the bridge's default VLAN as its PVID.
		out[int32(idx)] = append(out[int32(idx)], &nl.BridgeVlanInfo{Flags: nl.BRIDGE_VLAN_INFO_PVID | nl.BRIDGE_VLAN_INFO_UNTAGGED, Vid: 1})
		for _, v := range f.vids[idx] {
			out[int32(idx)] = append(out[int32(idx)], &nl.BridgeVlanInfo{Vid: v})
		}
	}
	return out, nil
}

func vlanFlags(pvid, untagged, self, master bool) string {
	var fl []string
	for _, x := range []struct {
		on   bool
		name string
	}{{pvid, "pvid"}, {untagged, "untagged"}, {self, "self"}, {master, "master"}} {
		if x.on {
			fl = append(fl, x.name)
		}
	}
	return strings.Join(fl, ",")
}

func (f *fakeKernel) BridgeVlanAddRange(l netlink.Link, vid, end uint16, pvid, untagged, self, master bool) error {
	if err := f.record("BridgeVlanAdd %s %d-%d %s", l.Attrs().Name, vid, end, vlanFlags(pvid, untagged, self, master)); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	br, ok := f.byIndex(k.Attrs().MasterIndex).(*netlink.Bridge)
	if self {
		br, ok = k.(*netlink.Bridge)
	}
	if !ok || !*br.VlanFiltering || self == master {
		return syscall.EOPNOTSUPP
	}
	idx := k.Attrs().Index
	for v := vid; v <= end; v++ {
		if !slices.Contains(f.vids[idx], v) {
			f.vids[idx] = append(f.vids[idx], v)
		}
	}
	return nil
}

func (f *fakeKernel) BridgeVlanDelRange(l netlink.Link, vid, end uint16, pvid, untagged, self, master bool) error {
	if err := f.record("BridgeVlanDel %s %d-%d %s", l.Attrs().Name, vid, end, vlanFlags(pvid, untagged, self, master)); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	idx := k.Attrs().Index
	f.vids[idx] = slices.DeleteFunc(f.vids[idx], func(v uint16) bool { return v >= vid && v <= end })
	return nil
}

func (f *fakeKernel) BridgeGetOptions(l netlink.Link) (BridgeOptions, error) {
	o, ok := f.stp[l.Attrs().Index]
	if !ok {
		return BridgeOptions{}, syscall.EOPNOTSUPP
	}
	return o, nil
}

func (f *fakeKernel) BridgeSetOptions(l netlink.Link, o BridgeOptions) error {
	if err := f.record("BridgeSetOptions %s %s", l.Attrs().Name, o); err != nil {
		return err
	}
	k, err := f.get(l)
	if err != nil {
		return err
	}
	cur := f.stp[k.Attrs().Index]
	if o.STP != nil {
		cur.STP = ptr(*o.STP)
	}
	if o.ForwardDelay != nil {
		cur.ForwardDelay = ptr(*o.ForwardDelay)
	}
	f.stp[k.Attrs().Index] = cur
	return nil
}
