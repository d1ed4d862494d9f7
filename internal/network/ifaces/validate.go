package ifaces

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem, named by the API parameter it concerns so
// that the API can answer 400 with {"errors": {Field: Msg}}.
type FieldError struct {
	Iface string // the interface the problem was found on; may be empty
	Field string // an API parameter name: "bridge_ports", "gateway", "vlan-id", …
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// ValidationError collects the problems of an edit or of a whole file.
type ValidationError struct {
	Errors   []FieldError
	notFound bool
}

// constError is an error that can be a constant.
type constError string

func (e constError) Error() string { return string(e) }

// ErrNotFound is matched (with errors.Is) by the error of editing or
// deleting an interface that does not exist.
const ErrNotFound = constError("interface does not exist")

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return "invalid network configuration: " + strings.Join(parts, "; ")
}

// Is lets errors.Is(err, ErrNotFound) pick out a missing interface.
func (e *ValidationError) Is(target error) bool { return target == error(ErrNotFound) && e.notFound }

// Fields returns the problems by parameter name, as the API's "errors"
// object; several problems with one parameter are joined.
func (e *ValidationError) Fields() map[string]string {
	out := map[string]string{}
	for _, fe := range e.Errors {
		if out[fe.Field] != "" {
			out[fe.Field] += "; " + fe.Msg
		} else {
			out[fe.Field] = fe.Msg
		}
	}
	return out
}

func notFound(name string) error {
	return &ValidationError{notFound: true, Errors: []FieldError{{Iface: name, Field: "iface",
		Msg: fmt.Sprintf("interface %s does not exist", name)}}}
}

