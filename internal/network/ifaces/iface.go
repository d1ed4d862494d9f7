package ifaces

import (
	"cmp"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
)

// Interface types, as the API names them.
const (
	TypeBridge     = "bridge"
	TypeBond       = "bond"
	TypeEth        = "eth"
	TypeAlias      = "alias"
	TypeVLAN       = "vlan"
	TypeOVSBridge  = "OVSBridge"
	TypeOVSBond    = "OVSBond"
	TypeOVSPort    = "OVSPort"
	TypeOVSIntPort = "OVSIntPort"
	TypeUnknown    = "unknown"
	// TypeLoopback is lo; the API never lists it.
	TypeLoopback = "loopback"
)

// Interface is one network interface of the file: its inet and inet6
// stanzas merged, as Proxmox VE presents it. Values are kept as written
// in the file; APIValue adds the derived ones (defaults, CIDR forms).
type Interface struct {
	Name string
	Type string
	// Priority is the interface's 1-based position among the interfaces
	// that have stanzas, in the order of their first stanza; 0 for an
	// interface only named on an auto line or only present on the host.
	Priority  int
	Autostart bool
	// Families lists "inet" and "inet6" in the order of their stanzas.
	Families []string
	Inet     Family
	Inet6    Family

	MTU string

	BridgePorts     []string // sorted; empty for "bridge-ports none"
	BridgeSTP       string   // "on" or "off"; empty when not written
	BridgeFD        string
	BridgeVlanAware bool
	BridgeVids      string

	Slaves             []string // sorted
	BondMode           string   // always a name, never the numeric form
	BondXmitHashPolicy string
	BondMiimon         string
	BondPrimary        string

	VlanID        string // as written; derived from the name by APIValue
	VlanRawDevice string

	OVSType    string
	OVSBridge  string
	OVSPorts   []string
	OVSBonds   []string
	OVSOptions string // without the tag= and bond_mode= parts below
	OVSTag     string

	// Extra holds the other single-valued settings Proxmox VE reports by
	// name (bridge-access, link-type, vlan-protocol, vxlan-id, …).
	Extra map[string]string

	// Exists and Active come from the host's links (see Merge).
	Exists bool
	Active bool

	hasBridgePorts bool // "bridge-ports none" still makes a bridge
	hasSlaves      bool
}

// Family is what one address family's stanza says.
type Family struct {
	Method string
	// Address is as written: "10.0.0.1/24" or "10.0.0.1" with Netmask.
	Address string
	Netmask string
	Gateway string
	// Options are the lines of the stanza this package does not model,
	// verbatim (post-up, dns-nameservers, a second address, …).
	Options []string
	// Comments are the stanza's "#" lines, each without its "#" and with
	// a trailing newline, as the API returns them.
	Comments string
}

// clone returns a deep copy.
func (it *Interface) clone() *Interface {
	c := *it
	c.Families = slices.Clone(it.Families)
	c.Inet.Options = slices.Clone(it.Inet.Options)
	c.Inet6.Options = slices.Clone(it.Inet6.Options)
	c.BridgePorts = slices.Clone(it.BridgePorts)
	c.Slaves = slices.Clone(it.Slaves)
	c.OVSPorts = slices.Clone(it.OVSPorts)
	c.OVSBonds = slices.Clone(it.OVSBonds)
	c.Extra = maps.Clone(it.Extra)
	return &c
}

// Family returns the settings of "inet" or "inet6".
func (it *Interface) Family(family string) *Family {
	if family == "inet6" {
		return &it.Inet6
	}
	return &it.Inet
}

// HasFamily tells whether the interface has a stanza for family.
func (it *Interface) HasFamily(family string) bool {
	return slices.Contains(it.Families, family)
}

// canonicalKey normalises an option name to one spelling: ifupdown2
// treats "_" and "-" alike, ifupdown1 bonding said "slaves", and Open
// vSwitch's ifupdown scripts spell their keys with underscores.
func canonicalKey(k string) string {
	k = strings.ReplaceAll(strings.ToLower(k), "_", "-")
	switch {
	case k == "bond-slaves":
		return "slaves"
	case strings.HasPrefix(k, "ovs-"):
		return strings.ReplaceAll(k, "-", "_")
	}
	return k
}

// isExtraKey tells whether Proxmox VE reads key into its interface hash
// and returns it under its own name.
func isExtraKey(key string) bool {
	switch key {
	case "bridge-access", "bridge-arp-nd-suppress", "bridge-learning", "bridge-multicast-flood",
		"bridge-unicast-flood", "link-type", "uplink-id", "vlan-protocol",
		"vxlan-id", "vxlan-local-tunnelip", "vxlan-physdev", "vxlan-svcnodeip":
		return true
	}
	return false
}

