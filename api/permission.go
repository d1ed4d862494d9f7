package api

import (
	"fmt"
	"strings"
)

// PermKind says how a permission rule is decided.
type PermKind int

// The kinds of permission rules.
const (
	// PermPublic needs no authentication at all (login, the schema).
	PermPublic PermKind = iota
	// PermUser needs any authenticated user; the handler filters what the
	// caller may see (list endpoints) or checks per object.
	PermUser
	// PermCheck needs privileges on a path.
	PermCheck
	// PermAnd needs all of the sub-rules.
	PermAnd
	// PermOr needs one of the sub-rules.
	PermOr
	// PermSelf needs the caller to be the user named by a parameter, or to
	// satisfy the sub-rule.
	PermSelf
	// PermRoot needs root@pam.
	PermRoot
	// PermUserRealm needs Privs on /access/realm/<realm>, the realm of the
	// user named by Param.
	PermUserRealm
	// PermUserGroup needs Privs on /access/groups, or else on groups: on
	// every group named by GroupsParam, and (unless Mode is "create") on a
	// group the user named by Param belongs to.
	PermUserGroup
	// PermModify needs the right to change permissions on Path.
	PermModify
)

// Permission is the declared access rule of an endpoint. The server checks
// it before calling the handler; handlers never check it by hand.
type Permission struct {
	Kind PermKind
	// Path is a template such as "/nodes/{node}" or "/vms/{vmid}", filled
	// from the parameters.
	Path  string
	Privs []string
	// Any means one of Privs suffices.
	Any bool
	// Param names the user id parameter for PermSelf, PermUserRealm and
	// PermUserGroup.
	Param string
	// GroupsParam and Mode refine PermUserGroup.
	GroupsParam string
	Mode        string
	Sub         []Permission
	// Note explains further checks the handler makes (shown in docs).
	Note string
}

// Public is the rule of endpoints anyone may call.
func Public() Permission { return Permission{Kind: PermPublic} }

// AnyUser is the rule of endpoints every authenticated user may call.
func AnyUser(note string) Permission { return Permission{Kind: PermUser, Note: note} }

// Perm needs all privs on path.
func Perm(path string, privs ...string) Permission {
	return Permission{Kind: PermCheck, Path: path, Privs: privs}
}

// PermAny needs one of privs on path.
func PermAny(path string, privs ...string) Permission {
	return Permission{Kind: PermCheck, Path: path, Privs: privs, Any: true}
}

// And needs every rule.
func And(rules ...Permission) Permission { return Permission{Kind: PermAnd, Sub: rules} }

// Or needs one of the rules.
func Or(rules ...Permission) Permission { return Permission{Kind: PermOr, Sub: rules} }

// Self lets a user act on its own record (the user named by param), and
// everyone else only with rule.
func Self(param string, rule Permission) Permission {
	return Permission{Kind: PermSelf, Param: param, Sub: []Permission{rule}}
}

// UserRealm needs priv on the realm of the user named by param.
func UserRealm(param, priv string) Permission {
	return Permission{Kind: PermUserRealm, Param: param, Privs: []string{priv}}
}

// UserGroup needs one of privs on /access/groups, or on the groups
// involved: those named by groupsParam (if any) and, unless mode is
// "create", one the user named by param belongs to.
func UserGroup(param string, privs []string, groupsParam, mode string) Permission {
	return Permission{Kind: PermUserGroup, Param: param, Privs: privs, GroupsParam: groupsParam, Mode: mode}
}

// PermModifyOn needs the right to change the permissions of path.
func PermModifyOn(path string) Permission { return Permission{Kind: PermModify, Path: path} }

// ModifyPrivileges returns the privileges of which any one allows changing
// the ACL on path: Permissions.Modify everywhere, or the allocation
// privilege of the object kind below /vms, /storage and /pool (so whoever
// may create a guest may also share it).
func ModifyPrivileges(path string) []string {
	switch {
	case strings.HasPrefix(path, "/vms/"):
		return []string{"Permissions.Modify", "VM.Allocate"}
	case strings.HasPrefix(path, "/storage/"):
		return []string{"Permissions.Modify", "Datastore.Allocate"}
	case strings.HasPrefix(path, "/pool/"):
		return []string{"Permissions.Modify", "Pool.Allocate"}
	}
	return []string{"Permissions.Modify"}
}

