package netapply

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Plan computes the steps that take a namespace from the current state to
// the desired configuration. It is a pure function: it reads nothing but
// its arguments.
//
// managed names the links Hearth is responsible for besides those in
// desired, normally every interface of the configuration applied last
// time. Only bridges, bonds and VLAN devices among them are deleted when
// desired no longer has them; a physical interface that left the
// configuration loses its addresses and goes down. Links that are neither
// managed nor desired (guest taps and veths, firewall bridges, anything
// made by hand) are never deleted, detached or otherwise changed, with
// one exception the kernel imposes: deleting a bridge takes the guest
// ports still in it out of it (as separate steps, so a rollback puts
// them back).
//
// The notes say what was skipped: a physical interface that does not
// exist and that no other interface needs, which ifupdown2 too only
// warns about. An error means desired is inconsistent or clashes with
// links Hearth does not manage; it names the link at fault.
func Plan(current State, desired Desired, managed []string) (steps []Step, notes []string, err error) {
	p, err := newPlanner(current, desired, managed)
	if err != nil {
		return nil, nil, err
	}
	if err := p.plan(); err != nil {
		return nil, nil, err
	}
	return p.steps, p.notes, nil
}

type planner struct {
	orig    map[string]LinkState
	m       map[string]*LinkState // the model: the state as the steps so far leave it
	routes  []Route               // the model's default routes
	managed map[string]bool

	des        map[string]*Link
	order      []string          // desired links, lower links first
	referenced map[string]bool   // ports, slaves and VLAN parents of desired links
	upper      map[string]string // port or slave -> its desired bridge or bond
	effUp      map[string]bool   // up by itself or because an up link needs it

	del       map[string]bool // current links to delete (also those made again)
	unconf    []string        // managed links that left the configuration but stay
	goingDown map[string]bool
	rmAddrs   map[string][]netip.Prefix // addresses to remove, in a safe order
	late      []Step                    // route changes that must come last

	created    map[string]bool // links this plan creates
	mtuUnknown map[string]bool // links whose MTU the kernel may have changed on its own

	notes []string
	steps []Step
}

func newPlanner(current State, desired Desired, managed []string) (*planner, error) {
	p := &planner{
		orig:       map[string]LinkState{},
		m:          map[string]*LinkState{},
		routes:     slices.Clone(current.Routes),
		managed:    map[string]bool{},
		des:        map[string]*Link{},
		referenced: map[string]bool{},
		upper:      map[string]string{},
		effUp:      map[string]bool{},
		del:        map[string]bool{},
		goingDown:  map[string]bool{},
		rmAddrs:    map[string][]netip.Prefix{},
		created:    map[string]bool{},
		mtuUnknown: map[string]bool{},
	}
	for _, l := range current.Links {
		p.orig[l.Name] = l
		c := cloneState(l)
		p.m[l.Name] = &c
	}
	for _, n := range managed {
		p.managed[n] = true
	}
	if err := p.validate(desired.Links); err != nil {
		return nil, err
	}
	if err := p.sortLinks(desired.Links); err != nil {
		return nil, err
	}
	p.markUp()
	if err := p.checkConsistency(); err != nil {
		return nil, err
	}
	if err := p.findDeletions(); err != nil {
		return nil, err
	}
	p.findUnconfigured()
	return p, nil
}

func cloneState(l LinkState) LinkState {
	l.Addrs = slices.Clone(l.Addrs)
	l.Secondary = slices.Clone(l.Secondary)
	l.VIDs = slices.Clone(l.VIDs)
	return l
}

// lowers are the links a desired link is built on.
func lowers(d *Link) []string {
	switch d.Kind {
	case KindBridge:
		return d.Ports
	case KindBond:
		return d.Slaves
	case KindVLAN:
		return []string{d.Parent}
	}
	return nil
}

func (p *planner) isManagedName(n string) bool {
	return p.managed[n] || p.des[n] != nil || p.referenced[n]
}

