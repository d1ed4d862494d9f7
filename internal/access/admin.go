package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/perm"
	"github.com/hearth-virt/hearth/internal/access/privs"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
	"github.com/hearth-virt/hearth/internal/guestconf"
)

// usercfgError maps the mutation helpers' errors onto API errors.
func usercfgError(param string, err error) error {
	if errors.Is(err, usercfg.ErrNotFound) {
		return api.NotFound("%v", err)
	}
	return api.ParamError(param, "%v", err)
}

// Groups.

func (s *Service) listGroups(_ context.Context, c *api.Call, _ *api.NoParams) ([]api.GroupListItem, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	out := []api.GroupListItem{}
	for _, id := range sortedKeys(st.users.Groups) {
		if !c.Perm.HasAny("/access/groups/"+id, "User.Modify", "Sys.Audit", "Group.Allocate") {
			continue
		}
		g := st.users.Groups[id]
		out = append(out, api.GroupListItem{GroupID: id, Comment: g.Comment, Users: strings.Join(g.Members, ",")})
	}
	return out, nil
}

func (s *Service) createGroup(ctx context.Context, c *api.Call, in *api.GroupParams) (any, error) {
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		g := usercfg.Group{ID: in.GroupID}
		if in.Comment != nil {
			g.Comment = *in.Comment
		}
		if err := users.AddGroup(g); err != nil {
			return usercfgError("groupid", err)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "group created", "group", in.GroupID)
	}
	return nil, err
}

func (s *Service) getGroup(_ context.Context, _ *api.Call, in *api.GroupIDParam) (api.Group, error) {
	st, err := s.current()
	if err != nil {
		return api.Group{}, err
	}
	g, ok := st.users.Groups[in.GroupID]
	if !ok {
		return api.Group{}, api.NotFound("group %s does not exist", in.GroupID)
	}
	return api.Group{Comment: g.Comment, Members: append([]string{}, g.Members...)}, nil
}

func (s *Service) updateGroup(ctx context.Context, c *api.Call, in *api.GroupParams) (any, error) {
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		g, ok := users.Groups[in.GroupID]
		if !ok {
			return api.NotFound("group %s does not exist", in.GroupID)
		}
		if in.Comment != nil {
			g.Comment = *in.Comment
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "group changed", "group", in.GroupID)
	}
	return nil, err
}

func (s *Service) deleteGroup(ctx context.Context, c *api.Call, in *api.GroupIDParam) (any, error) {
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		if err := users.DeleteGroup(in.GroupID); err != nil {
			return usercfgError("groupid", err)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "group deleted", "group", in.GroupID)
	}
	return nil, err
}

// editUsers is edit for changes to user.cfg alone.
func (s *Service) editUsers(ctx context.Context, fn func(*usercfg.Config) error) error {
	return s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		return fn(users)
	})
}

// Roles.

func (s *Service) listRoles(context.Context, *api.Call, *api.NoParams) ([]api.RoleListItem, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	out := []api.RoleListItem{}
	for _, id := range privs.BuiltinRoles() {
		set, _ := privs.BuiltinSet(id)
		out = append(out, api.RoleListItem{RoleID: id, Privs: set.String(), Special: 1})
	}
	for _, id := range sortedKeys(st.users.Roles) {
		out = append(out, api.RoleListItem{RoleID: id, Privs: st.users.Roles[id].Privs.String()})
	}
	return out, nil
}

func parsePrivs(v *string) (privs.Set, error) {
	if v == nil {
		return 0, nil
	}
	set, err := privs.SetOf(splitIDs(*v)...)
	if err != nil {
		return 0, api.ParamError("privs", "%v; known privileges: %s", err, strings.Join(privs.All(), ", "))
	}
	return set, nil
}

func (s *Service) createRole(ctx context.Context, c *api.Call, in *api.RoleCreateParams) (any, error) {
	set, err := parsePrivs(in.Privs)
	if err != nil {
		return nil, err
	}
	err = s.editUsers(ctx, func(users *usercfg.Config) error {
		if err := users.AddRole(in.RoleID, set); err != nil {
			return usercfgError("roleid", err)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "role created", "role", in.RoleID, "privs", set.String())
	}
	return nil, err
}

func (s *Service) getRole(_ context.Context, _ *api.Call, in *api.RoleIDParam) (map[string]int, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	set, ok := st.users.RolePrivs(in.RoleID)
	if !ok {
		return nil, api.NotFound("role %s does not exist", in.RoleID)
	}
	out := map[string]int{}
	for _, p := range set.Names() {
		out[p] = 1
	}
	return out, nil
}

func (s *Service) updateRole(ctx context.Context, c *api.Call, in *api.RoleParams) (any, error) {
	if privs.IsBuiltin(in.RoleID) {
		return nil, api.ParamError("roleid", "built-in role %s cannot be changed", in.RoleID)
	}
	set, err := parsePrivs(in.Privs)
	if err != nil {
		return nil, err
	}
	var result privs.Set
	err = s.editUsers(ctx, func(users *usercfg.Config) error {
		r, ok := users.Roles[in.RoleID]
		if !ok {
			return api.NotFound("role %s does not exist", in.RoleID)
		}
		if in.Append {
			r.Privs = r.Privs.Union(set)
		} else if in.Privs != nil {
			r.Privs = set
		}
		result = r.Privs
		return nil
	})
	if err == nil {
		s.auditChange(c, "role changed", "role", in.RoleID, "privs", result.String())
	}
	return nil, err
}

func (s *Service) deleteRole(ctx context.Context, c *api.Call, in *api.RoleIDParam) (any, error) {
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		if err := users.DeleteRole(in.RoleID); err != nil {
			return usercfgError("roleid", err)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "role deleted", "role", in.RoleID)
	}
	return nil, err
}

