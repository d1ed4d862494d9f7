package ifaces

import (
	"fmt"
	"slices"
	"strings"
)

// HostLink is one link the host reports (from netlink or /sys/class/net),
// passed in by the caller so that this package stays free of I/O.
type HostLink struct {
	Name string
	// Kind is the link's kind: "device" for a plain device, or "bridge",
	// "bond", "vlan", "veth", "tun", "dummy", …
	Kind string
	Up   bool
	// Physical marks a real NIC (one with a device behind it).
	Physical bool
}

// APIValue returns the interface shaped like one element of GET
// /nodes/{node}/network. Like Proxmox VE, flags are the integer 1 and
// are left out when false, values read from the file are strings, and
// derived values are filled in: method defaults to manual, a bridge
// without stp or forward delay shows "off" and "0", a VLAN named eno1.5
// shows its raw device and id, and addresses appear both bare (with the
// prefix length as netmask) and as CIDR.
func (it *Interface) APIValue() map[string]any {
	m := map[string]any{"iface": it.Name, "type": it.Type}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	flag := func(k string, v bool) {
		if v {
			m[k] = 1
		}
	}
	m["method"] = orDefault(it.Inet.Method, "manual")
	m["method6"] = orDefault(it.Inet6.Method, "manual")
	fams := slices.Clone(it.Families)
	if len(fams) == 0 {
		fams = []string{"inet"}
	}
	m["families"] = fams
	if it.Priority > 0 {
		m["priority"] = it.Priority
	}
	flag("autostart", it.Autostart)
	flag("exists", it.Exists)
	flag("active", it.Active)

	if a := it.Inet.Address; a != "" {
		ip, bits := splitAddress(a, it.Inet.Netmask)
		m["address"] = ip
		switch {
		case bits != "":
			m["netmask"] = bits
			m["cidr"] = ip + "/" + bits
		default:
			put("netmask", it.Inet.Netmask) // unusable, shown as written
			m["cidr"] = ip + "/32"
		}
	}
	put("gateway", it.Inet.Gateway)
	if a := it.Inet6.Address; a != "" {
		ip, bits := splitAddress(a, it.Inet6.Netmask)
		m["address6"] = ip
		m["cidr6"] = ip
		if bits != "" {
			m["netmask6"] = bits
			m["cidr6"] = ip + "/" + bits
		}
	}
	put("gateway6", it.Inet6.Gateway)
	if len(it.Inet.Options) > 0 {
		m["options"] = slices.Clone(it.Inet.Options)
	}
	if len(it.Inet6.Options) > 0 {
		m["options6"] = slices.Clone(it.Inet6.Options)
	}
	put("comments", it.Inet.Comments)
	put("comments6", it.Inet6.Comments)
	put("mtu", it.MTU)

	if it.Type == TypeBridge || it.hasBridgePorts {
		m["bridge_ports"] = strings.Join(it.BridgePorts, " ")
	}
	stp, fd := it.BridgeSTP, it.BridgeFD
	if it.Type == TypeBridge {
		stp = orDefault(stp, "off")
		if fd == "" && stp == "off" {
			fd = "0"
		}
	}
	put("bridge_stp", stp)
	put("bridge_fd", fd)
	flag("bridge_vlan_aware", it.BridgeVlanAware)
	put("bridge_vids", it.BridgeVids)

	if it.Type == TypeBond || it.hasSlaves {
		m["slaves"] = strings.Join(it.Slaves, " ")
	}
	put("bond_mode", it.BondMode)
	put("bond_xmit_hash_policy", it.BondXmitHashPolicy)
	put("bond_miimon", it.BondMiimon)
	put("bond-primary", it.BondPrimary)

	raw, id := it.VlanRawDevice, it.VlanID
	if it.Type == TypeVLAN {
		raw, id = it.vlanOf()
	}
	put("vlan-raw-device", raw)
	put("vlan-id", id)

	put("ovs_type", it.OVSType)
	put("ovs_bridge", it.OVSBridge)
	put("ovs_ports", strings.Join(it.OVSPorts, " "))
	put("ovs_bonds", strings.Join(it.OVSBonds, " "))
	put("ovs_options", it.OVSOptions)
	put("ovs_tag", it.OVSTag)
	for k, v := range it.Extra {
		put(k, v)
	}
	return m
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Merge completes the file's interfaces with the host's view, as Proxmox
// VE's listing does: every interface gets Exists (a physical NIC of that
// name is present) and Active (a link of that name is up), and physical
// NICs the file does not mention are appended, sorted by name, as type
// eth with method manual. It modifies and returns ifs.
func Merge(ifs []*Interface, links []HostLink) []*Interface {
	host := map[string]HostLink{}
	for _, l := range links {
		host[l.Name] = l
	}
	known := map[string]bool{}
	for _, it := range ifs {
		known[it.Name] = true
		l, ok := host[it.Name]
		it.Exists = ok && l.Physical
		it.Active = ok && l.Up
	}
	var extra []*Interface
	for _, l := range links {
		if l.Physical && !known[l.Name] {
			known[l.Name] = true
			extra = append(extra, hostNIC(l))
		}
	}
	slices.SortFunc(extra, func(a, b *Interface) int { return strings.Compare(a.Name, b.Name) })
	return append(ifs, extra...)
}

// hostNIC is how an unconfigured physical NIC appears: an eth interface
// with a manual inet stanza that is not (yet) written anywhere.
func hostNIC(l HostLink) *Interface {
	return &Interface{
		Name: l.Name, Type: TypeEth, Families: []string{"inet"},
		Inet: Family{Method: "manual"}, Exists: true, Active: l.Up,
	}
}

// FilterType keeps the interfaces GET's type parameter asks for: one type,
// "any_bridge" (Linux and Open vSwitch bridges, and SDN vnets if there
// were any), "any_local_bridge" (the bridges of this node), or
// "include_sdn" (everything; this package knows no SDN vnets). An empty
// filter keeps everything.
func FilterType(ifs []*Interface, typ string) ([]*Interface, error) {
	keep := func(it *Interface) bool { return it.Type == typ }
	switch typ {
	case "", "include_sdn":
		return ifs, nil
	case "any_bridge", "any_local_bridge":
		keep = func(it *Interface) bool { return it.Type == TypeBridge || it.Type == TypeOVSBridge }
	case TypeBridge, TypeBond, TypeEth, TypeAlias, TypeVLAN, TypeOVSBridge, TypeOVSBond,
		TypeOVSPort, TypeOVSIntPort, "fabric", "vnet":
	default:
		return nil, &ValidationError{Errors: []FieldError{{Field: "type", Msg: fmt.Sprintf(
			"unknown interface type %q; use one of bridge, bond, eth, alias, vlan, fabric, OVSBridge, OVSBond, OVSPort, OVSIntPort, vnet, any_bridge, any_local_bridge, include_sdn", typ)}}}
	}
	var out []*Interface
	for _, it := range ifs {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out, nil
}

// List answers GET /nodes/{node}/network: the file's interfaces merged
// with the host's links, without the loopback, filtered by type.
func (f *File) List(links []HostLink, typ string) ([]map[string]any, error) {
	ifs := slices.DeleteFunc(Merge(f.Interfaces(), links), func(it *Interface) bool {
		return it.Type == TypeLoopback
	})
	ifs, err := FilterType(ifs, typ)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ifs))
	for _, it := range ifs {
		out = append(out, it.APIValue())
	}
	return out, nil
}
