package api

import "github.com/hearth-virt/hearth/api/schema"

// Realms (domains.cfg), OpenID logins, second factors and pools.

// RealmParam names one realm.
type RealmParam struct {
	Realm string `json:"realm"`
}

// RealmSyncParams is the input of POST /access/domains/{realm}/sync.
type RealmSyncParams struct {
	Realm          string `json:"realm"`
	DryRun         bool   `json:"dry-run"`
	EnableNew      *bool  `json:"enable-new"`
	Full           *bool  `json:"full"`
	Purge          *bool  `json:"purge"`
	RemoveVanished string `json:"remove-vanished"`
	Scope          string `json:"scope"`
}

// OpenIDAuthParams is the input of POST /access/openid/auth-url.
type OpenIDAuthParams struct {
	Realm       string `json:"realm"`
	RedirectURL string `json:"redirect-url"`
}

// OpenIDLoginParams is the input of POST /access/openid/login.
type OpenIDLoginParams struct {
	Code        string `json:"code"`
	RedirectURL string `json:"redirect-url"`
	State       string `json:"state"`
}

// TFAEntry describes one second factor (never its secret).
type TFAEntry struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Created     int64  `json:"created"`
	Enable      int    `json:"enable"`
}

// TFAUserEntries is one row of GET /access/tfa.
type TFAUserEntries struct {
	UserID         string     `json:"userid"`
	Entries        []TFAEntry `json:"entries"`
	TFALockedUntil *int64     `json:"tfa-locked-until,omitempty"`
	TOTPLocked     *int       `json:"totp-locked,omitempty"`
}

// TFAUserParam names the user whose factors a call lists.
type TFAUserParam struct {
	UserID string `json:"userid"`
}

// TFAAddParams is the input of POST /access/tfa/{userid}.
type TFAAddParams struct {
	UserID      string `json:"userid"`
	Type        string `json:"type"`
	Description string `json:"description"`
	TOTP        string `json:"totp"`
	Value       string `json:"value"`
	Challenge   string `json:"challenge"`
	Password    string `json:"password"`
}

// TFAAdded is the answer of adding a second factor.
type TFAAdded struct {
	ID        string   `json:"id"`
	Challenge string   `json:"challenge,omitempty"`
	Recovery  []string `json:"recovery,omitempty"`
}

// TFAKey names one second factor of a user.
type TFAKey struct {
	UserID string `json:"userid"`
	ID     string `json:"id"`
}

// TFADeleteParams is the input of removing a second factor.
type TFADeleteParams struct {
	UserID   string `json:"userid"`
	ID       string `json:"id"`
	Password string `json:"password"`
}

// TFAEntryParams is the input of changing a second factor.
type TFAEntryParams struct {
	UserID      string  `json:"userid"`
	ID          string  `json:"id"`
	Description *string `json:"description"`
	Enable      *bool   `json:"enable"`
	Password    string  `json:"password"`
}

// PoolCreateParams is the input of creating a pool.
type PoolCreateParams struct {
	PoolID  string  `json:"poolid"`
	Comment *string `json:"comment"`
}

// PoolIDParam names one pool.
type PoolIDParam struct {
	PoolID string `json:"poolid"`
}

// PoolParams is the input of changing a pool.
type PoolParams struct {
	PoolID    string  `json:"poolid"`
	Comment   *string `json:"comment"`
	VMs       string  `json:"vms"`
	Storage   string  `json:"storage"`
	Delete    bool    `json:"delete"`
	AllowMove bool    `json:"allow-move"`
}

// PoolListParams is the input of listing pools.
type PoolListParams struct {
	PoolID string `json:"poolid"`
	Type   string `json:"type"`
}

// PoolMember is a guest or storage in a pool.
type PoolMember struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Node    string `json:"node,omitempty"`
	VMID    int    `json:"vmid,omitempty"`
	Storage string `json:"storage,omitempty"`
}

// PoolInfo describes a pool; Members only when one pool is asked for.
type PoolInfo struct {
	PoolID  string       `json:"poolid"`
	Comment string       `json:"comment,omitempty"`
	Members []PoolMember `json:"members,omitempty"`
}