// The access control list.

func (s *Service) readACL(_ context.Context, c *api.Call, _ *api.NoParams) ([]api.ACLEntry, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	out := []api.ACLEntry{}
	for _, line := range st.users.ACLs() {
		if !c.Perm.HasAny(line.Path, api.ModifyPrivileges(line.Path)...) {
			continue
		}
		add := func(kind, id string) {
			for _, role := range line.Roles {
				out = append(out, api.ACLEntry{Path: line.Path, Type: kind, UGID: id, RoleID: role, Propagate: b2i(line.Propagate)})
			}
		}
		for _, u := range line.Users {
			add("user", u)
		}
		for _, g := range line.Groups {
			add("group", g)
		}
		for _, t := range line.Tokens {
			add("token", t)
		}
	}
	return out, nil
}

func (s *Service) updateACL(ctx context.Context, c *api.Call, in *api.ACLParams) (any, error) {
	path, err := usercfg.NormalizeACLPath(in.Path)
	if err != nil {
		return nil, api.ParamError("path", "%v", err)
	}
	var subjects []string
	subjects = append(subjects, splitIDs(in.Users)...)
	for _, g := range splitIDs(in.Groups) {
		subjects = append(subjects, "@"+g)
	}
	subjects = append(subjects, splitIDs(in.Tokens)...)
	if len(subjects) == 0 {
		return nil, api.ParamError("users", "name at least one user, group or token")
	}
	roles := splitIDs(in.Roles)
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	// The server checked the right to change permissions on the path; a
	// caller without Permissions.Modify may still only hand out (or take
	// back) roles whose privileges it holds there itself.
	if err := st.eval.CanGrant(perm.Subject{UserID: c.User, TokenID: c.Token}, path, roles, in.Propagate); err != nil {
		var denied *perm.DeniedError
		if errors.As(err, &denied) {
			return nil, &api.Denied{Path: denied.Path, Priv: strings.Join(denied.Privileges, "|")}
		}
		return nil, api.ParamError("roles", "%v", err)
	}
	err = s.editUsers(ctx, func(users *usercfg.Config) error {
		if err := users.SetACL(path, subjects, roles, in.Propagate, in.Delete); err != nil {
			return usercfgError("path", err)
		}
		return nil
	})
	if err == nil {
		what := "permissions granted"
		if in.Delete {
			what = "permissions removed"
		}
		s.auditChange(c, what, "path", path, "subjects", strings.Join(subjects, ","), "roles", strings.Join(roles, ","), "propagate", in.Propagate)
	}
	return nil, err
}

// Pools.

func (s *Service) listPools(_ context.Context, c *api.Call, in *api.PoolListParams) ([]api.PoolInfo, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	if in.PoolID != "" {
		if !c.Perm.Has("/pool/"+in.PoolID, "Pool.Audit") {
			return nil, &api.Denied{Path: "/pool/" + in.PoolID, Priv: "Pool.Audit"}
		}
		p, ok := st.users.Pools[in.PoolID]
		if !ok {
			return nil, api.NotFound("pool %s does not exist", in.PoolID)
		}
		return []api.PoolInfo{{PoolID: p.ID, Comment: p.Comment, Members: s.poolMembers(c, p, in.Type)}}, nil
	}
	out := []api.PoolInfo{}
	for _, id := range sortedKeys(st.users.Pools) {
		if c.Perm.Has("/pool/"+id, "Pool.Audit") {
			out = append(out, api.PoolInfo{PoolID: id, Comment: st.users.Pools[id].Comment})
		}
	}
	return out, nil
}

func (s *Service) getPool(_ context.Context, c *api.Call, in *api.PoolListParams) (api.PoolDetail, error) {
	st, err := s.current()
	if err != nil {
		return api.PoolDetail{}, err
	}
	p, ok := st.users.Pools[in.PoolID]
	if !ok {
		return api.PoolDetail{}, api.NotFound("pool %s does not exist", in.PoolID)
	}
	return api.PoolDetail{Comment: p.Comment, Members: s.poolMembers(c, p, in.Type)}, nil
}

