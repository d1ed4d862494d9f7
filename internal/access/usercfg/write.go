package usercfg

import (
	"bytes"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Bytes writes the configuration in the canonical form Proxmox VE writes:
// users sorted by id, each followed by its tokens sorted by name; a blank
// line; groups; a blank line; pools; a blank line; custom roles; a blank
// line; the ACL (see ACLs). The blank lines are written even when a
// section is empty, exactly as Proxmox VE does, so a file it wrote comes
// back byte for byte.
//
// Lists are sorted as text, including guest ids ("100,1000,101"): that is
// how Proxmox VE sorts them, and numeric order would rewrite every file it
// produced.
func (c *Config) Bytes() []byte {
	var b bytes.Buffer
	for _, id := range slices.Sorted(maps.Keys(c.Users)) {
		u := c.Users[id]
		writeLine(&b, "user", id, flagText(u.Enable), strconv.FormatInt(u.Expire, 10),
			EncodeText(u.Firstname), EncodeText(u.Lastname), u.Email, EncodeText(u.Comment), u.Keys)
		for _, name := range slices.Sorted(maps.Keys(u.Tokens)) {
			t := u.Tokens[name]
			writeLine(&b, "token", JoinTokenID(id, name), strconv.FormatInt(t.Expire, 10),
				flagText(t.Privsep), EncodeText(t.Comment))
		}
	}
	b.WriteByte('\n')
	for _, id := range slices.Sorted(maps.Keys(c.Groups)) {
		g := c.Groups[id]
		writeLine(&b, "group", id, joinSorted(g.Members), EncodeText(g.Comment))
	}
	b.WriteByte('\n')
	for _, id := range slices.Sorted(maps.Keys(c.Pools)) {
		p := c.Pools[id]
		vms := make([]string, len(p.VMs))
		for i, v := range p.VMs {
			vms[i] = strconv.Itoa(v)
		}
		writeLine(&b, "pool", id, EncodeText(p.Comment), joinSorted(vms), joinSorted(p.Storages))
	}
	b.WriteByte('\n')
	for _, id := range slices.Sorted(maps.Keys(c.Roles)) {
		writeLine(&b, "role", id, c.Roles[id].Privs.String())
	}
	b.WriteByte('\n')
	for _, a := range c.ACLs() {
		writeLine(&b, "acl", flagText(a.Propagate), a.Path, strings.Join(a.Subjects(), ","), strings.Join(a.Roles, ","))
	}
	return b.Bytes()
}

// writeLine writes "kind:f1:f2:…:" and a newline.
func writeLine(b *bytes.Buffer, kind string, fields ...string) {
	b.WriteString(kind)
	b.WriteByte(':')
	for _, f := range fields {
		b.WriteString(f)
		b.WriteByte(':')
	}
	b.WriteByte('\n')
}

func flagText(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// joinSorted sorts a copy, drops duplicates and joins with ','.
func joinSorted(list []string) string {
	s := append([]string(nil), list...)
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return strings.Join(out, ",")
}