// PoolDetail is the answer of GET /pools/{poolid}.
type PoolDetail struct {
	Comment string       `json:"comment,omitempty"`
	Members []PoolMember `json:"members"`
}

// RealmOptions returns the schema of every option of a domains.cfg entry,
// which are also the parameters of creating and changing realms. Which
// options a realm type takes is checked by internal/access.
func RealmOptions() schema.Props {
	str := func(max int, desc string) *schema.Schema {
		return schema.Schema{Type: schema.String, MaxLength: max, Description: desc}.Opt()
	}
	boolOpt := func(desc string) *schema.Schema { return schema.Bool(desc).Opt() }
	tfa := schema.NewPropString(schema.Props{
		"type":   schema.Enum("Kind of second factor every user of the realm must use.", "oath", "yubico").Ptr(),
		"digits": schema.IntRange("TOTP code length.", 6, 8).Opt(),
		"step":   schema.IntRange("TOTP time step in seconds.", 10, 600).Opt(),
		"id":     str(128, "Yubico API client id."),
		"key":    str(128, "Yubico API key."),
		"url":    str(256, "Yubico validation server URL."),
	})
	tfa.Keys["type"].DefaultKey = true
	syncOpts := schema.NewPropString(syncOptionProps())
	return schema.Props{
		"realm":   schema.Realm().Ptr(),
		"type":    schema.Enum("Realm type.", "ad", "ldap", "openid", "pam", "pve").Ptr(),
		"comment": str(4096, "Comment, shown in login forms."),
		"default": boolOpt("Preselect this realm in login forms."),
		"tfa":     &schema.Schema{Type: schema.String, Optional: true, MaxLength: 128, Description: "A second factor required of every user of the realm.", Prop: tfa},
		// LDAP and Active Directory.
		"server1":               str(256, "Directory server (name or address)."),
		"server2":               str(256, "Fallback directory server."),
		"port":                  schema.IntRange("Server port (default: 389, or 636 with ldaps).", 1, 65535).Opt(),
		"mode":                  schema.Enum("Connection: plain ldap, ldaps, or ldap upgraded with StartTLS.", "ldap", "ldaps", "ldap+starttls").Opt(),
		"secure":                boolOpt("Use ldaps (older spelling of mode=ldaps)."),
		"verify":                schema.Bool("Verify the server's TLS certificate.").Def(false).Ptr(),
		"capath":                str(4096, "CA certificate file or directory for verification (default: the system's)."),
		"cert":                  str(4096, "Client certificate file."),
		"certkey":               str(4096, "Client certificate key file."),
		"sslversion":            schema.Enum("Lowest TLS version.", "tlsv1", "tlsv1_1", "tlsv1_2", "tlsv1_3").Opt(),
		"base_dn":               str(256, "Where users are searched (LDAP)."),
		"bind_dn":               str(256, "Identity used to search the directory (anonymous when unset)."),
		"password":              schema.Schema{Type: schema.String, Optional: true, Sensitive: true, Description: "Password of bind_dn; kept in priv/realm/<realm>.pw."}.Ptr(),
		"user_attr":             str(256, "Attribute that holds the user name (LDAP, such as uid)."),
		"filter":                str(2048, "Extra LDAP filter users must match."),
		"user_classes":          str(1024, "Object classes of users, comma-separated (default: inetorgperson, posixaccount, person, user)."),
		"group_dn":              str(256, "Where groups are searched."),
		"group_filter":          str(2048, "Extra LDAP filter groups must match."),
		"group_classes":         str(1024, "Object classes of groups, comma-separated (default: groupOfNames, group, univentionGroup, ipausergroup)."),
		"group_name_attr":       str(256, "Attribute that holds a group's name (default: cn)."),
		"sync_attributes":       str(1024, "Directory attributes copied by sync, as email=mail,firstname=givenName,lastname=sn."),
		"sync-defaults-options": &schema.Schema{Type: schema.String, Optional: true, Description: "Defaults of the sync options.", Prop: syncOpts},
		"domain":                str(256, "Active Directory domain (users bind as name@domain)."),
		"case-sensitive":        schema.Bool("User names are case sensitive.").Def(true).Ptr(),
		"check-connection":      schema.Bool("Check that the server answers before saving.").Def(false).Ptr(),
		// OpenID Connect.
		"issuer-url":        str(256, "OpenID issuer URL."),
		"client-id":         str(256, "OpenID client id."),
		"client-key":        schema.Schema{Type: schema.String, MaxLength: 256, Optional: true, Sensitive: true, Description: "OpenID client secret."}.Ptr(),
		"username-claim":    str(256, "Claim that names the user (subject, username, email, or another claim)."),
		"autocreate":        schema.Bool("Create users on their first login.").Def(false).Ptr(),
		"scopes":            str(1024, "Scopes to ask for, space-separated (default: email profile)."),
		"prompt":            str(256, "Prompt sent to the identity provider (none, login, consent, select_account)."),
		"acr-values":        str(1024, "Authentication context class references to ask for, space-separated."),
		"groups-claim":      str(256, "Claim that lists the user's groups."),
		"groups-autocreate": schema.Bool("Create groups named by groups-claim.").Def(false).Ptr(),
		"groups-overwrite":  schema.Bool("Replace the user's groups with those of the claim.").Def(false).Ptr(),
		"query-userinfo":    schema.Bool("Ask the userinfo endpoint for claims.").Def(true).Ptr(),
	}
}

