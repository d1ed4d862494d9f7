package netapply

import (
	"net/netip"
	"slices"
)

// simulate updates the planner's model with what an operation does to
// the kernel, including the side effects the kernel adds on its own, so
// that later phases compare the desired state with what the kernel will
// hold by then rather than with what it held before the plan.
func (p *planner) simulate(op Op) {
	switch o := op.(type) {
	case CreateLink:
		p.m[o.Spec.Name] = p.newLink(o.Spec)
	case DeleteLink:
		delete(p.m, o.Spec.Name)
		p.dropRoutes(o.Spec.Name)
	case AttachPort:
		l, master := p.m[o.Link], p.m[o.Master]
		l.Master = o.Master
		l.VIDs = nil
		if o.MasterKind == KindBond {
			// The bond gives the slave its MTU and opens it.
			l.MTU, l.Up = master.MTU, true
			delete(p.mtuUnknown, o.Link)
		} else {
			p.bridgeMTUMayChange(o.Master)
		}
	case DetachPort:
		l, master := p.m[o.Link], p.m[o.Master]
		l.Master = ""
		l.VIDs = nil
		if o.MasterKind == KindBond {
			// The bond closes a released slave and gives it back the MTU
			// it had before.
			l.Up = o.RestoreUp
			p.mtuUnknown[o.Link] = true
			if master != nil && master.Primary == o.Link {
				master.Primary = ""
			}
		} else {
			p.bridgeMTUMayChange(o.Master)
		}
	case SetMTU:
		p.setMTU(o.Link, o.MTU)
	case SetUp:
		l := p.m[o.Link]
		l.Up = o.Up
		if !o.Up {
			// A link going down loses its IPv6 addresses and its routes.
			l.Addrs = slices.DeleteFunc(l.Addrs, func(a netip.Prefix) bool { return a.Addr().Is6() })
			p.dropRoutes(o.Link)
		}
	case AddAddr:
		l := p.m[o.Link]
		if o.Prefix.Addr().Is4() && slices.ContainsFunc(l.Addrs, func(a netip.Prefix) bool {
			return !slices.Contains(l.Secondary, a) && sameSubnet(a, o.Prefix)
		}) {
			l.Secondary = append(l.Secondary, o.Prefix)
		}
		l.Addrs = append(l.Addrs, o.Prefix)
	case DelAddr:
		l := p.m[o.Link]
		primary := o.Prefix.Addr().Is4() && !slices.Contains(l.Secondary, o.Prefix)
		gone := func(a netip.Prefix) bool {
			// Without promote_secondaries the kernel deletes a primary's
			// secondaries with it.
			return a == o.Prefix || (primary && slices.Contains(l.Secondary, a) && sameSubnet(a, o.Prefix))
		}
		l.Addrs = slices.DeleteFunc(l.Addrs, gone)
		l.Secondary = slices.DeleteFunc(l.Secondary, gone)
	case ReplaceRoute:
		v4 := o.Route.Gateway.Is4()
		p.routes = slices.DeleteFunc(p.routes, func(r Route) bool { return r.Gateway.Is4() == v4 })
		p.routes = append(p.routes, o.Route)
	case DelRoute:
		p.routes = slices.DeleteFunc(p.routes, func(r Route) bool { return r == o.Route })
	case SetBridge:
		l := p.m[o.Link]
		if o.STP != nil {
			l.STP = *o.STP
		}
		if o.ForwardDelay != nil {
			l.ForwardDelay = *o.ForwardDelay
		}
		if o.VLANFiltering != nil {
			l.VLANFiltering = *o.VLANFiltering
		}
	case SetBond:
		l := p.m[o.Link]
		if o.XmitHashPolicy != nil {
			l.XmitHashPolicy = *o.XmitHashPolicy
		}
		if o.MIIMon != nil {
			l.MIIMon = *o.MIIMon
		}
		if o.Primary != nil {
			l.Primary = *o.Primary
		}
	case AddVIDs:
		l := p.m[o.Link]
		set := expand(l.VIDs)
		for v := range expand(o.VIDs) {
			set[v] = true
		}
		l.VIDs = compress(keys(set))
	case DelVIDs:
		l := p.m[o.Link]
		set := expand(l.VIDs)
		for v := range expand(o.VIDs) {
			delete(set, v)
		}
		l.VIDs = compress(keys(set))
	}
}

// newLink is a link as the kernel creates it from a spec.
func (p *planner) newLink(s LinkSpec) *LinkState {
	l := &LinkState{Name: s.Name, Kind: s.Kind, MTU: s.MTU}
	if l.MTU == 0 {
		l.MTU = 1500
		if parent := p.m[s.Parent]; s.Kind == KindVLAN && parent != nil {
			l.MTU = parent.MTU
		}
	}
	switch s.Kind {
	case KindBridge:
		l.STP, l.ForwardDelay, l.VLANFiltering = s.STP, 15, s.VLANFiltering
		if s.ForwardDelay != nil {
			l.ForwardDelay = *s.ForwardDelay
		}
	case KindBond:
		l.BondMode, l.XmitHashPolicy, l.MIIMon = s.BondMode, s.XmitHashPolicy, max(s.MIIMon, 0)
		if l.XmitHashPolicy == "" {
			l.XmitHashPolicy = "layer2"
		}
	case KindVLAN:
		l.VLANID, l.Parent = s.VLANID, s.Parent
	}
	return l
}

func (p *planner) setMTU(n string, mtu int) {
	l := p.m[n]
	l.MTU = mtu
	delete(p.mtuUnknown, n)
	if master := p.m[l.Master]; master != nil && master.Kind == KindBridge {
		p.bridgeMTUMayChange(l.Master)
	}
	for _, other := range p.m {
		switch {
		case l.Kind == KindBond && other.Master == n:
			// A bond sets the MTU of its slaves.
			other.MTU = mtu
			delete(p.mtuUnknown, other.Name)
		case other.Kind == KindVLAN && other.Parent == n && other.MTU > mtu:
			// A VLAN device shrinks with its parent.
			other.MTU = mtu
		}
	}
}

// bridgeMTUMayChange notes that a bridge's ports changed. A bridge
// whose MTU nobody set follows its smallest port (1500 without ports);
// one whose MTU was set keeps it. Which of the two a bridge is cannot be
// read back, so unless both give the same MTU, the model no longer knows.
func (p *planner) bridgeMTUMayChange(bridge string) {
	auto := 0
	for _, l := range p.m {
		if l.Master == bridge && (auto == 0 || l.MTU < auto) {
			auto = l.MTU
		}
	}
	if auto == 0 {
		auto = 1500
	}
	if br := p.m[bridge]; br != nil && br.MTU != auto {
		p.mtuUnknown[bridge] = true
	}
}

func (p *planner) dropRoutes(link string) {
	p.routes = slices.DeleteFunc(p.routes, func(r Route) bool { return r.Link == link })
}
