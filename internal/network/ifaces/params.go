package ifaces

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Params are API parameters by name, as the API layer decodes them:
// strings, booleans and integers. Numbers and "1"/"0" given as strings
// are accepted too. Parameters the API routes itself (node, iface, type,
// delete, digest) are ignored here.
type Params map[string]any

func (p Params) get(k string) (string, bool) {
	v, ok := p[k]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return fmt.Sprint(v), true
}

// given reports a parameter present with a non-empty value.
func (p Params) given(k string) bool {
	v, ok := p.get(k)
	return ok && v != ""
}

// paramTypes lists, for the parameters that only make sense on some
// interface types, which types take them.
func paramTypes(key string) []string {
	ovsPorts := []string{TypeOVSBond, TypeOVSPort, TypeOVSIntPort}
	switch key {
	case "bridge_ports", "bridge_vlan_aware", "bridge_vids":
		return []string{TypeBridge}
	case "slaves", "bond_xmit_hash_policy", "bond-primary":
		return []string{TypeBond}
	case "bond_mode":
		return []string{TypeBond, TypeOVSBond}
	case "vlan-id", "vlan-raw-device":
		return []string{TypeVLAN}
	case "ovs_ports":
		return []string{TypeOVSBridge}
	case "ovs_bonds":
		return []string{TypeOVSBond}
	case "ovs_bridge", "ovs_tag":
		return ovsPorts
	case "ovs_options":
		return append(ovsPorts, TypeOVSBridge)
	}
	return nil
}

// settable are the parameters Create and Update take besides type.
func settable() []string {
	return []string{
		"address", "address6", "autostart", "bond-primary", "bond_mode", "bond_xmit_hash_policy",
		"bridge_ports", "bridge_vids", "bridge_vlan_aware", "cidr", "cidr6", "comments", "comments6",
		"gateway", "gateway6", "mtu", "netmask", "netmask6", "ovs_bonds", "ovs_bridge", "ovs_options",
		"ovs_ports", "ovs_tag", "slaves", "vlan-id", "vlan-raw-device",
	}
}

// collector gathers the problems of one edit.
type collector struct {
	iface string
	errs  []FieldError
}

