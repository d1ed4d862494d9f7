package tfa

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// WebAuthnConfig names the relying party: the site users log in to.
type WebAuthnConfig struct {
	// RPID is the domain credentials are bound to, e.g. "pve.example.com".
	RPID string
	// RPOrigins are the URLs the browser may report, e.g.
	// "https://pve.example.com:8006".
	RPOrigins []string
	// RPDisplayName is the name browsers show in their prompts.
	RPDisplayName string
}

// WebAuthn runs registration and login ceremonies for one relying party.
type WebAuthn struct {
	wa    *webauthn.WebAuthn
	store ChallengeStore
}

// NewWebAuthn checks cfg and returns a WebAuthn keeping sessions in store.
func NewWebAuthn(cfg WebAuthnConfig, store ChallengeStore) (*WebAuthn, error) {
	if cfg.RPID == "" || len(cfg.RPOrigins) == 0 {
		return nil, fmt.Errorf("configure WebAuthn: %w: a relying party id and origin are required", ErrNotConfigured)
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = cfg.RPID
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPOrigins:     cfg.RPOrigins,
		RPDisplayName: cfg.RPDisplayName,
	})
	if err != nil {
		return nil, fmt.Errorf("configure WebAuthn: %w", err)
	}
	return &WebAuthn{wa: wa, store: store}, nil
}

