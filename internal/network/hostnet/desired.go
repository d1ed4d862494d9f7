package hostnet

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/network/ifaces"
	"github.com/hearth-virt/hearth/internal/network/netapply"
)

// desired turns the interfaces of a configuration into what netapply
// applies. state is the namespace's current state: an interface
// configured by DHCP keeps the default route its client set, since
// Hearth runs no DHCP client and must not take the route away. notes
// say what is left out and why.
func desired(ifs []*ifaces.Interface, state netapply.State) (netapply.Desired, []string, error) {
	var d netapply.Desired
	var notes []string
	index := map[string]int{}
	var aliases []*ifaces.Interface
	for _, it := range ifs {
		if _, dup := index[it.Name]; dup {
			continue // the main file wins over an included one
		}
		var l netapply.Link
		switch it.Type {
		case ifaces.TypeLoopback:
			continue // the kernel's, never Hearth's
		case ifaces.TypeAlias:
			aliases = append(aliases, it)
			continue
		case ifaces.TypeOVSBridge, ifaces.TypeOVSBond, ifaces.TypeOVSPort, ifaces.TypeOVSIntPort:
			notes = append(notes, fmt.Sprintf("%s is an Open vSwitch interface; Hearth does not drive Open vSwitch, so it is left as it is", it.Name))
			continue
		}
		l, err := link(it, state)
		if err != nil {
			return netapply.Desired{}, nil, fmt.Errorf("%s: %w", it.Name, err)
		}
		index[it.Name] = len(d.Links)
		d.Links = append(d.Links, l)
	}
	// An alias (eno1:1) adds its addresses to the interface it names, as
	// ifupdown does with an address label.
	for _, it := range aliases {
		parent, _, _ := strings.Cut(it.Name, ":")
		addrs, err := addresses(it)
		if err != nil {
			return netapply.Desired{}, nil, fmt.Errorf("%s: %w", it.Name, err)
		}
		i, ok := index[parent]
		if !ok {
			index[parent] = len(d.Links)
			d.Links = append(d.Links, netapply.Link{Name: parent, Kind: netapply.KindEth, Up: it.Autostart})
			i = index[parent]
		}
		l := &d.Links[i]
		for _, a := range addrs {
			if !slices.Contains(l.Addrs, a) {
				l.Addrs = append(l.Addrs, a)
			}
		}
		l.Manual = l.Manual && len(l.Addrs) == 0
	}
	return d, notes, nil
}

func link(it *ifaces.Interface, state netapply.State) (netapply.Link, error) {
	v := it.APIValue()
	l := netapply.Link{Name: it.Name, Up: it.Autostart}
	var err error
	if l.MTU, err = optInt(it.MTU, "mtu"); err != nil {
		return l, err
	}
	switch it.Type {
	case ifaces.TypeBridge:
		l.Kind = netapply.KindBridge
		l.Ports = slices.Clone(it.BridgePorts)
		l.STP = it.BridgeSTP == "on" || it.BridgeSTP == "yes" || it.BridgeSTP == "1"
		if it.BridgeFD != "" {
			fd, err := strconv.ParseFloat(it.BridgeFD, 64)
			if err != nil || fd < 0 {
				return l, fmt.Errorf("bridge-fd %q is not a number of seconds", it.BridgeFD)
			}
			n := int(fd)
			l.ForwardDelay = &n
		}
		l.VLANAware = it.BridgeVlanAware
		if l.VIDs, err = vids(it.BridgeVids); err != nil {
			return l, err
		}
	case ifaces.TypeBond:
		l.Kind = netapply.KindBond
		l.Slaves = slices.Clone(it.Slaves)
		l.BondMode = it.BondMode
		l.XmitHashPolicy = it.BondXmitHashPolicy
		l.Primary = it.BondPrimary
		if l.MIIMon, err = optInt(it.BondMiimon, "bond-miimon"); err != nil {
			return l, err
		}
	case ifaces.TypeVLAN:
		l.Kind = netapply.KindVLAN
		l.Parent, _ = v["vlan-raw-device"].(string)
		if l.VLANID, err = strconv.Atoi(fmt.Sprint(v["vlan-id"])); err != nil || l.Parent == "" {
			return l, fmt.Errorf("a VLAN needs an id and a raw device")
		}
	default:
		// NICs, and interfaces of kinds Hearth cannot create, which it
		// still configures when they exist.
		l.Kind = netapply.KindEth
	}
	if l.Addrs, err = addresses(it); err != nil {
		return l, err
	}
	for fam, gw := range map[string]string{"inet": it.Inet.Gateway, "inet6": it.Inet6.Gateway} {
		if gw == "" {
			continue
		}
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return l, fmt.Errorf("gateway %q is not an address", gw)
		}
		if fam == "inet" {
			l.Gateway4 = a
		} else {
			l.Gateway6 = a
		}
	}
	keepDHCPRoute(&l, it, state)
	l.Manual = len(l.Addrs) == 0 && !isDHCP(it.Inet.Method) && !isDHCP(it.Inet6.Method)
	return l, nil
}