// bondModes are the Linux bonding modes by name, indexed by the kernel's
// number for them (ifupdown accepts "bond-mode 4" for 802.3ad).
func bondModes() []string {
	return []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
}

var (
	physicalRe = regexp.MustCompile(`^(?:eth\d+|en[^:.]+|ib[^:.]+|nic\d+)$`)
	aliasRe    = regexp.MustCompile(`^\S+:\d+$`)
	dotVlanRe  = regexp.MustCompile(`^(\S+)\.(\d+)$`)
	vlanNameRe = regexp.MustCompile(`^vlan(\d+)$`)
	bridgeRe   = regexp.MustCompile(`^vmbr\d+$`)
	bondRe     = regexp.MustCompile(`^bond\d+$`)
)

// IsPhysicalName tells whether name looks like a physical NIC to Proxmox
// VE (ethN, en*, ib*, and the nicN names of interface pinning).
func IsPhysicalName(name string) bool { return physicalRe.MatchString(name) }

// Interfaces returns every interface the file mentions, in the order of
// their first stanzas; interfaces only named on auto lines come last.
func (f *File) Interfaces() []*Interface {
	var order []*Interface
	byName := map[string]*Interface{}
	get := func(name string) *Interface {
		it := byName[name]
		if it == nil {
			it = &Interface{Name: name}
			byName[name] = it
			order = append(order, it)
		}
		return it
	}
	seen := map[string]bool{} // name+family, to spot repeated stanzas
	prio := 0
	for _, b := range f.blocks {
		switch b.kind {
		case blockAuto:
			if autostartKeyword(b.words[0]) {
				for _, n := range b.words[1:] {
					get(n).Autostart = true
				}
			}
		case blockIface:
			fam := b.family()
			if fam != "inet" && fam != "inet6" {
				continue // ipx, can, …: kept, but not Proxmox VE's business
			}
			it := get(b.ifaceName())
			if it.Priority == 0 {
				prio++
				it.Priority = prio
			}
			first := !seen[b.ifaceName()+" "+fam]
			seen[b.ifaceName()+" "+fam] = true
			if first {
				it.Families = append(it.Families, fam)
				it.Family(fam).Method = b.method()
			}
			it.readStanza(fam, b.lines[1:])
		}
	}
	for _, it := range order {
		it.finish()
	}
	// Stanza order; interfaces only named on auto lines go last.
	slices.SortStableFunc(order, func(a, b *Interface) int {
		return cmp.Compare(orMax(a.Priority), orMax(b.Priority))
	})
	return order
}

func orMax(prio int) int {
	if prio == 0 {
		return math.MaxInt
	}
	return prio
}

// Interface returns the named interface, or nil.
func (f *File) Interface(name string) *Interface {
	for _, it := range f.Interfaces() {
		if it.Name == name {
			return it
		}
	}
	return nil
}

// readStanza takes the option and comment lines of one stanza. A setting
// that appears twice keeps its first value; the repetition is kept as an
// option line so that re-rendering the stanza does not lose it.
func (it *Interface) readStanza(fam string, lines []string) {
	fa := it.Family(fam)
	for _, raw := range lines {
		if isComment(raw) {
			c := strings.TrimLeft(raw, " \t")[1:]
			fa.Comments += strings.TrimRight(c, " \t\r") + "\n"
			continue
		}
		text := strings.TrimSpace(logical(raw))
		if text == "" {
			continue
		}
		key, value := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			key, value = text[:i], strings.TrimSpace(text[i:])
		}
		if value == "" || !it.readOption(fa, canonicalKey(key), value) {
			fa.Options = append(fa.Options, text)
		}
	}
}

