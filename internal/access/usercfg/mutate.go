package usercfg

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/access/privs"
)

// Errors the mutation helpers wrap, so the API can map them to status codes.
var (
	ErrNotFound = errors.New("does not exist")
	ErrExists   = errors.New("already exists")
)

// checkRaw guards the fields user.cfg stores without escaping.
func checkRaw(what, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c == ':' {
			return fmt.Errorf("%s %q: may not contain ':' or control characters", what, v)
		}
	}
	if trimSpace(v) != v {
		return fmt.Errorf("%s %q: may not start or end with white space", what, v)
	}
	return nil
}

// checkSubject checks that an ACL subject is well formed and exists.
func (c *Config) checkSubject(s string) error {
	kind, id, err := ParseSubject(s)
	if err != nil {
		return err
	}
	var ok bool
	switch kind {
	case SubjectUser:
		_, ok = c.Users[id]
	case SubjectGroup:
		_, ok = c.Groups[id]
	case SubjectToken:
		_, ok = c.Token(id)
	}
	if !ok {
		return fmt.Errorf("%s: %w", s, ErrNotFound)
	}
	return nil
}

// grant records roles for already checked subjects on a normalised path.
func (c *Config) grant(path string, subjects, roles []string, propagate bool) {
	a := c.ACL[path]
	if a == nil {
		a = &PathACL{}
		c.ACL[path] = a
	}
	for _, s := range subjects {
		kind, id, _ := ParseSubject(s)
		m := a.grantsOf(kind, true)
		g := m[id]
		if g == nil {
			g = Grants{}
			m[id] = g
		}
		for _, r := range roles {
			g[r] = propagate
		}
	}
}

// grantsOf returns the map for one kind of subject, creating it if asked.
func (a *PathACL) grantsOf(kind SubjectKind, create bool) map[string]Grants {
	ptr := &a.Users
	switch kind {
	case SubjectGroup:
		ptr = &a.Groups
	case SubjectToken:
		ptr = &a.Tokens
	}
	if *ptr == nil && create {
		*ptr = map[string]Grants{}
	}
	return *ptr
}

// SetACL grants roles to subjects on a path, or with del revokes them.
// Subjects are written as in the API: "user@realm", "@group" or
// "user@realm!token"; each must exist, as must each role. Granting a role
// a subject already holds there just updates its propagate flag.
func (c *Config) SetACL(path string, subjects, roles []string, propagate, del bool) error {
	p, err := NormalizeACLPath(path)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if _, ok := c.RolePrivs(r); !ok {
			return fmt.Errorf("role %s: %w", r, ErrNotFound)
		}
	}
	for _, s := range subjects {
		if err := c.checkSubject(s); err != nil {
			return err
		}
	}
	if !del {
		c.grant(p, subjects, roles, propagate)
		return nil
	}
	a := c.ACL[p]
	if a == nil {
		return nil
	}
	for _, s := range subjects {
		kind, id, _ := ParseSubject(s)
		m := a.grantsOf(kind, false)
		for _, r := range roles {
			delete(m[id], r)
		}
		if len(m[id]) == 0 {
			delete(m, id)
		}
	}
	if a.empty() {
		delete(c.ACL, p)
	}
	return nil
}

// dropACL removes every grant that matches, pruning emptied paths.
func (c *Config) dropACL(match func(path string, kind SubjectKind, id, role string) bool) {
	for path, a := range c.ACL {
		for _, kind := range []SubjectKind{SubjectUser, SubjectGroup, SubjectToken} {
			m := a.grantsOf(kind, false)
			for id, g := range m {
				for role := range g {
					if match(path, kind, id, role) {
						delete(g, role)
					}
				}
				if len(g) == 0 {
					delete(m, id)
				}
			}
		}
		if a.empty() {
			delete(c.ACL, path)
		}
	}
}

// AddUser adds a user. u.Groups must name existing groups, which gain the
// user as a member; u.Tokens is copied.
func (c *Config) AddUser(u User) error {
	if err := ValidUserID(u.ID); err != nil {
		return err
	}
	if _, ok := c.Users[u.ID]; ok {
		return fmt.Errorf("user %s: %w", u.ID, ErrExists)
	}
	if err := checkRaw("email", u.Email); err != nil {
		return err
	}
	if err := checkRaw("keys", u.Keys); err != nil {
		return err
	}
	for _, g := range u.Groups {
		if _, ok := c.Groups[g]; !ok {
			return fmt.Errorf("group %s: %w", g, ErrNotFound)
		}
	}
	nu := u
	nu.Groups = nil
	nu.Tokens = map[string]*Token{}
	for name, t := range u.Tokens {
		if err := ValidTokenName(name); err != nil {
			return err
		}
		tc := *t
		tc.ID = name
		nu.Tokens[name] = &tc
	}
	c.Users[u.ID] = &nu
	return c.SetUserGroups(u.ID, u.Groups, true)
}

