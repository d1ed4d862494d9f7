package access

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/perm"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// rootUser is the host's administrator, all-powerful and undeletable.
const rootUser = "root@pam"

// mayAdminUser reports whether the caller may see or change userid:
// privs on /access/groups, or on a group the user belongs to.
func mayAdminUser(c *api.Call, users *usercfg.Config, userid string, privs ...string) bool {
	if c.Perm.HasAny("/access/groups", privs...) {
		return true
	}
	if u, ok := users.Users[userid]; ok {
		for _, g := range u.Groups {
			if c.Perm.HasAny("/access/groups/"+g, privs...) {
				return true
			}
		}
	}
	return false
}

func (s *Service) listUsers(_ context.Context, c *api.Call, in *api.UserListParams) ([]api.UserListItem, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	domains := s.realmTypes(st)
	locks := s.tfaLocks()
	out := []api.UserListItem{}
	for _, id := range sortedKeys(st.users.Users) {
		u := st.users.Users[id]
		if id != c.User && !mayAdminUser(c, st.users, id, "User.Modify", "Sys.Audit") {
			continue
		}
		if in.Enabled != nil && *in.Enabled != u.Enable {
			continue
		}
		_, realm, _ := usercfg.SplitUserID(id)
		item := api.UserListItem{
			UserID: id, Enable: b2i(u.Enable), Expire: u.Expire,
			Firstname: u.Firstname, Lastname: u.Lastname, Email: u.Email, Comment: u.Comment, Keys: u.Keys,
			RealmType: domains[realm],
		}
		if l, ok := locks[id]; ok {
			item.TFALockedUntil, item.TOTPLocked = l.until, l.totp
		}
		if in.Full {
			item.Groups = strings.Join(u.Groups, ",")
			for _, name := range sortedKeys(u.Tokens) {
				item.Tokens = append(item.Tokens, tokenInfo(u.Tokens[name], true))
			}
		}
		out = append(out, item)
	}
	return out, nil
}

func tokenInfo(t *usercfg.Token, withID bool) api.TokenInfo {
	info := api.TokenInfo{Comment: t.Comment, Expire: t.Expire, Privsep: b2i(t.Privsep)}
	if withID {
		info.TokenID = t.ID
	}
	return info
}

func (s *Service) createUser(ctx context.Context, c *api.Call, in *api.UserParams) (any, error) {
	_, realm, _ := usercfg.SplitUserID(in.UserID)
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	typ, known := s.realmTypes(st)[realm]
	if !known {
		return nil, api.ParamError("userid", "realm %s does not exist; create it first (pveum realm add)", realm)
	}
	if in.Password != "" && typ != "pve" {
		return nil, api.ParamError("password", "passwords can only be set for users of pve realms; %s is a %s realm", realm, typ)
	}
	err = s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		if _, exists := users.Users[in.UserID]; exists {
			return api.ParamError("userid", "user %s already exists", in.UserID)
		}
		u := usercfg.User{ID: in.UserID, Enable: in.Enable == nil || *in.Enable}
		applyUserFields(&u, in.Expire, in.Firstname, in.Lastname, in.Email, in.Comment, in.Keys)
		if err := users.AddUser(u); err != nil {
			return api.ParamError("userid", "%v", err)
		}
		if in.Groups != nil {
			if err := users.SetUserGroups(in.UserID, splitIDs(*in.Groups), false); err != nil {
				return api.ParamError("groups", "%v", err)
			}
		}
		if in.Password != "" {
			return t.setPassword(in.UserID, in.Password)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "user created", "target", in.UserID)
	}
	return nil, err
}

func applyUserFields(u *usercfg.User, expire *int64, first, last, email, comment, keys *string) {
	if expire != nil {
		u.Expire = *expire
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.Firstname, first)
	set(&u.Lastname, last)
	set(&u.Email, email)
	set(&u.Comment, comment)
	set(&u.Keys, keys)
}

func splitIDs(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

func (s *Service) getUser(_ context.Context, _ *api.Call, in *api.UserIDParam) (api.User, error) {
	st, err := s.current()
	if err != nil {
		return api.User{}, err
	}
	u, ok := st.users.Users[in.UserID]
	if !ok {
		return api.User{}, api.NotFound("user %s does not exist", in.UserID)
	}
	out := api.User{
		Enable: b2i(u.Enable), Expire: u.Expire, Firstname: u.Firstname, Lastname: u.Lastname,
		Email: u.Email, Comment: u.Comment, Keys: u.Keys,
		Groups: append([]string{}, u.Groups...), Tokens: map[string]api.TokenInfo{},
	}
	for name, t := range u.Tokens {
		out.Tokens[name] = tokenInfo(t, false)
	}
	return out, nil
}

func (s *Service) updateUser(ctx context.Context, c *api.Call, in *api.UserUpdateParams) (any, error) {
	err := s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		u, ok := users.Users[in.UserID]
		if !ok {
			return api.NotFound("user %s does not exist", in.UserID)
		}
		if in.Enable != nil {
			u.Enable = *in.Enable
		}
		applyUserFields(u, in.Expire, in.Firstname, in.Lastname, in.Email, in.Comment, in.Keys)
		if err := usercfg.CheckUser(u); err != nil {
			return api.ParamError("userid", "%v", err)
		}
		if in.Groups != nil {
			if err := users.SetUserGroups(in.UserID, splitIDs(*in.Groups), in.Append); err != nil {
				return api.ParamError("groups", "%v", err)
			}
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "user changed", "target", in.UserID)
	}
	return nil, err
}