// poolMembers lists a pool's guests (where their configs are) and its
// storages, as far as the caller may see them.
func (s *Service) poolMembers(c *api.Call, p *usercfg.Pool, typ string) []api.PoolMember {
	out := []api.PoolMember{}
	guests := s.guests()
	for _, vmid := range p.VMs {
		g, ok := guests[vmid]
		if !ok || (typ != "" && typ != g.Kind) || !c.Perm.Has("/vms/"+strconv.Itoa(vmid), "VM.Audit") {
			continue
		}
		out = append(out, api.PoolMember{ID: g.Kind + "/" + strconv.Itoa(vmid), Type: g.Kind, Node: g.Node, VMID: vmid})
	}
	if typ == "" || typ == "storage" {
		for _, sid := range p.Storages {
			if !c.Perm.Has("/storage/"+sid, "Datastore.Audit") {
				continue
			}
			out = append(out, api.PoolMember{ID: "storage/" + c.Node + "/" + sid, Type: "storage", Node: c.Node, Storage: sid})
		}
	}
	return out
}

// guests finds every guest of the cluster by id.
func (s *Service) guests() map[int]guestconf.Guest {
	out := map[int]guestconf.Guest{}
	list, _ := guestconf.List(s.store) // a tree without nodes has no guests
	for _, g := range list {
		out[g.VMID] = g
	}
	return out
}

func (s *Service) createPool(ctx context.Context, c *api.Call, in *api.PoolCreateParams) (any, error) {
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		p := usercfg.Pool{ID: in.PoolID}
		if in.Comment != nil {
			p.Comment = *in.Comment
		}
		if err := users.AddPool(p); err != nil {
			return usercfgError("poolid", err)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "pool created", "pool", in.PoolID)
	}
	return nil, err
}

func (s *Service) updatePool(ctx context.Context, c *api.Call, in *api.PoolParams) (any, error) {
	var vmids []int
	for _, v := range splitIDs(in.VMs) {
		id, err := strconv.Atoi(v)
		if err != nil {
			return nil, api.ParamError("vms", "invalid guest id %q", v)
		}
		vmids = append(vmids, id)
	}
	storages := splitIDs(in.Storage)
	// Putting an object into a pool (or taking it out) changes who may
	// use it, so it needs the right to change that object's permissions.
	for _, id := range vmids {
		path := "/vms/" + strconv.Itoa(id)
		if need := api.ModifyPrivileges(path); !c.Perm.HasAny(path, need...) {
			return nil, &api.Denied{Path: path, Priv: strings.Join(need, "|")}
		}
	}
	for _, sid := range storages {
		path := "/storage/" + sid
		if need := api.ModifyPrivileges(path); !c.Perm.HasAny(path, need...) {
			return nil, &api.Denied{Path: path, Priv: strings.Join(need, "|")}
		}
	}
	guests := s.guests()
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		p, ok := users.Pools[in.PoolID]
		if !ok {
			return api.NotFound("pool %s does not exist", in.PoolID)
		}
		if in.Comment != nil {
			p.Comment = *in.Comment
		}
		for _, id := range vmids {
			if in.Delete {
				if !slices.Contains(p.VMs, id) {
					return api.ParamError("vms", "guest %d is not in pool %s", id, in.PoolID)
				}
				p.VMs = slices.DeleteFunc(p.VMs, func(v int) bool { return v == id })
				continue
			}
			if _, exists := guests[id]; !exists {
				return api.ParamError("vms", "guest %d does not exist", id)
			}
			if err := users.AddPoolVM(in.PoolID, id, in.AllowMove); err != nil {
				return api.ParamError("vms", "%v (use allow-move to move it)", err)
			}
		}
		for _, sid := range storages {
			var err error
			if in.Delete {
				if !slices.Contains(p.Storages, sid) {
					return api.ParamError("storage", "storage %s is not in pool %s", sid, in.PoolID)
				}
				err = users.RemovePoolStorage(in.PoolID, sid)
			} else {
				err = users.AddPoolStorage(in.PoolID, sid)
			}
			if err != nil {
				return api.ParamError("storage", "%v", err)
			}
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "pool changed", "pool", in.PoolID, "vms", in.VMs, "storage", in.Storage, "delete", in.Delete)
	}
	return nil, err
}

func (s *Service) deletePool(ctx context.Context, c *api.Call, in *api.PoolIDParam) (any, error) {
	err := s.editUsers(ctx, func(users *usercfg.Config) error {
		p, ok := users.Pools[in.PoolID]
		if !ok {
			return api.NotFound("pool %s does not exist", in.PoolID)
		}
		if len(p.VMs) > 0 || len(p.Storages) > 0 {
			return api.Errorf(500, "pool %s is not empty (%d guests, %d storages); remove its members first", in.PoolID, len(p.VMs), len(p.Storages))
		}
		if err := users.DeletePool(in.PoolID); err != nil {
			return api.ParamError("poolid", "%v", err)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "pool deleted", "pool", in.PoolID)
	}
	return nil, err
}

// auditChange logs a change to access control with who made it. Values
// are ids and flags, never secrets.
func (s *Service) auditChange(c *api.Call, what string, kv ...any) {
	args := append([]any{"by", c.User}, kv...)
	if c.Token != "" {
		args = append(args, "token", c.Token)
	}
	args = append(args, "remote", c.RemoteAddr)
	s.log.Info(fmt.Sprintf("access: %s", what), args...)
}