func isDHCP(method string) bool { return method == "dhcp" || method == "auto" }

// keepDHCPRoute keeps the default route a DHCP client set on the link.
// The client's addresses are not permanent, so netapply leaves them
// alone; the route would otherwise go with the link being managed.
func keepDHCPRoute(l *netapply.Link, it *ifaces.Interface, state netapply.State) {
	for _, r := range state.Routes {
		if r.Link != l.Name {
			continue
		}
		switch {
		case r.Gateway.Is4() && !l.Gateway4.IsValid() && isDHCP(it.Inet.Method):
			l.Gateway4 = r.Gateway
		case r.Gateway.Is6() && !l.Gateway6.IsValid() && isDHCP(it.Inet6.Method):
			l.Gateway6 = r.Gateway
		}
	}
}

// addresses are the static addresses of both families.
func addresses(it *ifaces.Interface) ([]netip.Prefix, error) {
	v := it.APIValue()
	var out []netip.Prefix
	for _, k := range []string{"cidr", "cidr6"} {
		s, ok := v[k].(string)
		if !ok || s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an address with a prefix length", k, s)
		}
		out = append(out, p)
	}
	return out, nil
}

func optInt(s, what string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", what, s)
	}
	return n, nil
}

// vids parses bridge-vids: ids and ranges separated by blanks or commas.
func vids(s string) ([]netapply.VIDRange, error) {
	var out []netapply.VIDRange
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '\t' }) {
		from, to, isRange := strings.Cut(f, "-")
		a, err1 := strconv.Atoi(from)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(to)
		}
		if err1 != nil || err2 != nil || a < 1 || b > 4094 || a > b {
			return nil, fmt.Errorf("bridge-vids %q: %q is not a VLAN id or range within 1-4094", s, f)
		}
		out = append(out, netapply.VIDRange{From: a, To: b})
	}
	return out, nil
}

// runPartsName is what ifupdown reads from a source-directory: the names
// run-parts accepts, so editor backups and package leftovers are skipped.
var runPartsName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// included reads the files a configuration sources, recursively, and
// returns their interfaces. Missing patterns are not an error, as for
// ifupdown; unreadable or unparsable files are.
func included(f *ifaces.File, file string, depth int) ([]*ifaces.Interface, error) {
	if depth > 8 {
		return nil, fmt.Errorf("%s: source lines nested more than 8 deep", file)
	}
	var out []*ifaces.Interface
	for _, inc := range f.Includes() {
		pattern := inc.Pattern
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(filepath.Dir(file), pattern)
		}
		var paths []string
		if inc.Directory {
			entries, err := os.ReadDir(pattern)
			if err != nil && !os.IsNotExist(err) {
				return nil, fmt.Errorf("%s: source-directory %s: %w", file, pattern, err)
			}
			for _, e := range entries {
				if !e.IsDir() && runPartsName.MatchString(e.Name()) {
					paths = append(paths, filepath.Join(pattern, e.Name()))
				}
			}
		} else {
			m, err := filepath.Glob(pattern)
			if err != nil {
				return nil, fmt.Errorf("%s: source %s: %w", file, pattern, err)
			}
			paths = m
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			sub, err := ifaces.Parse(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, sub.Interfaces()...)
			more, err := included(sub, p, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
	}
	return out, nil
}
