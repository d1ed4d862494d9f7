package ctconf

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// Net is a network interface of a container: the value of net0 to net9.
// The container sees one end of a veth pair named Name; the host end is
// plugged into Bridge.
type Net struct {
	Key   string // such as "net0"
	Index int

	Name   string // inside the container, such as eth0
	Bridge string
	HWAddr string // empty until one is generated
	Type   string // "veth" or empty (also veth)

	// IP is an IPv4 address with prefix length, "dhcp" or "manual"; IP6
	// an IPv6 one, "dhcp", "auto" or "manual". Empty leaves the family
	// unconfigured.
	IP, IP6 string
	GW, GW6 string

	MTU    Opt[int]
	Rate   Opt[float64] // MB/s
	Tag    Opt[int]
	Trunks []int // VLAN ids

	Firewall, LinkDown, HostManaged Opt[bool]
}

func (n *Net) fields() []field {
	return []field{
		reqStrField("name", &n.Name), strField("bridge", &n.Bridge), strField("hwaddr", &n.HWAddr), strField("type", &n.Type),
		strField("ip", &n.IP), strField("ip6", &n.IP6), strField("gw", &n.GW), strField("gw6", &n.GW6),
		optField("mtu", &n.MTU), optField("rate", &n.Rate), optField("tag", &n.Tag), trunksField(&n.Trunks),
		optField("firewall", &n.Firewall), optField("link_down", &n.LinkDown), optField("host-managed", &n.HostManaged),
	}
}

// trunksField binds the VLAN ids of trunks; the schema has checked that
// they are digits separated by ';'.
func trunksField(p *[]int) field {
	return field{key: "trunks",
		set: func(v string) error {
			var ids []int
			for _, item := range strings.Split(v, ";") {
				id, err := strconv.Atoi(item)
				if err != nil || id < 1 || id > 4094 {
					return fmt.Errorf("%q is not a VLAN id: expected 1 to 4094", item)
				}
				ids = append(ids, id)
			}
			*p = ids
			return nil
		},
		get: func() (string, bool) {
			items := make([]string, len(*p))
			for i, id := range *p {
				items[i] = strconv.Itoa(id)
			}
			return strings.Join(items, ";"), len(*p) > 0
		},
	}
}

// IsNetKey reports whether key names a network interface (net0 to net9).
func IsNetKey(key string) bool {
	_, ok := indexOf(key, "net", api.LXCMaxNets)
	return ok
}

// ParseNet parses the value of a network interface key. The addresses
// are checked exactly (the schema's IPv6 pattern is loose) and a gateway
// needs an address of its family.
func ParseNet(key, value string) (*Net, error) {
	index, ok := indexOf(key, "net", api.LXCMaxNets)
	if !ok {
		return nil, fmt.Errorf("%q is not a network interface key; expected net0 to net%d", key, api.LXCMaxNets-1)
	}
	n := &Net{Key: key, Index: index}
	if err := parseProp(propOf("net0"), value, n); err != nil {
		return nil, err
	}
	if err := n.check(); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Net) check() error {
	if n.Name == "." || n.Name == ".." {
		return fmt.Errorf("name: %q cannot name an interface", n.Name)
	}
	if err := checkCIDR("ip", n.IP, false, "dhcp", "manual"); err != nil {
		return err
	}
	if err := checkCIDR("ip6", n.IP6, true, "dhcp", "auto", "manual"); err != nil {
		return err
	}
	if n.GW != "" && n.IP == "" {
		return errors.New("gw: needs ip")
	}
	if n.GW6 != "" && n.IP6 == "" {
		return errors.New("gw6: needs ip6")
	}
	return nil
}

// checkCIDR accepts an address with prefix length of the given family, or
// one of words.
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

// String prints the interface canonically, its keys sorted.
func (n *Net) String() string { return printProp(propOf("net0"), n) }

// StaticIP returns the IPv4 address and prefix when IP is one (rather
// than dhcp or manual).
func (n *Net) StaticIP() (netip.Prefix, bool) { return staticPrefix(n.IP) }

// StaticIP6 returns the IPv6 address and prefix when IP6 is one.
func (n *Net) StaticIP6() (netip.Prefix, bool) { return staticPrefix(n.IP6) }

func staticPrefix(v string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(v)
	return p, err == nil
}

// Nets parses the netN keys of values and returns them by index. Values
// that do not parse are left out (Validate reports them).
func Nets(values map[string]string) []*Net {
	var out []*Net
	for k, v := range values {
		if !IsNetKey(k) {
			continue
		}
		if n, err := ParseNet(k, v); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}
