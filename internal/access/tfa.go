package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/tfa"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
	"github.com/hearth-virt/hearth/internal/datacenter"
)

// TFAPath holds every user's second factors.
const TFAPath = "priv/tfa.cfg"

// tfaChallengeDir keeps WebAuthn sessions between the challenge and the
// answer, cluster-wide (see oneShot).
const tfaChallengeDir = "priv/tfa-challenges"

// errTFA marks a refused second factor in the audit log.
var errTFA = errors.New("second factor refused")

// tfaFile parses priv/tfa.cfg as it is now. A damaged file is an error:
// treating it as empty would let users with second factors log in
// without them.
func (s *Service) tfaFile() (*tfa.File, error) {
	e, err := s.store.Get(TFAPath)
	if err != nil {
		if isNotFound(err) {
			return tfa.Parse(nil)
		}
		return nil, err
	}
	return tfa.Parse(e.Data)
}

type challengeStore struct{ o oneShot }

func (c challengeStore) Put(key string, data []byte, now time.Time) error {
	return c.o.put(key, data, now)
}

func (c challengeStore) Take(key string, now time.Time) ([]byte, error) {
	data, ok, err := c.o.take(key, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, tfa.ErrChallengeUnknown
	}
	return data, nil
}

// webAuthn returns the relying party from the datacenter's webauthn
// option, or nil when it is not configured.
func (s *Service) webAuthn() (*tfa.WebAuthn, error) {
	dc, _, err := datacenter.Read(s.store)
	if err != nil {
		return nil, err
	}
	v, ok := dc.Get("webauthn")
	if !ok {
		return nil, nil
	}
	cfg := tfa.WebAuthnConfig{}
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(part, "=")
		switch k {
		case "id":
			cfg.RPID = val
		case "origin":
			cfg.RPOrigins = []string{val}
		case "rp":
			cfg.RPDisplayName = val
		}
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = cfg.RPID
	}
	return tfa.NewWebAuthn(cfg, challengeStore{oneShot{store: s.store, dir: tfaChallengeDir, ttl: TFALifetime}})
}

// tfaChallenge decides whether a login needs a second factor and, if so,
// what the user may answer, as the JSON Proxmox VE puts in the half
// ticket. A realm that requires a kind of factor refuses users without one.
func (s *Service) tfaChallenge(st *state, userid string) (string, bool, error) {
	f, err := s.tfaFile()
	if err != nil {
		return "", false, fmt.Errorf("reading %s: %w", TFAPath, err)
	}
	_, realmName, _ := usercfg.SplitUserID(userid)
	if sec := st.domains.find(realmName); sec != nil {
		if v, ok := sec.Get("tfa"); ok {
			typ, err := tfa.RequiredType(v)
			if err != nil {
				return "", false, fmt.Errorf("realm %s has a bad tfa setting: %w", realmName, err)
			}
			if typ != "" && !slices.Contains(f.Types(userid), typ) {
				return "", false, fmt.Errorf("%w: realm %s requires a %s second factor and the user has none", errTFA, realmName, typ)
			}
		}
	}
	if !f.HasAny(userid) {
		return "", false, nil
	}
	w, err := s.webAuthn()
	if err != nil {
		return "", false, err
	}
	c, err := f.Challenge(userid, s.now(), w)
	if err != nil {
		return "", false, fmt.Errorf("%w: %w", errTFA, err)
	}
	data, err := json.Marshal(c)
	return string(data), true, err
}

// tfaVerify checks a second-factor answer. The file is written back
// whether the answer was right or not: used codes, counters and locks
// must stick.
func (s *Service) tfaVerify(ctx context.Context, userid, response string) error {
	w, err := s.webAuthn()
	if err != nil {
		return err
	}
	var verr error
	err = s.edit(ctx, func(t *txn) error {
		f, err := t.tfa()
		if err != nil {
			return err
		}
		verr = f.Verify(userid, response, s.now(), w)
		return nil
	})
	if err != nil {
		return err
	}
	if verr != nil {
		return fmt.Errorf("%w: %w", errTFA, verr)
	}
	return nil
}

// tfa returns priv/tfa.cfg within a transaction; it is written back at
// commit.
func (t *txn) tfa() (*tfa.File, error) {
	if t.tfaFile == nil {
		data, err := t.read(TFAPath)
		if err != nil {
			return nil, err
		}
		f, err := tfa.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", TFAPath, err)
		}
		t.tfaFile = f
	}
	return t.tfaFile, nil
}

