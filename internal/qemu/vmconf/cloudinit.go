package vmconf

import (
	"fmt"
	"net/netip"
)

// IPConfig is the value of ipconfig0 to ipconfig31: the cloud-init
// addresses of the NIC with the same number.
type IPConfig struct {
	IP  string // CIDR, dhcp or manual
	GW  string
	IP6 string // CIDR, dhcp, auto or manual
	GW6 string
}

func (c *IPConfig) fields() []field {
	return []field{strField("ip", &c.IP), strField("gw", &c.GW), strField("ip6", &c.IP6), strField("gw6", &c.GW6)}
}

// ParseIPConfig parses the value of an ipconfigN key. The addresses are
// checked exactly (the schema's IPv6 pattern is loose) and a gateway
// needs an address of its family.
func ParseIPConfig(v string) (*IPConfig, error) {
	c := &IPConfig{}
	if err := parseProp(propOf("ipconfig0"), v, c); err != nil {
		return nil, err
	}
	if err := checkCIDR("ip", c.IP, false, "dhcp", "manual"); err != nil {
		return nil, err
	}
	if err := checkCIDR("ip6", c.IP6, true, "dhcp", "auto", "manual"); err != nil {
		return nil, err
	}
	if c.GW != "" && c.IP == "" {
		return nil, fmt.Errorf("gw: needs ip")
	}
	if c.GW6 != "" && c.IP6 == "" {
		return nil, fmt.Errorf("gw6: needs ip6")
	}
	return c, nil
}

func checkCIDR(key, v string, v6 bool, words ...string) error {
	if v == "" {
		return nil
	}
	for _, w := range words {
		if v == w {
			return nil
		}
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || p.Addr().Is6() != v6 || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		return fmt.Errorf("%s: %q is not an %s address with prefix length", key, v, fam)
	}
	return nil
}

func (c *IPConfig) String() string { return printProp(propOf("ipconfig0"), c) }

// CICustom is the value of cicustom: snippet volumes that replace the
// generated cloud-init files.
type CICustom struct {
	Meta, Network, User, Vendor string
}

func (c *CICustom) fields() []field {
	return []field{
		strField("meta", &c.Meta), strField("network", &c.Network), strField("user", &c.User), strField("vendor", &c.Vendor),
	}
}

// ParseCICustom parses the cicustom value.
func ParseCICustom(v string) (*CICustom, error) {
	c := &CICustom{}
	if err := parseProp(propOf("cicustom"), v, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CICustom) String() string { return printProp(propOf("cicustom"), c) }