func (c *collector) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Iface: c.iface, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// applyParams sets the given parameters on it, checking each value.
func applyParams(it *Interface, p Params, c *collector) {
	for k := range p {
		switch {
		case k == "node" || k == "iface" || k == "type" || k == "delete" || k == "digest":
		case !slices.Contains(settable(), k):
			c.add(k, "unknown parameter %q for a network interface", k)
		case p.given(k) && paramTypes(k) != nil && !slices.Contains(paramTypes(k), it.Type):
			c.add(k, "%s applies to %s interfaces only, and %s is a %s", k, strings.Join(paramTypes(k), " and "), it.Name, it.Type)
		}
	}
	if len(c.errs) > 0 {
		return
	}
	applyAddress(it, p, c, 4)
	applyAddress(it, p, c, 6)
	for _, g := range []struct{ key, fam string }{{"gateway", "inet"}, {"gateway6", "inet6"}} {
		if v := p.str(g.key); v != "" {
			family := 4
			if g.fam == "inet6" {
				family = 6
			}
			if _, ok := parseIP(v, family); !ok {
				c.add(g.key, "%q is not a valid IPv%d address", v, family)
				continue
			}
			it.Family(g.fam).Gateway = v
			it.addFamily(g.fam)
		}
	}
	if v, ok := p.get("autostart"); ok {
		it.Autostart = isTrue(v)
	}
	if v, ok := p.get("bridge_vlan_aware"); ok {
		it.BridgeVlanAware = isTrue(v)
	}
	if v := p.str("mtu"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1280 || n > 65520 {
			c.add("mtu", "mtu %s is out of range; use 1280 to 65520", v)
		} else {
			it.MTU = strconv.Itoa(n)
		}
	}
	lists := []struct {
		key  string
		dst  *[]string
		flag *bool
	}{
		{"bridge_ports", &it.BridgePorts, &it.hasBridgePorts},
		{"slaves", &it.Slaves, &it.hasSlaves},
		{"ovs_ports", &it.OVSPorts, nil},
		{"ovs_bonds", &it.OVSBonds, nil},
	}
	for _, l := range lists {
		v, ok := p.get(l.key)
		if !ok || (v == "" && !slices.Contains(paramTypes(l.key), it.Type)) {
			continue // an empty list for another type: nothing to say
		}
		names := addNames(nil, v)
		for _, n := range names {
			if msg := badName(n); msg != "" {
				c.add(l.key, "%s", msg)
			}
		}
		*l.dst = names
		if l.flag != nil {
			*l.flag = true
		}
	}
	if v := p.str("bridge_vids"); v != "" {
		if norm, msg := checkVids(v); msg != "" {
			c.add("bridge_vids", "%s", msg)
		} else {
			it.BridgeVids = norm
		}
	}
	if v := p.str("bond_mode"); v != "" {
		if len(v) == 1 && v[0] >= '0' && v[0] <= '6' {
			v = bondModes()[v[0]-'0']
		}
		modes := bondModes()
		if it.Type == TypeOVSBond {
			modes = ovsBondModes()
		}
		if !slices.Contains(modes, v) {
			c.add("bond_mode", "unknown bond mode %q for a %s; use one of %s", v, it.Type, strings.Join(modes, ", "))
		} else {
			it.BondMode = v
		}
	}
	if v := p.str("bond_xmit_hash_policy"); v != "" {
		if !slices.Contains([]string{"layer2", "layer2+3", "layer3+4"}, v) {
			c.add("bond_xmit_hash_policy", "unknown transmit hash policy %q; use layer2, layer2+3 or layer3+4", v)
		} else {
			it.BondXmitHashPolicy = v
		}
	}
	for _, n := range []struct {
		key string
		dst *string
	}{{"bond-primary", &it.BondPrimary}, {"vlan-raw-device", &it.VlanRawDevice}, {"ovs_bridge", &it.OVSBridge}} {
		if v := p.str(n.key); v != "" {
			if msg := badName(v); msg != "" {
				c.add(n.key, "%s", msg)
			} else {
				*n.dst = v
			}
		}
	}
	for _, n := range []struct {
		key string
		dst *string
	}{{"vlan-id", &it.VlanID}, {"ovs_tag", &it.OVSTag}} {
		if v := p.str(n.key); v != "" {
			if id, err := strconv.Atoi(v); err != nil || id < 1 || id > 4094 {
				c.add(n.key, "VLAN id %s is out of range; VLAN ids are 1 to 4094", v)
			} else {
				*n.dst = strconv.Itoa(id)
			}
		}
	}
	if v, ok := p.get("ovs_options"); ok {
		if len(v) > 1024 {
			c.add("ovs_options", "ovs_options is %d characters long; at most 1024 are allowed", len(v))
		} else {
			it.OVSOptions = strings.Join(strings.Fields(v), " ")
		}
	}
	for _, cm := range []struct{ key, fam string }{{"comments", "inet"}, {"comments6", "inet6"}} {
		if v, ok := p.get(cm.key); ok {
			v = strings.TrimRight(strings.ReplaceAll(v, "\r\n", "\n"), "\n")
			if v != "" {
				v += "\n"
			}
			it.Family(cm.fam).Comments = v
		}
	}
}

func (p Params) str(k string) string {
	v, _ := p.get(k)
	return strings.TrimSpace(v)
}

