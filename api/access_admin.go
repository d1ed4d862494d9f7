package api

import "github.com/hearth-virt/hearth/api/schema"

// Groups, roles and the ACL.

// GroupListItem is one row of GET /access/groups.
type GroupListItem struct {
	GroupID string `json:"groupid"`
	Comment string `json:"comment,omitempty"`
	Users   string `json:"users,omitempty"`
}

// GroupParams is the input of creating and changing a group.
type GroupParams struct {
	GroupID string  `json:"groupid"`
	Comment *string `json:"comment"`
}

// GroupIDParam names one group.
type GroupIDParam struct {
	GroupID string `json:"groupid"`
}

// Group is the answer of GET /access/groups/{groupid}.
type Group struct {
	Comment string   `json:"comment,omitempty"`
	Members []string `json:"members"`
}

// RoleListItem is one row of GET /access/roles.
type RoleListItem struct {
	RoleID  string `json:"roleid"`
	Privs   string `json:"privs"`
	Special int    `json:"special"`
}

// RoleCreateParams is the input of creating a role.
type RoleCreateParams struct {
	RoleID string  `json:"roleid"`
	Privs  *string `json:"privs"`
}

// RoleParams is the input of changing a role.
type RoleParams struct {
	RoleID string  `json:"roleid"`
	Privs  *string `json:"privs"`
	Append bool    `json:"append"`
}

// RoleIDParam names one role.
type RoleIDParam struct {
	RoleID string `json:"roleid"`
}

// ACLEntry is one row of GET /access/acl.
type ACLEntry struct {
	Path      string `json:"path"`
	Type      string `json:"type"`
	UGID      string `json:"ugid"`
	RoleID    string `json:"roleid"`
	Propagate int    `json:"propagate"`
}

// ACLParams is the input of PUT /access/acl.
type ACLParams struct {
	Path      string `json:"path"`
	Roles     string `json:"roles"`
	Users     string `json:"users"`
	Groups    string `json:"groups"`
	Tokens    string `json:"tokens"`
	Propagate bool   `json:"propagate"`
	Delete    bool   `json:"delete"`
}

func groupIDParam() *schema.Schema {
	return schema.Schema{Type: schema.String, Format: "pve-groupid", Description: "Group id."}.Ptr()
}

func roleIDParam() *schema.Schema {
	return schema.Schema{Type: schema.String, Format: "pve-roleid", Description: "Role id."}.Ptr()
}

