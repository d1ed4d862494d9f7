package ossetup

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// This file reads and rewrites /etc/network/interfaces in the syntax
// shared by Debian's ifupdown, busybox's ifup and Alpine's ifupdown-ng.
// Stanzas of interfaces the container's settings name are regenerated in
// place; everything else, comments and layout included, is kept byte for
// byte.

// ifItemKind classifies the parts of an interfaces file.
type ifItemKind int

const (
	ifRaw    ifItemKind = iota // comments, blank lines, source, allow-*, …
	ifAuto                     // "auto a b …"
	ifIface                    // "iface NAME FAMILY METHOD" and its options
	ifOther                    // a stanza that takes options but is not ours to parse (mapping, malformed iface)
	ifOrphan                   // an option line outside any stanza, which ifup rejects
)

// ifItem is one logical part of the file. Lines keep their original text
// without the newline; a line continued with a trailing backslash stays
// one element together with its continuation.
type ifItem struct {
	kind   ifItemKind
	header string   // first logical line
	body   []string // option lines, and comments or blanks between them
	// for ifIface
	name, family, method string
	// for ifAuto
	autos []string
}

// ifFile is a parsed interfaces file; String gives back the exact input.
type ifFile struct {
	items []ifItem
	// noEOL records that the input did not end with a newline.
	noEOL bool
}

// stanzaStarters are the keywords that end the option list of the
// previous iface or mapping stanza.
func startsStanza(kw string) bool {
	switch kw {
	case "iface", "mapping", "auto", "source", "source-directory", "source-dir",
		"rename", "template", "no-auto-down", "no-scripts":
		return true
	}
	return strings.HasPrefix(kw, "allow-")
}