func (p *planner) validate(links []Link) error {
	var gw4, gw6 string
	for i := range links {
		d := links[i] // a copy: normalising must not change the caller's value
		d.Ports, d.Slaves, d.VIDs, d.Addrs = slices.Clone(d.Ports), slices.Clone(d.Slaves), slices.Clone(d.VIDs), slices.Clone(d.Addrs)
		if err := checkName(d.Name); err != nil {
			return fmt.Errorf("interface %d: %w", i+1, err)
		}
		if p.des[d.Name] != nil {
			return fmt.Errorf("%s: defined twice", d.Name)
		}
		if err := checkLink(&d); err != nil {
			return fmt.Errorf("%s %s: %w", d.Kind, d.Name, err)
		}
		if d.Gateway4.IsValid() {
			if gw4 != "" {
				return fmt.Errorf("%s: a second IPv4 gateway (%s has one already)", d.Name, gw4)
			}
			gw4 = d.Name
		}
		if d.Gateway6.IsValid() {
			if gw6 != "" {
				return fmt.Errorf("%s: a second IPv6 gateway (%s has one already)", d.Name, gw6)
			}
			gw6 = d.Name
		}
		p.des[d.Name] = &d
	}
	for _, l := range links {
		d := p.des[l.Name]
		for _, lo := range lowers(d) {
			p.referenced[lo] = true
			if d.Kind == KindVLAN {
				continue
			}
			if u := p.upper[lo]; u != "" {
				return fmt.Errorf("%s is a port or slave of both %s and %s", lo, u, d.Name)
			}
			p.upper[lo] = d.Name
		}
	}
	for _, l := range links {
		d := p.des[l.Name]
		for _, lo := range lowers(d) {
			if p.des[lo] == nil {
				if _, ok := p.orig[lo]; !ok {
					return fmt.Errorf("%s %s: %s does not exist and is not defined", d.Kind, d.Name, lo)
				}
			}
		}
		if d.Kind == KindBond && d.Primary != "" && !slices.Contains(d.Slaves, d.Primary) {
			return fmt.Errorf("bond %s: primary %s is not one of its slaves", d.Name, d.Primary)
		}
		cur, exists := p.orig[d.Name]
		switch {
		case d.Kind == KindEth && !exists:
			if p.referenced[d.Name] {
				return fmt.Errorf("%s does not exist, but other interfaces are built on it", d.Name)
			}
			p.notes = append(p.notes, fmt.Sprintf("%s does not exist; skipped", d.Name))
			delete(p.des, d.Name)
		case d.Kind == KindEth && isCreatable(cur.Kind):
			return fmt.Errorf("%s is a %s, not a physical interface", d.Name, cur.Kind)
		case d.Kind != KindEth && isGuestLink(d.Name):
			return fmt.Errorf("%s %s: names starting with tap, veth, fwbr, fwpr or fwln belong to guests", d.Kind, d.Name)
		case d.Kind != KindEth && exists && !isCreatable(cur.Kind):
			return fmt.Errorf("%s %s: a %s link of that name exists and Hearth does not manage it", d.Kind, d.Name, cur.Kind)
		}
	}
	return nil
}

// checkName accepts what the kernel accepts as an interface name.
func checkName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("no name")
	case len(n) > 15:
		return fmt.Errorf("name %q is longer than 15 bytes", n)
	case n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n"):
		return fmt.Errorf("%q is not a valid interface name", n)
	}
	return nil
}

