package access

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/access/perm"
	"github.com/hearth-virt/hearth/internal/access/privs"
	"github.com/hearth-virt/hearth/internal/access/realm"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// login checks a password (or renews a ticket) and issues a ticket. A
// user with second factors (or in a realm that requires one) first gets
// a half ticket and NeedTFA; the second call completes the login with
// the half ticket in tfa-challenge and the answer in password.
func (s *Service) login(ctx context.Context, c *api.Call, in *api.TicketParams) (api.Ticket, error) {
	userid := in.Username
	if in.Realm != "" && !strings.Contains(userid, "@") {
		// As Proxmox VE: the realm parameter is appended to a bare name.
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
	if in.TFAChallenge != "" {
		return s.completeTFA(ctx, st, c, userid, in)
	}

	renewal := strings.HasPrefix(in.Password, "PVE:")
	if renewal {
		// A valid ticket of the same user stands in for the password (and
		// for the second factor, which that ticket already required).
		user, _, err := st.signer.VerifyTicket(in.Password, now)
		if err != nil || user != userid {
			s.audit("ticket renewal refused", userid, c)
			return api.Ticket{}, api.ErrAuthFailed
		}
	} else if err := s.checkPassword(ctx, userid, in.Password); err != nil {
		s.auditFailure(userid, c, err)
		return api.Ticket{}, api.ErrAuthFailed
	}
	if !st.eval.UserEnabled(userid, now.Unix()) {
		s.audit("login refused: user disabled, expired or unknown", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	if !renewal {
		challenge, need, err := s.tfaChallenge(st, userid)
		if err != nil {
			s.auditFailure(userid, c, err)
			return api.Ticket{}, api.ErrAuthFailed
		}
		if need {
			if in.OTP != "" {
				// Older clients send the code with the password in one call.
				return s.finishTFA(ctx, st, c, userid, "totp:"+in.OTP)
			}
			half, err := st.signer.TFATicket(userid, challenge, now)
			if err != nil {
				return api.Ticket{}, err
			}
			s.audit("login: password accepted, second factor required", userid, c)
			return api.Ticket{Username: userid, Ticket: half, NeedTFA: 1}, nil
		}
	}
	what := "login"
	if renewal {
		what = "ticket renewed"
	}
	return s.issue(st, c, userid, what)
}

// issue makes the full ticket of a completed login.
func (s *Service) issue(st *state, c *api.Call, userid, what string) (api.Ticket, error) {
	now := s.now()
	ticket, err := st.signer.Ticket(userid, now)
	if err != nil {
		return api.Ticket{}, err
	}
	s.audit(what, userid, c)
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

// completeTFA is the second call of a two-step login.
func (s *Service) completeTFA(ctx context.Context, st *state, c *api.Call, userid string, in *api.TicketParams) (api.Ticket, error) {
	if _, err := st.signer.VerifyTFATicket(in.TFAChallenge, userid, s.now()); err != nil {
		s.audit("second factor refused: invalid or expired half ticket", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	if !st.eval.UserEnabled(userid, s.now().Unix()) {
		s.audit("login refused: user disabled, expired or unknown", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	return s.finishTFA(ctx, st, c, userid, in.Password)
}

// finishTFA checks the answer to the second factor and issues the ticket.
func (s *Service) finishTFA(ctx context.Context, st *state, c *api.Call, userid, response string) (api.Ticket, error) {
	if err := s.tfaVerify(ctx, userid, response); err != nil {
		s.auditFailure(userid, c, err)
		return api.Ticket{}, api.ErrAuthFailed
	}
	return s.issue(st, c, userid, "login with second factor")
}

// checkPassword asks the user's realm whether the password is right.
func (s *Service) checkPassword(ctx context.Context, userid, password string) error {
	st, err := s.current()
	if err != nil {
		return err
	}
	name, realmName, _ := usercfg.SplitUserID(userid)
	sec := st.domains.find(realmName)
	if sec == nil {
		return fmt.Errorf("realm %s does not exist: %w", realmName, realm.ErrAuth)
	}
	if password == "" {
		return fmt.Errorf("empty password: %w", realm.ErrAuth)
	}
	switch sec.Type {
	case "pve":
		if st.shadow.Verify(userid, password) {
			return nil
		}
		return fmt.Errorf("wrong password or no password set: %w", realm.ErrAuth)
	case "pam":
		return s.pam.Authenticate(ctx, name, password)
	case "ldap", "ad":
		return s.directoryLogin(ctx, sec, name, password)
	case "openid":
		return fmt.Errorf("realm %s is an OpenID realm: users log in through the identity provider: %w", realmName, realm.ErrAuth)
	}
	return fmt.Errorf("realm %s has unknown type %s: %w", realmName, sec.Type, realm.ErrAuth)
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

// auditFailure logs a refused login with the reason (never the
// password). Wrong credentials are routine; a realm that cannot be asked
// is a problem for the administrator, logged as a warning.
func (s *Service) auditFailure(userid string, c *api.Call, err error) {
	if errors.Is(err, realm.ErrAuth) || errors.Is(err, errTFA) {
		s.log.Info("login failed", "user", userid, "remote", c.RemoteAddr, "reason", err.Error())
		return
	}
	s.log.Warn("login failed: realm error", "user", userid, "remote", c.RemoteAddr, "error", err.Error())
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