// logicalLines joins backslash continuations, as ifupdown does, while
// keeping the physical text so that the file can be written back as is.
func logicalLines(s string) (lines []string, noEOL bool) {
	if s == "" {
		return nil, false
	}
	phys := strings.Split(s, "\n")
	if phys[len(phys)-1] == "" {
		phys = phys[:len(phys)-1]
	} else {
		noEOL = true
	}
	for i := 0; i < len(phys); i++ {
		l := phys[i]
		for strings.HasSuffix(l, `\`) && i+1 < len(phys) {
			i++
			l += "\n" + phys[i]
		}
		lines = append(lines, l)
	}
	return lines, noEOL
}

// joinedText is a logical line as ifupdown sees it.
func joinedText(l string) string {
	return strings.ReplaceAll(l, "\\\n", " ")
}

func parseInterfaces(s string) *ifFile {
	lines, noEOL := logicalLines(s)
	f := &ifFile{noEOL: noEOL}
	cur := -1            // index of the stanza taking options
	var pending []string // comments/blanks that may still belong to cur
	flush := func() {
		for _, p := range pending {
			f.items = append(f.items, ifItem{kind: ifRaw, header: p})
		}
		pending = nil
	}
	for _, l := range lines {
		fields := strings.Fields(joinedText(l))
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			if cur >= 0 {
				pending = append(pending, l)
			} else {
				f.items = append(f.items, ifItem{kind: ifRaw, header: l})
			}
			continue
		}
		if !startsStanza(fields[0]) {
			if cur >= 0 {
				f.items[cur].body = append(f.items[cur].body, pending...)
				f.items[cur].body = append(f.items[cur].body, l)
				pending = nil
			} else {
				f.items = append(f.items, ifItem{kind: ifOrphan, header: l})
			}
			continue
		}
		flush()
		cur = -1
		it := ifItem{kind: ifRaw, header: l}
		switch fields[0] {
		case "auto":
			it.kind, it.autos = ifAuto, fields[1:]
		case "iface":
			it.kind = ifOther
			if len(fields) >= 4 {
				it.kind, it.name, it.family, it.method = ifIface, fields[1], fields[2], fields[3]
			}
		case "mapping", "template":
			it.kind = ifOther
		}
		f.items = append(f.items, it)
		if it.kind == ifIface || it.kind == ifOther {
			cur = len(f.items) - 1
		}
	}
	flush()
	return f
}

func (f *ifFile) String() string {
	var b strings.Builder
	for _, it := range f.items {
		writeItem(&b, it)
	}
	s := b.String()
	if f.noEOL && s != "" {
		s = s[:len(s)-1]
	}
	return s
}

// ifDialect is the flavour of ifupdown the container runs.
type ifDialect int

const (
	dialectDebian  ifDialect = iota // Debian's ifupdown: inet6 auto and dhcp exist
	dialectBusybox                  // busybox ifup: inet6 knows static and manual only
)

// ourOption matches option lines Hearth writes itself, so that they are
// not mistaken for the user's additions when the stanza is regenerated.
// The address options belong to the settings; of routes, only the host
// and default routes to a gateway match, so a user's subnet routes stay.
var ourOption = regexp.MustCompile(`^(address|netmask|gateway|broadcast|mtu)(\s|$)|` +
	`^(post-up|pre-down) ip (-6 )?route (add|del) (default via )?[0-9A-Fa-f.:]+ dev \S+$|` +
	`^up ip link set dev \S+ up$`)

// userOptions returns the option lines of a managed stanza that Hearth
// did not write: the user's own additions such as post-up hooks.
func userOptions(body []string) []string {
	var out []string
	for _, l := range body {
		// A backslash can only dangle on the file's last line; carried
		// into the middle of the file it would swallow the next line.
		l = strings.TrimSuffix(l, `\`)
		t := strings.TrimSpace(joinedText(l))
		if t == "" || ourOption.MatchString(t) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// stanza renders one family of a managed interface; "" when that family
// has nothing to configure. Warnings explain settings the dialect cannot
// express.
func stanza(c ifaceConf, family string, d ifDialect, user []string, warn func(string)) string {
	var b strings.Builder
	opt := func(format string, a ...any) { fmt.Fprintf(&b, "\t"+format+"\n", a...) }
	route := func(ip, gw string) {
		// An off-link gateway needs a host route to it before it can be
		// the default route.
		opt("post-up ip %sroute add %s dev %s", ip, gw, c.Name)
		opt("post-up ip %sroute add default via %s dev %s", ip, gw, c.Name)
		opt("pre-down ip %sroute del default via %s dev %s", ip, gw, c.Name)
		opt("pre-down ip %sroute del %s dev %s", ip, gw, c.Name)
	}
	if family == "inet" {
		switch c.v4 {
		case "":
			return ""
		case "dhcp", "manual":
			fmt.Fprintf(&b, "iface %s inet %s\n", c.Name, c.v4)
		case "static":
			fmt.Fprintf(&b, "iface %s inet static\n", c.Name)
			opt("address %s", c.addr4.Addr())
			opt("netmask %s", netmask4(c.addr4.Bits()))
			switch {
			case c.hasV4Route && c.offlink4:
				route("", c.gw4.String())
			case c.hasV4Route:
				opt("gateway %s", c.gw4)
			}
			if c.MTU > 0 {
				opt("mtu %d", c.MTU)
			}
		}
	} else {
		method := c.v6
		switch {
		case method == "":
			return ""
		case d == dialectBusybox && method == "dhcp":
			warn(fmt.Sprintf("%s: busybox ifupdown has no DHCPv6 client, ip6=dhcp is not configured", c.Name))
			return ""
		case d == dialectBusybox && method == "auto":
			// The kernel does SLAAC by itself once the link is up, so
			// only make sure it is up even without an IPv4 stanza.
			fmt.Fprintf(&b, "iface %s inet6 manual\n", c.Name)
			opt("up ip link set dev %s up", c.Name)
		case method == "static":
			fmt.Fprintf(&b, "iface %s inet6 static\n", c.Name)
			opt("address %s", c.addr6.Addr())
			opt("netmask %d", c.addr6.Bits())
			switch {
			case c.hasV6Route && c.offlink6:
				route("-6 ", c.gw6.String())
			case c.hasV6Route:
				opt("gateway %s", c.gw6)
			}
			if c.MTU > 0 && c.v4 != "static" {
				opt("mtu %d", c.MTU)
			}
		default:
			fmt.Fprintf(&b, "iface %s inet6 %s\n", c.Name, method)
		}
	}
	for _, l := range user {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// rewriteInterfaces regenerates the stanzas of the managed interfaces in
// data and returns the new file. Each managed interface gets "auto NAME"
// and its inet and inet6 stanzas together, where its first stanza was,
// or at the end when it had none. Option lines the user added to a
// managed stanza are carried over.
func rewriteInterfaces(data string, nets []ifaceConf, d ifDialect, warn func(string)) string {
	managed := map[string]ifaceConf{}
	var order []string
	for _, c := range nets {
		if c.managed() {
			managed[c.Name] = c
			order = append(order, c.Name)
		}
	}
	f := parseInterfaces(data)
	if len(managed) == 0 {
		return data
	}
	isManaged := func(it ifItem) bool {
		_, ok := managed[it.name]
		return it.kind == ifIface && ok && (it.family == "inet" || it.family == "inet6")
	}

	user := map[string][]string{} // name+" "+family → user option lines
	for _, it := range f.items {
		if isManaged(it) {
			k := it.name + " " + it.family
			user[k] = append(user[k], userOptions(it.body)...)
		}
	}
	render := func(name string) string {
		c := managed[name]
		st := stanza(c, "inet", d, user[name+" inet"], warn) +
			stanza(c, "inet6", d, user[name+" inet6"], warn)
		if st == "" {
			// Nothing the dialect can express: an "auto" line without
			// a stanza would only make ifup complain.
			return ""
		}
		return "auto " + name + "\n" + st
	}

	var out strings.Builder
	done := map[string]bool{}
	hasLo := false
	for _, it := range f.items {
		switch {
		case it.kind == ifAuto:
			keep := slices.DeleteFunc(slices.Clone(it.autos), func(n string) bool {
				_, ok := managed[n]
				return ok
			})
			switch {
			case len(keep) == len(it.autos):
				writeItem(&out, it)
			case len(keep) > 0:
				out.WriteString("auto " + strings.Join(keep, " ") + "\n")
			}
		case isManaged(it):
			if !done[it.name] {
				done[it.name] = true
				out.WriteString(render(it.name))
			}
		case it.kind == ifOrphan:
			// ifup refuses the whole file over such a line, and left
			// as it is the line would join a stanza written before it.
			out.WriteString("#" + it.header + "\n")
		default:
			if it.kind == ifIface && it.name == "lo" {
				hasLo = true
			}
			writeItem(&out, it)
		}
	}
	text := out.String()
	for _, name := range order {
		if done[name] {
			continue
		}
		r := render(name)
		if r == "" {
			continue
		}
		if text != "" && !strings.HasSuffix(text, "\n\n") {
			if !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			text += "\n"
		}
		text += r
	}
	// Old templates leave the loopback out; nothing brings it up then.
	if _, lo := managed["lo"]; !hasLo && !lo {
		text = "auto lo\niface lo inet loopback\n\n" + text
	}
	return text
}

func writeItem(b *strings.Builder, it ifItem) {
	b.WriteString(it.header)
	b.WriteByte('\n')
	for _, l := range it.body {
		b.WriteString(l)
		b.WriteByte('\n')
	}
}
