package api

import "github.com/hearth-virt/hearth/api/schema"

// Users, API tokens, passwords and permission listings.

// UserListParams is the input of GET /access/users.
type UserListParams struct {
	Enabled *bool `json:"enabled"`
	Full    bool  `json:"full"`
}

// TokenInfo describes an API token (never its secret).
type TokenInfo struct {
	TokenID string `json:"tokenid,omitempty"`
	Comment string `json:"comment,omitempty"`
	Expire  int64  `json:"expire"`
	Privsep int    `json:"privsep"`
}

// UserListItem is one row of GET /access/users.
type UserListItem struct {
	UserID         string      `json:"userid"`
	Enable         int         `json:"enable"`
	Expire         int64       `json:"expire"`
	Firstname      string      `json:"firstname,omitempty"`
	Lastname       string      `json:"lastname,omitempty"`
	Email          string      `json:"email,omitempty"`
	Comment        string      `json:"comment,omitempty"`
	Keys           string      `json:"keys,omitempty"`
	Groups         string      `json:"groups,omitempty"`
	RealmType      string      `json:"realm-type,omitempty"`
	TFALockedUntil *int64      `json:"tfa-locked-until,omitempty"`
	TOTPLocked     *int        `json:"totp-locked,omitempty"`
	Tokens         []TokenInfo `json:"tokens,omitempty"`
}

// UserParams is the input of creating a user.
type UserParams struct {
	UserID    string  `json:"userid"`
	Password  string  `json:"password"`
	Enable    *bool   `json:"enable"`
	Expire    *int64  `json:"expire"`
	Firstname *string `json:"firstname"`
	Lastname  *string `json:"lastname"`
	Email     *string `json:"email"`
	Comment   *string `json:"comment"`
	Keys      *string `json:"keys"`
	Groups    *string `json:"groups"`
}

// UserUpdateParams is the input of changing a user.
type UserUpdateParams struct {
	UserID    string  `json:"userid"`
	Enable    *bool   `json:"enable"`
	Expire    *int64  `json:"expire"`
	Firstname *string `json:"firstname"`
	Lastname  *string `json:"lastname"`
	Email     *string `json:"email"`
	Comment   *string `json:"comment"`
	Keys      *string `json:"keys"`
	Groups    *string `json:"groups"`
	Append    bool    `json:"append"`
}

// UserIDParam is the input of calls on one user.
type UserIDParam struct {
	UserID string `json:"userid"`
}

// User is the answer of GET /access/users/{userid}.
type User struct {
	Enable    int                  `json:"enable"`
	Expire    int64                `json:"expire"`
	Firstname string               `json:"firstname,omitempty"`
	Lastname  string               `json:"lastname,omitempty"`
	Email     string               `json:"email,omitempty"`
	Comment   string               `json:"comment,omitempty"`
	Keys      string               `json:"keys,omitempty"`
	Groups    []string             `json:"groups"`
	Tokens    map[string]TokenInfo `json:"tokens"`
}

// UserTFA is the answer of GET /access/users/{userid}/tfa.
type UserTFA struct {
	Realm string   `json:"realm,omitempty"`
	Types []string `json:"types,omitempty"`
	User  string   `json:"user,omitempty"`
}

// TokenParams is the input of the calls on one API token.
type TokenParams struct {
	UserID  string  `json:"userid"`
	TokenID string  `json:"tokenid"`
	Comment *string `json:"comment"`
	Expire  *int64  `json:"expire"`
	Privsep *bool   `json:"privsep"`
	Delete  string  `json:"delete"`
}

// TokenKey names one API token.
type TokenKey struct {
	UserID  string `json:"userid"`
	TokenID string `json:"tokenid"`
}

// NewToken is the answer of creating a token: the secret is shown once.
type NewToken struct {
	FullTokenID string    `json:"full-tokenid"`
	Info        TokenInfo `json:"info"`
	Value       string    `json:"value"`
}

// PasswordParams is the input of PUT /access/password.
type PasswordParams struct {
	UserID       string `json:"userid"`
	Password     string `json:"password"`
	Confirmation string `json:"confirmation-password"`
}

// PermissionsParams is the input of GET /access/permissions.
type PermissionsParams struct {
	UserID string `json:"userid"`
	Path   string `json:"path"`
}

func useridParam() *schema.Schema {
	return schema.UserID().Desc("User id, as <name>@<realm>.").Ptr()
}