// applyAddress sets the address of one family from address/netmask or
// cidr (address6/netmask6/cidr6), always storing it as CIDR, the way
// Proxmox VE writes it. A netmask or address given alone combines with
// the one the interface already has.
func applyAddress(it *Interface, p Params, c *collector, family int) {
	suffix, fam := "", "inet"
	if family == 6 {
		suffix, fam = "6", "inet6"
	}
	kAddr, kMask, kCIDR := "address"+suffix, "netmask"+suffix, "cidr"+suffix
	addr, mask, cidr := p.str(kAddr), p.str(kMask), p.str(kCIDR)
	if addr == "" && mask == "" && cidr == "" {
		return
	}
	fa := it.Family(fam)
	oldIP, oldBits := splitAddress(fa.Address, fa.Netmask)
	var ip, bits string
	if mask != "" {
		b, ok := maskBits(mask)
		n, _ := strconv.Atoi(b)
		if !ok || (family == 4 && n > 32) || (family == 6 && strings.Contains(mask, ".")) {
			if family == 4 {
				c.add(kMask, "%q is not a valid IPv4 netmask; use a netmask such as 255.255.255.0 or a prefix length from 0 to 32", mask)
			} else {
				c.add(kMask, "%q is not a valid IPv6 prefix length; use 0 to 128", mask)
			}
			return
		}
		bits = b
	}
	switch {
	case cidr != "":
		pfx, ok := parsePrefix(cidr, family)
		if !ok {
			c.add(kCIDR, "%q is not a valid IPv%d CIDR; write address/prefix length, for example %s", cidr, family, map[int]string{4: "192.168.1.10/24", 6: "2001:db8::10/64"}[family])
			return
		}
		if addr != "" && addr != pfx.Addr().String() || bits != "" && bits != strconv.Itoa(pfx.Bits()) {
			c.add(kCIDR, "%s and %s/%s disagree; give the address either as %s or as %s and %s", kCIDR, kAddr, kMask, kCIDR, kAddr, kMask)
			return
		}
		ip, bits = pfx.Addr().String(), strconv.Itoa(pfx.Bits())
	case addr != "":
		a, ok := parseIP(addr, family)
		if !ok {
			c.add(kAddr, "%q is not a valid IPv%d address (give the prefix length in %s, or use %s)", addr, family, kMask, kCIDR)
			return
		}
		ip = a.String()
		if bits == "" {
			bits = oldBits
		}
		if bits == "" {
			c.add(kMask, "address %s needs a netmask: give %s too, or use %s", ip, kMask, kCIDR)
			return
		}
	default:
		if oldIP == "" {
			c.add(kAddr, "%s needs an address: give %s too, or use %s", kMask, kAddr, kCIDR)
			return
		}
		ip = oldIP
	}
	pfx, ok := parsePrefix(ip+"/"+bits, family)
	if !ok {
		c.add(kMask, "prefix length %s is out of range for IPv%d", bits, family)
		return
	}
	if msg := notHostAddress(pfx); msg != "" {
		c.add(kAddr, "%s", msg)
		return
	}
	fa.Address, fa.Netmask = ip+"/"+bits, ""
	fa.Method = "static"
	it.addFamily(fam)
}

// checkVids validates a bridge-vids list ("2 4 100-200") and returns it
// space-separated. Proxmox VE keeps VLAN 1 as the bridge's own untagged
// VLAN, so allowed ids are 2 to 4094.
func checkVids(v string) (string, string) {
	parts := splitList(v)
	for _, part := range parts {
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := strconv.Atoi(lo)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.Atoi(hi)
		}
		switch {
		case errA != nil || errB != nil:
			return "", fmt.Sprintf("%q is not a VLAN id or range; write ids and ranges like \"2 4 100-200\"", part)
		case a < 2 || b > 4094 || a > 4094 || b < 2:
			return "", fmt.Sprintf("VLAN %s is out of range; bridge VLAN ids are 2 to 4094", part)
		case isRange && a >= b:
			return "", fmt.Sprintf("VLAN range %s must go from a lower to a higher id", part)
		}
	}
	return strings.Join(parts, " "), ""
}

// addFamily makes sure the interface has a stanza for fam.
func (it *Interface) addFamily(fam string) {
	if !it.HasFamily(fam) {
		it.Families = append(it.Families, fam)
	}
}