// checkLink checks one link on its own and fills in defaults.
func checkLink(d *Link) error {
	switch d.Kind {
	case KindBridge, KindBond, KindVLAN, KindEth:
	default:
		return fmt.Errorf("unknown kind %q", d.Kind)
	}
	if d.Kind != KindBridge && (len(d.Ports) > 0 || d.STP || d.ForwardDelay != nil || d.VLANAware || len(d.VIDs) > 0) {
		return fmt.Errorf("bridge options on an interface that is not a bridge")
	}
	if d.Kind != KindBond && (len(d.Slaves) > 0 || d.BondMode != "" || d.XmitHashPolicy != "" || d.MIIMon != 0 || d.Primary != "") {
		return fmt.Errorf("bond options on an interface that is not a bond")
	}
	if d.Kind != KindVLAN && (d.VLANID != 0 || d.Parent != "") {
		return fmt.Errorf("vlan options on an interface that is not a vlan")
	}
	switch d.Kind {
	case KindBridge:
		if err := checkLowers("port", d.Name, d.Ports); err != nil {
			return err
		}
		if d.ForwardDelay != nil && (*d.ForwardDelay < 0 || *d.ForwardDelay > 30) {
			return fmt.Errorf("forward delay %d is outside 0-30 seconds", *d.ForwardDelay)
		}
		if d.STP && d.ForwardDelay != nil && *d.ForwardDelay < 2 {
			return fmt.Errorf("with stp on, the kernel needs a forward delay of 2-30 seconds, not %d", *d.ForwardDelay)
		}
		for _, r := range d.VIDs {
			if r.From < 1 || r.To > 4094 || r.From > r.To {
				return fmt.Errorf("vlan range %s is not within 1-4094", r)
			}
		}
		if d.VLANAware {
			d.VIDs = compress(keys(expand(d.VIDs)))
			if len(d.VIDs) == 0 {
				d.VIDs = []VIDRange{{From: 2, To: 4094}} // what Proxmox VE writes as bridge-vids
			}
		}
	case KindBond:
		if err := checkLowers("slave", d.Name, d.Slaves); err != nil {
			return err
		}
		mode, ok := bondMode(d.BondMode)
		if !ok {
			return fmt.Errorf("unknown bond mode %q", d.BondMode)
		}
		d.BondMode = mode
		if d.XmitHashPolicy != "" && !validXmitHashPolicy(d.XmitHashPolicy) {
			return fmt.Errorf("unknown transmit hash policy %q", d.XmitHashPolicy)
		}
		if d.MIIMon < 0 {
			return fmt.Errorf("negative miimon %d", d.MIIMon)
		}
		if d.Primary != "" && mode != "active-backup" && mode != "balance-tlb" && mode != "balance-alb" {
			return fmt.Errorf("a primary slave needs mode active-backup, balance-tlb or balance-alb, not %s", mode)
		}
	case KindVLAN:
		if d.VLANID < 1 || d.VLANID > 4094 {
			return fmt.Errorf("vlan id %d is not within 1-4094", d.VLANID)
		}
		if d.Parent == "" || d.Parent == d.Name {
			return fmt.Errorf("no parent interface (vlan-raw-device)")
		}
	}
	if d.MTU < 0 {
		return fmt.Errorf("negative mtu %d", d.MTU)
	}
	if d.Manual && len(d.Addrs) > 0 {
		return fmt.Errorf("method manual takes no addresses")
	}
	seen := map[netip.Prefix]bool{}
	for _, a := range d.Addrs {
		switch {
		case !a.IsValid():
			return fmt.Errorf("invalid address %v", a)
		case a.Addr().Is4In6() || a.Addr().Zone() != "":
			return fmt.Errorf("address %s is not a plain IPv4 or IPv6 address", a)
		case a.Addr().Is6() && a.Addr().IsLinkLocalUnicast():
			return fmt.Errorf("address %s is link-local, which the kernel assigns itself", a)
		case seen[a]:
			return fmt.Errorf("address %s given twice", a)
		}
		seen[a] = true
	}
	if d.Gateway4.IsValid() && !d.Gateway4.Is4() {
		return fmt.Errorf("IPv4 gateway %s is not an IPv4 address", d.Gateway4)
	}
	if d.Gateway6.IsValid() && (!d.Gateway6.Is6() || d.Gateway6.Is4In6()) {
		return fmt.Errorf("IPv6 gateway %s is not an IPv6 address", d.Gateway6)
	}
	return nil
}

func checkLowers(what, name string, names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n == name {
			return fmt.Errorf("%s of itself", what)
		}
		if seen[n] {
			return fmt.Errorf("%s %s given twice", what, n)
		}
		seen[n] = true
	}
	return nil
}

// bondMode accepts the names and the numbers the bonding driver knows.
func bondMode(m string) (string, bool) {
	names := [...]string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
	if m == "" {
		return names[0], true
	}
	for i, n := range names {
		if m == n || m == fmt.Sprint(i) {
			return n, true
		}
	}
	return "", false
}

func validXmitHashPolicy(x string) bool {
	switch x {
	case "layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac":
		return true
	}
	return false
}

func keys(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out
}

// sortLinks sorts the desired links so that every link comes after the
// links it is built on, keeping the configuration's order otherwise.
func (p *planner) sortLinks(links []Link) error {
	depth := map[string]int{}
	visiting := map[string]bool{}
	var visit func(n string, path []string) (int, error)
	visit = func(n string, path []string) (int, error) {
		d := p.des[n]
		if d == nil {
			return 0, nil
		}
		if v, ok := depth[n]; ok {
			return v, nil
		}
		if visiting[n] {
			return 0, fmt.Errorf("interfaces built on each other in a circle: %s", strings.Join(append(path, n), " -> "))
		}
		visiting[n] = true
		v := 1
		for _, lo := range lowers(d) {
			dl, err := visit(lo, append(path, n))
			if err != nil {
				return 0, err
			}
			v = max(v, dl+1)
		}
		depth[n] = v
		return v, nil
	}
	pos := map[string]int{}
	for i, l := range links {
		if p.des[l.Name] == nil {
			continue
		}
		if _, err := visit(l.Name, nil); err != nil {
			return err
		}
		pos[l.Name] = i
		p.order = append(p.order, l.Name)
	}
	slices.SortStableFunc(p.order, func(a, b string) int {
		return cmp.Or(cmp.Compare(depth[a], depth[b]), cmp.Compare(pos[a], pos[b]))
	})
	return nil
}

