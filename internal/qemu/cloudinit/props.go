package cloudinit

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// The ways an address family of a NIC can be configured.
const (
	ModeNone   = ""       // not configured
	ModeStatic = "static" // a fixed address with prefix length
	ModeDHCP   = "dhcp"
	ModeSLAAC  = "auto"   // IPv6 stateless autoconfiguration
	ModeManual = "manual" // the guest's own configuration is left alone
)

// Addressing is one address family of an ipconfig.
type Addressing struct {
	Mode    string
	Prefix  netip.Prefix // the address and its prefix length, for ModeStatic
	Gateway netip.Addr   // optional, only with ModeStatic
}

// IPConfig is a parsed ipconfigN value.
type IPConfig struct {
	IPv4, IPv6 Addressing
}

// ParseIPConfig parses an ipconfigN value such as
// "ip=192.0.2.10/24,gw=192.0.2.1,ip6=auto". Spaces around items and empty
// items are tolerated; a gateway given together with dhcp or auto is
// ignored, since the guest learns it from the network. When neither ip
// nor ip6 is given the NIC uses DHCP for IPv4.
func ParseIPConfig(v string) (IPConfig, error) {
	kv, err := splitProps(v, []string{"gw", "gw6", "ip", "ip6"})
	if err != nil {
		return IPConfig{}, err
	}
	var c IPConfig
	if c.IPv4, err = parseAddressing("ip", kv["ip"], "gw", kv["gw"], false); err != nil {
		return IPConfig{}, err
	}
	if c.IPv6, err = parseAddressing("ip6", kv["ip6"], "gw6", kv["gw6"], true); err != nil {
		return IPConfig{}, err
	}
	if c.IPv4.Mode == ModeNone && c.IPv6.Mode == ModeNone {
		c.IPv4.Mode = ModeDHCP
	}
	return c, nil
}

func parseAddressing(ipKey, ip, gwKey, gw string, v6 bool) (Addressing, error) {
	fam, example, words := "IPv4", "192.0.2.10/24", []string{ModeDHCP, ModeManual}
	if v6 {
		fam, example, words = "IPv6", "2001:db8::10/64", []string{ModeDHCP, ModeSLAAC, ModeManual}
	}
	var a Addressing
	switch {
	case ip == "":
		if gw != "" {
			return a, fmt.Errorf("%s=%s needs %s", gwKey, gw, ipKey)
		}
		return a, nil
	case slices.Contains(words, strings.ToLower(ip)):
		a.Mode = strings.ToLower(ip)
		return a, nil
	}
	p, err := netip.ParsePrefix(ip)
	if err != nil || p.Addr().Is6() != v6 || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return a, fmt.Errorf("%s=%s: expected %s or an %s address with prefix length (like %s)", ipKey, ip, strings.Join(words, ", "), fam, example)
	}
	a.Mode, a.Prefix = ModeStatic, p
	if gw != "" {
		g, err := netip.ParseAddr(gw)
		if err != nil || g.Is6() != v6 || g.Is4In6() || g.Zone() != "" {
			return a, fmt.Errorf("%s=%s: expected an %s address", gwKey, gw, fam)
		}
		a.Gateway = g
	}
	return a, nil
}

// ParseCICustom parses a cicustom value ("user=local:snippets/u.yaml,...")
// into the snippet volume of each kind (meta, network, user, vendor).
func ParseCICustom(v string) (map[string]string, error) {
	kv, err := splitProps(v, customKinds)
	if err != nil {
		return nil, err
	}
	for k, vol := range kv {
		if vol == "" {
			return nil, fmt.Errorf("%s: needs a snippet volume such as local:snippets/%s.yaml", k, k)
		}
	}
	return kv, nil
}

// splitProps splits a property string "k=v,k=v" whose keys must be in
// allowed. Items are trimmed and empty ones skipped.
func splitProps(v string, allowed []string) (map[string]string, error) {
	kv := map[string]string{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, val, ok := strings.Cut(item, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok {
			return nil, fmt.Errorf("%q is not a key=value pair; keys: %s", item, strings.Join(allowed, ", "))
		}
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown key %q; allowed: %s", k, strings.Join(allowed, ", "))
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("key %q is given twice", k)
		}
		kv[k] = val
	}
	return kv, nil
}

// netKeys are the netN keys whose values are not a MAC address; any other
// key=value item carrying a MAC is the model=MAC shorthand or macaddr.
var netKeys = []string{"model", "bridge", "firewall", "link_down", "mtu", "queues", "rate", "tag", "trunks"}

// NetMAC returns the MAC address of a netN value ("virtio=BC:24:11:...,
// bridge=vmbr0" or "model=virtio,macaddr=..."), lower-cased; "" when it
// has none.
func NetMAC(v string) (string, error) {
	for item := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || slices.Contains(netKeys, k) {
			continue
		}
		if k != "macaddr" {
			if _, err := checkMAC(val); err != nil {
				continue // an option this parser does not know
			}
		}
		return checkMAC(val)
	}
	return "", nil
}

// checkMAC accepts a colon-separated 48-bit MAC and lower-cases it, the
// form cloud-init compares against the guest's cards.
func checkMAC(mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || strings.Count(mac, ":") != 5 {
		return "", fmt.Errorf("MAC address %q is not of the form XX:XX:XX:XX:XX:XX", mac)
	}
	return hw.String(), nil
}