// GroupLookup is an optional part of a Checker: the groups of a user,
// for UserGroup rules.
type GroupLookup interface {
	GroupsOf(userid string) []string
}

// RootOnly is for calls only root@pam may make.
func RootOnly() Permission { return Permission{Kind: PermRoot} }

// RootUser is the all-powerful superuser.
const RootUser = "root@pam"

// Denied is the error of a failed permission check; it names the path and
// privilege as Proxmox VE does.
type Denied struct {
	Path string
	Priv string
}

func (d *Denied) Error() string {
	if d.Path == "" {
		return "Permission check failed"
	}
	return fmt.Sprintf("Permission check failed (%s, %s)", d.Path, d.Priv)
}

// Check evaluates the rule for a caller. params holds the decoded request
// parameters used to fill path templates.
func (p Permission) Check(c *Call, params map[string]any) error {
	switch p.Kind {
	case PermPublic, PermUser:
		return nil
	case PermRoot:
		if c.User == RootUser && c.Token == "" {
			return nil
		}
		return &Denied{Path: "/", Priv: "root@pam"}
	case PermCheck:
		path := FillPath(p.Path, params)
		if p.Any {
			if c.Perm.HasAny(path, p.Privs...) {
				return nil
			}
			return &Denied{Path: path, Priv: strings.Join(p.Privs, "|")}
		}
		for _, priv := range p.Privs {
			if !c.Perm.Has(path, priv) {
				return &Denied{Path: path, Priv: priv}
			}
		}
		return nil
	case PermAnd:
		for _, sub := range p.Sub {
			if err := sub.Check(c, params); err != nil {
				return err
			}
		}
		return nil
	case PermOr:
		var first error
		for _, sub := range p.Sub {
			err := sub.Check(c, params)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			first = &Denied{}
		}
		return first
	case PermSelf:
		if v, _ := params[p.Param].(string); v != "" && v == c.User && c.Token == "" {
			return nil
		}
		return p.Sub[0].Check(c, params)
	case PermUserRealm:
		userid, _ := params[p.Param].(string)
		path := "/access/realm/" + userid[strings.LastIndexByte(userid, '@')+1:]
		if c.Perm.Has(path, p.Privs...) {
			return nil
		}
		return &Denied{Path: path, Priv: strings.Join(p.Privs, "|")}
	case PermUserGroup:
		return p.checkUserGroup(c, params)
	case PermModify:
		path := FillPath(p.Path, params)
		privs := ModifyPrivileges(path)
		if c.Perm.HasAny(path, privs...) {
			return nil
		}
		return &Denied{Path: path, Priv: strings.Join(privs, "|")}
	}
	return fmt.Errorf("unknown permission kind %d", p.Kind)
}

// checkUserGroup is the UserGroup rule: rights on all groups, or on the
// groups the call touches.
func (p Permission) checkUserGroup(c *Call, params map[string]any) error {
	if c.Perm.HasAny("/access/groups", p.Privs...) {
		return nil
	}
	denied := func(path string) error { return &Denied{Path: path, Priv: strings.Join(p.Privs, "|")} }
	if p.GroupsParam != "" {
		var named []string
		switch v := params[p.GroupsParam].(type) {
		case string:
			named = splitGroups(v)
		case []any:
			for _, x := range v {
				named = append(named, fmt.Sprint(x))
			}
		}
		if len(named) == 0 {
			return denied("/access/groups")
		}
		for _, g := range named {
			if !c.Perm.HasAny("/access/groups/"+g, p.Privs...) {
				return denied("/access/groups/" + g)
			}
		}
		if p.Mode == "create" {
			return nil
		}
	}
	userid, _ := params[p.Param].(string)
	if gl, ok := c.Perm.(GroupLookup); ok {
		for _, g := range gl.GroupsOf(userid) {
			if c.Perm.HasAny("/access/groups/"+g, p.Privs...) {
				return nil
			}
		}
	}
	return denied("/access/groups")
}

