package access

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/realm"
	"github.com/hearth-virt/hearth/internal/access/realm/openid"
)

// openIDStateDir holds pending OpenID logins (see oneShot).
const openIDStateDir = "priv/openid"

// openIDStates adapts oneShot to the OpenID package's state store.
type openIDStates struct {
	o   oneShot
	now func() time.Time
}

func (c openIDStates) Put(state string, p openid.PendingLogin) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return c.o.put(state, data, c.now())
}

func (c openIDStates) Take(state string) (openid.PendingLogin, bool, error) {
	var p openid.PendingLogin
	data, ok, err := c.o.take(state, c.now())
	if !ok || err != nil {
		return p, false, err
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, false, nil
	}
	return p, true, nil
}

// openIDProvider returns the configured provider of an OpenID realm.
func (s *Service) openIDProvider(ctx context.Context, realmName string) (*openid.Provider, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	sec := st.domains.find(realmName)
	if sec == nil || sec.Type != "openid" {
		return nil, api.ParamError("realm", "%s is not an OpenID realm", realmName)
	}
	secret, err := s.realmSecret(sec)
	if err != nil {
		return nil, err
	}
	cfg, err := openid.ParseConfig(*sec, secret)
	if err != nil {
		return nil, err
	}
	s.providersOnce.Do(func() {
		client := s.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 15 * time.Second}
		}
		s.providers = openid.NewProviders(client)
	})
	return s.providers.Get(ctx, cfg)
}

func (s *Service) stateStore() openid.StateStore {
	return openIDStates{o: oneShot{store: s.store, dir: openIDStateDir, ttl: openid.DefaultStateTTL}, now: s.now}
}

func (s *Service) openIDAuthURL(ctx context.Context, c *api.Call, in *api.OpenIDAuthParams) (string, error) {
	p, err := s.openIDProvider(ctx, in.Realm)
	if err != nil {
		return "", err
	}
	u, err := p.AuthURL(s.stateStore(), in.RedirectURL)
	if err != nil {
		return "", api.ParamError("redirect-url", "%v", err)
	}
	return u, nil
}

func (s *Service) openIDLogin(ctx context.Context, c *api.Call, in *api.OpenIDLoginParams) (api.Ticket, error) {
	// The realm is only known from the pending login, which Login looks up;
	// peek at it without taking it, through a store that remembers it.
	store := &realmPeek{StateStore: s.stateStore()}
	pending, ok, err := store.StateStore.Take(in.State)
	if err != nil {
		return api.Ticket{}, err
	}
	if !ok {
		s.audit("OpenID login refused: unknown or expired state", "", c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	store.pending = &pending
	p, err := s.openIDProvider(ctx, pending.Realm)
	if err != nil {
		s.log.Warn("OpenID login failed: realm unusable", "realm", pending.Realm, "error", err.Error())
		return api.Ticket{}, api.ErrAuthFailed
	}
	id, err := p.Login(ctx, store, in.State, in.Code, in.RedirectURL)
	if err != nil {
		s.auditFailure("@"+pending.Realm, c, err)
		return api.Ticket{}, api.ErrAuthFailed
	}
	cfg := p.Config()
	var userid string
	err = s.edit(ctx, func(t *txn) error {
		users, err := t.Users()
		if err != nil {
			return err
		}
		var created bool
		userid, created, err = openid.ApplyLogin(users, pending.Realm, id, cfg.Autocreate)
		if err != nil {
			return err
		}
		if created {
			s.log.Info("OpenID login created the user", "user", userid)
		}
		if cfg.GroupsClaim != "" {
			_, warnings, err := openid.ApplyGroups(users, pending.Realm, userid, id.Groups, cfg.GroupsAutocreate, cfg.GroupsOverwrite)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				s.log.Warn("OpenID groups: "+w, "user", userid)
			}
		}
		return nil
	})
	if err != nil {
		s.auditFailure(userid, c, errors.Join(realm.ErrAuth, err))
		return api.Ticket{}, api.ErrAuthFailed
	}
	st, err := s.current()
	if err != nil {
		return api.Ticket{}, err
	}
	if !st.eval.UserEnabled(userid, s.now().Unix()) {
		s.audit("OpenID login refused: user disabled or expired", userid, c)
		return api.Ticket{}, api.ErrAuthFailed
	}
	return s.issue(st, c, userid, "login through OpenID realm "+pending.Realm)
}

// realmPeek hands Login the pending login already taken from the store.
type realmPeek struct {
	openid.StateStore
	pending *openid.PendingLogin
}

func (r *realmPeek) Take(state string) (openid.PendingLogin, bool, error) {
	if r.pending == nil {
		return openid.PendingLogin{}, false, nil
	}
	p := *r.pending
	r.pending = nil
	return p, true, nil
}