// ifaceNameRe is Proxmox VE's pve-iface format.
var ifaceNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{1,20}(?:[:.]\d+)?$`)

func badName(name string) string {
	if ifaceNameRe.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("%q is not a valid interface name: use a letter, then 1 to 20 letters, digits or underscores, optionally followed by .N (VLAN) or :N (alias)", name)
}

// ovsBondModes are the modes an Open vSwitch bond takes, as the API
// names them; Linux bonds take bondModes.
func ovsBondModes() []string {
	return []string{"active-backup", "balance-slb", "lacp-balance-slb", "lacp-balance-tcp"}
}

// Validate checks the whole file against the host's links and returns a
// *ValidationError listing every problem, or nil. It checks what
// ifupdown2 or Proxmox VE would refuse: bad names, bridge ports and bond
// slaves that are missing or used twice, unknown bond modes, a
// bond-primary outside the bond, VLANs without an id in 1-4094 or whose
// raw device is missing (or a bridge that is not VLAN aware), static
// addresses without a netmask, one address on two interfaces, and more
// than one default gateway per address family.
func (f *File) Validate(links []HostLink) error {
	return errOrNil(f.problems(links, ""))
}

func errOrNil(errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: errs}
}

// checker holds what validation needs to know about the file and host.
type checker struct {
	byName map[string]*Interface
	host   map[string]HostLink
	focus  string // the interface being edited: conflicts are reported on it
	errs   []FieldError
}

func (c *checker) add(iface, field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Iface: iface, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// exists tells whether a link of that name is configured in the file or
// present on the host.
func (c *checker) exists(name string) bool {
	if it := c.byName[name]; it != nil && it.Priority > 0 {
		return true
	}
	_, ok := c.host[name]
	return ok
}

// portExists also accepts a VLAN port like eno1.5 on an existing device,
// which ifupdown2 creates without a stanza of its own.
func (c *checker) portExists(name string) bool {
	if c.exists(name) {
		return true
	}
	m := dotVlanRe.FindStringSubmatch(name)
	return m != nil && c.exists(m[1])
}

// use records which interface claims a port, for the "used twice" check.
type use struct {
	iface, field, role string // role: "a port of bridge", "a slave of bond", …
}

// pick returns which of two claims gets the error: the edited interface
// if it is one of them, else the later one.
func (c *checker) pick(first, second use) (report, other use) {
	if first.iface == c.focus && second.iface != c.focus {
		return first, second
	}
	return second, first
}

func (f *File) problems(links []HostLink, focus string) []FieldError {
	ifs := f.Interfaces()
	c := &checker{byName: map[string]*Interface{}, host: map[string]HostLink{}, focus: focus}
	for _, it := range ifs {
		c.byName[it.Name] = it
	}
	for _, l := range links {
		c.host[l.Name] = l
	}
	users := map[string][]use{}
	var portOrder []string
	claim := func(port string, u use) {
		if users[port] == nil {
			portOrder = append(portOrder, port)
		}
		users[port] = append(users[port], u)
	}
	for _, it := range ifs {
		if it.Priority == 0 {
			continue // only named on an auto line
		}
		if msg := badName(it.Name); msg != "" {
			c.add(it.Name, "iface", "%s", msg)
		}
		switch it.Type {
		case TypeAlias:
			if parent, _, _ := strings.Cut(it.Name, ":"); !c.exists(parent) {
				c.add(it.Name, "iface", "interface %s of alias %s does not exist: it is neither configured in the file nor present on the host", parent, it.Name)
			}
		case TypeBridge:
			for _, p := range it.BridgePorts {
				c.checkPort(it, p)
				claim(p, use{it.Name, "bridge_ports", "a port of bridge " + it.Name})
			}
		case TypeBond:
			c.checkBond(it)
			for _, p := range it.Slaves {
				claim(p, use{it.Name, "slaves", "a slave of bond " + it.Name})
			}
		case TypeVLAN:
			c.checkVLAN(it)
		case TypeOVSBridge:
			for _, p := range it.OVSPorts {
				claim(p, use{it.Name, "ovs_ports", "a port of OVS bridge " + it.Name})
			}
		case TypeOVSBond, TypeOVSPort, TypeOVSIntPort:
			c.checkOVSPort(it)
			for _, p := range it.OVSBonds {
				claim(p, use{it.Name, "ovs_bonds", "a slave of OVS bond " + it.Name})
			}
		}
		c.checkAddresses(it)
	}
	for _, p := range portOrder {
		us := users[p]
		for i := 1; i < len(us); i++ {
			if us[i].iface == us[0].iface {
				continue
			}
			report, other := c.pick(us[0], us[i])
			c.add(report.iface, report.field, "%s is already %s; an interface can belong to one bridge or bond only", p, other.role)
		}
	}
	c.checkUnique(ifs, "inet", "gateway")
	c.checkUnique(ifs, "inet6", "gateway6")
	c.checkUnique(ifs, "inet", "address")
	c.checkUnique(ifs, "inet6", "address6")
	return c.errs
}

func (c *checker) checkPort(it *Interface, p string) {
	switch {
	case p == it.Name:
		c.add(it.Name, "bridge_ports", "bridge %s cannot be a port of itself", it.Name)
	case !c.portExists(p):
		c.add(it.Name, "bridge_ports", "bridge port %s of %s does not exist: it is neither configured in the file nor present on the host", p, it.Name)
	}
}

func (c *checker) checkBond(it *Interface) {
	if it.BondMode != "" && !slices.Contains(bondModes(), it.BondMode) {
		c.add(it.Name, "bond_mode", "unknown bond mode %q on %s; use one of %s", it.BondMode, it.Name, strings.Join(bondModes(), ", "))
	}
	for _, s := range it.Slaves {
		if s == it.Name {
			c.add(it.Name, "slaves", "bond %s cannot be a slave of itself", it.Name)
			continue
		}
		if !c.portExists(s) {
			c.add(it.Name, "slaves", "bond slave %s of %s does not exist: it is neither configured in the file nor present on the host", s, it.Name)
			continue
		}
		if o := c.byName[s]; o != nil {
			switch o.Type {
			case TypeBridge, TypeBond, TypeOVSBridge, TypeLoopback, TypeAlias:
				c.add(it.Name, "slaves", "%s is a %s and cannot be a slave of bond %s; bond physical interfaces", s, o.Type, it.Name)
			}
		}
	}
	if p := it.BondPrimary; p != "" && !slices.Contains(it.Slaves, p) {
		c.add(it.Name, "bond-primary", "bond-primary %s is not a slave of %s (slaves: %s)", p, it.Name, orDefault(strings.Join(it.Slaves, " "), "none"))
	}
}

func (c *checker) checkVLAN(it *Interface) {
	raw, id := it.vlanOf()
	// Problems carried by the name are reported on iface, the parameter
	// that holds them.
	idField, rawField := "vlan-id", "vlan-raw-device"
	if it.VlanID == "" {
		idField = "iface"
	}
	if it.VlanRawDevice == "" {
		rawField = "iface"
	}
	if id == "" {
		c.add(it.Name, "vlan-id", "VLAN %s has no VLAN id: name it <device>.<id> or vlan<id>, or set vlan-id", it.Name)
	} else if n, err := strconv.Atoi(id); err != nil || n < 1 || n > 4094 {
		c.add(it.Name, idField, "VLAN id %s of %s is out of range; VLAN ids are 1 to 4094", id, it.Name)
	}
	if raw == "" {
		c.add(it.Name, "vlan-raw-device", "VLAN %s has no raw device: name it <device>.<id> or set vlan-raw-device", it.Name)
		return
	}
	if !c.exists(raw) {
		c.add(it.Name, rawField, "raw device %s of VLAN %s does not exist: it is neither configured in the file nor present on the host", raw, it.Name)
		return
	}
	if o := c.byName[raw]; o != nil && o.Type == TypeBridge && !o.BridgeVlanAware {
		c.add(it.Name, rawField, "bridge %s is not VLAN aware, so VLAN %s cannot use it; set bridge_vlan_aware on %s", raw, it.Name, raw)
	}
}

func (c *checker) checkOVSPort(it *Interface) {
	if it.Type == TypeOVSBond && it.BondMode != "" && !slices.Contains(ovsBondModes(), it.BondMode) {
		c.add(it.Name, "bond_mode", "unknown OVS bond mode %q on %s; use one of %s", it.BondMode, it.Name, strings.Join(ovsBondModes(), ", "))
	}
	br := it.OVSBridge
	switch o := c.byName[br]; {
	case br == "":
		c.add(it.Name, "ovs_bridge", "%s %s needs ovs_bridge, the OVS bridge it belongs to", it.Type, it.Name)
	case o == nil || o.Priority == 0:
		c.add(it.Name, "ovs_bridge", "OVS bridge %s of %s does not exist", br, it.Name)
	case o.Type != TypeOVSBridge:
		c.add(it.Name, "ovs_bridge", "%s is a %s, not an OVS bridge", br, o.Type)
	}
}

// checkAddresses checks the form of each family's address and gateway.
func (c *checker) checkAddresses(it *Interface) {
	for _, fam := range it.Families {
		fa := it.Family(fam)
		v, suffix, kind := 4, "", "IPv4"
		if fam == "inet6" {
			v, suffix, kind = 6, "6", "IPv6"
		}
		if fa.Address != "" {
			ip, bits := splitAddress(fa.Address, fa.Netmask)
			if _, ok := parseIP(ip, v); !ok {
				c.add(it.Name, "address"+suffix, "%q on %s is not a valid %s address", ip, it.Name, kind)
			} else if bits == "" && fa.Netmask != "" {
				c.add(it.Name, "netmask"+suffix, "netmask %q on %s is not a valid %s netmask", fa.Netmask, it.Name, kind)
			} else if bits == "" && fa.Method == "static" {
				c.add(it.Name, "netmask"+suffix, "address %s on %s has no netmask: write it as %s/<prefix length> or add a netmask", ip, it.Name, ip)
			} else if bits != "" {
				if _, ok := parsePrefix(ip+"/"+bits, v); !ok {
					c.add(it.Name, "netmask"+suffix, "prefix length %s on %s is out of range for %s", bits, it.Name, kind)
				}
			}
		}
		if g := fa.Gateway; g != "" {
			if _, ok := parseIP(g, v); !ok {
				c.add(it.Name, "gateway"+suffix, "gateway %q on %s is not a valid %s address", g, it.Name, kind)
			}
		}
	}
}

// checkUnique reports a gateway or address that appears on more than one
// interface.
func (c *checker) checkUnique(ifs []*Interface, fam, field string) {
	first := map[string]string{} // value → interface that has it
	for _, it := range ifs {
		if !it.HasFamily(fam) {
			continue
		}
		fa := it.Family(fam)
		v := fa.Gateway
		if field == "address" || field == "address6" {
			v, _ = splitAddress(fa.Address, fa.Netmask)
		}
		if v == "" {
			continue
		}
		if field == "gateway" || field == "gateway6" {
			v = "" // one default gateway per family, whatever its address
		}
		owner, dup := first[v]
		if !dup {
			first[v] = it.Name
			continue
		}
		report, other := it.Name, owner
		if owner == c.focus {
			report, other = owner, it.Name
		}
		switch field {
		case "gateway":
			c.add(report, field, "interface %s already has the IPv4 default gateway; only one interface may have one", other)
		case "gateway6":
			c.add(report, field, "interface %s already has the IPv6 default gateway; only one interface may have one", other)
		default:
			ip, _ := splitAddress(fa.Address, fa.Netmask)
			c.add(report, field, "address %s is already used on interface %s", ip, other)
		}
	}
}
