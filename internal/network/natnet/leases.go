package natnet

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Lease is one DHCP lease.
type Lease struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string    // as the guest sent it; empty when it sent none
	Expiry   time.Time // zero for a lease that never expires
}

// ParseLeases reads a dnsmasq lease file. Each IPv4 lease is a line
//
//	<expiry, Unix seconds; 0 = never> <MAC> <IP> <hostname or *> <client id or *>
//
// where the MAC of hardware other than Ethernet carries its ARP type in
// front ("20-..."). A line "duid <server DUID>" starts the DHCPv6 leases,
// whose second field is an IAID instead of a MAC; the network is IPv4
// only, so they are skipped.
func ParseLeases(r io.Reader) ([]Lease, error) {
	var out []Lease
	s := bufio.NewScanner(r)
	v6 := false
	for n := 1; s.Scan(); n++ {
		f := strings.Fields(s.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "duid" {
			v6 = true
			continue
		}
		if v6 {
			continue
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("lease line %d: %d fields, want at least 4", n, len(f))
		}
		exp, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || exp < 0 {
			return nil, fmt.Errorf("lease line %d: expiry %q is not a time", n, f[0])
		}
		mac, err := parseLeaseMAC(f[1])
		if err != nil {
			return nil, fmt.Errorf("lease line %d: %w", n, err)
		}
		ip, err := netip.ParseAddr(f[2])
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("lease line %d: %q is not an IPv4 address", n, f[2])
		}
		l := Lease{MAC: mac, IP: ip}
		if f[3] != "*" {
			l.Hostname = f[3]
		}
		if exp != 0 {
			l.Expiry = time.Unix(exp, 0)
		}
		out = append(out, l)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	return out, nil
}

// parseLeaseMAC parses the hardware address field, dropping the ARP type
// prefix dnsmasq writes for non-Ethernet hardware; "*" or an empty address
// gives nil.
func parseLeaseMAC(s string) (net.HardwareAddr, error) {
	if i := strings.IndexByte(s, '-'); i > 0 && !strings.Contains(s[:i], ":") {
		if _, err := strconv.ParseUint(s[:i], 16, 16); err != nil {
			return nil, fmt.Errorf("hardware address %q has a bad type prefix", s)
		}
		s = s[i+1:]
	}
	if s == "" || s == "*" {
		return nil, nil
	}
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("hardware address %q: %w", s, err)
	}
	return mac, nil
}