func syncOptionProps() schema.Props {
	return schema.Props{
		"scope":           schema.Enum("What to sync.", "users", "groups", "both").Opt(),
		"enable-new":      schema.Bool("Enable users created by the sync.").Opt(),
		"remove-vanished": schema.Schema{Type: schema.String, Optional: true, Pattern: `(?:(?:acl|properties|entry);)*(?:acl|properties|entry)|none`, Description: "What to remove for users and groups gone from the directory: acl, entry and properties, ';'-separated, or none."}.Ptr(),
		"full":            schema.Bool("Older form of remove-vanished=entry;properties.").Opt(),
		"purge":           schema.Bool("Older form of remove-vanished=acl.").Opt(),
	}
}

func realmUpdateOptions() schema.Props {
	p := RealmOptions()
	delete(p, "type")
	delete(p, "check-connection")
	p["delete"] = schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Options to remove."}.Opt()
	p["digest"] = schema.Digest().Opt()
	return p
}

func tfaUserParam() *schema.Schema { return useridParam() }

func tfaEntrySchema() schema.Schema {
	return schema.Obj("", schema.Props{
		"id":          schema.Str("Entry id.").Ptr(),
		"type":        schema.Enum("Kind.", "totp", "u2f", "webauthn", "recovery", "yubico").Ptr(),
		"description": schema.Str("Description.").Ptr(),
		"created":     schema.Int("When it was added (seconds since the epoch).").Ptr(),
		"enable":      schema.Bool("Whether it may be used.").Def(true).Ptr(),
	})
}

func poolIDParam() *schema.Schema {
	return schema.Schema{Type: schema.String, Format: "pve-poolid", Description: "Pool id; nested pools as parent/child."}.Ptr()
}

func poolMemberSchema() schema.Schema {
	return schema.Obj("", schema.Props{
		"id":      schema.Str("qemu/<vmid>, lxc/<vmid> or storage/<node>/<storage>.").Ptr(),
		"type":    schema.Enum("Kind.", "qemu", "lxc", "openvz", "storage").Ptr(),
		"node":    schema.Str("Node.").Ptr(),
		"vmid":    schema.Int("Guest id.").Opt(),
		"storage": schema.Str("Storage id.").Opt(),
	})
}

func poolChangeParams() schema.Props {
	return schema.Props{
		"poolid":     poolIDParam(),
		"comment":    schema.Schema{Type: schema.String, MaxLength: 4096, Description: "Comment."}.Opt(),
		"vms":        schema.Schema{Type: schema.String, Format: "pve-vmid-list", Description: "Guests to add (or remove with delete)."}.Opt(),
		"storage":    schema.Schema{Type: schema.String, Format: "pve-storage-id-list", Description: "Storages to add (or remove with delete)."}.Opt(),
		"delete":     schema.Schema{Type: schema.Boolean, Optional: true, Description: "Remove the named guests and storages instead of adding them."}.Ptr(),
		"allow-move": schema.Schema{Type: schema.Boolean, Optional: true, Description: "Move guests that are in another pool."}.Ptr(),
	}
}

