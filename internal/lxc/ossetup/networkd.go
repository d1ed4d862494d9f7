package ossetup

import (
	"fmt"
	"strings"
)

// networkdUnit renders the systemd-networkd file for one interface. The
// file is Hearth's alone (one per interface, named <name>.network as on
// Proxmox VE); users who want their own put a .pve-ignore file next to it.
func networkdUnit(c ifaceConf) string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s = %v\n", k, v) }
	fmt.Fprintf(&b, "# Written by Hearth from the container's net%d setting at every start.\n", c.Index)
	fmt.Fprintf(&b, "# To keep a version of your own, create .pve-ignore.%s.network here.\n", c.Name)
	b.WriteString("[Match]\n")
	kv("Name", c.Name)
	b.WriteString("\n[Network]\n")
	kv("Description", "Interface "+c.Name+" configured by Hearth")
	if c.v4 == "static" {
		kv("Address", c.addr4)
		if c.hasV4Route && !c.offlink4 {
			kv("Gateway", c.gw4)
		}
	}
	if c.v6 == "static" {
		kv("Address", c.addr6)
		if c.hasV6Route && !c.offlink6 {
			kv("Gateway", c.gw6)
		}
	}
	switch dhcp4, dhcp6 := c.v4 == "dhcp", c.v6 == "dhcp"; {
	case dhcp4 && dhcp6:
		kv("DHCP", "yes")
	case dhcp4:
		kv("DHCP", "ipv4")
	case dhcp6:
		kv("DHCP", "ipv6")
	default:
		kv("DHCP", "no")
	}
	switch c.v6 {
	case "auto", "dhcp":
		// DHCPv6 is normally started by the router advertisement.
		kv("IPv6AcceptRA", "true")
	case "static":
		kv("IPv6AcceptRA", "false")
	}
	if c.MTU > 0 {
		b.WriteString("\n[Link]\n")
		kv("MTUBytes", c.MTU)
	}
	// A gateway outside the subnet is reachable only once it is declared
	// to be on the link.
	if c.hasV4Route && c.offlink4 {
		b.WriteString("\n[Route]\n")
		kv("Gateway", c.gw4)
		kv("GatewayOnLink", "true")
	}
	if c.hasV6Route && c.offlink6 {
		b.WriteString("\n[Route]\n")
		kv("Gateway", c.gw6)
		kv("GatewayOnLink", "true")
	}
	return b.String()
}