func tokenNameParam() *schema.Schema {
	return schema.Schema{Type: schema.String, Format: "pve-token-name", Description: "Name of the token, unique for its user."}.Ptr()
}

func userProps(create bool) schema.Props {
	p := schema.Props{
		"userid":    useridParam(),
		"enable":    schema.Bool("Whether the user may log in.").Opt(),
		"expire":    schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "When the account expires (seconds since the epoch; 0 means never)."}.Opt(),
		"firstname": schema.Schema{Type: schema.String, MaxLength: 1024, Description: "First name."}.Opt(),
		"lastname":  schema.Schema{Type: schema.String, MaxLength: 1024, Description: "Last name."}.Opt(),
		"email":     schema.Schema{Type: schema.String, Format: "email-opt", MaxLength: 254, Description: "E-mail address."}.Opt(),
		"comment":   schema.Schema{Type: schema.String, MaxLength: 2048, Description: "Free text."}.Opt(),
		"keys":      schema.Schema{Type: schema.String, MaxLength: 1024, Description: "Keys of two-factor devices of older setups (kept as they are)."}.Opt(),
		"groups":    schema.Schema{Type: schema.String, Format: "pve-groupid-list", Description: "Groups of the user, comma-separated."}.Opt(),
	}
	if create {
		p["password"] = schema.Schema{Type: schema.String, MinLength: 8, MaxLength: 64, Sensitive: true,
			Description: "Initial password (only for the pve realm)."}.Opt()
		p["enable"] = schema.Bool("Whether the user may log in.").Def(true).Ptr()
	} else {
		p["append"] = schema.Schema{Type: schema.Boolean, Optional: true, Description: "Add the given groups instead of replacing the user's groups."}.Ptr()
	}
	return p
}

func tokenInfoSchema() schema.Schema {
	return schema.Obj("", schema.Props{
		"comment": schema.Str("Comment.").Opt(),
		"expire":  schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "Expiry (0: never)."}.Opt(),
		"privsep": schema.Bool("Privilege separation: the token holds only what its own ACLs grant, within its user's rights.").Opt(),
	})
}

var userGroupPrivs = []string{"User.Modify"}

