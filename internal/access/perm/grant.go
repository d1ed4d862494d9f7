package perm

import (
	"fmt"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/privs"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// DeniedError means the granter may not change the ACL on the path at all.
// The API answers it with 403.
type DeniedError struct {
	Path string
	// Privileges lists the privileges of which any one would have sufficed.
	Privileges []string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("Permission check failed (%s, %s)", e.Path, strings.Join(e.Privileges, "|"))
}

// RoleError means the granter may change the ACL on the path but not
// assign or remove this role there. The API reports it as a parameter error.
type RoleError struct {
	Role string
	// Unknown is set when the role does not exist; Privilege is then empty.
	Unknown bool
	// Privilege is the first privilege of the role the granter lacks
	// (or lacks with propagation, when Propagate is set).
	Privilege string
	Propagate bool
}

func (e *RoleError) Error() string {
	switch {
	case e.Unknown:
		return fmt.Sprintf("role %s does not exist", e.Role)
	case e.Propagate:
		return fmt.Sprintf("cannot assign or remove role %s with propagation: it needs Permissions.Modify, or holding %s with propagation yourself", e.Role, e.Privilege)
	default:
		return fmt.Sprintf("cannot assign or remove role %s: it needs Permissions.Modify, or holding %s yourself", e.Role, e.Privilege)
	}
}

// ModifyPrivileges returns the privileges of which any one allows changing
// the ACL on path; the rule is the API's (api.ModifyPrivileges). An empty
// path means /access.
func ModifyPrivileges(path string) []string {
	if path == "" {
		path = "/access"
	}
	return api.ModifyPrivileges(path)
}

// CanGrant decides whether granter may assign (or remove) roles on path,
// with or without propagation. It needs one of ModifyPrivileges(path) on
// the path. Holding Permissions.Modify there through a propagating grant
// allows any existing role; otherwise the granter may only pass on what
// it holds itself: every privilege of each role, and with propagate, each
// of them through a propagating grant. (Like Proxmox VE, a
// Permissions.Modify that does not propagate does not lift the subset
// rule.) Removing a grant needs the same rights as making it.
func (e *Evaluator) CanGrant(granter Subject, path string, roles []string, propagate bool) error {
	if path == "" {
		path = "/access"
	}
	p, err := usercfg.NormalizeACLPath(path)
	if err != nil {
		return err
	}
	held, prop := e.PrivilegeFlags(granter, p)
	need := ModifyPrivileges(p)
	if !held.HasAny(need...) {
		return &DeniedError{Path: p, Privileges: need}
	}
	for _, role := range roles {
		set, ok := e.roles[role]
		if !ok {
			return &RoleError{Role: role, Unknown: true}
		}
		if prop.Has(privs.PermissionsModify) {
			continue
		}
		for _, name := range set.Names() {
			if !held.Has(name) {
				return &RoleError{Role: role, Privilege: name}
			}
			if propagate && !prop.Has(name) {
				return &RoleError{Role: role, Privilege: name, Propagate: true}
			}
		}
	}
	return nil
}
