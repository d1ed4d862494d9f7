package netapply

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// plan emits the steps, phase by phase. The order is what makes the plan
// work and what makes every undo valid when it runs in reverse:
//
//  1. Default routes that are about to lose their link or its address go
//     first, explicitly, so that an undo can put them back.
//  2. Links to delete lose their addresses, ports and up state, each as a
//     step of its own, before they go.
//  3. Addresses leave surviving links (secondaries before their primary,
//     because the kernel deletes secondaries with the primary).
//  4. Ports and slaves leave the masters that no longer want them.
//  5. Links that the configuration does not bring up go down.
//  6. Links are created and options changed, lower links first, each
//     followed by attaching its ports or slaves.
//  7. MTUs, lower links first: a VLAN device may not exceed its parent,
//     and a bond sets the MTU of its slaves.
//  8. VLANs on VLAN-aware bridges and their ports.
//  9. Links go up, lower links first.
//  10. Addresses are added, once the link is up.
//  11. Default routes, once the gateway is reachable.
func (p *planner) plan() error {
	p.findGoingDown()
	p.findAddrRemovals()
	p.routesOut()
	p.deleteLinks()
	for _, n := range sortedKeys(p.rmAddrs) {
		if !p.del[n] {
			p.removeAddrs(n)
		}
	}
	p.detachPorts()
	p.setDown()
	if err := p.createAndAttach(); err != nil {
		return err
	}
	p.setMTUs()
	p.setVIDs()
	p.setUp()
	p.addAddrs()
	p.steps = append(p.steps, p.late...)
	return nil
}

// emit adds a step and updates the model with what the step will do.
func (p *planner) emit(do, undo Op) {
	p.steps = append(p.steps, Step{Desc: do.String(), Do: do, Undo: undo})
	p.simulate(do)
}

func (p *planner) findGoingDown() {
	for _, n := range p.order {
		if cur, ok := p.orig[n]; ok && cur.Up && !p.effUp[n] && !p.del[n] {
			p.goingDown[n] = true
		}
	}
	for _, n := range p.unconf {
		cur := p.orig[n]
		// A link left in a master Hearth does not manage stays up: the
		// master still uses it.
		if cur.Up && (cur.Master == "" || p.des[cur.Master] != nil || p.del[cur.Master]) {
			p.goingDown[n] = true
		}
	}
}

func (p *planner) findAddrRemovals() {
	for _, n := range sortedKeys(p.orig) {
		cur := p.orig[n]
		var keep func(netip.Prefix) bool
		switch d := p.des[n]; {
		case p.del[n] || slices.Contains(p.unconf, n):
			keep = func(netip.Prefix) bool { return false }
		case d != nil:
			// A link going down loses its IPv6 addresses; removing them
			// first lets the undo of the down step find them gone.
			down := p.goingDown[n]
			keep = func(a netip.Prefix) bool {
				return slices.Contains(d.Addrs, a) && !(down && a.Addr().Is6())
			}
		default:
			continue
		}
		if rm := removals(&cur, keep); len(rm) > 0 {
			p.rmAddrs[n] = rm
		}
	}
}

// removals lists the addresses to remove from a link: those keep refuses,
// plus the IPv4 secondaries of a primary that goes, which the kernel
// would delete with it (they are added back later). Secondaries come
// first, so that the undo, in reverse, adds the primary first again.
func removals(cur *LinkState, keep func(netip.Prefix) bool) []netip.Prefix {
	drop := map[netip.Prefix]bool{}
	for _, a := range cur.Addrs {
		if !keep(a) {
			drop[a] = true
		}
	}
	for _, a := range cur.Addrs {
		if drop[a] && a.Addr().Is4() && !slices.Contains(cur.Secondary, a) {
			for _, s := range cur.Secondary {
				if sameSubnet(s, a) {
					drop[s] = true
				}
			}
		}
	}
	var sec, prim []netip.Prefix
	for _, a := range cur.Addrs {
		switch {
		case !drop[a]:
		case slices.Contains(cur.Secondary, a):
			sec = append(sec, a)
		default:
			prim = append(prim, a)
		}
	}
	return append(sec, prim...)
}

func sameSubnet(a, b netip.Prefix) bool { return a.Bits() == b.Bits() && a.Masked() == b.Masked() }