// dropTFA removes a deleted user's second factors.
func (t *txn) dropTFA(userid string) error {
	f, err := t.tfa()
	if err != nil {
		return err
	}
	f.RemoveUser(userid)
	return nil
}

type tfaLock struct {
	until *int64
	totp  *int
}

// tfaLocks reports locked users for the user list.
func (s *Service) tfaLocks() map[string]tfaLock {
	f, err := s.tfaFile()
	if err != nil {
		return nil
	}
	out := map[string]tfaLock{}
	now := s.now()
	for _, u := range f.Users() {
		if l, locked := lockFields(f.Lock(u, now)); locked {
			out[u] = l
		}
	}
	return out
}

// lockFields turns a lock state into the optional fields of the API.
func lockFields(l tfa.LockState) (tfaLock, bool) {
	var out tfaLock
	if l.LockedUntil != 0 {
		out.until = &l.LockedUntil
	}
	if l.TOTPLocked {
		one := 1
		out.totp = &one
	}
	return out, out.until != nil || out.totp != nil
}

func tfaEntry(e tfa.Entry) api.TFAEntry {
	return api.TFAEntry{ID: e.ID, Type: e.Type, Description: e.Description, Created: e.Created, Enable: b2i(e.Enable)}
}

func tfaAPIError(param string, err error) error {
	switch {
	case errors.Is(err, tfa.ErrNotFound):
		return api.NotFound("%v", err)
	case errors.Is(err, tfa.ErrInvalid), errors.Is(err, tfa.ErrExists), errors.Is(err, tfa.ErrNotConfigured), errors.Is(err, tfa.ErrUnsupported):
		return api.ParamError(param, "%v", err)
	}
	return err
}

// confirmTFAChange asks a caller other than root@pam for its password
// before it changes second factors: someone who found a logged-in browser
// must not be able to swap a victim's factors.
func (s *Service) confirmTFAChange(ctx context.Context, c *api.Call, password string) error {
	if c.Token != "" {
		return &api.Error{Status: 403, Message: "Permission check failed (API tokens cannot change second factors)"}
	}
	if c.User == rootUser {
		return nil
	}
	if password == "" {
		return api.ParamError("password", "your current password is required to change second factors")
	}
	if err := s.checkPassword(ctx, c.User, password); err != nil {
		s.audit("second factor change refused: wrong password", c.User, c)
		return api.ParamError("password", "wrong password")
	}
	return nil
}

func (s *Service) listTFA(_ context.Context, c *api.Call, _ *api.NoParams) ([]api.TFAUserEntries, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	f, err := s.tfaFile()
	if err != nil {
		return nil, err
	}
	out := []api.TFAUserEntries{}
	now := s.now()
	for _, u := range f.Users() {
		if u != c.User && !mayAdminUser(c, st.users, u, "User.Modify", "Sys.Audit") {
			continue
		}
		row := api.TFAUserEntries{UserID: u, Entries: []api.TFAEntry{}}
		for _, e := range f.List(u) {
			row.Entries = append(row.Entries, tfaEntry(e))
		}
		l, _ := lockFields(f.Lock(u, now))
		row.TFALockedUntil, row.TOTPLocked = l.until, l.totp
		out = append(out, row)
	}
	return out, nil
}

func (s *Service) listUserTFA(_ context.Context, _ *api.Call, in *api.TFAUserParam) ([]api.TFAEntry, error) {
	f, err := s.tfaFile()
	if err != nil {
		return nil, err
	}
	out := []api.TFAEntry{}
	for _, e := range f.List(in.UserID) {
		out = append(out, tfaEntry(e))
	}
	return out, nil
}

func (s *Service) getTFA(_ context.Context, _ *api.Call, in *api.TFAKey) (api.TFAEntry, error) {
	f, err := s.tfaFile()
	if err != nil {
		return api.TFAEntry{}, err
	}
	e, err := f.Get(in.UserID, in.ID)
	if err != nil {
		return api.TFAEntry{}, tfaAPIError("id", err)
	}
	return tfaEntry(e), nil
}

