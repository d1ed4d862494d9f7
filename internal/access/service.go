package access

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/perm"
	"github.com/hearth-virt/hearth/internal/access/realm"
	"github.com/hearth-virt/hearth/internal/access/realm/openid"
	"github.com/hearth-virt/hearth/internal/access/realm/pam"
	"github.com/hearth-virt/hearth/internal/access/realm/pve"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
	"github.com/hearth-virt/hearth/internal/cfs"
)

// Files of access control in the cluster file system.
const (
	UserCfgPath = "user.cfg"
	ShadowPath  = "priv/shadow.cfg"
	TokenPath   = "priv/token.cfg"
)

// Service is access control for the daemon: it verifies credentials for
// the API server, answers permission questions and handles logins.
type Service struct {
	store *cfs.Store
	log   *slog.Logger
	now   func() time.Time
	// ClusterName names the cluster in login answers; set by the daemon
	// before serving. Nil or "" for a standalone node.
	ClusterName func() string

	// HTTPClient reaches OpenID providers; nil means a default client
	// with the system's CAs. Tests point it at their own provider.
	HTTPClient    *http.Client
	providersOnce sync.Once
	providers     *openid.Providers

	// pam checks the passwords of the host's accounts; without PAM built
	// in it refuses with an explanation.
	pam realm.Authenticator

	mu    sync.Mutex
	state *state

	tokenLogMu sync.Mutex
	tokenLog   map[string]time.Time // token id → when its use was last logged
}

// tokenLogInterval bounds how often the use of one token is logged: a
// script calling the API in a loop would otherwise flood the log, yet
// every token in use shows up.
const tokenLogInterval = time.Minute

func (s *Service) auditTokenUse(tokenID string) {
	now := s.now()
	s.tokenLogMu.Lock()
	defer s.tokenLogMu.Unlock()
	if last, ok := s.tokenLog[tokenID]; ok && now.Sub(last) < tokenLogInterval {
		return
	}
	if s.tokenLog == nil || len(s.tokenLog) > 10000 {
		s.tokenLog = map[string]time.Time{}
	}
	s.tokenLog[tokenID] = now
	s.log.Info("API token used", "token", tokenID)
}

// state is what the service derived from the files at one tree version.
type state struct {
	treeVersion uint64
	versions    map[string]uint64 // per file, to skip re-parsing unchanged ones
	users       *usercfg.Config
	eval        *perm.Evaluator
	signer      *Signer
	shadow      *pve.Shadow
	tokens      map[string]string // full token id → secret
	domains     *domains
	domainsData []byte
}

// New builds the service on the cluster file system.
func New(store *cfs.Store, log *slog.Logger) *Service {
	return &Service{store: store, log: log, now: time.Now, pam: pam.New()}
}

// current returns the state for the tree as it is now, re-reading only
// the files that changed since the last call.
func (s *Service) current() (*state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tv := s.store.Version()
	if s.state != nil && s.state.treeVersion == tv {
		return s.state, nil
	}
	next := &state{treeVersion: tv, versions: map[string]uint64{}}
	old := s.state
	if old == nil {
		old = &state{versions: map[string]uint64{}}
	}
	read := func(path string) ([]byte, bool, error) {
		e, err := s.store.Get(path)
		if errors.Is(err, cfs.ErrNotFound) {
			next.versions[path] = 0
			return nil, old.versions[path] != 0 || old.treeVersion == 0, nil
		}
		if err != nil {
			return nil, false, err
		}
		next.versions[path] = e.Version
		return e.Data, e.Version != old.versions[path] || old.treeVersion == 0, nil
	}

	data, changed, err := read(UserCfgPath)
	if err != nil {
		return nil, err
	}
	if changed || old.users == nil {
		cfg, warnings := usercfg.Parse(data)
		for _, w := range warnings {
			s.log.Warn("user.cfg: "+w, "file", UserCfgPath)
		}
		next.users, next.eval = cfg, perm.New(cfg)
	} else {
		next.users, next.eval = old.users, old.eval
	}

	data, changed, err = read(ShadowPath)
	if err != nil {
		return nil, err
	}
	if changed || old.shadow == nil {
		sh, warnings := pve.ParseShadow(data)
		for _, w := range warnings {
			s.log.Warn("shadow.cfg: "+w, "file", ShadowPath)
		}
		next.shadow = sh
	} else {
		next.shadow = old.shadow
	}

	data, changed, err = read(TokenPath)
	if err != nil {
		return nil, err
	}
	if changed || old.tokens == nil {
		next.tokens = parseTokenSecrets(data)
	} else {
		next.tokens = old.tokens
	}

	data, changed, err = read(DomainsPath)
	if err != nil {
		return nil, err
	}
	if changed || old.domains == nil {
		d, warnings := parseDomains(data)
		for _, w := range warnings {
			s.log.Warn("domains.cfg: "+w, "file", DomainsPath)
		}
		next.domains, next.domainsData = d, data
	} else {
		next.domains, next.domainsData = old.domains, old.domainsData
	}

	keysChanged := false
	for _, p := range []string{AuthKeyPath, AuthPubPath, AuthPubOldPath, CSRFKeyPath} {
		_, c, err := read(p)
		if err != nil {
			return nil, err
		}
		keysChanged = keysChanged || c
	}
	if keysChanged || old.signer == nil {
		signer, err := s.loadSigner()
		if err != nil {
			return nil, err
		}
		next.signer = signer
	} else {
		next.signer = old.signer
	}
	s.state = next
	return next, nil
}

// parseTokenSecrets reads priv/token.cfg: "<user>@<realm>!<name> <secret>"
// per line, as Proxmox VE keeps it.
func parseTokenSecrets(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		id, secret, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && id != "" && secret != "" {
			out[id] = strings.TrimSpace(secret)
		}
	}
	return out
}

