package api

import "github.com/hearth-virt/hearth/api/schema"

// TicketParams is the input of POST /access/ticket.
type TicketParams struct {
	Username     string `json:"username"`
	Password     string `json:"password"`
	Realm        string `json:"realm"`
	OTP          string `json:"otp"`
	TFAChallenge string `json:"tfa-challenge"`
	Path         string `json:"path"`
	Privs        string `json:"privs"`
	NewFormat    bool   `json:"new-format"`
}

// Ticket is the answer of a successful login.
type Ticket struct {
	Username  string `json:"username"`
	Ticket    string `json:"ticket,omitempty"`
	CSRFToken string `json:"CSRFPreventionToken,omitempty"`
	// Cap lists, per area, the privileges the user holds somewhere in it,
	// each mapped to 1, so a UI can hide what the user cannot do.
	Cap         map[string]map[string]int `json:"cap,omitempty"`
	ClusterName string                    `json:"clustername,omitempty"`
	// NeedTFA is 1 when the ticket is only the first half of a two-factor login.
	NeedTFA int `json:"NeedTFA,omitempty"`
}

// Domain is one row of GET /access/domains.
type Domain struct {
	Realm   string `json:"realm"`
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
	TFA     string `json:"tfa,omitempty"`
	Default *int   `json:"default,omitempty"`
}

// Access endpoints.
var (
	AccessIndex = Declare[NoParams, []Child](Endpoint{
		Path: "/access", Method: "GET", Name: "index",
		Description: "List what can be found below /access.",
		Perm:        AnyUser(""), Returns: childIndex("subdir"),
	})

	TicketForm = Declare[NoParams, any](Endpoint{
		Path: "/access/ticket", Method: "GET", Name: "get_ticket",
		Description: "Does nothing; lets generic clients show a login form for this path.",
		Perm:        Public(), Returns: schema.Schema{Type: schema.Null},
	})

	TicketCreate = Declare[TicketParams, Ticket](Endpoint{
		Path: "/access/ticket", Method: "POST", Name: "create_ticket",
		Description: "Log in: check a user's password (or a still valid ticket, to renew it) and return a ticket and a CSRF token. With path and privs, only check that the ticket's user holds those privileges there.",
		Params: schema.Props{
			"username": schema.Schema{Type: schema.String, MaxLength: 64, Description: "User name, as <name>@<realm> or just <name> with realm."}.Ptr(),
			"password": schema.Schema{Type: schema.String, MaxLength: 4096, Sensitive: true, Description: "The password, or a valid ticket to renew."}.Ptr(),
			"realm":    schema.Realm().Opt(),
			"otp":      schema.Schema{Type: schema.String, MaxLength: 128, Sensitive: true, Description: "One-time code of a second factor."}.Opt(),
			"tfa-challenge": schema.Schema{Type: schema.String, MaxLength: 4096, Sensitive: true,
				Description: "The half ticket of a two-factor login being completed."}.Opt(),
			"path":       schema.Schema{Type: schema.String, MaxLength: 64, Description: "With privs: the ACL path to check the ticket's user against."}.Opt(),
			"privs":      schema.Schema{Type: schema.String, Format: "pve-priv-list", MaxLength: 64, Description: "With path: privileges the user must hold there."}.Opt(),
			"new-format": schema.Bool("Ignored; kept for old clients.").Def(true).Ptr(),
		},
		Perm: Public(), Protected: true, NoToken: true, NoCSRF: true,
		Returns: schema.Obj("", schema.Props{
			"username":            schema.Str("The user id.").Ptr(),
			"ticket":              schema.Str("The ticket; send it in the PVEAuthCookie cookie.").Opt(),
			"CSRFPreventionToken": schema.Str("Send this in the CSRFPreventionToken header with every change.").Opt(),
			"clustername":         schema.Str("Name of the cluster, when clustered.").Opt(),
			"cap":                 schema.Schema{Type: schema.Object, Optional: true, AdditionalProperties: true, Description: "Privileges per area."}.Ptr(),
			"NeedTFA":             schema.Bool("A second factor must complete the login.").Opt(),
		}),
	})

	DomainList = Declare[NoParams, []Domain](Endpoint{
		Path: "/access/domains", Method: "GET", Name: "index",
		Description: "List the authentication realms; public, so login forms can offer them.",
		Perm:        Public(),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"realm":   schema.Realm().Ptr(),
			"type":    schema.Str("Realm type: pam, pve, ldap, ad or openid.").Ptr(),
			"comment": schema.Str("Comment.").Opt(),
			"tfa":     schema.Enum("Second factor required by the realm.", "yubico", "oath").Opt(),
			"default": schema.Bool("The realm preselected in login forms.").Opt(),
		})),
		CLI: []Command{{Tool: "pveum", Cmd: "realm list", Columns: []string{"realm", "type", "comment"}, SortBy: "realm"}},
	})
)
