package usercfg

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/access/privs"
)

// record is one non-blank line, split into trimmed fields after the type.
type record struct {
	line   int
	fields []string
}

// field returns the i-th field or "" when the line is shorter: Proxmox VE
// drops trailing empty fields when it splits, so short lines are normal.
func (r record) field(i int) string {
	if i < len(r.fields) {
		return r.fields[i]
	}
	return ""
}

type parser struct {
	cfg      *Config
	warnings []warning
}

type warning struct {
	line int
	msg  string
}

func (p *parser) warn(line int, format string, args ...any) {
	p.warnings = append(p.warnings, warning{line, fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)})
}

// Parse reads user.cfg. It never fails: every line or list item it cannot
// use is dropped with a warning saying what and why, so one bad entry does
// not cost the rest of the file.
//
// Records may come in any order (Proxmox VE needs users before the groups
// and tokens that name them; accepting any order is strictly more
// forgiving). A reference to a user, group, token or role that the file
// does not define is dropped. A later record for the same user or token
// replaces the earlier one; records for the same group, pool, role or ACL
// path add up. Parse adds no users of its own: see EnsureRootUser.
func Parse(data []byte) (*Config, []string) {
	p := &parser{cfg: New()}
	byType := map[string][]record{}
	for i, line := range strings.Split(string(data), "\n") {
		if trimSpace(line) == "" {
			continue
		}
		parts := strings.Split(line, ":")
		for j := range parts {
			parts[j] = trimSpace(parts[j])
		}
		switch parts[0] {
		case "user", "token", "group", "role", "pool", "acl":
			byType[parts[0]] = append(byType[parts[0]], record{i + 1, parts[1:]})
		default:
			p.warn(i+1, "ignore line of unknown type %q", parts[0])
		}
	}
	// Resolve in dependency order so references can point forward.
	for _, r := range byType["user"] {
		p.user(r)
	}
	for _, r := range byType["token"] {
		p.token(r)
	}
	for _, r := range byType["group"] {
		p.group(r)
	}
	for _, r := range byType["role"] {
		p.role(r)
	}
	pooledVMs := map[int]string{}
	poolLine := map[string]int{}
	for _, r := range byType["pool"] {
		p.pool(r, pooledVMs, poolLine)
	}
	p.addMissingParentPools(poolLine)
	for _, r := range byType["acl"] {
		p.acl(r)
	}

	sort.SliceStable(p.warnings, func(i, j int) bool { return p.warnings[i].line < p.warnings[j].line })
	msgs := make([]string, len(p.warnings))
	for i, w := range p.warnings {
		msgs[i] = w.msg
	}
	return p.cfg, msgs
}

// trimSpace trims ASCII white space only, as the Perl reader does; bytes
// of multi-byte characters are never touched.
func trimSpace(s string) string { return strings.Trim(s, " \t\n\v\f\r") }

// truthy reads a flag the way Proxmox VE does: empty and "0" are false,
// anything else is true.
func truthy(s string) bool { return s != "" && s != "0" }

// parseExpire reads an expiry time: empty means 0, otherwise only digits.
func parseExpire(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("expire %q is not a number", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expire %q is out of range", s)
	}
	return n, nil
}

// splitList splits a list field on ',', ';' and white space, like
// Proxmox VE's list reader.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
	})
}

// user: user:<userid>:<enable>:<expire>:<first>:<last>:<email>:<comment>:<keys>:
func (p *parser) user(r record) {
	id := r.field(0)
	if err := ValidUserID(id); err != nil {
		p.warn(r.line, "ignore user: %v", err)
		return
	}
	expire, err := parseExpire(r.field(2))
	if err != nil {
		p.warn(r.line, "ignore user %s: %v", id, err)
		return
	}
	if _, dup := p.cfg.Users[id]; dup {
		p.warn(r.line, "user %s is defined again; this line replaces the earlier one", id)
	}
	p.cfg.Users[id] = &User{
		ID:        id,
		Enable:    truthy(r.field(1)),
		Expire:    expire,
		Firstname: DecodeText(r.field(3)),
		Lastname:  DecodeText(r.field(4)),
		Email:     r.field(5),
		Comment:   DecodeText(r.field(6)),
		Keys:      r.field(7),
		Tokens:    map[string]*Token{},
	}
}

// token: token:<userid>!<tokenid>:<expire>:<privsep>:<comment>:
func (p *parser) token(r record) {
	full := r.field(0)
	if err := ValidTokenID(full); err != nil {
		p.warn(r.line, "ignore token: %v", err)
		return
	}
	expire, err := parseExpire(r.field(1))
	if err != nil {
		p.warn(r.line, "ignore token %s: %v", full, err)
		return
	}
	userid, name, _ := SplitTokenID(full)
	u, ok := p.cfg.Users[userid]
	if !ok {
		p.warn(r.line, "ignore token %s: user %s does not exist", full, userid)
		return
	}
	if _, dup := u.Tokens[name]; dup {
		p.warn(r.line, "token %s is defined again; this line replaces the earlier one", full)
	}
	u.Tokens[name] = &Token{ID: name, Expire: expire, Privsep: truthy(r.field(2)), Comment: DecodeText(r.field(3))}
}

