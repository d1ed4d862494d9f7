package natnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
)

// Defaults for the fields of Config left empty.
const (
	DefaultBridge = "hearthnat0"
	DefaultSubnet = "10.213.0.0/24"
)

// Range is an inclusive range of addresses.
type Range struct {
	Start, End netip.Addr
}

// Config describes a NAT network. Empty fields take defaults (see
// WithDefaults); StateDir is required.
type Config struct {
	// Bridge is the bridge guests are plugged into. Default hearthnat0.
	Bridge string
	// Subnet is the IPv4 network behind the NAT. Default 10.213.0.0/24.
	Subnet netip.Prefix
	// Gateway is the node's address on the bridge. Default: the first
	// address of Subnet.
	Gateway netip.Addr
	// DHCPRange is what DHCP hands out. Default: the upper half of Subnet
	// without the broadcast address, leaving the lower half for static
	// addresses.
	DHCPRange Range
	// DNS makes dnsmasq answer DNS on the gateway address (forwarding to
	// the node's resolvers, answering guests' hostnames) and hand itself
	// out as the guests' DNS server. Off, dnsmasq does DHCP only.
	DNS bool
	// StateDir holds dnsmasq.conf, dnsmasq.leases, dnsmasq.pid and
	// dnsmasq.stderr. One directory per network.
	StateDir string
	// Domain is the DNS domain handed to guests and appended to their
	// hostnames; empty means none.
	Domain string
	// Logger receives the supervisor's notes (adoption, restarts); nil
	// discards them. dnsmasq itself logs to syslog.
	Logger *slog.Logger
}

var (
	ifNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)
	domainRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// WithDefaults returns c with its empty fields filled in.
func (c Config) WithDefaults() Config {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if !c.Subnet.IsValid() {
		c.Subnet = netip.MustParsePrefix(DefaultSubnet)
	}
	c.Subnet = c.Subnet.Masked()
	if !c.Subnet.Addr().Is4() || c.Subnet.Bits() > 30 {
		return c // validate explains
	}
	if !c.Gateway.IsValid() {
		c.Gateway = c.Subnet.Addr().Next()
	}
	if !c.DHCPRange.Start.IsValid() && !c.DHCPRange.End.IsValid() {
		size := uint32(1) << (32 - c.Subnet.Bits())
		c.DHCPRange.Start = addrAdd(c.Subnet.Addr(), size/2)
		c.DHCPRange.End = addrAdd(c.Subnet.Addr(), size-2)
		if c.DHCPRange.Start == c.Gateway {
			c.DHCPRange.Start = c.Gateway.Next()
		}
	}
	return c
}

func addrAdd(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func broadcast(p netip.Prefix) netip.Addr {
	return addrAdd(p.Addr(), uint32(1)<<(32-p.Bits())-1)
}

// hostAddr tells whether a is a usable host address of p.
func hostAddr(p netip.Prefix, a netip.Addr) bool {
	return a.Is4() && p.Contains(a) && a != p.Addr() && a != broadcast(p)
}

// validate checks a Config that went through WithDefaults.
func (c Config) validate() error {
	if !ifNameRE.MatchString(c.Bridge) {
		return fmt.Errorf("bridge name %q is not a valid interface name (1-15 letters, digits, '_', '.', '-')", c.Bridge)
	}
	if !c.Subnet.Addr().Is4() {
		return fmt.Errorf("subnet %s is not IPv4; the NAT network is IPv4 only", c.Subnet)
	}
	if c.Subnet.Bits() > 30 {
		return fmt.Errorf("subnet %s is too small: it needs room for a gateway and a guest", c.Subnet)
	}
	if !hostAddr(c.Subnet, c.Gateway) {
		return fmt.Errorf("gateway %s is not a host address of subnet %s", c.Gateway, c.Subnet)
	}
	r := c.DHCPRange
	if !hostAddr(c.Subnet, r.Start) || !hostAddr(c.Subnet, r.End) {
		return fmt.Errorf("DHCP range %s-%s is not inside the host addresses of subnet %s", r.Start, r.End, c.Subnet)
	}
	if r.End.Less(r.Start) {
		return fmt.Errorf("DHCP range %s-%s ends before it starts", r.Start, r.End)
	}
	if !c.Gateway.Less(r.Start) && !r.End.Less(c.Gateway) {
		return fmt.Errorf("DHCP range %s-%s contains the gateway %s", r.Start, r.End, c.Gateway)
	}
	if c.StateDir == "" {
		return errors.New("the NAT network needs a state directory")
	}
	if !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("state directory %s is not an absolute path", c.StateDir)
	}
	// dnsmasq's configuration is line based.
	if strings.ContainsAny(c.StateDir, "\n\r") {
		return fmt.Errorf("state directory %q contains a line break", c.StateDir)
	}
	if c.Domain != "" && (len(c.Domain) > 253 || !domainRE.MatchString(c.Domain)) {
		return fmt.Errorf("domain %q is not a valid DNS name", c.Domain)
	}
	return nil
}

// Table is the name of the network's nftables table (family inet).
func (c Config) Table() string { return "hearth-nat-" + c.Bridge }

func (c Config) confPath() string  { return filepath.Join(c.StateDir, "dnsmasq.conf") }
func (c Config) leasePath() string { return filepath.Join(c.StateDir, "dnsmasq.leases") }
func (c Config) pidPath() string   { return filepath.Join(c.StateDir, "dnsmasq.pid") }

// stderrPath keeps what dnsmasq printed on standard error at its last
// start, where it explains a failure to start.
func (c Config) stderrPath() string { return filepath.Join(c.StateDir, "dnsmasq.stderr") }
