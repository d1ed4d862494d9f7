package openid

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/hearth-virt/hearth/internal/access/realm"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// ErrUnknownState is returned by Login for a state that was never issued,
// has expired, or was already used. It is an authentication failure.
var ErrUnknownState = fmt.Errorf("unknown or expired state: %w", realm.ErrAuth)

// authFailure marks errors caused by what the browser or the identity
// provider sent, as opposed to configuration or network trouble, so the
// caller can answer 401 without looking at the text.
func authFailure(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), realm.ErrAuth)
}

// Provider is an openid realm bound to its discovered identity provider.
// It is safe for concurrent use; build one per realm configuration and
// keep it (see Providers), since discovery costs a round trip and the
// provider's signing keys are cached inside.
type Provider struct {
	cfg      Config
	client   *http.Client
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	now      func() time.Time // tests replace it to judge token expiry
}

// NewProvider fetches the provider's discovery document through client
// (http.DefaultClient if nil) and checks that it names cfg.IssuerURL as
// its issuer.
func NewProvider(ctx context.Context, cfg *Config, client *http.Client) (*Provider, error) {
	if client == nil {
		client = http.DefaultClient
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("realm %s: discover OpenID provider %s: %w", cfg.Realm, cfg.IssuerURL, err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("realm %s: read discovery document of %s: %w", cfg.Realm, cfg.IssuerURL, err)
	}
	p := &Provider{cfg: normalize(*cfg), client: client, provider: op, now: time.Now}
	endpoint := op.Endpoint()
	endpoint.AuthStyle = authStyle(cfg.ClientKey, meta.AuthMethods)
	p.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientKey,
		Endpoint:     endpoint,
		Scopes:       p.cfg.Scopes,
	}
	p.verifier = op.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: func() time.Time { return p.now() }})
	return p, nil
}

// authStyle picks how the client authenticates at the token endpoint.
// oauth2's default guesses by trying one style and retrying with the
// other on any error, which would present a single-use code twice and
// hide the real error; the discovery document says which one to use.
func authStyle(clientKey string, methods []string) oauth2.AuthStyle {
	switch {
	case clientKey == "":
		return oauth2.AuthStyleInParams // a public client only names itself
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader // the default in OpenID Connect Discovery
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// Config returns the configuration the provider was built from.
func (p *Provider) Config() Config { return p.cfg }

// AuthURL starts a login: it records a pending login under a new random
// state and returns the provider's authorization URL the browser must
// visit. redirectURL is where the provider sends the browser back; Login
// must be given the same one.
func (p *Provider) AuthURL(store StateStore, redirectURL string) (string, error) {
	if err := checkRedirectURL(redirectURL); err != nil {
		return "", err
	}
	state, err := randomToken()
	if err != nil {
		return "", err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	err = store.Put(state, PendingLogin{
		Realm:       p.cfg.Realm,
		RedirectURL: redirectURL,
		Verifier:    verifier,
		Nonce:       nonce,
		Created:     p.now(),
	})
	if err != nil {
		return "", fmt.Errorf("realm %s: remember login state: %w", p.cfg.Realm, err)
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	if p.cfg.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", p.cfg.Prompt))
	}
	if len(p.cfg.ACRValues) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(p.cfg.ACRValues, " ")))
	}
	oc := p.oauth
	oc.RedirectURL = redirectURL
	return oc.AuthCodeURL(state, opts...), nil
}

func checkRedirectURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("redirect URL %q: must be an absolute http or https URL", s)
	}
	return nil
}

// randomToken returns 256 random bits, URL-safe, for states and nonces.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Identity is what a successful login learnt about the user.
type Identity struct {
	Username  string         // without "@realm"
	Claims    map[string]any // ID token claims, completed from userinfo
	Email     string
	Firstname string
	Lastname  string
	Groups    []string // as the provider names them, see GroupIDs
}