// readOption stores a known setting and reports whether it did.
func (it *Interface) readOption(fa *Family, key, value string) bool {
	set := func(p *string) bool {
		if *p != "" {
			return false
		}
		*p = value
		return true
	}
	switch key {
	case "address":
		return set(&fa.Address)
	case "netmask":
		return set(&fa.Netmask)
	case "gateway":
		return set(&fa.Gateway)
	case "mtu":
		return set(&it.MTU)
	case "bridge-ports":
		it.hasBridgePorts = true
		it.BridgePorts = addNames(it.BridgePorts, value)
		return true
	case "slaves":
		it.hasSlaves = true
		it.Slaves = addNames(it.Slaves, value)
		return true
	case "bridge-stp":
		if it.BridgeSTP != "" {
			return false
		}
		it.BridgeSTP = "off"
		if v := strings.ToLower(value); v == "on" || v == "yes" {
			it.BridgeSTP = "on"
		}
		return true
	case "bridge-fd":
		return set(&it.BridgeFD)
	case "bridge-vlan-aware":
		it.BridgeVlanAware = isTrue(value)
		return true
	case "bridge-vids":
		return set(&it.BridgeVids)
	case "bond-mode":
		if n := strings.TrimSpace(value); len(n) == 1 && n[0] >= '0' && n[0] <= '6' {
			value = bondModes()[n[0]-'0']
		}
		return set(&it.BondMode)
	case "bond-xmit-hash-policy":
		return set(&it.BondXmitHashPolicy)
	case "bond-miimon":
		return set(&it.BondMiimon)
	case "bond-primary":
		return set(&it.BondPrimary)
	case "vlan-id":
		return set(&it.VlanID)
	case "vlan-raw-device":
		return set(&it.VlanRawDevice)
	case "ovs_type":
		return set(&it.OVSType)
	case "ovs_bridge":
		return set(&it.OVSBridge)
	case "ovs_ports":
		it.OVSPorts = appendNew(it.OVSPorts, strings.Fields(value)...)
		return true
	case "ovs_bonds":
		it.OVSBonds = appendNew(it.OVSBonds, strings.Fields(value)...)
		return true
	case "ovs_options":
		return set(&it.OVSOptions)
	}
	if isExtraKey(key) {
		if _, dup := it.Extra[key]; dup {
			return false
		}
		if it.Extra == nil {
			it.Extra = map[string]string{}
		}
		it.Extra[key] = value
		return true
	}
	return false
}

// addNames merges a port list into a sorted set; "none" means no port.
func addNames(have []string, value string) []string {
	for _, p := range splitList(value) {
		if p != "none" && !slices.Contains(have, p) {
			have = append(have, p)
		}
	}
	slices.Sort(have)
	return have
}

func appendNew(have []string, names ...string) []string {
	for _, n := range names {
		if !slices.Contains(have, n) {
			have = append(have, n)
		}
	}
	return have
}

// splitList splits an interface list as the API and the file write it:
// separated by spaces, commas or semicolons.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == ';'
	})
}

func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "on", "1", "true":
		return true
	}
	return false
}

// finish detects the type and splits the parts of ovs_options that the
// API returns as fields of their own.
func (it *Interface) finish() {
	it.Type = detectType(it)
	if it.OVSType != "" {
		var rest []string
		lacp := false
		for _, o := range strings.Fields(it.OVSOptions) {
			switch {
			case strings.HasPrefix(o, "tag=") && it.OVSTag == "":
				it.OVSTag = o[len("tag="):]
			case strings.HasPrefix(o, "bond_mode=") && it.Type == TypeOVSBond && it.BondMode == "":
				it.BondMode = o[len("bond_mode="):]
			case o == "lacp=active" && it.Type == TypeOVSBond:
				lacp = true
			default:
				rest = append(rest, o)
			}
		}
		if lacp && (it.BondMode == "balance-slb" || it.BondMode == "balance-tcp") {
			it.BondMode = "lacp-" + it.BondMode
		} else if lacp {
			rest = append(rest, "lacp=active")
		}
		it.OVSOptions = strings.Join(rest, " ")
	}
}

// detectType follows Proxmox VE: Open vSwitch's own type first, then the
// shape of the name and the settings present.
func detectType(it *Interface) string {
	n := it.Name
	switch {
	case it.OVSType != "":
		switch it.OVSType {
		case TypeOVSBridge, TypeOVSBond, TypeOVSPort, TypeOVSIntPort:
			return it.OVSType
		}
		return TypeUnknown
	case n == "lo" || it.Inet.Method == "loopback":
		return TypeLoopback
	case aliasRe.MatchString(n):
		return TypeAlias
	case it.hasBridgePorts || bridgeRe.MatchString(n):
		return TypeBridge
	case it.hasSlaves || bondRe.MatchString(n):
		return TypeBond
	case dotVlanRe.MatchString(n) || it.VlanRawDevice != "":
		return TypeVLAN
	case physicalRe.MatchString(n):
		return TypeEth
	}
	return TypeUnknown
}

// vlanOf returns the raw device and id of a VLAN interface, from its
// settings or, as ifupdown2 does, from its name (eno1.5, vlan5).
func (it *Interface) vlanOf() (raw, id string) {
	raw, id = it.VlanRawDevice, it.VlanID
	if m := dotVlanRe.FindStringSubmatch(it.Name); m != nil {
		if raw == "" {
			raw = m[1]
		}
		if id == "" {
			id = m[2]
		}
	} else if m := vlanNameRe.FindStringSubmatch(it.Name); m != nil && id == "" {
		id = m[1]
	}
	return raw, id
}
