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
	// Param names the user id parameter for PermSelf.
	Param string
	Sub   []Permission
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
	}
	return fmt.Errorf("unknown permission kind %d", p.Kind)
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