// deleteSettings removes the settings named in an Update's delete list.
func deleteSettings(it *Interface, keys []string, p Params, c *collector) {
	for _, k := range keys {
		if _, set := p[k]; set {
			c.add("delete", "%s is both set and deleted; do one or the other", k)
			continue
		}
		switch k {
		case "address", "netmask", "cidr":
			it.Inet.Address, it.Inet.Netmask = "", ""
			if it.Inet.Method == "static" {
				it.Inet.Method = "manual"
			}
		case "address6", "netmask6", "cidr6":
			fa := &it.Inet6
			fa.Address, fa.Netmask = "", ""
			if fa.Method == "static" {
				fa.Method = "manual"
				if fa.Gateway == "" && len(fa.Options) == 0 && fa.Comments == "" {
					it.Families = slices.DeleteFunc(it.Families, func(f string) bool { return f == "inet6" })
				}
			}
		case "gateway":
			it.Inet.Gateway = ""
		case "gateway6":
			it.Inet6.Gateway = ""
		case "comments":
			it.Inet.Comments = ""
		case "comments6":
			it.Inet6.Comments = ""
		case "autostart":
			it.Autostart = false
		case "mtu":
			it.MTU = ""
		case "bridge_ports":
			it.BridgePorts = nil
		case "bridge_vlan_aware":
			it.BridgeVlanAware = false
		case "bridge_vids":
			it.BridgeVids = ""
		case "slaves":
			it.Slaves = nil
		case "bond_mode":
			it.BondMode = ""
		case "bond_xmit_hash_policy":
			it.BondXmitHashPolicy = ""
		case "bond-primary":
			it.BondPrimary = ""
		case "vlan-id":
			it.VlanID = ""
		case "vlan-raw-device":
			it.VlanRawDevice = ""
		case "ovs_bonds":
			it.OVSBonds = nil
		case "ovs_ports":
			it.OVSPorts = nil
		case "ovs_bridge":
			it.OVSBridge = ""
		case "ovs_options":
			it.OVSOptions = ""
		case "ovs_tag":
			it.OVSTag = ""
		default:
			c.add("delete", "cannot delete %q: it is not a setting of a network interface", k)
		}
	}
}

// checkShape checks the combinations Proxmox VE refuses once the
// parameters are applied; p holds the parameters of this edit, so that
// settings already in the file are not blamed on it.
func checkShape(it *Interface, p Params, deleted []string, c *collector) {
	touched := func(keys ...string) bool {
		for _, k := range keys {
			if p.given(k) || slices.Contains(deleted, k) {
				return true
			}
		}
		return false
	}
	if p.given("bond_xmit_hash_policy") {
		if m := orDefault(it.BondMode, "balance-rr"); m != "balance-xor" && m != "802.3ad" {
			c.add("bond_xmit_hash_policy", "a transmit hash policy is only used with bond_mode balance-xor or 802.3ad, not %s", m)
		}
	}
	if p.given("bond-primary") {
		if m := orDefault(it.BondMode, "balance-rr"); m != "active-backup" {
			c.add("bond-primary", "bond-primary is only used with bond_mode active-backup, not %s", m)
		}
	}
	if it.BridgeVids != "" && !it.BridgeVlanAware && touched("bridge_vids", "bridge_vlan_aware") {
		c.add("bridge_vids", "VLAN ids can only be set on a VLAN-aware bridge; set bridge_vlan_aware too")
	}
	if it.Type == TypeVLAN && it.VlanRawDevice == "" && !dotVlanRe.MatchString(it.Name) {
		// without it the stanza would not even read back as a VLAN
		c.add("vlan-raw-device", "VLAN %s has no raw device: name it <device>.<id> or set vlan-raw-device", it.Name)
	}
	if m := dotVlanRe.FindStringSubmatch(it.Name); m != nil && it.Type == TypeVLAN {
		if p.given("vlan-raw-device") && it.VlanRawDevice != m[1] {
			c.add("vlan-raw-device", "%s names its raw device %s; vlan-raw-device %s contradicts it", it.Name, m[1], it.VlanRawDevice)
		}
		if p.given("vlan-id") && it.VlanID != strings.TrimLeft(m[2], "0") {
			c.add("vlan-id", "%s names its VLAN id %s; vlan-id %s contradicts it", it.Name, m[2], it.VlanID)
		}
	}
	for _, g := range []struct{ key, fam, addr string }{{"gateway", "inet", "cidr"}, {"gateway6", "inet6", "cidr6"}} {
		fa := it.Family(g.fam)
		if fa.Gateway != "" && fa.Address == "" && fa.Method != "dhcp" && fa.Method != "auto" &&
			touched(g.key, g.addr, "address"+g.fam[4:]) {
			c.add(g.key, "a default gateway needs an address on the same interface; set %s too", g.addr)
		}
	}
}
