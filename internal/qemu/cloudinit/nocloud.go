package cloudinit

import (
	"net"
	"strings"
)

// noCloudNetwork is the network-config file in cloud-init's version 1
// format: one physical entry per configured NIC, matched by MAC address
// and named ethN, then the DNS settings.
func noCloudNetwork(p *plan) string {
	var b strings.Builder
	b.WriteString("version: 1\n")
	if len(p.nics) == 0 && len(p.nameservers) == 0 && len(p.search) == 0 {
		// An explicit empty list: a bare "config:" would be null, which
		// cloud-init does not take for "nothing to configure".
		b.WriteString("config: []\n")
		return b.String()
	}
	b.WriteString("config:\n")
	const in = "    " // entries of the config list
	const sub = in + "  "
	for _, n := range p.nics {
		b.WriteString(in + "- type: physical\n")
		b.WriteString(in + "  name: " + n.name + "\n")
		b.WriteString(in + "  mac_address: " + yamlSingleQuoted(n.mac) + "\n")
		subnets := noCloudSubnets(n.cfg)
		if len(subnets) == 0 {
			continue
		}
		b.WriteString(in + "  subnets:\n")
		for _, s := range subnets {
			for i, kv := range s {
				lead := sub + "  "
				if i == 0 {
					lead = sub + "- "
				}
				b.WriteString(lead + kv[0] + ": " + kv[1] + "\n")
			}
		}
	}
	if len(p.nameservers) > 0 || len(p.search) > 0 {
		b.WriteString(in + "- type: nameserver\n")
		list := func(key string, vals []string) {
			if len(vals) == 0 {
				return
			}
			b.WriteString(in + "  " + key + ":\n")
			for _, v := range vals {
				b.WriteString(sub + "- " + yamlSingleQuoted(v) + "\n")
			}
		}
		list("address", p.nameservers)
		list("search", p.search)
	}
	return b.String()
}

// noCloudSubnets lists the subnets of one NIC, each as ordered key/value
// pairs with the values already rendered.
func noCloudSubnets(c IPConfig) [][][2]string {
	var out [][][2]string
	switch c.IPv4.Mode {
	case ModeDHCP:
		out = append(out, [][2]string{{"type", "dhcp"}})
	case ModeStatic:
		s := [][2]string{
			{"type", "static"},
			{"address", yamlSingleQuoted(c.IPv4.Prefix.Addr().String())},
			{"netmask", yamlSingleQuoted(netmask4(c.IPv4.Prefix.Bits()))},
		}
		if c.IPv4.Gateway.IsValid() {
			s = append(s, [2]string{"gateway", yamlSingleQuoted(c.IPv4.Gateway.String())})
		}
		out = append(out, s)
	}
	switch c.IPv6.Mode {
	case ModeDHCP:
		out = append(out, [][2]string{{"type", "dhcp6"}})
	case ModeSLAAC:
		out = append(out, [][2]string{{"type", "ipv6_slaac"}})
	case ModeStatic:
		// An IPv6 static subnet carries its prefix length in the address.
		s := [][2]string{{"type", "static"}, {"address", yamlSingleQuoted(c.IPv6.Prefix.String())}}
		if c.IPv6.Gateway.IsValid() {
			s = append(s, [2]string{"gateway", yamlSingleQuoted(c.IPv6.Gateway.String())})
		}
		out = append(out, s)
	}
	return out
}

// noCloudMeta is the meta-data file. The instance id changes whenever
// the user or network data does, which makes cloud-init in the guest run
// its once-per-instance steps again for the new settings.
func noCloudMeta(instanceID, host string) string {
	return "instance-id: " + instanceID + "\nlocal-hostname: " + yamlValue(host) + "\n"
}

// netmask4 is the dotted netmask of an IPv4 prefix length.
func netmask4(bits int) string {
	return net.IP(net.CIDRMask(bits, 32)).String()
}

// netmask6 is the expanded netmask of an IPv6 prefix length, the form
// OpenStack's network_data.json uses.
func netmask6(bits int) string {
	return net.IP(net.CIDRMask(bits, 128)).String()
}