var (
	GroupList = Declare[NoParams, []GroupListItem](Endpoint{
		Path: "/access/groups", Method: "GET", Name: "index",
		Description: "List the groups the caller may see.",
		Perm:        AnyUser("Lists groups on which the caller has User.Modify, Sys.Audit or Group.Allocate."),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"groupid": groupIDParam(),
			"comment": schema.Str("Comment.").Opt(),
			"users":   schema.Schema{Type: schema.String, Optional: true, Description: "Members, comma-separated."}.Ptr(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "group list", Columns: []string{"groupid", "comment", "users"}, SortBy: "groupid"}},
	})

	GroupCreate = Declare[GroupParams, any](Endpoint{
		Path: "/access/groups", Method: "POST", Name: "create_group",
		Description: "Create a group.",
		Params:      schema.Props{"groupid": groupIDParam(), "comment": schema.Schema{Type: schema.String, MaxLength: 2048, Description: "Comment."}.Opt()},
		Perm:        Perm("/access/groups", "Group.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "group add", Args: []string{"groupid"}}},
	})

	GroupGet = Declare[GroupIDParam, Group](Endpoint{
		Path: "/access/groups/{groupid}", Method: "GET", Name: "read_group",
		Description: "Show a group and its members.",
		Params:      schema.Props{"groupid": groupIDParam()},
		Perm:        PermAny("/access/groups", "Sys.Audit", "Group.Allocate"),
		Returns: schema.Obj("", schema.Props{
			"comment": schema.Str("Comment.").Opt(),
			"members": schema.ArrayOf("Members.", schema.UserID()).Ptr(),
		}),
	})

	GroupUpdate = Declare[GroupParams, any](Endpoint{
		Path: "/access/groups/{groupid}", Method: "PUT", Name: "update_group",
		Description: "Change a group's comment.",
		Params:      schema.Props{"groupid": groupIDParam(), "comment": schema.Schema{Type: schema.String, MaxLength: 2048, Description: "Comment."}.Opt()},
		Perm:        Perm("/access/groups", "Group.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "group modify", Args: []string{"groupid"}}},
	})

	GroupDelete = Declare[GroupIDParam, any](Endpoint{
		Path: "/access/groups/{groupid}", Method: "DELETE", Name: "delete_group",
		Description: "Delete a group and the permissions granted to it.",
		Params:      schema.Props{"groupid": groupIDParam()},
		Perm:        Perm("/access/groups", "Group.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "group delete", Args: []string{"groupid"}}},
	})

	RoleList = Declare[NoParams, []RoleListItem](Endpoint{
		Path: "/access/roles", Method: "GET", Name: "index",
		Description: "List the built-in and custom roles with their privileges.",
		Perm:        AnyUser(""),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"roleid":  roleIDParam(),
			"privs":   schema.Schema{Type: schema.String, Format: "pve-priv-list", Optional: true, Description: "Privileges, comma-separated."}.Ptr(),
			"special": schema.Bool("Built in; cannot be changed.").Def(false).Ptr(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "role list", Columns: []string{"roleid", "privs", "special"}, SortBy: "roleid"}},
	})

	RoleCreate = Declare[RoleCreateParams, any](Endpoint{
		Path: "/access/roles", Method: "POST", Name: "create_role",
		Description: "Create a custom role.",
		Params: schema.Props{
			"roleid": roleIDParam(),
			"privs":  schema.Schema{Type: schema.String, Format: "pve-priv-list", Description: "Privileges, comma-separated."}.Opt(),
		},
		Perm:      Perm("/access", "Sys.Modify"),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "role add", Args: []string{"roleid"}}},
	})

	RoleGet = Declare[RoleIDParam, map[string]int](Endpoint{
		Path: "/access/roles/{roleid}", Method: "GET", Name: "read_role",
		Description: "Show the privileges of a role.",
		Params:      schema.Props{"roleid": roleIDParam()},
		Perm:        AnyUser(""),
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "Privilege → 1."},
	})

	RoleUpdate = Declare[RoleParams, any](Endpoint{
		Path: "/access/roles/{roleid}", Method: "PUT", Name: "update_role",
		Description: "Change the privileges of a custom role.",
		Params: schema.Props{
			"roleid": roleIDParam(),
			"privs":  schema.Schema{Type: schema.String, Format: "pve-priv-list", Description: "Privileges, comma-separated."}.Opt(),
			"append": schema.Schema{Type: schema.Boolean, Optional: true, Description: "Add the privileges instead of replacing them."}.Ptr(),
		},
		Perm:      Perm("/access", "Sys.Modify"),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "role modify", Args: []string{"roleid"}}},
	})

	RoleDelete = Declare[RoleIDParam, any](Endpoint{
		Path: "/access/roles/{roleid}", Method: "DELETE", Name: "delete_role",
		Description: "Delete a custom role and the grants of it.",
		Params:      schema.Props{"roleid": roleIDParam()},
		Perm:        Perm("/access", "Sys.Modify"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "role delete", Args: []string{"roleid"}}},
	})

	ACLGet = Declare[NoParams, []ACLEntry](Endpoint{
		Path: "/access/acl", Method: "GET", Name: "read_acl",
		Description: "List the access control list: the entries on paths where the caller may change permissions.",
		Perm:        AnyUser("Shows only the entries the caller could change."),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"path":      schema.Str("ACL path.").Ptr(),
			"type":      schema.Enum("Kind of subject.", "user", "group", "token").Ptr(),
			"ugid":      schema.Str("User, group or token id.").Ptr(),
			"roleid":    schema.Str("Role.").Ptr(),
			"propagate": schema.Bool("Whether the grant also holds below the path.").Def(true).Ptr(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "acl list", Columns: []string{"path", "type", "ugid", "roleid", "propagate"}}},
	})

	ACLUpdate = Declare[ACLParams, any](Endpoint{
		Path: "/access/acl", Method: "PUT", Name: "update_acl",
		Description: "Grant roles on a path to users, groups or tokens, or take them back with delete.",
		Params: schema.Props{
			"path":      schema.Schema{Type: schema.String, MaxLength: 256, Description: "ACL path, such as /vms/100 or /storage/local."}.Ptr(),
			"roles":     schema.Schema{Type: schema.String, Format: "pve-roleid-list", Description: "Roles, comma-separated."}.Ptr(),
			"users":     schema.Schema{Type: schema.String, Format: "pve-userid-list", Description: "Users, comma-separated."}.Opt(),
			"groups":    schema.Schema{Type: schema.String, Format: "pve-groupid-list", Description: "Groups, comma-separated."}.Opt(),
			"tokens":    schema.Schema{Type: schema.String, Format: "pve-tokenid-list", Description: "API tokens, comma-separated."}.Opt(),
			"propagate": schema.Bool("Whether the grant also holds below the path.").Def(true).Ptr(),
			"delete":    schema.Schema{Type: schema.Boolean, Optional: true, Description: "Remove these grants instead of adding them."}.Ptr(),
		},
		Perm:      PermModifyOn("{path}"),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{
			{Tool: "pveum", Cmd: "acl modify", Args: []string{"path"}},
			{Tool: "pveum", Cmd: "acl delete", Args: []string{"path"}, Fixed: map[string]string{"delete": "1"}},
		},
	})
)