// group: group:<groupid>:<members>:<comment>:
func (p *parser) group(r record) {
	id := r.field(0)
	if err := ValidGroupID(id); err != nil {
		p.warn(r.line, "ignore group: %v", err)
		return
	}
	g, ok := p.cfg.Groups[id]
	if !ok {
		g = &Group{ID: id}
		p.cfg.Groups[id] = g
	}
	if c := r.field(2); c != "" {
		g.Comment = DecodeText(c)
	}
	for _, m := range splitList(r.field(1)) {
		if err := ValidUserID(m); err != nil {
			p.warn(r.line, "ignore member of group %s: %v", id, err)
			continue
		}
		u, ok := p.cfg.Users[m]
		if !ok {
			p.warn(r.line, "ignore member %s of group %s: user does not exist", m, id)
			continue
		}
		g.Members = insertSorted(g.Members, m)
		u.Groups = insertSorted(u.Groups, id)
	}
}

// role: role:<roleid>:<privs>:
func (p *parser) role(r record) {
	id := r.field(0)
	if err := ValidRoleID(id); err != nil {
		p.warn(r.line, "ignore role: %v", err)
		return
	}
	if privs.IsBuiltin(id) {
		p.warn(r.line, "ignore role %s: built-in roles cannot be redefined", id)
		return
	}
	role, ok := p.cfg.Roles[id]
	if !ok {
		role = &Role{ID: id}
		p.cfg.Roles[id] = role
	}
	for _, name := range splitList(r.field(1)) {
		s, err := privs.SetOf(name)
		if err != nil {
			p.warn(r.line, "ignore privilege of role %s: %v", id, err)
			continue
		}
		role.Privs |= s
	}
}

// pool: pool:<poolid>:<comment>:<vmids>:<storages>:
func (p *parser) pool(r record, pooledVMs map[int]string, poolLine map[string]int) {
	id := r.field(0)
	if err := ValidPoolID(id); err != nil {
		p.warn(r.line, "ignore pool: %v", err)
		return
	}
	pool, ok := p.cfg.Pools[id]
	if !ok {
		pool = &Pool{ID: id}
		p.cfg.Pools[id] = pool
		poolLine[id] = r.line
	}
	if c := r.field(1); c != "" {
		pool.Comment = DecodeText(c)
	}
	for _, v := range splitList(r.field(2)) {
		vmid, err := parseVMID(v)
		if err != nil {
			p.warn(r.line, "ignore guest %q in pool %s: not a valid guest id", v, id)
			continue
		}
		if other, dup := pooledVMs[vmid]; dup {
			p.warn(r.line, "ignore guest %d in pool %s: it already belongs to pool %s", vmid, id, other)
			continue
		}
		pooledVMs[vmid] = id
		pool.VMs = append(pool.VMs, vmid)
	}
	for _, s := range splitList(r.field(3)) {
		if !validStorageID(s) {
			p.warn(r.line, "ignore storage %q in pool %s: not a valid storage id", s, id)
			continue
		}
		pool.Storages = insertSorted(pool.Storages, s)
	}
}

// addMissingParentPools creates the parents of nested pools, as Proxmox VE
// does when it reads a nested pool whose parent has no line of its own.
func (p *parser) addMissingParentPools(poolLine map[string]int) {
	for _, id := range slices.Sorted(maps.Keys(p.cfg.Pools)) {
		for parent, ok := PoolParent(id); ok; parent, ok = PoolParent(parent) {
			if _, exists := p.cfg.Pools[parent]; !exists {
				p.cfg.Pools[parent] = &Pool{ID: parent}
				p.warn(poolLine[id], "pool %s has no parent pool %s; added it", id, parent)
			}
		}
	}
}

// parseVMID reads a guest id: digits only, as in the file format.
func parseVMID(s string) (int, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a number")
		}
	}
	return strconv.Atoi(s)
}

// acl: acl:<propagate>:<path>:<subjects>:<roles>:
func (p *parser) acl(r record) {
	path, err := NormalizeACLPath(r.field(1))
	if err != nil {
		p.warn(r.line, "ignore ACL: %v", err)
		return
	}
	propagate := truthy(r.field(0))
	var roles []string
	for _, role := range splitList(r.field(3)) {
		if err := ValidRoleID(role); err != nil {
			p.warn(r.line, "ignore role in ACL on %s: %v", path, err)
			continue
		}
		if _, ok := p.cfg.RolePrivs(role); !ok {
			p.warn(r.line, "ignore role %s in ACL on %s: role does not exist", role, path)
			continue
		}
		roles = append(roles, role)
	}
	var subjects []string
	for _, s := range splitList(r.field(2)) {
		if err := p.cfg.checkSubject(s); err != nil {
			p.warn(r.line, "ignore subject in ACL on %s: %v", path, err)
			continue
		}
		subjects = append(subjects, s)
	}
	if len(roles) == 0 || len(subjects) == 0 {
		p.warn(r.line, "ignore ACL on %s: no valid subject or no valid role left", path)
		return
	}
	p.cfg.grant(path, subjects, roles, propagate)
}

// insertSorted adds s to a sorted slice unless it is already there.
func insertSorted(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return list
	}
	list = append(list, "")
	copy(list[i+1:], list[i:])
	list[i] = s
	return list
}

// removeSorted deletes s from a sorted slice if present.
func removeSorted(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return append(list[:i], list[i+1:]...)
	}
	return list
}