// User endpoints.
var (
	UserList = Declare[UserListParams, []UserListItem](Endpoint{
		Path: "/access/users", Method: "GET", Name: "index",
		Description: "List the users the caller may administer or audit.",
		Params: schema.Props{
			"enabled": schema.Bool("Only enabled (1) or disabled (0) users.").Opt(),
			"full":    schema.Bool("Include groups and API tokens.").Def(false).Ptr(),
		},
		Perm: AnyUser("Lists users for whom the caller has User.Modify or Sys.Audit on /access/groups or on one of their groups."),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"userid":           schema.UserID().Ptr(),
			"enable":           schema.Bool("May log in.").Opt(),
			"expire":           schema.Schema{Type: schema.Integer, Renderer: "timestamp", Optional: true, Description: "Expiry (0: never)."}.Ptr(),
			"firstname":        schema.Str("First name.").Opt(),
			"lastname":         schema.Str("Last name.").Opt(),
			"email":            schema.Str("E-mail address.").Opt(),
			"comment":          schema.Str("Comment.").Opt(),
			"keys":             schema.Str("Legacy two-factor keys.").Opt(),
			"groups":           schema.Str("Groups, comma-separated.").Opt(),
			"realm-type":       schema.Str("Type of the user's realm.").Opt(),
			"tfa-locked-until": schema.Int("Second factors are locked until this time after too many failures.").Opt(),
			"totp-locked":      schema.Bool("TOTP is locked after too many failures.").Opt(),
			"tokens":           schema.ArrayOf("API tokens (with full).", tokenInfoSchema()).Opt(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "user list", Fixed: map[string]string{"full": "1"}, Columns: []string{"userid", "enable", "expire", "firstname", "lastname", "email", "groups", "comment"}, SortBy: "userid"}},
	})

	UserCreate = Declare[UserParams, any](Endpoint{
		Path: "/access/users", Method: "POST", Name: "create_user",
		Description: "Create a user.",
		Params:      userProps(true),
		Perm:        And(UserRealm("userid", "Realm.AllocateUser"), UserGroup("userid", userGroupPrivs, "groups", "create")),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "user add", Args: []string{"userid"}}},
	})

	UserGet = Declare[UserIDParam, User](Endpoint{
		Path: "/access/users/{userid}", Method: "GET", Name: "read_user",
		Description: "Show a user.",
		Params:      schema.Props{"userid": useridParam()},
		Perm:        UserGroup("userid", []string{"User.Modify", "Sys.Audit"}, "", ""),
		Returns: schema.Obj("", schema.Props{
			"enable":    schema.Bool("May log in.").Opt(),
			"expire":    schema.Int("Expiry (0: never).").Opt(),
			"firstname": schema.Str("First name.").Opt(),
			"lastname":  schema.Str("Last name.").Opt(),
			"email":     schema.Str("E-mail address.").Opt(),
			"comment":   schema.Str("Comment.").Opt(),
			"keys":      schema.Str("Legacy two-factor keys.").Opt(),
			"groups":    schema.ArrayOf("Groups.", schema.Str("")).Opt(),
			"tokens":    schema.Schema{Type: schema.Object, AdditionalProperties: true, Optional: true, Description: "API tokens by name."}.Ptr(),
		}),
	})

	UserUpdate = Declare[UserUpdateParams, any](Endpoint{
		Path: "/access/users/{userid}", Method: "PUT", Name: "update_user",
		Description: "Change a user.",
		Params:      userProps(false),
		Perm:        UserGroup("userid", userGroupPrivs, "groups", "update"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "user modify", Args: []string{"userid"}}},
	})

	UserDelete = Declare[UserIDParam, any](Endpoint{
		Path: "/access/users/{userid}", Method: "DELETE", Name: "delete_user",
		Description: "Delete a user, with its tokens, second factors, password and permissions.",
		Params:      schema.Props{"userid": useridParam()},
		Perm:        And(UserRealm("userid", "Realm.AllocateUser"), UserGroup("userid", userGroupPrivs, "", "")),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "user delete", Args: []string{"userid"}}},
	})

	UserTFAGet = Declare[UserTFAParams, UserTFA](Endpoint{
		Path: "/access/users/{userid}/tfa", Method: "GET", Name: "read_user_tfa_type",
		Description: "Show which kinds of second factor a user has.",
		Params: schema.Props{
			"userid":   useridParam(),
			"multiple": schema.Bool("List every kind rather than the first one.").Def(false).Ptr(),
		},
		Perm:    Self("userid", UserGroup("userid", []string{"User.Modify", "Sys.Audit"}, "", "")),
		Returns: schema.Obj("", schema.Props{"realm": schema.Str("Second factor the realm requires.").Opt(), "types": schema.ArrayOf("Kinds of second factor.", schema.Str("")).Opt(), "user": schema.Str("The first kind (without multiple).").Opt()}),
	})

	UserUnlockTFA = Declare[UserIDParam, int](Endpoint{
		Path: "/access/users/{userid}/unlock-tfa", Method: "PUT", Name: "unlock_tfa",
		Description: "Lift the lock on a user's second factors after too many failed attempts.",
		Params:      schema.Props{"userid": useridParam()},
		Perm:        UserGroup("userid", userGroupPrivs, "", ""),
		Protected:   true, Returns: schema.Bool("Whether the user was locked."),
		CLI: []Command{{Tool: "pveum", Cmd: "user tfa unlock", Args: []string{"userid"}}},
	})

	TokenList = Declare[UserIDParam, []TokenInfo](Endpoint{
		Path: "/access/users/{userid}/token", Method: "GET", Name: "token_index",
		Description: "List a user's API tokens.",
		Params:      schema.Props{"userid": useridParam()},
		Perm:        Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"tokenid": tokenNameParam(), "comment": schema.Str("Comment.").Opt(),
			"expire":  schema.Schema{Type: schema.Integer, Renderer: "timestamp", Optional: true, Description: "Expiry (0: never)."}.Ptr(),
			"privsep": schema.Bool("Privilege separation.").Opt(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "user token list", Args: []string{"userid"}, Columns: []string{"tokenid", "privsep", "expire", "comment"}}},
	})

	TokenGet = Declare[TokenKey, TokenInfo](Endpoint{
		Path: "/access/users/{userid}/token/{tokenid}", Method: "GET", Name: "read_token",
		Description: "Show an API token.",
		Params:      schema.Props{"userid": useridParam(), "tokenid": tokenNameParam()},
		Perm:        Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Returns:     tokenInfoSchema(),
	})

	TokenCreate = Declare[TokenParams, NewToken](Endpoint{
		Path: "/access/users/{userid}/token/{tokenid}", Method: "POST", Name: "generate_token",
		Description: "Create an API token. Its secret is shown once, in the answer.",
		Params: schema.Props{
			"userid": useridParam(), "tokenid": tokenNameParam(),
			"comment": schema.Schema{Type: schema.String, MaxLength: 1024, Description: "Comment."}.Opt(),
			"expire":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Expiry (seconds since the epoch; 0: never, capped by the user's own expiry)."}.Opt(),
			"privsep": schema.Bool("Privilege separation: the token holds only what its own ACLs grant, within its user's rights.").Def(true).Ptr(),
			"delete":  schema.Schema{Type: schema.String, MaxLength: 0, Description: "Not used when creating."}.Opt(),
		},
		Perm:      Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Protected: true,
		Returns: schema.Obj("", schema.Props{
			"full-tokenid": schema.Str("The token id to authenticate with (<user>@<realm>!<token>).").Ptr(),
			"info":         tokenInfoSchema().Ptr(),
			"value":        schema.Schema{Type: schema.String, Sensitive: true, Description: "The secret. It cannot be shown again."}.Ptr(),
		}),
		CLI: []Command{{Tool: "pveum", Cmd: "user token add", Args: []string{"userid", "tokenid"}}},
	})

	TokenUpdate = Declare[TokenParams, TokenInfo](Endpoint{
		Path: "/access/users/{userid}/token/{tokenid}", Method: "PUT", Name: "update_token_info",
		Description: "Change an API token's comment, expiry or privilege separation.",
		Params: schema.Props{
			"userid": useridParam(), "tokenid": tokenNameParam(),
			"comment": schema.Schema{Type: schema.String, MaxLength: 1024, Description: "Comment."}.Opt(),
			"expire":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Expiry (0: never)."}.Opt(),
			"privsep": schema.Bool("Privilege separation.").Opt(),
			"delete":  schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Settings to reset to their defaults."}.Opt(),
		},
		Perm:    Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Returns: tokenInfoSchema(), Protected: true,
		CLI: []Command{{Tool: "pveum", Cmd: "user token modify", Args: []string{"userid", "tokenid"}}},
	})

	TokenDelete = Declare[TokenKey, any](Endpoint{
		Path: "/access/users/{userid}/token/{tokenid}", Method: "DELETE", Name: "remove_token",
		Description: "Delete an API token and its permissions.",
		Params:      schema.Props{"userid": useridParam(), "tokenid": tokenNameParam()},
		Perm:        Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "user token remove", Args: []string{"userid", "tokenid"}}},
	})

	PasswordChange = Declare[PasswordParams, any](Endpoint{
		Path: "/access/password", Method: "PUT", Name: "change_password",
		Description: "Change a user's password (pve realm, or pam for root@pam). Users change their own; others need Realm.AllocateUser on the realm and User.Modify on a group of the user.",
		Params: schema.Props{
			"userid":   useridParam(),
			"password": schema.Schema{Type: schema.String, MinLength: 8, MaxLength: 64, Sensitive: true, Description: "The new password."}.Ptr(),
			"confirmation-password": schema.Schema{Type: schema.String, MinLength: 5, MaxLength: 64, Sensitive: true, Optional: true,
				Description: "The caller's current password, as a confirmation."}.Ptr(),
		},
		Perm:      Self("userid", And(UserRealm("userid", "Realm.AllocateUser"), UserGroup("userid", userGroupPrivs, "", ""))),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "passwd", Args: []string{"userid"}}},
	})

	PermissionsGet = Declare[PermissionsParams, map[string]map[string]int](Endpoint{
		Path: "/access/permissions", Method: "GET", Name: "permissions",
		Description: "Show the effective privileges of a user or token, per path: on one path, or on every path that has an ACL.",
		Params: schema.Props{
			"userid": schema.Schema{Type: schema.String, MaxLength: 128, Description: "User or token id (default: the caller)."}.Opt(),
			"path":   schema.Schema{Type: schema.String, MaxLength: 256, Description: "Only this path."}.Opt(),
		},
		Perm:    AnyUser("Callers see their own privileges and their tokens'; others' need Sys.Audit on /access."),
		Returns: schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "Path → privilege → 1 (0 when the privilege does not propagate below the path)."},
		CLI:     []Command{{Tool: "pveum", Cmd: "user permissions", Args: []string{"userid"}}},
	})
)

// UserTFAParams is the input of GET /access/users/{userid}/tfa.
type UserTFAParams struct {
	UserID   string `json:"userid"`
	Multiple bool   `json:"multiple"`
}