func (s *Service) deleteUser(ctx context.Context, c *api.Call, in *api.UserIDParam) (any, error) {
	if in.UserID == rootUser {
		return nil, api.ParamError("userid", "%s cannot be deleted", rootUser)
	}
	err := s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		u, ok := users.Users[in.UserID]
		if !ok {
			return api.NotFound("user %s does not exist", in.UserID)
		}
		tokens, err := t.Tokens()
		if err != nil {
			return err
		}
		for name := range u.Tokens {
			delete(tokens, usercfg.JoinTokenID(in.UserID, name))
		}
		if err := users.DeleteUser(in.UserID); err != nil {
			return err
		}
		sh, err := t.Shadow()
		if err != nil {
			return err
		}
		sh.Delete(in.UserID)
		return t.dropTFA(in.UserID)
	})
	if err == nil {
		s.auditChange(c, "user deleted", "target", in.UserID)
	}
	return nil, err
}

// Tokens.

func (s *Service) listTokens(_ context.Context, _ *api.Call, in *api.UserIDParam) ([]api.TokenInfo, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	u, ok := st.users.Users[in.UserID]
	if !ok {
		return nil, api.NotFound("user %s does not exist", in.UserID)
	}
	out := []api.TokenInfo{}
	for _, name := range sortedKeys(u.Tokens) {
		out = append(out, tokenInfo(u.Tokens[name], true))
	}
	return out, nil
}

func (s *Service) getToken(_ context.Context, _ *api.Call, in *api.TokenKey) (api.TokenInfo, error) {
	st, err := s.current()
	if err != nil {
		return api.TokenInfo{}, err
	}
	t, ok := st.users.Token(usercfg.JoinTokenID(in.UserID, in.TokenID))
	if !ok {
		return api.TokenInfo{}, api.NotFound("no such token %s for user %s", in.TokenID, in.UserID)
	}
	return tokenInfo(t, false), nil
}

func (s *Service) createToken(ctx context.Context, c *api.Call, in *api.TokenParams) (api.NewToken, error) {
	full := usercfg.JoinTokenID(in.UserID, in.TokenID)
	secret, err := newUUID()
	if err != nil {
		return api.NewToken{}, err
	}
	var info api.TokenInfo
	err = s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		u, ok := users.Users[in.UserID]
		if !ok {
			return api.NotFound("user %s does not exist", in.UserID)
		}
		if _, exists := u.Tokens[in.TokenID]; exists {
			return api.ParamError("tokenid", "token %s already exists for user %s", in.TokenID, in.UserID)
		}
		tok := usercfg.Token{ID: in.TokenID, Privsep: in.Privsep == nil || *in.Privsep, Expire: u.Expire}
		if in.Expire != nil {
			tok.Expire = *in.Expire
		}
		if in.Comment != nil {
			tok.Comment = *in.Comment
		}
		if u.Expire != 0 && (tok.Expire == 0 || tok.Expire > u.Expire) {
			return api.ParamError("expire", "a token cannot outlive its user: %s expires at %d", in.UserID, u.Expire)
		}
		if err := users.AddToken(in.UserID, tok); err != nil {
			return api.ParamError("tokenid", "%v", err)
		}
		secrets, err := t.Tokens()
		if err != nil {
			return err
		}
		secrets[full] = secret
		info = tokenInfo(&tok, false)
		return nil
	})
	if err != nil {
		return api.NewToken{}, err
	}
	s.auditChange(c, "API token created", "token", full, "privsep", info.Privsep)
	return api.NewToken{FullTokenID: full, Info: info, Value: secret}, nil
}

func (s *Service) updateToken(ctx context.Context, c *api.Call, in *api.TokenParams) (api.TokenInfo, error) {
	var info api.TokenInfo
	err := s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		u, ok := users.Users[in.UserID]
		if !ok {
			return api.NotFound("user %s does not exist", in.UserID)
		}
		tok, ok := u.Tokens[in.TokenID]
		if !ok {
			return api.NotFound("no such token %s for user %s", in.TokenID, in.UserID)
		}
		for _, key := range splitIDs(in.Delete) {
			switch key {
			case "comment":
				tok.Comment = ""
			case "expire":
				tok.Expire = u.Expire
			case "privsep":
				tok.Privsep = true
			default:
				return api.ParamError("delete", "cannot reset %q; allowed: comment, expire, privsep", key)
			}
		}
		if in.Comment != nil {
			tok.Comment = *in.Comment
		}
		if in.Expire != nil {
			tok.Expire = *in.Expire
		}
		if in.Privsep != nil {
			tok.Privsep = *in.Privsep
		}
		if u.Expire != 0 && (tok.Expire == 0 || tok.Expire > u.Expire) {
			return api.ParamError("expire", "a token cannot outlive its user: %s expires at %d", in.UserID, u.Expire)
		}
		info = tokenInfo(tok, false)
		return nil
	})
	if err == nil {
		s.auditChange(c, "API token changed", "token", usercfg.JoinTokenID(in.UserID, in.TokenID), "privsep", info.Privsep)
	}
	return info, err
}