// markUp finds the links that must be up: those marked auto, the links
// they are built on (ifupdown2 brings a bridge's ports up with it), and
// every bond slave, which the bonding driver brings up by itself.
func (p *planner) markUp() {
	var mark func(n string)
	mark = func(n string) {
		if p.effUp[n] {
			return
		}
		p.effUp[n] = true
		if d := p.des[n]; d != nil {
			for _, lo := range lowers(d) {
				mark(lo)
			}
		}
	}
	for _, n := range p.order {
		d := p.des[n]
		if d.Up {
			mark(n)
		}
		if d.Kind == KindBond {
			for _, s := range d.Slaves {
				mark(s)
			}
		}
	}
}

// checkConsistency refuses what the kernel would refuse or silently
// override: a gateway on a link that stays down, a VLAN device larger
// than its parent, a bond slave whose MTU differs from the bond's.
func (p *planner) checkConsistency() error {
	for _, n := range p.order {
		d := p.des[n]
		if (d.Gateway4.IsValid() || d.Gateway6.IsValid()) && !p.effUp[n] {
			return fmt.Errorf("%s has a gateway but is not brought up (auto)", n)
		}
		switch {
		case d.Kind == KindVLAN && d.MTU > 0:
			if pm := p.finalMTU(d.Parent); d.MTU > pm {
				return fmt.Errorf("vlan %s: mtu %d is larger than the mtu %d of its parent %s", n, d.MTU, pm, d.Parent)
			}
		case d.Kind == KindBond && d.MTU > 0:
			for _, s := range d.Slaves {
				if sd := p.des[s]; sd != nil && sd.MTU > 0 && sd.MTU != d.MTU {
					return fmt.Errorf("bond %s: mtu %d differs from the mtu %d of its slave %s, and a bond sets its slaves' mtu", n, d.MTU, sd.MTU, s)
				}
			}
		}
	}
	return nil
}

// finalMTU is the MTU a link will have once the plan has run.
func (p *planner) finalMTU(n string) int {
	if d := p.des[n]; d != nil && d.MTU > 0 {
		return d.MTU
	}
	if d := p.des[n]; d != nil && d.Kind == KindVLAN {
		return p.finalMTU(d.Parent)
	}
	if cur, ok := p.orig[n]; ok && (p.des[n] == nil || p.des[n].Kind == KindEth || p.des[n].Kind == cur.Kind) {
		return cur.MTU
	}
	return 1500
}

// findDeletions decides which current links go: managed bridges, bonds
// and VLAN devices that left the configuration, and those whose kind,
// bond mode or VLAN id and parent changed, which the kernel cannot change
// in place, so they are deleted and made again.
func (p *planner) findDeletions() error {
	for _, n := range sortedKeys(p.orig) {
		cur := p.orig[n]
		if !isCreatable(cur.Kind) || isGuestLink(n) {
			continue
		}
		if d := p.des[n]; d != nil {
			if d.Kind != cur.Kind ||
				(d.Kind == KindBond && d.BondMode != cur.BondMode) ||
				(d.Kind == KindVLAN && (d.VLANID != cur.VLANID || d.Parent != cur.Parent)) {
				p.del[n] = true
			}
		} else if p.managed[n] && !p.referenced[n] {
			p.del[n] = true
		}
	}
	// Deleting a link deletes the VLAN devices on it.
	for changed := true; changed; {
		changed = false
		for _, n := range sortedKeys(p.orig) {
			cur := p.orig[n]
			if cur.Kind != KindVLAN || p.del[n] || !p.del[cur.Parent] {
				continue
			}
			if p.des[n] == nil && !p.managed[n] {
				return fmt.Errorf("%s would be deleted, and with it vlan %s, which Hearth does not manage", cur.Parent, n)
			}
			p.del[n] = true
			changed = true
		}
	}
	return nil
}

func (p *planner) findUnconfigured() {
	for _, n := range sortedKeys(p.managed) {
		cur, ok := p.orig[n]
		if ok && !isCreatable(cur.Kind) && !p.isDesiredOrReferenced(n) && !isGuestLink(n) {
			p.unconf = append(p.unconf, n)
		}
	}
}

func (p *planner) isDesiredOrReferenced(n string) bool { return p.des[n] != nil || p.referenced[n] }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