var (
	DomainCreate = Declare[Params, any](Endpoint{
		Path: "/access/domains", Method: "POST", Name: "create",
		Description: "Add an authentication realm.",
		Params:      RealmOptions(),
		Perm:        Perm("/access/realm", "Realm.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "realm add", Args: []string{"realm"}}},
	})

	DomainGet = Declare[RealmParam, map[string]any](Endpoint{
		Path: "/access/domains/{realm}", Method: "GET", Name: "read",
		Description: "Show a realm's settings (never its passwords).",
		Params:      schema.Props{"realm": schema.Realm().Ptr()},
		Perm:        PermAny("/access/realm", "Realm.Allocate", "Sys.Audit"),
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The realm's options, with type and digest."},
	})

	DomainUpdate = Declare[Params, any](Endpoint{
		Path: "/access/domains/{realm}", Method: "PUT", Name: "update",
		Description: "Change a realm's settings.",
		Params:      realmUpdateOptions(),
		Perm:        Perm("/access/realm", "Realm.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "realm modify", Args: []string{"realm"}}},
	})

	DomainDelete = Declare[RealmParam, any](Endpoint{
		Path: "/access/domains/{realm}", Method: "DELETE", Name: "delete",
		Description: "Remove a realm (its users stay, but cannot log in).",
		Params:      schema.Props{"realm": schema.Realm().Ptr()},
		Perm:        Perm("/access/realm", "Realm.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "realm delete", Args: []string{"realm"}}},
	})

	DomainSync = DeclareTask[RealmSyncParams](Endpoint{
		Path: "/access/domains/{realm}/sync", Method: "POST", Name: "sync",
		Description: "Copy the users and groups of an LDAP or Active Directory realm into the user configuration.",
		Params: func() schema.Props {
			p := syncOptionProps()
			p["realm"] = schema.Realm().Ptr()
			p["dry-run"] = schema.Bool("Only report what would change.").Def(false).Ptr()
			return p
		}(),
		Perm:      And(Perm("/access/realm/{realm}", "Realm.AllocateUser"), Perm("/access/groups", "User.Modify")),
		Protected: true,
		CLI:       []Command{{Tool: "pveum", Cmd: "realm sync", Args: []string{"realm"}, Output: "log"}},
	})

	OpenIDIndex = Declare[NoParams, []Child](Endpoint{
		Path: "/access/openid", Method: "GET", Name: "index",
		Description: "List the OpenID login calls.",
		Perm:        AnyUser(""), Returns: childIndex("subdir"),
	})

	OpenIDAuthURL = Declare[OpenIDAuthParams, string](Endpoint{
		Path: "/access/openid/auth-url", Method: "POST", Name: "auth_url",
		Description: "Start an OpenID login: the URL of the identity provider to send the browser to.",
		Params: schema.Props{
			"realm":        schema.Realm().Ptr(),
			"redirect-url": schema.Schema{Type: schema.String, MaxLength: 255, Description: "Where the provider sends the browser back to (the UI's address)."}.Ptr(),
		},
		Perm: Public(), Protected: true, NoCSRF: true,
		Returns: schema.Str("The authorization URL."),
	})

	OpenIDLogin = Declare[OpenIDLoginParams, Ticket](Endpoint{
		Path: "/access/openid/login", Method: "POST", Name: "login",
		Description: "Finish an OpenID login with the code the provider returned, and issue a ticket.",
		Params: schema.Props{
			"code":         schema.Schema{Type: schema.String, MaxLength: 4096, Description: "Authorization code."}.Ptr(),
			"redirect-url": schema.Schema{Type: schema.String, MaxLength: 255, Description: "The redirect URL given to auth-url."}.Ptr(),
			"state":        schema.Schema{Type: schema.String, MaxLength: 1024, Description: "The state the provider returned."}.Ptr(),
		},
		Perm: Public(), Protected: true, NoCSRF: true, NoToken: true,
		Returns: TicketCreate.E.Returns,
	})

	TFAList = Declare[NoParams, []TFAUserEntries](Endpoint{
		Path: "/access/tfa", Method: "GET", Name: "list_tfa",
		Description: "List second factors: the caller's, and those of users the caller may audit.",
		Perm:        AnyUser("Shows other users' entries only with User.Modify or Sys.Audit on one of their groups."),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"userid":           schema.UserID().Ptr(),
			"entries":          schema.ArrayOf("", tfaEntrySchema()).Ptr(),
			"tfa-locked-until": schema.Int("Locked until this time after too many failures.").Opt(),
			"totp-locked":      schema.Bool("TOTP locked after too many failures.").Opt(),
		})),
	})

	TFAUserList = Declare[TFAUserParam, []TFAEntry](Endpoint{
		Path: "/access/tfa/{userid}", Method: "GET", Name: "list_user_tfa",
		Description: "List a user's second factors.",
		Params:      schema.Props{"userid": tfaUserParam()},
		Perm:        Self("userid", UserGroup("userid", []string{"User.Modify", "Sys.Audit"}, "", "")),
		Returns:     schema.ArrayOf("", tfaEntrySchema()),
		CLI:         []Command{{Tool: "pveum", Cmd: "user tfa list", Args: []string{"userid"}, Columns: []string{"id", "type", "description", "created", "enable"}}},
	})

	TFAAdd = Declare[TFAAddParams, TFAAdded](Endpoint{
		Path: "/access/tfa/{userid}", Method: "POST", Name: "add_tfa_entry",
		Description: "Add a second factor. TOTP needs the otpauth URI and a current code; recovery returns the keys once; webauthn is two calls (without value: a challenge; then the authenticator's answer in value).",
		Params: schema.Props{
			"userid":      tfaUserParam(),
			"type":        schema.Enum("Kind.", "totp", "u2f", "webauthn", "recovery", "yubico").Ptr(),
			"description": schema.Schema{Type: schema.String, MaxLength: 255, Description: "Description."}.Opt(),
			"totp":        schema.Schema{Type: schema.String, MaxLength: 1024, Sensitive: true, Description: "otpauth:// URI of the TOTP secret."}.Opt(),
			"value":       schema.Schema{Type: schema.String, MaxLength: 16384, Sensitive: true, Description: "A current TOTP code, or the WebAuthn registration answer."}.Opt(),
			"challenge":   schema.Schema{Type: schema.String, MaxLength: 16384, Description: "The WebAuthn challenge being answered."}.Opt(),
			"password":    schema.Schema{Type: schema.String, MaxLength: 64, Sensitive: true, Description: "The caller's password, as a confirmation (not needed for root@pam)."}.Opt(),
		},
		Perm:      Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Protected: true,
		Returns: schema.Obj("", schema.Props{
			"id":        schema.Str("Entry id.").Ptr(),
			"challenge": schema.Str("WebAuthn registration challenge.").Opt(),
			"recovery":  schema.ArrayOf("Recovery keys, shown once.", schema.Str("")).Opt(),
		}),
	})

	TFAGet = Declare[TFAKey, TFAEntry](Endpoint{
		Path: "/access/tfa/{userid}/{id}", Method: "GET", Name: "get_tfa_entry",
		Description: "Show one second factor.",
		Params:      schema.Props{"userid": tfaUserParam(), "id": schema.Str("Entry id.").Ptr()},
		Perm:        Self("userid", UserGroup("userid", []string{"User.Modify", "Sys.Audit"}, "", "")),
		Returns:     tfaEntrySchema(),
	})

	TFAUpdate = Declare[TFAEntryParams, any](Endpoint{
		Path: "/access/tfa/{userid}/{id}", Method: "PUT", Name: "update_tfa_entry",
		Description: "Change a second factor's description or enable it or not.",
		Params: schema.Props{
			"userid": tfaUserParam(), "id": schema.Str("Entry id.").Ptr(),
			"description": schema.Schema{Type: schema.String, MaxLength: 255, Description: "Description."}.Opt(),
			"enable":      schema.Bool("Whether it may be used.").Opt(),
			"password":    schema.Schema{Type: schema.String, MaxLength: 64, Sensitive: true, Description: "The caller's password, as a confirmation (not needed for root@pam)."}.Opt(),
		},
		Perm:      Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
	})

	TFADelete = Declare[TFADeleteParams, any](Endpoint{
		Path: "/access/tfa/{userid}/{id}", Method: "DELETE", Name: "delete_tfa",
		Description: "Remove a second factor.",
		Params: schema.Props{
			"userid": tfaUserParam(), "id": schema.Str("Entry id.").Ptr(),
			"password": schema.Schema{Type: schema.String, MaxLength: 64, Sensitive: true, Description: "The caller's password, as a confirmation (not needed for root@pam)."}.Opt(),
		},
		Perm:      Self("userid", UserGroup("userid", userGroupPrivs, "", "")),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "user tfa delete", Args: []string{"userid", "id"}}},
	})

	PoolList = Declare[PoolListParams, []PoolInfo](Endpoint{
		Path: "/pools", Method: "GET", Name: "index",
		Description: "List the pools the caller may audit; with poolid, that pool with its members.",
		Params: schema.Props{
			"poolid": schema.Schema{Type: schema.String, Format: "pve-poolid", Description: "Only this pool, with members."}.Opt(),
			"type":   schema.Enum("Only members of this kind.", "qemu", "lxc", "storage").Opt(),
		},
		Perm: AnyUser("Lists pools on which the caller has Pool.Audit."),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"poolid":  poolIDParam(),
			"comment": schema.Str("Comment.").Opt(),
			"members": schema.ArrayOf("Members (with poolid).", poolMemberSchema()).Opt(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "pool list", Columns: []string{"poolid", "comment"}, SortBy: "poolid"}},
	})

	PoolCreate = Declare[PoolCreateParams, any](Endpoint{
		Path: "/pools", Method: "POST", Name: "create_pool",
		Description: "Create a pool.",
		Params: schema.Props{
			"poolid":  poolIDParam(),
			"comment": schema.Schema{Type: schema.String, MaxLength: 4096, Description: "Comment."}.Opt(),
		},
		Perm:      Perm("/pool/{poolid}", "Pool.Allocate"),
		Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "pool add", Args: []string{"poolid"}}},
	})

	PoolUpdate = Declare[PoolParams, any](Endpoint{
		Path: "/pools", Method: "PUT", Name: "update_pool",
		Description: "Change a pool: its comment, and which guests and storages belong to it.",
		Params:      poolChangeParams(),
		Perm:        Perm("/pool/{poolid}", "Pool.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "pool modify", Args: []string{"poolid"}}},
	})

	PoolDelete = Declare[PoolIDParam, any](Endpoint{
		Path: "/pools", Method: "DELETE", Name: "delete_pool",
		Description: "Delete an empty pool.",
		Params:      schema.Props{"poolid": poolIDParam()},
		Perm:        Perm("/pool/{poolid}", "Pool.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pveum", Cmd: "pool delete", Args: []string{"poolid"}}},
	})

	PoolGet = Declare[PoolListParams, PoolDetail](Endpoint{
		Path: "/pools/{poolid}", Method: "GET", Name: "read_pool",
		Description: "Show a pool and its members.",
		Params: schema.Props{
			"poolid": poolIDParam(),
			"type":   schema.Enum("Only members of this kind.", "qemu", "lxc", "storage").Opt(),
		},
		Perm: Perm("/pool/{poolid}", "Pool.Audit"),
		Returns: schema.Obj("", schema.Props{
			"comment": schema.Str("Comment.").Opt(),
			"members": schema.ArrayOf("Members.", poolMemberSchema()).Ptr(),
		}),
	})

	PoolUpdateOld = Declare[PoolParams, any](Endpoint{
		Path: "/pools/{poolid}", Method: "PUT", Name: "update_pool_deprecated",
		Description: "Change a pool (older form of PUT /pools).",
		Params:      poolChangeParams(),
		Perm:        Perm("/pool/{poolid}", "Pool.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
	})

	PoolDeleteOld = Declare[PoolIDParam, any](Endpoint{
		Path: "/pools/{poolid}", Method: "DELETE", Name: "delete_pool_deprecated",
		Description: "Delete an empty pool (older form of DELETE /pools).",
		Params:      schema.Props{"poolid": poolIDParam()},
		Perm:        Perm("/pool/{poolid}", "Pool.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
	})
)