// Login finishes a login: it takes the pending login of state (so the
// state cannot be used again, whatever the outcome), exchanges code for
// tokens with the PKCE verifier, verifies the ID token's signature,
// issuer, audience, expiry and nonce, asks the userinfo endpoint for more
// claims if configured, and reads the user name from the username claim.
func (p *Provider) Login(ctx context.Context, store StateStore, state, code, redirectURL string) (*Identity, error) {
	pending, ok, err := store.Take(state)
	if err != nil {
		return nil, fmt.Errorf("realm %s: look up login state: %w", p.cfg.Realm, err)
	}
	if !ok {
		return nil, ErrUnknownState
	}
	if pending.Realm != p.cfg.Realm {
		return nil, authFailure("login state was issued for realm %s, not %s", pending.Realm, p.cfg.Realm)
	}
	if pending.RedirectURL != redirectURL {
		return nil, authFailure("redirect URL %q differs from the one the login started with", redirectURL)
	}
	if code == "" {
		return nil, authFailure("no authorization code")
	}

	ctx = oidc.ClientContext(ctx, p.client)
	oc := p.oauth
	oc.RedirectURL = redirectURL
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		// Includes a code or verifier the provider refuses; *oauth2.RetrieveError
		// carries its answer for the log.
		return nil, fmt.Errorf("realm %s: exchange authorization code: %w", p.cfg.Realm, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("realm %s: token response carries no id_token", p.cfg.Realm)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, authFailure("realm %s: id token rejected: %v", p.cfg.Realm, err)
	}
	if idt.Nonce != pending.Nonce {
		return nil, authFailure("realm %s: id token nonce mismatch", p.cfg.Realm)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("realm %s: read id token claims: %w", p.cfg.Realm, err)
	}

	if p.cfg.QueryUserinfo && p.provider.UserInfoEndpoint() != "" {
		info, err := p.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("realm %s: query userinfo: %w", p.cfg.Realm, err)
		}
		// OpenID Connect Core 5.3.2: answers for another subject must be
		// ignored, or a mixed-up response could log in the wrong user.
		if info.Subject != idt.Subject {
			return nil, authFailure("realm %s: userinfo is about subject %q, the id token about %q", p.cfg.Realm, info.Subject, idt.Subject)
		}
		extra := map[string]any{}
		if err := info.Claims(&extra); err != nil {
			return nil, fmt.Errorf("realm %s: read userinfo claims: %w", p.cfg.Realm, err)
		}
		// The signed ID token wins where both say something.
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	return p.identity(claims)
}

// identity reads the user name and profile out of the merged claims.
func (p *Provider) identity(claims map[string]any) (*Identity, error) {
	name := claimName(p.cfg.UsernameClaim)
	v, ok := claims[name]
	if !ok {
		return nil, authFailure("realm %s: claim %s missing", p.cfg.Realm, name)
	}
	username, ok := v.(string)
	if !ok || username == "" {
		return nil, authFailure("realm %s: claim %s is not a non-empty string", p.cfg.Realm, name)
	}
	if err := usercfg.ValidUserID(username + "@" + p.cfg.Realm); err != nil {
		return nil, authFailure("realm %s: claim %s gives user name %q that Hearth cannot store: %v", p.cfg.Realm, name, username, err)
	}
	id := &Identity{
		Username:  username,
		Claims:    claims,
		Email:     stringClaim(claims, "email"),
		Firstname: stringClaim(claims, "given_name"),
		Lastname:  stringClaim(claims, "family_name"),
	}
	if p.cfg.GroupsClaim != "" {
		switch g := claims[p.cfg.GroupsClaim].(type) {
		case string:
			id.Groups = []string{g}
		case []any:
			for _, e := range g {
				if s, ok := e.(string); ok {
					id.Groups = append(id.Groups, s)
				}
			}
		}
	}
	return id, nil
}

func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// Providers builds a Provider per realm on first use and keeps it while
// the realm's configuration stays the same, so that discovery and the
// provider's key set are fetched once, not at every login.
type Providers struct {
	client *http.Client

	mu      sync.Mutex
	byRealm map[string]*Provider
}

// NewProviders returns an empty cache whose providers use client.
func NewProviders(client *http.Client) *Providers {
	return &Providers{client: client, byRealm: map[string]*Provider{}}
}

// Get returns the provider of cfg.Realm, running discovery if the realm is
// new or its configuration changed. Discovery runs without the lock, so a
// provider that does not answer holds up only its own realm; two first
// logins may both discover, which is harmless. Failures are not cached, so
// a provider that was down is asked again at the next login.
func (ps *Providers) Get(ctx context.Context, cfg *Config) (*Provider, error) {
	ps.mu.Lock()
	p, ok := ps.byRealm[cfg.Realm]
	ps.mu.Unlock()
	if ok && sameConfig(p.cfg, *cfg) {
		return p, nil
	}
	p, err := NewProvider(ctx, cfg, ps.client)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.byRealm[cfg.Realm] = p
	ps.mu.Unlock()
	return p, nil
}

// Forget drops a realm's provider, for when the realm is deleted.
func (ps *Providers) Forget(realm string) {
	ps.mu.Lock()
	delete(ps.byRealm, realm)
	ps.mu.Unlock()
}

// normalize copies the lists of c so that the caller's slices are not
// shared, fills in the default scopes and makes sure "openid" is asked
// for, without which the provider would not issue an ID token.
func normalize(c Config) Config {
	c.Scopes = slices.Clone(c.Scopes)
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(defaultScopes)
	} else if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	c.ACRValues = slices.Clone(c.ACRValues)
	if len(c.ACRValues) == 0 {
		c.ACRValues = nil
	}
	return c
}

// sameConfig compares configurations as NewProvider sees them.
func sameConfig(a, b Config) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}