func (s *Service) addTFA(ctx context.Context, c *api.Call, in *api.TFAAddParams) (api.TFAAdded, error) {
	if err := s.confirmTFAChange(ctx, c, in.Password); err != nil {
		return api.TFAAdded{}, err
	}
	st, err := s.current()
	if err != nil {
		return api.TFAAdded{}, err
	}
	if _, ok := st.users.Users[in.UserID]; !ok {
		return api.TFAAdded{}, api.NotFound("user %s does not exist", in.UserID)
	}
	var w *tfa.WebAuthn
	if in.Type == tfa.TypeWebAuthn {
		if w, err = s.webAuthn(); err != nil {
			return api.TFAAdded{}, err
		}
		if w == nil {
			return api.TFAAdded{}, api.ParamError("type", "WebAuthn is not configured: set the webauthn datacenter option (id and origin of the web interface) first")
		}
	}
	var out api.TFAAdded
	now := s.now()
	err = s.edit(ctx, func(t *txn) error {
		f, err := t.tfa()
		if err != nil {
			return err
		}
		switch in.Type {
		case tfa.TypeTOTP:
			if in.TOTP == "" || in.Value == "" {
				return api.ParamError("totp", "a TOTP factor needs the otpauth:// URI in totp and a current code in value")
			}
			out.ID, err = f.AddTOTP(in.UserID, in.Description, in.TOTP, in.Value, now)
		case tfa.TypeRecovery:
			out.ID = tfa.RecoveryID
			out.Recovery, err = f.AddRecovery(in.UserID, in.Description, now)
		case tfa.TypeWebAuthn:
			if in.Value == "" {
				var opts []byte
				opts, err = f.BeginWebAuthnRegistration(w, in.UserID, now)
				out.Challenge = string(opts)
			} else {
				out.ID, err = f.FinishWebAuthnRegistration(w, in.UserID, in.Description, in.Value, now)
			}
		default:
			return api.ParamError("type", "%s second factors cannot be added here; allowed: totp, recovery, webauthn", in.Type)
		}
		if err != nil {
			return tfaAPIError("value", err)
		}
		return nil
	})
	if err != nil {
		return api.TFAAdded{}, err
	}
	if out.ID != "" {
		s.auditChange(c, "second factor added", "target", in.UserID, "type", in.Type, "id", out.ID)
	}
	return out, nil
}

func (s *Service) updateTFA(ctx context.Context, c *api.Call, in *api.TFAEntryParams) (any, error) {
	if err := s.confirmTFAChange(ctx, c, in.Password); err != nil {
		return nil, err
	}
	err := s.editTFA(ctx, func(f *tfa.File) error {
		return tfaAPIError("id", f.Update(in.UserID, in.ID, in.Description, in.Enable))
	})
	if err == nil {
		s.auditChange(c, "second factor changed", "target", in.UserID, "id", in.ID)
	}
	return nil, err
}

// editTFA is edit for changes to priv/tfa.cfg alone.
func (s *Service) editTFA(ctx context.Context, fn func(*tfa.File) error) error {
	return s.edit(ctx, func(t *txn) error {
		f, err := t.tfa()
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (s *Service) deleteTFA(ctx context.Context, c *api.Call, in *api.TFADeleteParams) (any, error) {
	if err := s.confirmTFAChange(ctx, c, in.Password); err != nil {
		return nil, err
	}
	err := s.editTFA(ctx, func(f *tfa.File) error { return tfaAPIError("id", f.Delete(in.UserID, in.ID)) })
	if err == nil {
		s.auditChange(c, "second factor removed", "target", in.UserID, "id", in.ID)
	}
	return nil, err
}

func (s *Service) userTFATypes(_ context.Context, _ *api.Call, in *api.UserTFAParams) (api.UserTFA, error) {
	st, err := s.current()
	if err != nil {
		return api.UserTFA{}, err
	}
	f, err := s.tfaFile()
	if err != nil {
		return api.UserTFA{}, err
	}
	var out api.UserTFA
	_, realmName, _ := usercfg.SplitUserID(in.UserID)
	if sec := st.domains.find(realmName); sec != nil {
		if v, ok := sec.Get("tfa"); ok {
			out.Realm = realmTFAType(v)
		}
	}
	types := f.Types(in.UserID)
	if in.Multiple {
		out.Types = types
	} else if len(types) > 0 {
		out.User = types[0]
	}
	return out, nil
}

func (s *Service) unlockTFA(ctx context.Context, c *api.Call, in *api.UserIDParam) (int, error) {
	was := false
	err := s.editTFA(ctx, func(f *tfa.File) error {
		was = f.Unlock(in.UserID)
		return nil
	})
	if err == nil && was {
		s.auditChange(c, "second factors unlocked", "target", in.UserID)
	}
	return b2i(was), err
}