// WebAuthnSettings returns the relying party stored under the top-level
// "webauthn" key ("rp", "origin", "id"); ok is false when there is none.
// Older Proxmox VE files lack "id" and use "rp" for it.
func (f *File) WebAuthnSettings() (cfg WebAuthnConfig, ok bool, err error) {
	raw, found := f.extra[TypeWebAuthn]
	if !found || string(raw) == "null" {
		return WebAuthnConfig{}, false, nil
	}
	var s struct {
		RP     string `json:"rp"`
		Origin string `json:"origin"`
		ID     string `json:"id"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return WebAuthnConfig{}, false, fmt.Errorf("read WebAuthn settings: %w", err)
	}
	cfg = WebAuthnConfig{RPID: s.ID, RPDisplayName: s.RP}
	if cfg.RPID == "" {
		cfg.RPID = s.RP
	}
	if s.Origin != "" {
		cfg.RPOrigins = []string{s.Origin}
	}
	return cfg, true, nil
}

// SetWebAuthnSettings stores the relying party under the top-level
// "webauthn" key, keeping members it does not set (such as
// "allow-subdomains"). Only the first origin is stored.
func (f *File) SetWebAuthnSettings(cfg WebAuthnConfig) error {
	m := map[string]json.RawMessage{}
	if raw, ok := f.extra[TypeWebAuthn]; ok && string(raw) != "null" {
		var err error
		if m, err = object(raw); err != nil {
			return fmt.Errorf("set WebAuthn settings: %w", err)
		}
	}
	origin := ""
	if len(cfg.RPOrigins) > 0 {
		origin = cfg.RPOrigins[0]
	}
	if err := first(put(m, "rp", cfg.RPDisplayName), put(m, "origin", origin), put(m, "id", cfg.RPID)); err != nil {
		return fmt.Errorf("set WebAuthn settings: %w", err)
	}
	raw, err := marshal(m)
	if err != nil {
		return fmt.Errorf("set WebAuthn settings: %w", err)
	}
	f.extra[TypeWebAuthn] = raw
	return nil
}

// waUser adapts a user's entries to go-webauthn.
type waUser struct {
	userid string
	creds  []webauthn.Credential
}

// WebAuthnID is the user handle authenticators store. A hash keeps it
// within the 64-byte limit and leaks nothing about the user name.
func (u waUser) WebAuthnID() []byte {
	h := sha256.Sum256([]byte(u.userid))
	return h[:]
}
func (u waUser) WebAuthnName() string                       { return u.userid }
func (u waUser) WebAuthnDisplayName() string                { return u.userid }
func (u waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credential decodes a WebAuthn entry written by this package. Entries in
// another format (Proxmox VE's own) decode to nothing and stay unused.
func (e *entry) credential() (webauthn.Credential, bool) {
	var c webauthn.Credential
	if json.Unmarshal(e.value, &c) != nil || len(c.ID) == 0 || len(c.PublicKey) == 0 {
		return webauthn.Credential{}, false
	}
	return c, true
}

// webauthnUser collects the user's credentials; onlyEnabled leaves out
// disabled entries, which may not log in but still may not be registered
// twice.
func (f *File) webauthnUser(userid string, onlyEnabled bool) waUser {
	wu := waUser{userid: userid}
	if u := f.user(userid); u != nil {
		for _, e := range u.lists[TypeWebAuthn] {
			if c, ok := e.credential(); ok && (e.enable || !onlyEnabled) {
				wu.creds = append(wu.creds, c)
			}
		}
	}
	return wu
}

// BeginWebAuthnRegistration starts adding an authenticator and returns the
// options to pass to navigator.credentials.create() as JSON.
func (f *File) BeginWebAuthnRegistration(w *WebAuthn, userid string, now time.Time) ([]byte, error) {
	if w == nil {
		return nil, fmt.Errorf("register WebAuthn for %s: %w: no relying party settings", userid, ErrNotConfigured)
	}
	wu := f.webauthnUser(userid, false)
	exclude := make([]protocol.CredentialDescriptor, 0, len(wu.creds))
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := w.wa.BeginRegistration(wu, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("register WebAuthn for %s: %w", userid, err)
	}
	if err := w.putSession("register", userid, session, now); err != nil {
		return nil, fmt.Errorf("register WebAuthn for %s: %w", userid, err)
	}
	out, err := json.Marshal(creation)
	if err != nil {
		return nil, fmt.Errorf("register WebAuthn for %s: %w", userid, err)
	}
	return out, nil
}

// FinishWebAuthnRegistration checks the browser's answer to a registration
// begun within the store's lifetime and adds the authenticator.
func (f *File) FinishWebAuthnRegistration(w *WebAuthn, userid, description, response string, now time.Time) (string, error) {
	if w == nil {
		return "", fmt.Errorf("register WebAuthn for %s: %w: no relying party settings", userid, ErrNotConfigured)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(response))
	if err != nil {
		return "", fmt.Errorf("register WebAuthn for %s: %w: %s", userid, ErrInvalid, describe(err))
	}
	session, err := w.takeSession("register", userid, parsed.Response.CollectedClientData.Challenge, now)
	if err != nil {
		return "", fmt.Errorf("register WebAuthn for %s: %w", userid, err)
	}
	wu := f.webauthnUser(userid, false)
	cred, err := w.wa.CreateCredential(wu, session, parsed)
	if err != nil {
		return "", fmt.Errorf("register WebAuthn for %s: %w: %s", userid, ErrInvalid, describe(err))
	}
	for _, c := range wu.creds {
		if bytes.Equal(c.ID, cred.ID) {
			return "", fmt.Errorf("register WebAuthn for %s: this authenticator is already registered", userid)
		}
	}
	// The attestation blobs are only needed while registering; dropping
	// them keeps tfa.cfg small.
	cred.Attestation = webauthn.CredentialAttestation{}
	value, err := json.Marshal(cred)
	if err != nil {
		return "", fmt.Errorf("register WebAuthn for %s: %w", userid, err)
	}
	u := f.userForWrite(userid)
	id, err := f.newID(u)
	if err != nil {
		return "", fmt.Errorf("register WebAuthn for %s: %w", userid, err)
	}
	u.lists[TypeWebAuthn] = append(u.lists[TypeWebAuthn], &entry{
		id: id, description: description, created: now.Unix(), enable: true,
		value: value, extra: map[string]json.RawMessage{},
	})
	return id, nil
}

// beginWebAuthnLogin returns the options for navigator.credentials.get(),
// or nil when the user has no enabled credential.
func (f *File) beginWebAuthnLogin(w *WebAuthn, userid string, now time.Time) (json.RawMessage, error) {
	wu := f.webauthnUser(userid, true)
	if w == nil || len(wu.creds) == 0 {
		return nil, nil
	}
	assertion, session, err := w.wa.BeginLogin(wu)
	if err != nil {
		return nil, fmt.Errorf("start WebAuthn login for %s: %w", userid, err)
	}
	if err := w.putSession("login", userid, session, now); err != nil {
		return nil, fmt.Errorf("start WebAuthn login for %s: %w", userid, err)
	}
	return json.Marshal(assertion)
}

// verifyWebAuthn checks a signed assertion and stores the authenticator's
// new signature counter.
func (f *File) verifyWebAuthn(w *WebAuthn, userid, response string, now time.Time) error {
	u := f.user(userid)
	if w == nil {
		return fmt.Errorf("%w: WebAuthn has no relying party settings", ErrNotConfigured)
	}
	wu := f.webauthnUser(userid, true)
	if len(wu.creds) == 0 {
		return fmt.Errorf("%w: no enabled WebAuthn entry", ErrNotConfigured)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	session, err := w.takeSession("login", userid, parsed.Response.CollectedClientData.Challenge, now)
	if err != nil {
		return err
	}
	cred, err := w.wa.ValidateLogin(wu, session, parsed)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	// A counter that went backwards means a second copy of the key exists.
	if cred.Authenticator.CloneWarning {
		return fmt.Errorf("%w: the authenticator's signature counter went backwards, it may have been cloned", ErrInvalid)
	}
	for _, e := range u.lists[TypeWebAuthn] {
		if c, ok := e.credential(); ok && bytes.Equal(c.ID, cred.ID) {
			value, err := json.Marshal(cred)
			if err != nil {
				return err
			}
			e.value = value
		}
	}
	return nil
}

func (w *WebAuthn) putSession(kind, userid string, session *webauthn.SessionData, now time.Time) error {
	data, err := json.Marshal(session)
	if err != nil {
		return err
	}
	return w.store.Put(challengeKey(kind, userid, session.Challenge), data, now)
}

func (w *WebAuthn) takeSession(kind, userid, challenge string, now time.Time) (webauthn.SessionData, error) {
	var session webauthn.SessionData
	data, err := w.store.Take(challengeKey(kind, userid, challenge), now)
	if err != nil {
		if errors.Is(err, ErrChallengeUnknown) {
			return session, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return session, err
	}
	if err := json.Unmarshal(data, &session); err != nil {
		return session, fmt.Errorf("read WebAuthn session: %w", err)
	}
	return session, nil
}

// describe turns go-webauthn's errors, whose Error() is terse, into the
// most useful sentence they carry.
func describe(err error) string {
	var perr *protocol.Error
	if errors.As(err, &perr) && perr.Details != "" {
		if perr.DevInfo != "" && perr.DevInfo != "<nil>" {
			return perr.Details + ": " + perr.DevInfo
		}
		return perr.Details
	}
	return err.Error()
}
