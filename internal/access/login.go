package access

import (
	"context"
	"regexp"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/access/perm"
	"github.com/hearth-virt/hearth/internal/access/privs"
	"github.com/hearth-virt/hearth/internal/access/realm/pve"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// Routes binds the access endpoints served by this package.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		api.TicketCreate.Handle(s.login),
		api.TicketForm.Handle(func(context.Context, *api.Call, *api.NoParams) (any, error) { return nil, nil }),
		api.DomainList.Handle(s.domains),
	}
}

// login checks a password (or renews a ticket) and issues a ticket.
func (s *Service) login(ctx context.Context, c *api.Call, in *api.TicketParams) (api.Ticket, error) {
	userid := in.Username
	if in.Realm != "" {
		// As Proxmox VE: the realm parameter is appended to the name.
		userid += "@" + in.Realm
	}
	if schema.CheckFormat("pve-userid", userid) != nil {
		s.audit("login refused: malformed user name", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	st, err := s.current()
	if err != nil {
		return api.Ticket{}, err
	}
	now := s.now()

	if in.Path != "" || in.Privs != "" {
		return s.verifyOnly(st, c, userid, in)
	}

	ok := false
	if strings.HasPrefix(in.Password, "PVE:") {
		// Renewal: a valid ticket of the same user stands in for the password.
		user, _, err := st.signer.VerifyTicket(in.Password, now)
		ok = err == nil && user == userid
	} else {
		ok = s.checkPassword(st, userid, in.Password)
	}
	if !ok || !st.eval.UserEnabled(userid, now.Unix()) {
		s.audit("login failed", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	ticket, err := st.signer.Ticket(userid, now)
	if err != nil {
		return api.Ticket{}, err
	}
	s.audit("login", userid, c)
	t := api.Ticket{
		Username:  userid,
		Ticket:    ticket,
		CSRFToken: st.signer.CSRFToken(userid, now),
		Cap:       capabilities(st, perm.Subject{UserID: userid}),
	}
	if s.ClusterName != nil {
		t.ClusterName = s.ClusterName()
	}
	return t, nil
}

// checkPassword asks the user's realm. Realms other than pve arrive with
// the access-control work; until then their users cannot log in.
func (s *Service) checkPassword(st *state, userid, password string) bool {
	_, realm, _ := usercfg.SplitUserID(userid)
	switch realm {
	case pve.Realm:
		return st.shadow.Verify(userid, password)
	}
	return false
}

// verifyOnly answers whether the ticket in the password field belongs to
// the user and grants the privileges on the path, without a new ticket.
func (s *Service) verifyOnly(st *state, c *api.Call, userid string, in *api.TicketParams) (api.Ticket, error) {
	if in.Path == "" || in.Privs == "" {
		return api.Ticket{}, api.ParamError("path", "path and privs must be given together")
	}
	user, _, err := st.signer.VerifyTicket(in.Password, s.now())
	if err != nil || user != userid {
		return api.Ticket{}, api.ErrAuthFailed
	}
	path, err := usercfg.NormalizeACLPath(in.Path)
	if err != nil {
		return api.Ticket{}, api.ParamError("path", "%v", err)
	}
	if !st.eval.Has(perm.Subject{UserID: userid}, path, schema.SplitList(in.Privs)...) {
		s.audit("privilege check failed", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	return api.Ticket{Username: userid}, nil
}

func (s *Service) audit(what, userid string, c *api.Call) {
	s.log.Info(what, "user", userid, "remote", c.RemoteAddr)
}

// The areas of the login answer's cap map, with the privileges that count
// in each; a UI uses them to show only what the user may do.
var capAreas = []struct {
	area string
	re   *regexp.Regexp
}{
	{"vms", regexp.MustCompile(`^(VM\.|Permissions\.Modify)`)},
	{"access", regexp.MustCompile(`^((User|Group)\.|Permissions\.Modify)`)},
	{"storage", regexp.MustCompile(`^(Datastore\.|Permissions\.Modify)`)},
	{"nodes", regexp.MustCompile(`^(Sys\.|Permissions\.Modify)`)},
	{"sdn", regexp.MustCompile(`^(SDN\.|Permissions\.Modify)`)},
	{"dc", regexp.MustCompile(`^(Sys\.Audit|Sys\.Modify|SDN\.)`)},
	{"mapping", regexp.MustCompile(`^(Mapping\.|Permissions\.Modify)`)},
}

// capabilities computes the cap map as Proxmox VE does: the privileges the
// user holds on the top of each area and on every path with an ACL, each
// credited to the area the path belongs to; privileges on pools count for
// guests and storage.
func capabilities(st *state, subj perm.Subject) map[string]map[string]int {
	res := map[string]map[string]int{}
	for _, a := range capAreas {
		res[a.area] = map[string]int{}
	}
	paths := append([]string{"/", "/nodes", "/access/groups", "/vms", "/storage", "/sdn", "/mapping"}, st.users.ACLPaths()...)
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		held := st.eval.Privileges(subj, p)
		top := "dc"
		if comps := strings.Split(strings.TrimPrefix(p, "/"), "/"); comps[0] != "" {
			top = comps[0]
		}
		for _, priv := range held.Names() {
			if top == "pool" {
				switch {
				case strings.HasPrefix(priv, "VM."):
					res["vms"][priv] = 1
				case strings.HasPrefix(priv, "Datastore."):
					res["storage"][priv] = 1
				case priv == privs.PermissionsModify:
					res["storage"][priv], res["vms"][priv] = 1, 1
				}
				continue
			}
			for _, a := range capAreas {
				if a.area == top && a.re.MatchString(priv) {
					res[top][priv] = 1
				}
			}
		}
	}
	return res
}

// domains lists the realms. The pam and pve realms always exist; other
// realms come from domains.cfg with the access-control work.
func (s *Service) domains(context.Context, *api.Call, *api.NoParams) ([]api.Domain, error) {
	return []api.Domain{
		{Realm: "pam", Type: "pam", Comment: "Accounts of the host, through PAM"},
		{Realm: "pve", Type: "pve", Comment: "Users kept by Hearth itself"},
	}, nil
}
