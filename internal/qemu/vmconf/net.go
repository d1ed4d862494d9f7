package vmconf

import (
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// Net is a network card: the value of net0 to net31.
type Net struct {
	Key   string // such as "net0"
	Index int

	Model    string // e1000, virtio, ...
	MACAddr  string
	Bridge   string // empty: QEMU user-mode networking
	Tag      Opt[int]
	Trunks   string       // VLAN ids and ranges separated by ';'
	Rate     Opt[float64] // MB/s
	Queues   Opt[int]
	MTU      Opt[int]
	Firewall Opt[bool]
	LinkDown Opt[bool]
}

func (n *Net) fields() []field {
	return []field{
		reqStrField("model", &n.Model), strField("macaddr", &n.MACAddr), strField("bridge", &n.Bridge),
		optField("tag", &n.Tag), strField("trunks", &n.Trunks), optField("rate", &n.Rate),
		optField("queues", &n.Queues), optField("mtu", &n.MTU),
		optField("firewall", &n.Firewall), optField("link_down", &n.LinkDown),
	}
}

// ParseNet parses the value of a NIC key (net0 to net31).
func ParseNet(key, value string) (*Net, error) {
	index, ok := indexOf(key, "net", api.QemuMaxNets)
	if !ok {
		return nil, fmt.Errorf("%q is not a network card key; expected net0 to net%d", key, api.QemuMaxNets-1)
	}
	n := &Net{Key: key, Index: index}
	if err := parseProp(propOf("net0"), value, n); err != nil {
		return nil, err
	}
	if _, err := ParseIDRanges(n.Trunks); err != nil {
		return nil, fmt.Errorf("trunks: %w", err)
	}
	return n, nil
}

// String prints the NIC canonically: "<model>=<mac>" first, then the
// other keys sorted.
func (n *Net) String() string { return printProp(propOf("net0"), n) }

// TrunkRanges returns the trunk VLANs as inclusive ranges.
func (n *Net) TrunkRanges() [][2]int {
	r, _ := ParseIDRanges(n.Trunks) // checked by ParseNet
	return r
}

// indexOf reads the index of a key like "net7" with the given prefix,
// refusing leading zeroes and indexes of max or more.
func indexOf(key, prefix string, max int) (int, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || strconv.Itoa(n) != rest || n < 0 || n >= max {
		return 0, false
	}
	return n, true
}

// ParseIDRanges reads a list of ids and inclusive id ranges separated by
// ';', such as "0-3;8", as used by trunks and NUMA nodes. An empty list
// gives no ranges.
func ParseIDRanges(v string) ([][2]int, error) {
	var out [][2]int
	for _, item := range splitItems(v, ";") {
		lo, hi, isRange := strings.Cut(item, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 {
			return nil, fmt.Errorf("%q is not an id or a range of ids such as 3 or 0-7", item)
		}
		if b < a {
			return nil, fmt.Errorf("range %q ends before it starts", item)
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

// DefaultMACPrefix is the prefix of generated MAC addresses when the
// datacenter configuration names none: the block registered to Proxmox
// Server Solutions, meant for guests.
const DefaultMACPrefix = "BC:24:11"

// GenerateMAC returns a new MAC address for a NIC. Its random octets come
// from r (crypto/rand when r is nil or fails) and have the multicast bit
// cleared and the locally administered bit set; prefix (DefaultMACPrefix
// when empty) then replaces the leading characters. A prefix that is not a
// valid mac-prefix is ignored, which leaves a random locally administered
// address.
func GenerateMAC(prefix string, r io.Reader) string {
	var b [6]byte
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		_, _ = rand.Read(b[:])
	}
	b[0] = b[0]&0xfe | 0x02
	mac := fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", b[0], b[1], b[2], b[3], b[4], b[5])
	if prefix == "" {
		prefix = DefaultMACPrefix
	}
	if schema.CheckFormat("mac-prefix", prefix) != nil {
		return mac
	}
	return strings.ToUpper(prefix) + mac[len(prefix):]
}
