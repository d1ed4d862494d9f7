package ifaces

import (
	"slices"
	"strings"
)

// setting is one "key value" line of a rendered stanza.
type setting struct{ key, value string }

// renderStanza writes the stanza of one family in the style Proxmox VE
// writes: the address as CIDR, the gateway, then (in the interface's first
// stanza only) the type's own settings in a fixed order, the remaining
// settings sorted by name, the options kept from the file, and last the
// comments.
func (it *Interface) renderStanza(family string, first bool) []string {
	fa := it.Family(family)
	method := fa.Method
	if method == "" {
		method = "manual"
	}
	lines := []string{"iface " + it.Name + " " + family + " " + method}
	add := func(key, value string) { lines = append(lines, "\t"+key+" "+value) }
	if fa.Address != "" {
		add("address", addressCIDR(fa.Address, fa.Netmask))
	}
	if fa.Gateway != "" {
		add("gateway", fa.Gateway)
	}
	if first {
		head, rest := it.settings()
		for _, s := range head {
			add(s.key, s.value)
		}
		slices.SortFunc(rest, func(a, b setting) int { return strings.Compare(a.key, b.key) })
		for _, s := range rest {
			add(s.key, s.value)
		}
	}
	for _, o := range fa.Options {
		lines = append(lines, "\t"+o)
	}
	if c := strings.TrimRight(fa.Comments, "\n"); c != "" {
		for _, l := range strings.Split(c, "\n") {
			lines = append(lines, "#"+l)
		}
	}
	return lines
}

// addressCIDR writes an address with its prefix length, converting a
// dotted netmask; an address that cannot be converted stays as it was.
func addressCIDR(addr, netmask string) string {
	if strings.Contains(addr, "/") || netmask == "" {
		return addr
	}
	if bits, ok := maskBits(netmask); ok {
		return addr + "/" + bits
	}
	return addr
}

// settings returns the interface-wide settings to write: head in the
// fixed order Proxmox VE uses for the interface's type, rest unordered.
// Defaults Proxmox VE writes for new bridges and bonds are filled in here.
func (it *Interface) settings() (head, rest []setting) {
	opt := func(list *[]setting, key, value string) {
		if value != "" {
			*list = append(*list, setting{key, value})
		}
	}
	ovsOptions := it.OVSOptions
	switch it.Type {
	case TypeBridge:
		ports := strings.Join(it.BridgePorts, " ")
		if ports == "" {
			ports = "none"
		}
		opt(&head, "bridge-ports", ports)
		stp := it.BridgeSTP
		if stp == "" {
			stp = "off"
		}
		opt(&head, "bridge-stp", stp)
		fd := it.BridgeFD
		if fd == "" && stp == "off" {
			fd = "0"
		}
		opt(&head, "bridge-fd", fd)
		if it.BridgeVlanAware {
			opt(&head, "bridge-vlan-aware", "yes")
			vids := it.BridgeVids
			if vids == "" {
				vids = "2-4094"
			}
			opt(&head, "bridge-vids", vids)
		}
		opt(&head, "mtu", it.MTU)
	case TypeBond:
		slaves := strings.Join(it.Slaves, " ")
		if slaves == "" {
			slaves = "none"
		}
		opt(&head, "bond-slaves", slaves)
		miimon := it.BondMiimon
		if miimon == "" {
			miimon = "100"
		}
		opt(&head, "bond-miimon", miimon)
		mode := it.BondMode
		if mode == "" {
			mode = "balance-rr"
		}
		opt(&head, "bond-mode", mode)
		opt(&head, "bond-xmit-hash-policy", it.BondXmitHashPolicy)
		opt(&head, "bond-primary", it.BondPrimary)
		opt(&head, "mtu", it.MTU)
	case TypeOVSBridge:
		opt(&head, "ovs_type", it.Type)
		opt(&head, "ovs_ports", strings.Join(it.OVSPorts, " "))
	case TypeOVSBond, TypeOVSPort, TypeOVSIntPort:
		if it.Type == TypeOVSBond {
			opt(&head, "ovs_bonds", strings.Join(it.OVSBonds, " "))
			mode := it.BondMode
			if mode == "" {
				mode = "active-backup"
			}
			if m, ok := strings.CutPrefix(mode, "lacp-"); ok {
				mode = m + " lacp=active"
			}
			ovsOptions = joinNonEmpty("bond_mode="+mode, ovsOptions)
		}
		opt(&head, "ovs_type", it.Type)
		opt(&head, "ovs_bridge", it.OVSBridge)
	}
	if it.OVSTag != "" {
		ovsOptions = joinNonEmpty("tag="+it.OVSTag, ovsOptions)
	}

	// Whatever the type did not write goes into the sorted rest, so that
	// an odd combination read from the file survives a rewrite.
	done := map[string]bool{}
	for _, s := range head {
		done[s.key] = true
	}
	other := func(key, value string) {
		if !done[key] {
			opt(&rest, key, value)
		}
	}
	other("mtu", it.MTU)
	if it.Type != TypeBridge && it.hasBridgePorts {
		other("bridge-ports", strings.Join(it.BridgePorts, " "))
	}
	other("bridge-stp", it.BridgeSTP)
	other("bridge-fd", it.BridgeFD)
	if it.BridgeVlanAware {
		other("bridge-vlan-aware", "yes")
	}
	other("bridge-vids", it.BridgeVids)
	if it.Type != TypeBond && it.hasSlaves {
		other("bond-slaves", strings.Join(it.Slaves, " "))
	}
	if it.Type != TypeOVSBond {
		other("bond-mode", it.BondMode)
	}
	other("bond-miimon", it.BondMiimon)
	other("bond-xmit-hash-policy", it.BondXmitHashPolicy)
	other("bond-primary", it.BondPrimary)
	other("vlan-id", it.VlanID)
	other("vlan-raw-device", it.VlanRawDevice)
	other("ovs_type", it.OVSType)
	other("ovs_bridge", it.OVSBridge)
	other("ovs_ports", strings.Join(it.OVSPorts, " "))
	other("ovs_bonds", strings.Join(it.OVSBonds, " "))
	other("ovs_options", ovsOptions)
	for k, v := range it.Extra {
		other(k, v)
	}
	return head, rest
}

func joinNonEmpty(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), " ")
}