// wantRoute is the default route the configuration asks for.
func (p *planner) wantRoute(v4 bool) (Route, bool) {
	for _, n := range p.order {
		d := p.des[n]
		gw := d.Gateway6
		if v4 {
			gw = d.Gateway4
		}
		if !gw.IsValid() {
			continue
		}
		r := Route{Gateway: gw, Link: n}
		// A gateway outside every subnet of the link is only reachable
		// when the route says it is on the link (hosting providers hand
		// out such /32 setups); an IPv6 link-local gateway always is.
		if !gw.IsLinkLocalUnicast() {
			r.OnLink = !slices.ContainsFunc(d.Addrs, func(a netip.Prefix) bool { return a.Contains(gw) })
		}
		return r, true
	}
	return Route{}, false
}

// routeAffected says whether the plan takes away what a route needs: its
// link, the link's up state, or an address whose subnet holds the
// gateway (the kernel drops the route with the subnet's last address).
func (p *planner) routeAffected(r Route) bool {
	if p.del[r.Link] || p.goingDown[r.Link] {
		return true
	}
	return slices.ContainsFunc(p.rmAddrs[r.Link], func(a netip.Prefix) bool { return a.Masked().Contains(r.Gateway) })
}

// routesOut deletes the default routes that have to go before the links
// change, and queues the route the configuration wants for the end.
func (p *planner) routesOut() {
	for _, v4 := range []bool{true, false} {
		want, hasWant := p.wantRoute(v4)
		var cur []Route
		for _, r := range p.routes {
			if r.Gateway.Is4() == v4 {
				cur = append(cur, r)
			}
		}
		kept := hasWant && slices.Contains(cur, want) && !p.routeAffected(want)
		var from *Route
		for _, r := range cur {
			switch {
			case kept && r == want:
			case p.routeAffected(r):
				p.emit(DelRoute{r}, ReplaceRoute{r})
			case !hasWant:
				// Not Hearth's to remove unless it runs over a link
				// Hearth manages.
				if p.isManagedName(r.Link) {
					p.emit(DelRoute{r}, ReplaceRoute{r})
				}
			case !kept && from == nil:
				from = &r
			default:
				p.emit(DelRoute{r}, ReplaceRoute{r})
			}
		}
		if hasWant && !kept {
			var undo Op = DelRoute{want}
			if from != nil {
				undo = ReplaceRoute{*from}
			}
			p.late = append(p.late, Step{Desc: ReplaceRoute{want}.String(), Do: ReplaceRoute{want}, Undo: undo})
		}
	}
}

// deleteLinks deletes links, upper ones first, taking away their
// addresses, ports and up state in steps of their own first so that the
// undo can rebuild each of them exactly.
func (p *planner) deleteLinks() {
	// Upper links first: a link's depth is one more than that of the
	// deepest link it is built on (its ports, slaves or VLAN parent).
	depth := map[string]int{}
	var curDepth func(n string) int
	curDepth = func(n string) int {
		if v, ok := depth[n]; ok {
			return v
		}
		depth[n] = 0 // the kernel allows no circles; this only bounds the recursion
		v := 0
		if parent := p.orig[n].Parent; parent != "" {
			v = curDepth(parent) + 1
		}
		for _, l := range p.orig {
			if l.Master == n {
				v = max(v, curDepth(l.Name)+1)
			}
		}
		depth[n] = v
		return v
	}
	names := sortedKeys(p.del)
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(curDepth(b), curDepth(a)) })
	for _, n := range names {
		l := p.m[n]
		p.removeAddrs(n)
		if l.Kind == KindBond && l.Primary != "" {
			p.emit(SetBond{Link: n, Primary: ptr("")}, SetBond{Link: n, Primary: ptr(l.Primary)})
		}
		for _, port := range p.portsOf(n) {
			p.detach(port)
		}
		if l.Kind == KindBridge && l.VLANFiltering && len(l.VIDs) > 0 {
			p.emit(DelVIDs{n, true, l.VIDs}, AddVIDs{n, true, l.VIDs})
		}
		if l.Master != "" && p.m[l.Master] != nil {
			p.detach(n) // the kernel would, without an undo
		}
		if l.Up {
			p.emit(SetUp{n, false}, SetUp{n, true})
		}
		spec := specOf(l)
		p.emit(DeleteLink{spec}, CreateLink{spec})
	}
}

func (p *planner) removeAddrs(n string) {
	for _, a := range p.rmAddrs[n] {
		p.emit(DelAddr{n, a}, AddAddr{n, a})
	}
}

// portsOf lists the model's ports or slaves of a master, by name.
func (p *planner) portsOf(master string) []string {
	var out []string
	for _, n := range sortedKeys(p.m) {
		if p.m[n].Master == master {
			out = append(out, n)
		}
	}
	return out
}

