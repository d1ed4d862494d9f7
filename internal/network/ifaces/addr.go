package ifaces

import (
	"net/netip"
	"strconv"
	"strings"
)

// maskBits turns a netmask into a prefix length. It accepts the dotted
// IPv4 form and a bare prefix length, as ifupdown does.
func maskBits(mask string) (string, bool) {
	mask = strings.TrimSpace(mask)
	if n, err := strconv.Atoi(mask); err == nil {
		if n < 0 || n > 128 {
			return "", false
		}
		return strconv.Itoa(n), true
	}
	a, err := netip.ParseAddr(mask)
	if err != nil || !a.Is4() {
		return "", false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&0x80000000 != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return "", false // holes in the mask
	}
	return strconv.Itoa(ones), true
}

// splitAddress returns the bare address and the prefix length of an
// address as the file writes it ("10.0.0.1/24", or "10.0.0.1" plus a
// netmask line). bits is empty when there is no usable mask.
func splitAddress(addr, netmask string) (ip, bits string) {
	if a, b, ok := strings.Cut(addr, "/"); ok {
		return a, b
	}
	if netmask != "" {
		if b, ok := maskBits(netmask); ok {
			return addr, b
		}
	}
	return addr, ""
}

// parsePrefix checks "address/bits" for the given family (4 or 6).
func parsePrefix(cidr string, family int) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || (family == 4) != p.Addr().Is4() || p.Addr().Zone() != "" {
		return netip.Prefix{}, false
	}
	return p, true
}

// parseIP checks a bare address for the given family (4 or 6).
func parseIP(s string, family int) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || (family == 4) != a.Is4() || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// notHostAddress explains why an IPv4 address cannot be given to an
// interface in its network: the network and broadcast addresses of
// prefixes shorter than /31 are not host addresses. It returns "" when
// the address is fine.
func notHostAddress(p netip.Prefix) string {
	if !p.Addr().Is4() || p.Bits() >= 31 {
		return ""
	}
	network := p.Masked().Addr()
	if p.Addr() == network {
		return p.Addr().String() + " is the network address of " + p.Masked().String() + ", not a host address"
	}
	b := network.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	bcast := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if p.Addr() == bcast {
		return p.Addr().String() + " is the broadcast address of " + p.Masked().String() + ", not a host address"
	}
	return ""
}
