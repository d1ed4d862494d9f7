package api

import "github.com/hearth-virt/hearth/api/schema"

// The node's network configuration (/etc/network/interfaces), edited as
// pending changes in interfaces.new and applied by a task, and the NAT
// network Hearth runs for guests (a Hearth extension).

// NetworkTypes are the interface types the configuration holds, as the
// API names them.
var NetworkTypes = []string{"bridge", "bond", "eth", "alias", "vlan", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort", "unknown"}

// networkFilters are the values of GET's type filter: one type, or a
// group of them.
var networkFilters = []string{"bridge", "bond", "eth", "alias", "vlan", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort",
	"any_bridge", "any_local_bridge", "include_sdn"}

// NetworkListParams is the input of GET /nodes/{node}/network.
type NetworkListParams struct {
	Node string `json:"node"`
	Type string `json:"type"`
}

// NetworkIfaceParam names one interface of a node.
type NetworkIfaceParam struct {
	Node  string `json:"node"`
	Iface string `json:"iface"`
}

// NetworkList is the answer of GET /nodes/{node}/network: the interfaces,
// and the pending changes as a unified diff between the interfaces file
// and interfaces.new (empty when nothing is pending).
type NetworkList struct {
	Items   []map[string]any
	Changes string
}

// ResultAttrs gives the server the list as "data" and the diff as the
// top-level attribute "changes" beside it: that is where Proxmox VE puts
// it and where its web interface reads it.
func (l NetworkList) ResultAttrs() (any, map[string]any) {
	items := l.Items
	if items == nil {
		items = []map[string]any{}
	}
	if l.Changes == "" {
		return items, nil
	}
	return items, map[string]any{"changes": l.Changes}
}

// NATLease is one DHCP lease of the NAT network.
type NATLease struct {
	MAC      string `json:"mac"`
	IP       string `json:"ip"`
	Hostname string `json:"hostname,omitempty"`
	// Expiry is seconds since the epoch; 0 for a lease without end.
	Expiry int64 `json:"expiry"`
}

// NATStatus describes the NAT network of a node.
type NATStatus struct {
	// State is "up", "down" (configured but not running) or "off".
	State     string `json:"state"`
	Bridge    string `json:"bridge,omitempty"`
	Subnet    string `json:"subnet,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	DHCPStart string `json:"dhcp-start,omitempty"`
	DHCPEnd   string `json:"dhcp-end,omitempty"`
	DNS       int    `json:"dns,omitempty"`
	// Error says why a configured network is down.
	Error string `json:"error,omitempty"`
}

func ifaceParam() *schema.Schema {
	return schema.Schema{Type: schema.String, Format: "pve-iface", MinLength: 2, MaxLength: 20,
		Description: "Name of the network interface."}.Ptr()
}

// networkOptions are the settings of an interface, as create and update
// take them.
func networkOptions() schema.Props {
	ifaceOpt := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.String, Format: "pve-iface", Description: desc}.Opt()
	}
	ifaceList := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.String, Format: "pve-iface-list", Description: desc}.Opt()
	}
	str := func(format, desc string) *schema.Schema {
		return schema.Schema{Type: schema.String, Format: format, Description: desc}.Opt()
	}
	vlanID := func(desc string) *schema.Schema { return schema.IntRange(desc, 1, 4094).Opt() }
	return schema.Props{
		"node":  schema.Node().Ptr(),
		"iface": ifaceParam(),
		"type":  schema.Enum("Kind of interface.", NetworkTypes...).Ptr(),

		"autostart": schema.Bool("Bring the interface up at boot and when the configuration is applied (an auto line).").Opt(),
		"comments":  schema.Str("Free text kept as comment lines of the IPv4 stanza.").Opt(),
		"comments6": schema.Str("Free text kept as comment lines of the IPv6 stanza.").Opt(),
		"mtu":       schema.IntRange("Maximum transmission unit in bytes.", 1280, 65520).Opt(),

		"cidr":     str("CIDRv4", "IPv4 address with its prefix length, such as 192.0.2.10/24."),
		"address":  str("ipv4", "IPv4 address; give the prefix in netmask, or use cidr."),
		"netmask":  str("ipv4mask", "IPv4 netmask (255.255.255.0) or prefix length that goes with address."),
		"gateway":  str("ipv4", "IPv4 default gateway; only one interface may have one."),
		"cidr6":    str("CIDRv6", "IPv6 address with its prefix length, such as 2001:db8::10/64."),
		"address6": str("ipv6", "IPv6 address; give the prefix length in netmask6, or use cidr6."),
		"netmask6": schema.IntRange("IPv6 prefix length that goes with address6.", 0, 128).Opt(),
		"gateway6": str("ipv6", "IPv6 default gateway; only one interface may have one."),

		"bridge_ports":      ifaceList("Interfaces that become ports of the bridge."),
		"bridge_vlan_aware": schema.Bool("Make the bridge filter VLANs itself, so guest ports carry their tag without a bridge per VLAN.").Opt(),
		"bridge_vids": schema.Pat("VLANs a VLAN-aware bridge and its ports allow, as ids and ranges separated by spaces or commas ('2 4 100-200').",
			`[0-9]{1,4}(?:-[0-9]{1,4})?(?:[ ,;]+[0-9]{1,4}(?:-[0-9]{1,4})?)*`).Opt(),

		"slaves":                ifaceList("Interfaces the bond aggregates."),
		"bond_mode":             schema.Enum("How the bond spreads traffic over its slaves; the *slb and lacp-* modes are Open vSwitch's.", "balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb", "balance-slb", "lacp-balance-slb", "lacp-balance-tcp").Opt(),
		"bond_xmit_hash_policy": schema.Enum("Which header fields pick the slave in the balance-xor and 802.3ad modes.", "layer2", "layer2+3", "layer3+4").Opt(),
		"bond-primary":          ifaceOpt("Slave that carries the traffic while it is up, in active-backup mode."),

		"vlan-id":         vlanID("VLAN id of a VLAN interface whose name does not carry it (vlan100 with vlan-raw-device)."),
		"vlan-raw-device": ifaceOpt("Interface a VLAN interface sends its tagged frames on."),

		"ovs_bridge":  ifaceOpt("Open vSwitch bridge an OVS port, bond or internal port belongs to; required to create one."),
		"ovs_ports":   ifaceList("Ports of an Open vSwitch bridge."),
		"ovs_bonds":   ifaceList("Interfaces an Open vSwitch bond aggregates."),
		"ovs_options": schema.Schema{Type: schema.String, MaxLength: 1024, Description: "Extra Open vSwitch options of the interface."}.Opt(),
		"ovs_tag":     vlanID("VLAN tag of an Open vSwitch port, bond or internal port."),
	}
}

func networkUpdateOptions() schema.Props {
	p := networkOptions()
	p["type"] = schema.Enum("Kind of interface; must be the interface's current kind.", NetworkTypes...).Ptr()
	p["delete"] = schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Settings to remove, such as cidr6,gateway6."}.Opt()
	return p
}

func networkItem() schema.Schema {
	flag := func(d string) *schema.Schema { return schema.Bool(d).Opt() }
	methods := []string{"loopback", "dhcp", "manual", "static", "auto"}
	str := func(d string) *schema.Schema { return schema.Str(d).Opt() }
	return schema.Schema{Type: schema.Object, AdditionalProperties: true, Properties: schema.Props{
		"iface":        ifaceParam(),
		"type":         schema.Enum("Kind of interface.", NetworkTypes...).Ptr(),
		"method":       schema.Enum("How IPv4 is configured.", methods...).Opt(),
		"method6":      schema.Enum("How IPv6 is configured.", methods...).Opt(),
		"families":     schema.Schema{Type: schema.Array, Optional: true, Description: "Address families with a stanza.", Items: schema.Enum("", "inet", "inet6").Ptr()}.Ptr(),
		"priority":     schema.Int("Position of the interface in the file.").Opt(),
		"autostart":    flag("Brought up at boot."),
		"exists":       flag("A physical interface of this name is present."),
		"active":       flag("The interface is up."),
		"address":      str("IPv4 address."),
		"netmask":      str("IPv4 prefix length."),
		"cidr":         str("IPv4 address with prefix length."),
		"gateway":      str("IPv4 default gateway."),
		"address6":     str("IPv6 address."),
		"netmask6":     str("IPv6 prefix length."),
		"cidr6":        str("IPv6 address with prefix length."),
		"gateway6":     str("IPv6 default gateway."),
		"comments":     str("Comment lines of the IPv4 stanza."),
		"comments6":    str("Comment lines of the IPv6 stanza."),
		"options":      schema.Schema{Type: schema.Array, Optional: true, Description: "Other lines of the IPv4 stanza, kept as written.", Items: schema.Str("").Ptr()}.Ptr(),
		"options6":     schema.Schema{Type: schema.Array, Optional: true, Description: "Other lines of the IPv6 stanza, kept as written.", Items: schema.Str("").Ptr()}.Ptr(),
		"mtu":          str("MTU."),
		"bridge_ports": str("Bridge ports."),
		"slaves":       str("Bond slaves."),
	}}
}

var (
	NetworkListGet = Declare[NetworkListParams, NetworkList](Endpoint{
		Path: "/nodes/{node}/network", Method: "GET", Name: "index",
		Description: "List the node's network interfaces: those of the interfaces file (with pending changes applied) and the physical NICs found on the host. " +
			"The pending changes are returned as a unified diff in the top-level attribute 'changes'.",
		Params: schema.Props{
			"node": schema.Node().Ptr(),
			"type": schema.Enum("Only interfaces of this kind; any_bridge and any_local_bridge list every bridge, include_sdn also the NAT network's bridge.", networkFilters...).Opt(),
		},
		Perm: Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node",
		Returns: schema.ArrayOf("", networkItem()),
	})

	NetworkCreate = Declare[Params, any](Endpoint{
		Path: "/nodes/{node}/network", Method: "POST", Name: "create_network",
		Description: "Add an interface to the pending configuration (interfaces.new). Nothing changes on the host until the configuration is applied.",
		Params:      networkOptions(),
		Perm:        Perm("/nodes/{node}", "Sys.Modify"), ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})

	NetworkApply = DeclareTask[NodeParam](Endpoint{
		Path: "/nodes/{node}/network", Method: "PUT", Name: "reload_network_config",
		Description: "Apply the pending network configuration to the running host: compare it with the kernel's state, make the changes in a safe order, " +
			"and undo them all if one fails. On success interfaces.new replaces the interfaces file. Without pending changes the current file is applied again.",
		Params: nodeProps,
		Perm:   Perm("/nodes/{node}", "Sys.Modify"), ProxyTo: "node", Protected: true,
	})

	NetworkRevert = Declare[NodeParam, any](Endpoint{
		Path: "/nodes/{node}/network", Method: "DELETE", Name: "revert_network_changes",
		Description: "Throw the pending network changes away (delete interfaces.new).",
		Params:      nodeProps,
		Perm:        Perm("/nodes/{node}", "Sys.Modify"), ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})

	NetworkGet = Declare[NetworkIfaceParam, map[string]any](Endpoint{
		Path: "/nodes/{node}/network/{iface}", Method: "GET", Name: "network_config",
		Description: "Show one interface of the pending configuration.",
		Params:      schema.Props{"node": schema.Node().Ptr(), "iface": ifaceParam()},
		Perm:        Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node",
		Returns: networkItem(),
	})

	NetworkUpdate = Declare[Params, any](Endpoint{
		Path: "/nodes/{node}/network/{iface}", Method: "PUT", Name: "update_network",
		Description: "Change an interface in the pending configuration; settings named in 'delete' are removed first.",
		Params:      networkUpdateOptions(),
		Perm:        Perm("/nodes/{node}", "Sys.Modify"), ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})

	NetworkDelete = Declare[NetworkIfaceParam, any](Endpoint{
		Path: "/nodes/{node}/network/{iface}", Method: "DELETE", Name: "delete_network",
		Description: "Remove an interface from the pending configuration, and from the bridges and bonds that use it.",
		Params:      schema.Props{"node": schema.Node().Ptr(), "iface": ifaceParam()},
		Perm:        Perm("/nodes/{node}", "Sys.Modify"), ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})

	NATStatusGet = Declare[NodeParam, NATStatus](Endpoint{
		Path: "/nodes/{node}/hearth/nat", Method: "GET", Name: "nat_status",
		Description: "Hearth extension: show the node's NAT network for guests (its bridge, subnet and DHCP range) and whether it runs.",
		Params:      nodeProps,
		Perm:        Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node",
		Returns: schema.Obj("", schema.Props{
			"state":      schema.Enum("up: running; down: configured but not running (see error); off: not configured.", "up", "down", "off").Ptr(),
			"bridge":     schema.Str("Bridge guests plug into.").Opt(),
			"subnet":     schema.Str("IPv4 subnet behind the NAT.").Opt(),
			"gateway":    schema.Str("The node's address on the bridge.").Opt(),
			"dhcp-start": schema.Str("First address DHCP hands out.").Opt(),
			"dhcp-end":   schema.Str("Last address DHCP hands out.").Opt(),
			"dns":        schema.Bool("The node answers DNS on the gateway address.").Opt(),
			"error":      schema.Str("Why the network is down.").Opt(),
		}),
	})

	NATLeases = Declare[NodeParam, []NATLease](Endpoint{
		Path: "/nodes/{node}/hearth/nat/leases", Method: "GET", Name: "nat_leases",
		Description: "Hearth extension: list the DHCP leases the NAT network handed to guests. Fails, saying why, when the network is not running.",
		Params:      nodeProps,
		Perm:        Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node",
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"mac":      schema.Str("Hardware address of the guest's NIC.").Ptr(),
			"ip":       schema.Str("Address handed out.").Ptr(),
			"hostname": schema.Str("Host name the guest sent.").Opt(),
			"expiry":   schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When the lease ends (seconds since the epoch); 0 for never."}.Ptr(),
		})),
	})
)