// VerifyTicket implements rest.Auth.
func (s *Service) VerifyTicket(ticket string) (string, error) {
	st, err := s.current()
	if err != nil {
		return "", err
	}
	now := s.now()
	user, _, err := st.signer.VerifyTicket(ticket, now)
	if err != nil {
		return "", err
	}
	if !st.eval.UserEnabled(user, now.Unix()) {
		return "", ErrTicket
	}
	return user, nil
}

// VerifyCSRF implements rest.Auth.
func (s *Service) VerifyCSRF(userid, token string) error {
	st, err := s.current()
	if err != nil {
		return err
	}
	return st.signer.VerifyCSRF(userid, token, s.now())
}

// ErrToken is returned for any token that does not authenticate.
var ErrToken = errors.New("invalid API token")

// VerifyToken implements rest.Auth: the token must exist in user.cfg, be
// unexpired, belong to an enabled user, and its secret must match.
func (s *Service) VerifyToken(tokenID, secret string) (string, error) {
	st, err := s.current()
	if err != nil {
		return "", err
	}
	user, _, ok := usercfg.SplitTokenID(tokenID)
	if !ok {
		return "", ErrToken
	}
	want, known := st.tokens[tokenID]
	if !known {
		want = "00000000-0000-0000-0000-000000000000" // compare anyway: no timing hint
	}
	match := subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
	now := s.now().Unix()
	tok, inCfg := st.users.Token(tokenID)
	if !known || !match || !inCfg || (tok.Expire != 0 && tok.Expire < now) || !st.eval.UserEnabled(user, now) {
		s.log.Info("API token refused", "token", tokenID)
		return "", ErrToken
	}
	s.auditTokenUse(tokenID)
	return user, nil
}

// Checker implements rest.Auth.
func (s *Service) Checker(userid, tokenID string) api.Checker {
	st, err := s.current()
	if err != nil {
		s.log.Error("access control state unavailable", "error", err)
		return denyAll{}
	}
	return checker{eval: st.eval, users: st.users, subject: perm.Subject{UserID: userid, TokenID: tokenID}}
}

type checker struct {
	eval    *perm.Evaluator
	users   *usercfg.Config
	subject perm.Subject
}

// GroupsOf implements api.GroupLookup for the rules on users' groups.
func (c checker) GroupsOf(userid string) []string {
	if u, ok := c.users.Users[userid]; ok {
		return u.Groups
	}
	return nil
}

func (c checker) Has(path string, privs ...string) bool { return c.eval.Has(c.subject, path, privs...) }
func (c checker) HasAny(path string, privs ...string) bool {
	return c.eval.HasAny(c.subject, path, privs...)
}

type denyAll struct{}

func (denyAll) Has(string, ...string) bool    { return false }
func (denyAll) HasAny(string, ...string) bool { return false }

// Bootstrap creates the first administrator, admin@pve with the
// Administrator role on /, unless user.cfg already has users. It reports
// whether it created the user.
func (s *Service) Bootstrap(ctx context.Context, password string) (bool, error) {
	st, err := s.current()
	if err != nil {
		return false, err
	}
	if len(st.users.Users) > 0 {
		return false, nil
	}
	cfg := usercfg.New()
	const admin = "admin@pve"
	if err := cfg.AddUser(usercfg.User{ID: admin, Enable: true, Comment: "First administrator, created at installation"}); err != nil {
		return false, err
	}
	if err := cfg.SetACL("/", []string{admin}, []string{"Administrator"}, true, false); err != nil {
		return false, err
	}
	sh := &pve.Shadow{}
	if err := sh.SetPassword(admin, password); err != nil {
		return false, fmt.Errorf("initial password: %w", err)
	}
	userVer := st.versions[UserCfgPath]
	cond := cfs.Cond{MustNotExist: userVer == 0, Version: userVer}
	_, err = s.store.Apply(ctx,
		cfs.Write(UserCfgPath, cfg.Bytes()).If(cond),
		cfs.Write(ShadowPath, sh.Bytes()),
	)
	if err != nil {
		return false, fmt.Errorf("creating the first administrator: %w", err)
	}
	s.log.Info("created the first administrator", "user", admin)
	return true, nil
}

// PoolOf names the pool a guest belongs to, or "".
func (s *Service) PoolOf(vmid int) string {
	st, err := s.current()
	if err != nil {
		return ""
	}
	p, _ := st.users.PoolOfVM(vmid)
	return p
}

// AddGuestToPool puts a new guest into a pool (create and clone with
// pool=…). The caller has checked the right to allocate in the pool.
func (s *Service) AddGuestToPool(ctx context.Context, pool string, vmid int) error {
	return s.editUsers(ctx, func(users *usercfg.Config) error {
		if err := users.AddPoolVM(pool, vmid, false); err != nil {
			return api.ParamError("pool", "%v", err)
		}
		return nil
	})
}

// ForgetGuest takes a destroyed guest out of its pool and, with purge,
// drops the ACL entries on /vms/<vmid> too, so a later guest with the
// same id starts clean. Without purge the ACLs stay, as on Proxmox VE.
func (s *Service) ForgetGuest(ctx context.Context, vmid int, purge bool) error {
	if _, inPool := s.poolOf(vmid); !inPool && !purge {
		return nil
	}
	return s.editUsers(ctx, func(users *usercfg.Config) error {
		if purge {
			users.RemoveVM(vmid)
			return nil
		}
		users.RemovePoolVM(vmid)
		return nil
	})
}

func (s *Service) poolOf(vmid int) (string, bool) {
	st, err := s.current()
	if err != nil {
		return "", false
	}
	return st.users.PoolOfVM(vmid)
}