// detach takes a port out of its master, after taking away what the
// kernel would drop silently with it: its VLANs on a VLAN-aware bridge
// and the bond's choice of it as primary.
func (p *planner) detach(port string) {
	l := p.m[port]
	master := p.m[l.Master]
	if master.Kind == KindBridge && master.VLANFiltering && len(l.VIDs) > 0 {
		p.emit(DelVIDs{port, false, l.VIDs}, AddVIDs{port, false, l.VIDs})
	}
	if master.Kind == KindBond && master.Primary == port {
		p.emit(SetBond{Link: master.Name, Primary: ptr("")}, SetBond{Link: master.Name, Primary: ptr(port)})
	}
	kind := masterKind(master.Kind)
	p.emit(DetachPort{Link: port, Master: master.Name, MasterKind: kind},
		AttachPort{Link: port, Master: master.Name, MasterKind: kind})
}

// masterKind names a master for the messages: a bond, or else a bridge
// (the only other kind of master a link of Hearth's can have).
func masterKind(kind string) string {
	if kind == KindBond {
		return KindBond
	}
	return KindBridge
}

// detachPorts takes ports out of masters that no longer want them, and
// out of any master when the configuration puts them somewhere else.
// Ports Hearth does not manage, such as guest taps, stay where they are.
func (p *planner) detachPorts() {
	for _, n := range sortedKeys(p.m) {
		l := p.m[n]
		if l.Master == "" || p.m[l.Master] == nil {
			continue
		}
		want := p.upper[n]
		ownedMaster := p.des[l.Master] != nil && isCreatable(p.des[l.Master].Kind)
		switch {
		case want == l.Master:
		case want != "":
			p.detach(n)
		case ownedMaster && p.isManagedName(n) && !isGuestLink(n):
			p.detach(n)
		}
	}
}

func (p *planner) setDown() {
	var names []string
	for _, n := range slices.Backward(p.order) {
		names = append(names, n)
	}
	names = append(names, p.unconf...)
	for _, n := range names {
		if p.goingDown[n] && p.m[n] != nil && p.m[n].Up {
			p.emit(SetUp{n, false}, SetUp{n, true})
		}
	}
}

func desiredSpec(d *Link) LinkSpec {
	s := LinkSpec{Name: d.Name, Kind: d.Kind, MIIMon: -1}
	switch d.Kind {
	case KindBridge:
		s.STP, s.VLANFiltering = d.STP, d.VLANAware
		if d.ForwardDelay != nil {
			s.ForwardDelay = ptr(*d.ForwardDelay)
		}
	case KindBond:
		s.BondMode, s.XmitHashPolicy = d.BondMode, d.XmitHashPolicy
		if d.MIIMon > 0 {
			s.MIIMon = d.MIIMon
		}
	case KindVLAN:
		s.VLANID, s.Parent = d.VLANID, d.Parent
	}
	return s
}

// specOf describes an existing link well enough to make it again.
func specOf(l *LinkState) LinkSpec {
	s := LinkSpec{Name: l.Name, Kind: l.Kind, MTU: l.MTU, MIIMon: -1}
	switch l.Kind {
	case KindBridge:
		s.STP, s.ForwardDelay, s.VLANFiltering = l.STP, ptr(l.ForwardDelay), l.VLANFiltering
	case KindBond:
		s.BondMode, s.XmitHashPolicy, s.MIIMon = l.BondMode, l.XmitHashPolicy, l.MIIMon
	case KindVLAN:
		s.VLANID, s.Parent = l.VLANID, l.Parent
	}
	return s
}

func (p *planner) createAndAttach() error {
	for _, n := range p.order {
		d := p.des[n]
		if isCreatable(d.Kind) && p.m[n] == nil {
			spec := desiredSpec(d)
			p.emit(CreateLink{spec}, DeleteLink{spec})
			p.created[n] = true
		} else if d.Kind == KindBridge {
			p.bridgeOptions(d)
		}
		for _, lo := range lowers(d) {
			if d.Kind == KindVLAN {
				break
			}
			l := p.m[lo]
			switch {
			case l == nil:
				return fmt.Errorf("%s %s: %s does not exist", d.Kind, n, lo)
			case l.Master == n:
				continue
			case l.Master != "":
				return fmt.Errorf("%s %s: %s is still in %s", d.Kind, n, lo, l.Master)
			}
			kind := masterKind(d.Kind)
			p.emit(AttachPort{Link: lo, Master: n, MasterKind: kind},
				DetachPort{Link: lo, Master: n, MasterKind: kind, RestoreUp: kind == KindBond && l.Up})
		}
		if d.Kind == KindBond {
			p.bondOptions(d)
		}
	}
	return nil
}