func (s *Service) deleteToken(ctx context.Context, c *api.Call, in *api.TokenKey) (any, error) {
	full := usercfg.JoinTokenID(in.UserID, in.TokenID)
	err := s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		if _, ok := users.Token(full); !ok {
			return api.NotFound("no such token %s for user %s", in.TokenID, in.UserID)
		}
		if err := users.DeleteToken(in.UserID, in.TokenID); err != nil {
			return err
		}
		secrets, err := t.Tokens()
		if err != nil {
			return err
		}
		delete(secrets, full)
		return nil
	})
	if err == nil {
		s.auditChange(c, "API token deleted", "token", full)
	}
	return nil, err
}

// newUUID returns a random (version 4) UUID, the shape of Proxmox VE's
// token secrets.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// tokenSecretsBytes writes priv/token.cfg, sorted.
func tokenSecretsBytes(m map[string]string) []byte {
	var b strings.Builder
	for _, id := range sortedKeys(m) {
		b.WriteString(id + " " + m[id] + "\n")
	}
	return []byte(b.String())
}

// Passwords.

func (s *Service) changePassword(ctx context.Context, c *api.Call, in *api.PasswordParams) (any, error) {
	if c.Token != "" {
		return nil, &api.Error{Status: 403, Message: "Permission check failed (API tokens cannot change passwords)"}
	}
	if c.User != rootUser {
		// Whoever changes a password proves it is still them at the keyboard:
		// a stolen ticket alone must not be enough to take over an account.
		if in.Confirmation == "" {
			return nil, api.ParamError("confirmation-password", "your current password is required to change a password")
		}
		if err := s.checkPassword(ctx, c.User, in.Confirmation); err != nil {
			s.audit("password change refused: wrong confirmation password", c.User, c)
			return nil, api.ParamError("confirmation-password", "wrong password")
		}
	}
	_, realm, _ := usercfg.SplitUserID(in.UserID)
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	if _, ok := st.users.Users[in.UserID]; !ok && in.UserID != rootUser {
		return nil, api.NotFound("user %s does not exist", in.UserID)
	}
	switch s.realmTypes(st)[realm] {
	case "pve":
		err = s.edit(ctx, func(t *txn) error { return t.setPassword(in.UserID, in.Password) })
	case "pam":
		err = s.setPAMPassword(ctx, in.UserID, in.Password)
	default:
		return nil, api.ParamError("userid", "passwords of %s users are kept by their directory or identity provider, not here", realm)
	}
	if err == nil {
		s.auditChange(c, "password changed", "target", in.UserID)
	}
	return nil, err
}

// Permissions.

// permissionPaths are always shown by GET /access/permissions, besides
// every path with an ACL, so a user sees what it holds at the top of
// each tree.
var permissionPaths = []string{"/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms", "/mapping"}

func (s *Service) permissions(_ context.Context, c *api.Call, in *api.PermissionsParams) (map[string]map[string]int, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	subj := perm.Subject{UserID: c.User, TokenID: c.Token}
	if in.UserID != "" {
		subj = perm.Subject{UserID: in.UserID}
		if strings.Contains(in.UserID, "!") {
			subj = perm.Subject{TokenID: in.UserID}
			if err := usercfg.ValidTokenID(in.UserID); err != nil {
				return nil, api.ParamError("userid", "%v", err)
			}
		} else if err := usercfg.ValidUserID(in.UserID); err != nil {
			return nil, api.ParamError("userid", "%v", err)
		}
		owner, _, _ := usercfg.SplitTokenID(in.UserID)
		self := in.UserID == c.User && c.Token == "" || in.UserID == c.Token ||
			(subj.TokenID != "" && owner == c.User && c.Token == "")
		if !self && !c.Perm.Has("/access", "Sys.Audit") {
			return nil, &api.Denied{Path: "/access", Priv: "Sys.Audit"}
		}
	}
	paths := permissionPaths
	if in.Path != "" {
		p, err := usercfg.NormalizeACLPath(in.Path)
		if err != nil {
			return nil, api.ParamError("path", "%v", err)
		}
		paths = []string{p}
	} else {
		paths = append(slices.Clone(paths), st.users.ACLPaths()...)
	}
	out := map[string]map[string]int{}
	for _, p := range paths {
		held, prop := st.eval.PrivilegeFlags(subj, p)
		if held.IsEmpty() {
			continue
		}
		m := map[string]int{}
		for _, name := range held.Names() {
			m[name] = b2i(prop.Has(name))
		}
		out[p] = m
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
