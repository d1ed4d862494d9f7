package perm

import (
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/access/privs"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// Subject is who asks: a user, or one of its API tokens.
type Subject struct {
	UserID string
	// TokenID is the full token id user@realm!name, or "" for the user
	// itself. When set, UserID may be empty (it is implied) but must match
	// the token's user if given.
	TokenID string
}

// Evaluator computes permissions for one version of user.cfg.
type Evaluator struct {
	root         *node
	groupsOf     map[string][]string // user id → groups it is a member of
	roles        map[string]privs.Set
	users        map[string]userInfo
	vmPool       map[int]string
	storagePools map[string][]string
	now          func() int64
}

type userInfo struct {
	enable bool
	expire int64
	tokens map[string]tokenInfo
}

type tokenInfo struct {
	expire  int64
	privsep bool
}

// node is one path component of the ACL tree.
type node struct {
	children map[string]*node
	users    map[string]usercfg.Grants
	groups   map[string]usercfg.Grants
	tokens   map[string]usercfg.Grants
}

// Option adjusts an Evaluator.
type Option func(*Evaluator)

// WithClock sets the clock (Unix seconds) used to expire users and tokens;
// tests pin it. The default is the system clock.
func WithClock(now func() int64) Option { return func(e *Evaluator) { e.now = now } }

// New builds an evaluator. It copies what it needs, so later changes to
// cfg do not affect it.
func New(cfg *usercfg.Config, opts ...Option) *Evaluator {
	e := &Evaluator{
		root:         &node{},
		groupsOf:     map[string][]string{},
		roles:        map[string]privs.Set{},
		users:        map[string]userInfo{},
		vmPool:       map[int]string{},
		storagePools: map[string][]string{},
		now:          func() int64 { return time.Now().Unix() },
	}
	for _, o := range opts {
		o(e)
	}
	for _, name := range privs.BuiltinRoles() {
		e.roles[name], _ = privs.BuiltinSet(name)
	}
	for id, r := range cfg.Roles {
		if !privs.IsBuiltin(id) {
			e.roles[id] = r.Privs
		}
	}
	for id, u := range cfg.Users {
		info := userInfo{enable: u.Enable, expire: u.Expire, tokens: map[string]tokenInfo{}}
		for name, t := range u.Tokens {
			info.tokens[name] = tokenInfo{expire: t.Expire, privsep: t.Privsep}
		}
		e.users[id] = info
	}
	for id, g := range cfg.Groups {
		for _, m := range g.Members {
			e.groupsOf[m] = append(e.groupsOf[m], id)
		}
	}
	for id, p := range cfg.Pools {
		for _, v := range p.VMs {
			e.vmPool[v] = id
		}
		for _, s := range p.Storages {
			e.storagePools[s] = append(e.storagePools[s], id)
		}
	}
	for path, a := range cfg.ACL {
		n := e.root
		for _, c := range usercfg.PathComponents(path) {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			child := n.children[c]
			if child == nil {
				child = &node{}
				n.children[c] = child
			}
			n = child
		}
		n.users = copyGrants(a.Users)
		n.groups = copyGrants(a.Groups)
		n.tokens = copyGrants(a.Tokens)
	}
	return e
}

func copyGrants(m map[string]usercfg.Grants) map[string]usercfg.Grants {
	out := make(map[string]usercfg.Grants, len(m))
	for k, g := range m {
		c := make(usercfg.Grants, len(g))
		for r, p := range g {
			c[r] = p
		}
		out[k] = c
	}
	return out
}

// UserEnabled reports whether a user may act at time now: it exists, is
// enabled, and its expiry (if any) has not passed. root@pam always may,
// even if user.cfg lacks it (Proxmox VE adds it on every read).
func (e *Evaluator) UserEnabled(userid string, now int64) bool {
	if userid == usercfg.RootUser {
		return true
	}
	u, ok := e.users[userid]
	return ok && u.enable && !expired(u.expire, now)
}

// expired treats 0 as "never"; the expiry second itself is still valid,
// as in Proxmox VE.
func expired(expire, now int64) bool { return expire != 0 && expire < now }

// Privileges returns what the subject may do on path. Anything the
// subject cannot use (unknown, disabled or expired user or token, a
// malformed path) yields the empty set.
func (e *Evaluator) Privileges(s Subject, path string) privs.Set {
	held, _ := e.PrivilegeFlags(s, path)
	return held
}

// PrivilegeFlags returns the privileges held on path and, among them,
// those held through a propagating grant. The second set matters when
// handing out roles with propagation and for listing permissions.
func (e *Evaluator) PrivilegeFlags(s Subject, path string) (held, propagated privs.Set) {
	p, err := usercfg.NormalizeACLPath(path)
	if err != nil {
		return 0, 0
	}
	comps := usercfg.PathComponents(p)
	userid, token, ok := resolve(s)
	if !ok {
		return 0, 0
	}
	now := e.now()
	if !e.UserEnabled(userid, now) {
		return 0, 0
	}
	var ti tokenInfo
	if token != "" {
		_, name, _ := usercfg.SplitTokenID(token)
		ti, ok = e.users[userid].tokens[name]
		if !ok || expired(ti.expire, now) {
			return 0, 0
		}
	}
	if userid == usercfg.RootUser {
		held, propagated = privs.Full(), privs.Full()
	} else {
		held, propagated = e.privFlags(principal{user: userid}, comps)
	}
	if token == "" || !ti.privsep {
		return held, propagated
	}
	// A privilege-separated token never exceeds its user.
	th, tp := e.privFlags(principal{user: userid, token: token}, comps)
	return held & th, propagated & tp
}

// resolve returns the user and full token id a subject stands for.
func resolve(s Subject) (userid, token string, ok bool) {
	if s.TokenID == "" {
		return s.UserID, "", s.UserID != ""
	}
	u, _, ok := usercfg.SplitTokenID(s.TokenID)
	if !ok || (s.UserID != "" && s.UserID != u) {
		return "", "", false
	}
	return u, s.TokenID, true
}

// Has reports whether the subject holds all of the privileges on path.
func (e *Evaluator) Has(s Subject, path string, list ...string) bool {
	return e.Privileges(s, path).HasAll(list...)
}

// HasAny reports whether the subject holds at least one of the privileges
// on path.
func (e *Evaluator) HasAny(s Subject, path string, list ...string) bool {
	return e.Privileges(s, path).HasAny(list...)
}

// PrivilegesUnder returns the union of the subject's privileges on prefix
// and on every path below it that appears in the ACL tree, including the
// intermediate levels. The login answer's cap map and the UI menus use it
// to show an area when the user may do something somewhere inside it.
// Privileges that reach guests and storages through pools show up under
// /pool, not /vms or /storage; the caller folds them in as it needs.
func (e *Evaluator) PrivilegesUnder(s Subject, prefix string) privs.Set {
	p, err := usercfg.NormalizeACLPath(prefix)
	if err != nil {
		return 0
	}
	out := e.Privileges(s, p)
	n := e.root
	for _, c := range usercfg.PathComponents(p) {
		if n = n.children[c]; n == nil {
			return out
		}
	}
	base := strings.TrimSuffix(p, "/")
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		for c, child := range n.children {
			cp := path + "/" + c
			out |= e.Privileges(s, cp)
			walk(child, cp)
		}
	}
	walk(n, base)
	return out
}

