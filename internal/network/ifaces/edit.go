package ifaces

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// bridgeNameRe limits bridge names to 10 characters so that the VLAN
// bridges Proxmox VE derives from them (vmbr0v100) fit in the kernel's
// 15-character interface names.
var bridgeNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,9}$`)

// Create adds an interface from POST /nodes/{node}/network parameters
// (iface and type are required). The new stanza is written the way
// Proxmox VE writes it and placed after the interfaces it depends on:
// NICs, then bonds, VLANs, bridges. links are the host's links, needed to
// tell whether ports and raw devices exist. On failure the file is
// unchanged and the error is a *ValidationError naming the parameters.
func (f *File) Create(p Params, links []HostLink) error {
	name, typ := p.str("iface"), p.str("type")
	c := &collector{iface: name}
	switch {
	case name == "":
		c.add("iface", "the interface name is required")
	case badName(name) != "":
		c.add("iface", "%s", badName(name))
	case f.Interface(name) != nil || hasPhysical(links, name):
		c.add("iface", "interface %s already exists", name)
	}
	switch typ {
	case TypeBridge, TypeBond, TypeEth, TypeAlias, TypeVLAN, TypeOVSBridge, TypeOVSBond, TypeOVSPort, TypeOVSIntPort:
	case "":
		c.add("type", "the interface type is required")
	case "fabric", "vnet":
		c.add("type", "%s interfaces come from the SDN configuration and cannot be created here", typ)
	default:
		c.add("type", "cannot create an interface of type %q; use bridge, bond, eth, alias, vlan, OVSBridge, OVSBond, OVSPort or OVSIntPort", typ)
	}
	if len(c.errs) == 0 {
		if msg := nameForType(name, typ); msg != "" {
			c.add("iface", "%s", msg)
		}
	}
	if len(c.errs) > 0 {
		return renameFields(p, c.errs)
	}
	it := &Interface{Name: name, Type: typ, Families: []string{"inet"}, Inet: Family{Method: "manual"}}
	switch typ {
	case TypeBridge:
		it.hasBridgePorts = true
	case TypeBond:
		it.hasSlaves = true
	case TypeOVSBridge, TypeOVSBond, TypeOVSPort, TypeOVSIntPort:
		it.OVSType = typ
	}
	applyParams(it, p, c)
	if len(c.errs) == 0 {
		checkShape(it, p, nil, c)
	}
	if len(c.errs) > 0 {
		return renameFields(p, c.errs)
	}
	dropDerivedVLAN(it, p)
	return f.try(p, links, name, func(g *File) {
		g.writeInterface(nil, it)
		g.setAutostart(name, it.Autostart)
		g.relinkOVS(name, "", it.OVSBridge)
	})
}

// Update changes an interface from PUT /nodes/{node}/network/{iface}
// parameters: the settings named in del are removed first, then p is
// applied. Only the changed stanzas are re-rendered. A physical NIC that
// the file does not mention yet gets a stanza of its own.
func (f *File) Update(name string, p Params, del []string, links []HostLink) error {
	old := f.Interface(name)
	var it *Interface
	switch {
	case old != nil:
		it = old.clone()
	case hasPhysical(links, name):
		it = &Interface{Name: name, Type: TypeEth, Families: []string{"inet"}, Inet: Family{Method: "manual"}}
	default:
		return notFound(name)
	}
	c := &collector{iface: name}
	if typ := p.str("type"); typ != "" && typ != it.Type {
		c.add("type", "%s is a %s; an interface's type cannot be changed (delete it and create it again)", name, it.Type)
		return renameFields(p, c.errs)
	}
	var keys []string
	for _, d := range del {
		keys = append(keys, splitList(d)...)
	}
	oldBridge := it.OVSBridge
	deleteSettings(it, keys, p, c)
	applyParams(it, p, c)
	if len(c.errs) == 0 {
		checkShape(it, p, keys, c)
	}
	if len(c.errs) > 0 {
		return renameFields(p, c.errs)
	}
	if len(it.Families) == 0 {
		it.Families = []string{"inet"}
	}
	dropDerivedVLAN(it, p)
	return f.try(p, links, name, func(g *File) {
		g.writeInterface(old, it)
		g.setAutostart(name, it.Autostart)
		g.relinkOVS(name, oldBridge, it.OVSBridge)
	})
}

// Delete removes an interface: its stanzas, its names on auto and allow-
// lines, and its place in other interfaces' bridge ports, bond slaves and
// OVS port lists, as Proxmox VE does.
func (f *File) Delete(name string) error {
	if f.Interface(name) == nil {
		return notFound(name)
	}
	before := f.lastLine()
	for _, o := range f.Interfaces() {
		if o.Name == name || o.Priority == 0 {
			continue
		}
		old := o.clone()
		changed := false
		for _, list := range []*[]string{&o.BridgePorts, &o.Slaves, &o.OVSPorts, &o.OVSBonds} {
			if slices.Contains(*list, name) {
				*list = slices.DeleteFunc(*list, func(s string) bool { return s == name })
				changed = true
			}
		}
		if o.BondPrimary == name {
			o.BondPrimary = ""
			changed = true
		}
		if changed {
			f.writeInterface(old, o)
		}
	}
	f.dropFromAutoLines(name, func(string) bool { return true })
	st := f.stanzas(name)
	for i := len(st) - 1; i >= 0; i-- {
		f.removeBlock(st[i])
	}
	f.fixFinalNewline(before)
	return nil
}

// try applies edit to a copy of the file and keeps the result only if it
// brings no new problems: problems the file already had do not block an
// unrelated edit.
func (f *File) try(p Params, links []HostLink, focus string, edit func(*File)) error {
	g := f.Clone()
	edit(g)
	had := map[FieldError]bool{}
	for _, e := range f.problems(links, focus) {
		had[e] = true
	}
	var fresh []FieldError
	for _, e := range g.problems(links, focus) {
		if !had[e] {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) > 0 {
		return renameFields(p, fresh)
	}
	g.fixFinalNewline(f.lastLine())
	f.blocks, f.noFinalNewline = g.blocks, g.noFinalNewline
	return nil
}

func (f *File) lastLine() string {
	if len(f.blocks) == 0 {
		return ""
	}
	b := f.blocks[len(f.blocks)-1]
	return b.lines[len(b.lines)-1]
}

// fixFinalNewline ends the file with a newline once an edit has changed
// its last line: a missing one is kept only where nothing was touched.
func (f *File) fixFinalNewline(before string) {
	if f.noFinalNewline && f.lastLine() != before {
		f.noFinalNewline = false
	}
}

// renameFields reports address problems under cidr when the caller gave
// cidr, so that the 400 answer names the parameter that was sent.
func renameFields(p Params, errs []FieldError) error {
	for i, e := range errs {
		for _, s := range []string{"", "6"} {
			if p.given("cidr"+s) && !p.given("address"+s) && (e.Field == "address"+s || e.Field == "netmask"+s) {
				errs[i].Field = "cidr" + s
			}
		}
	}
	return &ValidationError{Errors: errs}
}

// hasPhysical tells whether name is a physical NIC of the host: those are
// listed, and edited, even when the file does not mention them.
func hasPhysical(links []HostLink, name string) bool {
	for _, l := range links {
		if l.Name == name && l.Physical {
			return true
		}
	}
	return false
}

// nameForType checks the naming rules of each type, which Proxmox VE
// relies on to recognise the type when it reads the file back.
func nameForType(name, typ string) string {
	switch typ {
	case TypeBridge, TypeOVSBridge:
		if !bridgeNameRe.MatchString(name) {
			return fmt.Sprintf("bridge name %q is not allowed: use a letter followed by up to 9 letters, digits or underscores (vmbr0 to vmbr4094 by convention), so that VLAN bridges like %sv100 stay within 15 characters", name, name)
		}
	case TypeBond:
		if !bondRe.MatchString(name) {
			return fmt.Sprintf("bond name %q is not allowed: use bond followed by a number, for example bond0", name)
		}
	case TypeEth:
		if !IsPhysicalName(name) {
			return fmt.Sprintf("%q is not a physical interface name: use eth*, en*, ib* or nic* names", name)
		}
	case TypeAlias:
		if !aliasRe.MatchString(name) {
			return fmt.Sprintf("alias name %q is not allowed: use <device>:<number>, for example eno1:1", name)
		}
	case TypeVLAN:
		if aliasRe.MatchString(name) {
			return fmt.Sprintf("VLAN name %q is not allowed: use <device>.<id> or a name with vlan-raw-device", name)
		}
	default:
		if strings.ContainsAny(name, ".:") {
			return fmt.Sprintf("%s name %q is not allowed: dots and colons mark VLANs and aliases", typ, name)
		}
	}
	return ""
}

// dropDerivedVLAN leaves out vlan-raw-device and vlan-id the caller gave
// for a VLAN whose name (eno1.5) already says them, as ifupdown2 reads
// them from the name.
func dropDerivedVLAN(it *Interface, p Params) {
	m := dotVlanRe.FindStringSubmatch(it.Name)
	if m == nil {
		return
	}
	if p.given("vlan-raw-device") && it.VlanRawDevice == m[1] {
		it.VlanRawDevice = ""
	}
	if p.given("vlan-id") && it.VlanID == strings.TrimLeft(m[2], "0") {
		it.VlanID = ""
	}
}

// relinkOVS keeps an OVS bridge's ovs_ports in step with the ovs_bridge
// of its ports, as Proxmox VE does when it creates or moves a port.
func (f *File) relinkOVS(name, from, to string) {
	if from == to {
		return
	}
	if br := f.Interface(from); br != nil && br.Type == TypeOVSBridge && slices.Contains(br.OVSPorts, name) {
		old := f.Interface(from)
		br.OVSPorts = slices.DeleteFunc(br.OVSPorts, func(s string) bool { return s == name })
		f.writeInterface(old, br)
	}
	if br := f.Interface(to); br != nil && br.Type == TypeOVSBridge && !slices.Contains(br.OVSPorts, name) {
		old := f.Interface(to)
		br.OVSPorts = append(br.OVSPorts, name)
		f.writeInterface(old, br)
	}
}

// writeInterface brings the stanzas of it into the file. old is the
// interface as the file has it (nil when new); a stanza that would render
// the same for old and it keeps its raw lines, so that an edit touches no
// more of the file than it must.
func (f *File) writeInterface(old, it *Interface) {
	if len(it.Families) == 0 {
		it.Families = []string{"inet"}
	}
	rendered := map[string][]string{}
	for i, fam := range it.Families {
		rendered[fam] = it.renderStanza(fam, i == 0)
	}
	unchanged := map[string]bool{}
	if old != nil {
		for i, fam := range old.Families {
			if r, ok := rendered[fam]; ok && slices.Equal(r, old.renderStanza(fam, i == 0)) {
				unchanged[fam] = true
			}
		}
	}

	// Replace the first stanza of each family in place; repeated stanzas
	// of a family (merged into it) and dropped families go away.
	done := map[string]bool{}
	var remove []int
	for _, i := range f.stanzas(it.Name) {
		fam := f.blocks[i].family()
		if fam != "inet" && fam != "inet6" {
			continue
		}
		lines, ok := rendered[fam]
		switch {
		case !ok || done[fam]:
			remove = append(remove, i)
		case !unchanged[fam]:
			f.blocks[i] = ifaceBlock(lines)
		}
		done[fam] = true
	}
	for i := len(remove) - 1; i >= 0; i-- {
		f.removeBlock(remove[i])
	}

	var add []*block
	for _, fam := range it.Families {
		if !done[fam] {
			add = append(add, blankBlock(), ifaceBlock(rendered[fam]))
		}
	}
	if len(add) == 0 {
		return
	}
	if st := f.stanzas(it.Name); len(st) > 0 {
		f.insertBlocks(st[len(st)-1]+1, add...)
		return
	}
	f.insertNew(it, add[1:])
}

// insertNew places the stanzas of a new interface after the last
// interface that sorts before it (by type rank, then name), with one blank
// line between stanzas.
func (f *File) insertNew(it *Interface, stanzas []*block) {
	byName := map[string]*Interface{}
	for _, o := range f.Interfaces() {
		byName[o.Name] = o
	}
	after, first := -1, -1
	for i, b := range f.blocks {
		o := byName[b.ifaceName()]
		if b.kind != blockIface || o == nil || o.Name == it.Name {
			continue
		}
		if first < 0 {
			first = i
		}
		if cmp.Or(cmp.Compare(rank(o, byName), rank(it, byName)), strings.Compare(o.Name, it.Name)) <= 0 {
			after = i
		}
	}
	switch {
	case after >= 0:
		f.insertBlocks(after+1, append([]*block{blankBlock()}, stanzas...)...)
	case first >= 0:
		// before the first stanza, and before the auto lines and
		// comments that lead into it
		for first > 0 && (f.blocks[first-1].kind == blockAuto || f.blocks[first-1].kind == blockComment) {
			first--
		}
		f.insertBlocks(first, append(stanzas, blankBlock())...)
	default:
		if n := len(f.blocks); n > 0 && f.blocks[n-1].kind != blockBlank {
			stanzas = append([]*block{blankBlock()}, stanzas...)
		}
		f.blocks = append(f.blocks, stanzas...)
	}
}

// rank orders interface types the way Proxmox VE sorts its stanzas, so
// that an interface comes after those it is built on.
func rank(it *Interface, byName map[string]*Interface) int {
	switch it.Type {
	case TypeLoopback:
		return 0
	case TypeEth, TypeOVSPort:
		return 1
	case TypeBond, TypeOVSBond:
		return 2
	case TypeVLAN:
		if raw, _ := it.vlanOf(); byName[raw] != nil && (byName[raw].Type == TypeBridge || byName[raw].Type == TypeOVSBridge) {
			return 5
		}
		return 3
	case TypeBridge, TypeOVSBridge:
		return 4
	}
	return 6
}