func splitGroups(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// FillPath replaces {name} in a path template with parameter values.
func FillPath(tmpl string, params map[string]any) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	segs := strings.Split(tmpl, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = fmt.Sprint(params[s[1:len(s)-1]])
		}
	}
	return strings.Join(segs, "/")
}

// Describe renders the rule in words for docs and the schema dump.
func (p Permission) Describe() string {
	switch p.Kind {
	case PermPublic:
		return "Anyone, without logging in."
	case PermUser:
		if p.Note != "" {
			return "Any authenticated user. " + p.Note
		}
		return "Any authenticated user."
	case PermRoot:
		return "Only root@pam."
	case PermCheck:
		switch {
		case len(p.Privs) == 1:
			return fmt.Sprintf("Needs %s on %s.", p.Privs[0], p.Path)
		case p.Any:
			return fmt.Sprintf("Needs any of %s on %s.", strings.Join(p.Privs, ", "), p.Path)
		}
		return fmt.Sprintf("Needs all of %s on %s.", strings.Join(p.Privs, ", "), p.Path)
	case PermAnd, PermOr:
		join := " and "
		if p.Kind == PermOr {
			join = " or "
		}
		parts := make([]string, len(p.Sub))
		for i, s := range p.Sub {
			parts[i] = "(" + strings.TrimSuffix(s.Describe(), ".") + ")"
		}
		return strings.Join(parts, join) + "."
	case PermSelf:
		return fmt.Sprintf("The user named by '%s' itself, or: %s", p.Param, p.Sub[0].Describe())
	case PermUserRealm:
		return fmt.Sprintf("Needs %s on /access/realm/<realm of '%s'>.", strings.Join(p.Privs, ", "), p.Param)
	case PermUserGroup:
		what := fmt.Sprintf("any of %s on /access/groups, or on a group of the user '%s'", strings.Join(p.Privs, ", "), p.Param)
		if p.GroupsParam != "" {
			what += fmt.Sprintf(" and on every group named in '%s'", p.GroupsParam)
		}
		return "Needs " + what + "."
	case PermModify:
		return fmt.Sprintf("Needs the right to change permissions on %s (Permissions.Modify, or the allocation privilege of the object).", p.Path)
	}
	return ""
}

// PVE renders the rule in the shape of Proxmox VE's schema dump.
func (p Permission) PVE() map[string]any {
	switch p.Kind {
	case PermPublic:
		return map[string]any{"user": "world"}
	case PermUser:
		m := map[string]any{"user": "all"}
		if p.Note != "" {
			m["description"] = p.Note
		}
		return m
	case PermRoot:
		return map[string]any{"user": "root"}
	}
	return map[string]any{"check": p.pveCheck(), "description": p.Describe()}
}

func (p Permission) pveCheck() []any {
	switch p.Kind {
	case PermCheck:
		privs := make([]any, len(p.Privs))
		for i, s := range p.Privs {
			privs[i] = s
		}
		c := []any{"perm", p.Path, privs}
		if p.Any {
			c = append(c, "any", 1)
		}
		return c
	case PermAnd, PermOr:
		op := "and"
		if p.Kind == PermOr {
			op = "or"
		}
		c := []any{op}
		for _, s := range p.Sub {
			c = append(c, s.pveCheck())
		}
		return c
	case PermSelf:
		return []any{"or", []any{"userid-param", "self"}, p.Sub[0].pveCheck()}
	case PermUserRealm:
		return []any{"userid-param", p.Privs[0]}
	case PermUserGroup:
		privs := make([]any, len(p.Privs))
		for i, s := range p.Privs {
			privs[i] = s
		}
		c := []any{"userid-group", privs}
		if p.GroupsParam != "" {
			c = append(c, "groups_param", p.Mode)
		}
		return c
	case PermModify:
		return []any{"perm-modify", p.Path}
	}
	return nil
}

// Privileges lists every privilege the rule mentions.
func (p Permission) Privileges() []string {
	out := append([]string{}, p.Privs...)
	for _, s := range p.Sub {
		out = append(out, s.Privileges()...)
	}
	return out
}