// principal is whose grants the ACL walk reads: a user (with its groups)
// or, for a privilege-separated token, the token's own grants only.
type principal struct {
	user  string
	token string
}

// privFlags turns the roles effective on a path into privileges.
func (e *Evaluator) privFlags(pr principal, comps []string) (held, propagated privs.Set) {
	for role, prop := range e.effectiveRoles(pr, comps) {
		s := e.roles[role]
		held |= s
		if prop {
			propagated |= s
		}
	}
	return held, propagated
}

// effectiveRoles is the path walk plus what pools add: a guest or storage
// in a pool also gets the roles the principal holds on /pool/<id>. Pool
// roles only fill in (never propagate, never override a role's flag);
// NoAccess from the path itself is never lifted by a pool, while NoAccess
// on the pool overrules the path's grants. Nested pools need nothing
// extra: /pool/a/b inherits from /pool/a through the walk.
func (e *Evaluator) effectiveRoles(pr principal, comps []string) map[string]bool {
	roles := e.walk(pr, comps)
	pools := e.poolsOf(comps)
	if len(pools) == 0 {
		return roles
	}
	fromPools := map[string]bool{}
	for _, pool := range pools {
		for r := range e.walk(pr, append([]string{"pool"}, strings.Split(pool, "/")...)) {
			fromPools[r] = true
		}
	}
	if len(fromPools) == 0 {
		return roles
	}
	if _, denied := roles[privs.RoleNoAccess]; denied {
		return roles
	}
	if fromPools[privs.RoleNoAccess] {
		return map[string]bool{privs.RoleNoAccess: false}
	}
	for r := range fromPools {
		if _, ok := roles[r]; !ok {
			roles[r] = false
		}
	}
	return roles
}