// DeleteUser removes a user, its tokens, its group memberships and every
// ACL grant to it or to its tokens. root@pam cannot be deleted: it is the
// way back in when every other account is locked out.
func (c *Config) DeleteUser(id string) error {
	if id == RootUser {
		return fmt.Errorf("user %s cannot be deleted", id)
	}
	u, ok := c.Users[id]
	if !ok {
		return fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	for _, g := range u.Groups {
		if grp, ok := c.Groups[g]; ok {
			grp.Members = removeSorted(grp.Members, id)
		}
	}
	delete(c.Users, id)
	c.dropACL(func(_ string, kind SubjectKind, sid, _ string) bool {
		if kind == SubjectToken {
			owner, _, _ := SplitTokenID(sid)
			return owner == id
		}
		return kind == SubjectUser && sid == id
	})
	return nil
}

// SetUserGroups makes the user a member of the given groups; unless
// appendOnly is set, it also leaves every group not listed.
func (c *Config) SetUserGroups(id string, groups []string, appendOnly bool) error {
	u, ok := c.Users[id]
	if !ok {
		return fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	for _, g := range groups {
		if _, ok := c.Groups[g]; !ok {
			return fmt.Errorf("group %s: %w", g, ErrNotFound)
		}
	}
	if !appendOnly {
		for _, g := range u.Groups {
			if !slices.Contains(groups, g) {
				c.Groups[g].Members = removeSorted(c.Groups[g].Members, id)
			}
		}
		u.Groups = nil
	}
	for _, g := range groups {
		c.Groups[g].Members = insertSorted(c.Groups[g].Members, id)
		u.Groups = insertSorted(u.Groups, g)
	}
	return nil
}

// AddToken adds an API token to a user.
func (c *Config) AddToken(userid string, t Token) error {
	u, ok := c.Users[userid]
	if !ok {
		return fmt.Errorf("user %s: %w", userid, ErrNotFound)
	}
	if err := ValidTokenName(t.ID); err != nil {
		return err
	}
	if u.Tokens[t.ID] != nil {
		return fmt.Errorf("token %s: %w", JoinTokenID(userid, t.ID), ErrExists)
	}
	if u.Tokens == nil {
		u.Tokens = map[string]*Token{}
	}
	u.Tokens[t.ID] = &t
	return nil
}

// DeleteToken removes a user's token and every ACL grant to it.
func (c *Config) DeleteToken(userid, name string) error {
	full := JoinTokenID(userid, name)
	if _, ok := c.Token(full); !ok {
		return fmt.Errorf("token %s: %w", full, ErrNotFound)
	}
	delete(c.Users[userid].Tokens, name)
	c.dropACL(func(_ string, kind SubjectKind, id, _ string) bool {
		return kind == SubjectToken && id == full
	})
	return nil
}

// AddGroup adds a group; its members must be existing users.
func (c *Config) AddGroup(g Group) error {
	if err := ValidGroupID(g.ID); err != nil {
		return err
	}
	if _, ok := c.Groups[g.ID]; ok {
		return fmt.Errorf("group %s: %w", g.ID, ErrExists)
	}
	for _, m := range g.Members {
		if _, ok := c.Users[m]; !ok {
			return fmt.Errorf("user %s: %w", m, ErrNotFound)
		}
	}
	c.Groups[g.ID] = &Group{ID: g.ID, Comment: g.Comment}
	for _, m := range g.Members {
		c.Groups[g.ID].Members = insertSorted(c.Groups[g.ID].Members, m)
		c.Users[m].Groups = insertSorted(c.Users[m].Groups, g.ID)
	}
	return nil
}

// DeleteGroup removes a group, its members' references to it and every
// ACL grant to it.
func (c *Config) DeleteGroup(id string) error {
	g, ok := c.Groups[id]
	if !ok {
		return fmt.Errorf("group %s: %w", id, ErrNotFound)
	}
	for _, m := range g.Members {
		if u, ok := c.Users[m]; ok {
			u.Groups = removeSorted(u.Groups, id)
		}
	}
	delete(c.Groups, id)
	c.dropACL(func(_ string, kind SubjectKind, gid, _ string) bool {
		return kind == SubjectGroup && gid == id
	})
	return nil
}

// AddRole adds a custom role. Built-in names and the PVE prefix are
// reserved.
func (c *Config) AddRole(id string, set privs.Set) error {
	if err := ValidRoleID(id); err != nil {
		return err
	}
	if privs.IsReserved(id) {
		return fmt.Errorf("role %s: built-in roles and the %q prefix are reserved", id, privs.ReservedRolePrefix)
	}
	if _, ok := c.Roles[id]; ok {
		return fmt.Errorf("role %s: %w", id, ErrExists)
	}
	c.Roles[id] = &Role{ID: id, Privs: set}
	return nil
}

// DeleteRole removes a custom role and every ACL grant of it. (Proxmox VE
// leaves such grants in place until the next read drops them as
// dangling; removing them at once gives the same file.)
func (c *Config) DeleteRole(id string) error {
	if privs.IsBuiltin(id) {
		return fmt.Errorf("role %s: built-in roles cannot be deleted", id)
	}
	if _, ok := c.Roles[id]; !ok {
		return fmt.Errorf("role %s: %w", id, ErrNotFound)
	}
	delete(c.Roles, id)
	c.dropACL(func(_ string, _ SubjectKind, _, role string) bool { return role == id })
	return nil
}

// AddPool adds a pool. A nested pool needs its parent; its guests must not
// be in another pool.
func (c *Config) AddPool(p Pool) error {
	if err := ValidPoolID(p.ID); err != nil {
		return err
	}
	if _, ok := c.Pools[p.ID]; ok {
		return fmt.Errorf("pool %s: %w", p.ID, ErrExists)
	}
	if parent, ok := PoolParent(p.ID); ok {
		if _, ok := c.Pools[parent]; !ok {
			return fmt.Errorf("parent pool %s: %w", parent, ErrNotFound)
		}
	}
	for _, s := range p.Storages {
		if !validStorageID(s) {
			return fmt.Errorf("invalid storage id %q", s)
		}
	}
	for _, v := range p.VMs {
		if other, ok := c.PoolOfVM(v); ok {
			return fmt.Errorf("guest %d already belongs to pool %s", v, other)
		}
	}
	np := &Pool{ID: p.ID, Comment: p.Comment}
	c.Pools[p.ID] = np
	for _, v := range p.VMs {
		if !slices.Contains(np.VMs, v) {
			np.VMs = append(np.VMs, v)
		}
	}
	for _, s := range p.Storages {
		np.Storages = insertSorted(np.Storages, s)
	}
	return nil
}

// DeletePool removes a pool and the ACL grants on /pool/<id>. A pool with
// nested pools cannot be deleted; its guests and storages simply leave it
// (the API refuses to delete non-empty pools before getting here).
func (c *Config) DeletePool(id string) error {
	if _, ok := c.Pools[id]; !ok {
		return fmt.Errorf("pool %s: %w", id, ErrNotFound)
	}
	for other := range c.Pools {
		if strings.HasPrefix(other, id+"/") {
			return fmt.Errorf("pool %s still contains pool %s", id, other)
		}
	}
	delete(c.Pools, id)
	aclPath := "/pool/" + id
	c.dropACL(func(path string, _ SubjectKind, _, _ string) bool { return path == aclPath })
	return nil
}

// AddPoolVM puts a guest into a pool. If the guest is in another pool it
// is an error unless move is set, which takes it out of the other pool.
func (c *Config) AddPoolVM(pool string, vmid int, move bool) error {
	p, ok := c.Pools[pool]
	if !ok {
		return fmt.Errorf("pool %s: %w", pool, ErrNotFound)
	}
	if other, ok := c.PoolOfVM(vmid); ok {
		if other == pool {
			return nil
		}
		if !move {
			return fmt.Errorf("guest %d already belongs to pool %s", vmid, other)
		}
		c.removeVMFromPools(vmid)
	}
	p.VMs = append(p.VMs, vmid)
	return nil
}

func (c *Config) removeVMFromPools(vmid int) {
	for _, p := range c.Pools {
		p.VMs = slices.DeleteFunc(p.VMs, func(v int) bool { return v == vmid })
	}
}

// RemovePoolVM takes a guest out of whatever pool holds it.
func (c *Config) RemovePoolVM(vmid int) { c.removeVMFromPools(vmid) }

// RemoveVM forgets a guest that was destroyed: it leaves its pool and the
// ACL grants on /vms/<vmid> go, so a new guest with the same id does not
// inherit them.
func (c *Config) RemoveVM(vmid int) {
	c.removeVMFromPools(vmid)
	aclPath := "/vms/" + strconv.Itoa(vmid)
	c.dropACL(func(path string, _ SubjectKind, _, _ string) bool { return path == aclPath })
}

// AddPoolStorage puts a storage into a pool (a storage may be in several).
func (c *Config) AddPoolStorage(pool, storage string) error {
	p, ok := c.Pools[pool]
	if !ok {
		return fmt.Errorf("pool %s: %w", pool, ErrNotFound)
	}
	if !validStorageID(storage) {
		return fmt.Errorf("invalid storage id %q", storage)
	}
	p.Storages = insertSorted(p.Storages, storage)
	return nil
}

// RemovePoolStorage takes a storage out of a pool.
func (c *Config) RemovePoolStorage(pool, storage string) error {
	p, ok := c.Pools[pool]
	if !ok {
		return fmt.Errorf("pool %s: %w", pool, ErrNotFound)
	}
	p.Storages = removeSorted(p.Storages, storage)
	return nil
}

// CheckUser checks the fields of a changed user that user.cfg stores
// verbatim.
func CheckUser(u *User) error {
	if err := checkRaw("email", u.Email); err != nil {
		return err
	}
	return checkRaw("keys", u.Keys)
}