func (p *planner) bridgeOptions(d *Link) {
	l := p.m[d.Name]
	var do, undo SetBridge
	if l.STP != d.STP {
		do.STP, undo.STP = ptr(d.STP), ptr(l.STP)
	}
	if d.ForwardDelay != nil && *d.ForwardDelay != l.ForwardDelay {
		do.ForwardDelay, undo.ForwardDelay = ptr(*d.ForwardDelay), ptr(l.ForwardDelay)
	}
	if l.VLANFiltering != d.VLANAware {
		do.VLANFiltering, undo.VLANFiltering = ptr(d.VLANAware), ptr(l.VLANFiltering)
	}
	if do != (SetBridge{}) {
		do.Link, undo.Link = d.Name, d.Name
		p.emit(do, undo)
	}
}

func (p *planner) bondOptions(d *Link) {
	l := p.m[d.Name]
	var do, undo SetBond
	if d.XmitHashPolicy != "" && d.XmitHashPolicy != l.XmitHashPolicy {
		do.XmitHashPolicy, undo.XmitHashPolicy = ptr(d.XmitHashPolicy), ptr(l.XmitHashPolicy)
	}
	if d.MIIMon > 0 && d.MIIMon != l.MIIMon {
		do.MIIMon, undo.MIIMon = ptr(d.MIIMon), ptr(l.MIIMon)
	}
	if d.Primary != l.Primary {
		do.Primary, undo.Primary = ptr(d.Primary), ptr(l.Primary)
	}
	if do != (SetBond{}) {
		do.Link, undo.Link = d.Name, d.Name
		p.emit(do, undo)
	}
}

// setMTUs sets MTUs lower links first: raising a VLAN device needs its
// parent raised already, and a bridge follows its ports unless told.
func (p *planner) setMTUs() {
	for _, n := range p.order {
		d := p.des[n]
		l := p.m[n]
		if d.MTU == 0 || (l.MTU == d.MTU && !p.mtuUnknown[n]) {
			continue
		}
		if bond := p.des[l.Master]; bond != nil && bond.Kind == KindBond && bond.MTU > 0 {
			continue // the bond sets the MTU of its slaves
		}
		var undo Op
		switch {
		case p.created[n]:
			// Deleting the link undoes this too.
		case p.mtuUnknown[n]:
			undo = SetMTU{n, p.orig[n].MTU}
		default:
			undo = SetMTU{n, l.MTU}
		}
		p.emit(SetMTU{n, d.MTU}, undo)
	}
}

func (p *planner) setVIDs() {
	for _, n := range p.order {
		d := p.des[n]
		if d.Kind != KindBridge || !d.VLANAware {
			continue
		}
		want := expand(d.VIDs)
		// The bridge itself first: ifupdown2 gives it the same VLANs as
		// its ports, so that VLAN devices on it (vmbr0.50) work.
		for _, port := range append([]string{n}, d.Ports...) {
			self := port == n
			have := expand(p.m[port].VIDs)
			var extra, missing []int
			for v := range have {
				if !want[v] {
					extra = append(extra, v)
				}
			}
			for v := range want {
				if !have[v] {
					missing = append(missing, v)
				}
			}
			if rs := compress(extra); len(rs) > 0 {
				p.emit(DelVIDs{port, self, rs}, AddVIDs{port, self, rs})
			}
			if rs := compress(missing); len(rs) > 0 {
				p.emit(AddVIDs{port, self, rs}, DelVIDs{port, self, rs})
			}
		}
	}
}

func (p *planner) setUp() {
	var names []string
	for _, n := range sortedKeys(p.referenced) {
		if p.des[n] == nil {
			names = append(names, n)
		}
	}
	names = append(names, p.order...)
	for _, n := range names {
		if l := p.m[n]; p.effUp[n] && l != nil && !l.Up {
			p.emit(SetUp{n, true}, SetUp{n, false})
		}
	}
}

func (p *planner) addAddrs() {
	for _, n := range p.order {
		for _, a := range p.des[n].Addrs {
			if !slices.Contains(p.m[n].Addrs, a) {
				p.emit(AddAddr{n, a}, DelAddr{n, a})
			}
		}
	}
}