// poolsOf returns the pools whose members include the object at the path:
// /vms/<vmid> (one pool at most) or /storage/<id> (possibly several).
func (e *Evaluator) poolsOf(comps []string) []string {
	if len(comps) != 2 {
		return nil
	}
	switch comps[0] {
	case "vms":
		vmid, err := strconv.Atoi(comps[1])
		if err != nil || strconv.Itoa(vmid) != comps[1] {
			return nil
		}
		if p, ok := e.vmPool[vmid]; ok {
			return []string{p}
		}
	case "storage":
		return e.storagePools[comps[1]]
	}
	return nil
}

// walk computes the roles in effect on a path, from "/" down one
// component at a time. At each level the principal's own grants, if any
// apply there, replace everything inherited; otherwise the union of the
// grants to its groups does, if any apply. A non-propagating grant applies
// only on its own path, so a level whose grants all stop there leaves the
// inheritance untouched for deeper paths (and, for a user, lets the
// groups' grants on that level count). The result maps each role to
// whether it propagates; NoAccess in it wipes out every other role.
func (e *Evaluator) walk(pr principal, comps []string) map[string]bool {
	roles := map[string]bool{}
	n := e.root
	for i := 0; i <= len(comps); i++ {
		if i > 0 {
			if n = n.children[comps[i-1]]; n == nil {
				break
			}
		}
		final := i == len(comps)
		if pr.token != "" {
			if next := applicable(n.tokens[pr.token], final); next != nil {
				roles = next
			}
			continue
		}
		if next := applicable(n.users[pr.user], final); next != nil {
			roles = next
			continue
		}
		var next map[string]bool
		for _, g := range e.groupsOf[pr.user] {
			for role, prop := range n.groups[g] {
				if final || prop {
					if next == nil {
						next = map[string]bool{}
					}
					// Two groups granting the same role: it propagates if either grant does.
					next[role] = next[role] || prop
				}
			}
		}
		if next != nil {
			roles = next
		}
	}
	if prop, denied := roles[privs.RoleNoAccess]; denied {
		return map[string]bool{privs.RoleNoAccess: prop}
	}
	return roles
}

// applicable returns the grants that count at this level (all of them on
// the final level, only propagating ones above it), or nil if none do.
func applicable(g usercfg.Grants, final bool) map[string]bool {
	var out map[string]bool
	for role, prop := range g {
		if final || prop {
			if out == nil {
				out = map[string]bool{}
			}
			out[role] = prop
		}
	}
	return out
}
