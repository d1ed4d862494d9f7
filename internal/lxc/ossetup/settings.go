package ossetup

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Settings is what Apply writes into the container; empty fields leave
// the matching files alone.
type Settings struct {
	// Hostname may be a short name or a fully qualified one.
	Hostname string
	Nets     []Net
	// Nameservers and SearchDomain go to /etc/resolv.conf; with both
	// empty the file is not touched.
	Nameservers []string
	// SearchDomain holds one or more domains separated by spaces, commas
	// or semicolons, as in the searchdomain option.
	SearchDomain string
	// Timezone is a zone name such as Europe/Vienna, or "host" for the
	// zone the host's /etc/localtime points at.
	Timezone string

	// hostLocaltime replaces the host's /etc/localtime in tests.
	hostLocaltime string
}

// Net is one netN setting of the container, as far as the guest's own
// network configuration is concerned.
type Net struct {
	Index int    // N of netN
	Name  string // interface name inside the container, e.g. eth0
	// IP is an IPv4 address with prefix length, "dhcp", "manual" or ""
	// (no IPv4 configuration).
	IP string
	GW string // IPv4 gateway, used with a static IP
	// IP6 is an IPv6 address with prefix length, "auto" (SLAAC), "dhcp",
	// "manual" or "".
	IP6 string
	GW6 string // IPv6 gateway, used with a static IP6
	// MTU is also set on the veth by LXC; writing it into the guest's
	// static configuration keeps the two from drifting. 0 leaves it out.
	MTU int
}

// ifaceConf is a validated Net.
type ifaceConf struct {
	Net
	v4, v6     string // "", "static", "dhcp", "manual"; v6 also "auto"
	addr4      netip.Prefix
	addr6      netip.Prefix
	gw4, gw6   netip.Addr
	offlink4   bool // the gateway lies outside the address's subnet
	offlink6   bool
	hasV4Route bool
	hasV6Route bool
}

// managed says whether the interface has any address setting; one
// without is left to the container.
func (c ifaceConf) managed() bool { return c.v4 != "" || c.v6 != "" }

var (
	ifNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)
	labelRE  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	zoneRE   = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)
)

func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// searchDomains splits the searchdomain option into its domains.
func searchDomains(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == ';'
	})
}

// check validates s and returns the parsed interfaces.
func (s Settings) check() ([]ifaceConf, error) {
	if s.Hostname != "" && !validDNSName(s.Hostname) {
		return nil, fmt.Errorf("hostname %q: want a DNS name (letters, digits and '-', dot-separated labels of at most 63 characters)", s.Hostname)
	}
	for _, ns := range s.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			return nil, fmt.Errorf("nameserver %q: not an IPv4 or IPv6 address", ns)
		}
	}
	for _, d := range searchDomains(s.SearchDomain) {
		if !validDNSName(d) {
			return nil, fmt.Errorf("searchdomain %q: %q is not a DNS name", s.SearchDomain, d)
		}
	}
	if s.Timezone != "" && s.Timezone != "host" && !zoneRE.MatchString(s.Timezone) {
		return nil, fmt.Errorf("timezone %q: want \"host\" or a zone name such as Europe/Vienna", s.Timezone)
	}
	seen := map[string]int{}
	out := make([]ifaceConf, 0, len(s.Nets))
	for _, n := range s.Nets {
		c, err := checkNet(n)
		if err != nil {
			return nil, fmt.Errorf("net%d: %w", n.Index, err)
		}
		if prev, dup := seen[n.Name]; dup {
			return nil, fmt.Errorf("net%d: interface name %s is already used by net%d", n.Index, n.Name, prev)
		}
		seen[n.Name] = n.Index
		out = append(out, c)
	}
	return out, nil
}

func checkNet(n Net) (ifaceConf, error) {
	c := ifaceConf{Net: n}
	if n.Index < 0 {
		return c, fmt.Errorf("index %d must not be negative", n.Index)
	}
	if !ifNameRE.MatchString(n.Name) {
		return c, fmt.Errorf("name %q: want 1-15 characters of letters, digits, '_', '.' and '-'", n.Name)
	}
	if n.MTU != 0 && (n.MTU < 64 || n.MTU > 65535) {
		return c, fmt.Errorf("mtu %d: want 64-65535", n.MTU)
	}
	var err error
	switch n.IP {
	case "", "dhcp", "manual":
		c.v4 = n.IP
	default:
		c.v4 = "static"
		c.addr4, err = netip.ParsePrefix(n.IP)
		if err != nil || !c.addr4.Addr().Is4() {
			return c, fmt.Errorf("ip %q: want an IPv4 address with prefix length (192.0.2.10/24), dhcp or manual", n.IP)
		}
	}
	switch n.IP6 {
	case "", "auto", "dhcp", "manual":
		c.v6 = n.IP6
	default:
		c.v6 = "static"
		c.addr6, err = netip.ParsePrefix(n.IP6)
		if err != nil || !c.addr6.Addr().Is6() || c.addr6.Addr().Is4In6() {
			return c, fmt.Errorf("ip6 %q: want an IPv6 address with prefix length (2001:db8::10/64), auto, dhcp or manual", n.IP6)
		}
	}
	if n.GW != "" {
		c.gw4, err = netip.ParseAddr(n.GW)
		if err != nil || !c.gw4.Is4() {
			return c, fmt.Errorf("gw %q: want an IPv4 address", n.GW)
		}
		c.hasV4Route = c.v4 == "static"
		c.offlink4 = c.hasV4Route && !c.addr4.Masked().Contains(c.gw4)
	}
	if n.GW6 != "" {
		c.gw6, err = netip.ParseAddr(n.GW6)
		if err != nil || !c.gw6.Is6() || c.gw6.Is4In6() || c.gw6.Zone() != "" {
			return c, fmt.Errorf("gw6 %q: want an IPv6 address", n.GW6)
		}
		c.hasV6Route = c.v6 == "static"
		// A link-local gateway is always reachable on the link.
		c.offlink6 = c.hasV6Route && !c.addr6.Masked().Contains(c.gw6) && !c.gw6.IsLinkLocalUnicast()
	}
	return c, nil
}

// netmask4 writes a prefix length as a dotted mask, which every ifupdown
// flavour accepts (busybox misreads a bare length for IPv4).
func netmask4(bits int) string {
	m := uint32(0)
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}
