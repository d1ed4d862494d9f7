package openid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hearth-virt/hearth/internal/access/realm"
	"github.com/hearth-virt/hearth/internal/access/realm/openid/openidtest"
)

const redirectURL = "https://hearth.example:8006/"

// newClock returns the settable clock shared by the identity provider,
// the Provider and the state store, so tests move time instead of sleeping.
func newClock() *openidtest.Clock {
	return openidtest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

// s256 is the PKCE S256 code challenge of verifier (RFC 7636 4.2),
// computed here independently of the identity provider.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// flow wires a Provider to a test identity provider with one shared clock.
type flow struct {
	idp   *openidtest.IdP
	clock *openidtest.Clock
	store StateStore
	p     *Provider
}

func newFlow(t *testing.T, edit func(*Config)) *flow {
	t.Helper()
	clock := newClock()
	idp := openidtest.New(t, clock.Now)
	cfg := &Config{
		Realm:         "corp",
		IssuerURL:     idp.Issuer(),
		ClientID:      idp.ClientID(),
		ClientKey:     idp.ClientSecret(),
		UsernameClaim: "subject",
		Scopes:        defaultScopes,
		QueryUserinfo: true,
		GroupsClaim:   "groups",
	}
	if edit != nil {
		edit(cfg)
	}
	// The server's certificate is only trusted by the test server's own
	// client, so discovery succeeding shows the client is the one used.
	p, err := NewProvider(t.Context(), cfg, idp.Client())
	if err != nil {
		t.Fatal(err)
	}
	p.now = clock.Now
	return &flow{idp: idp, clock: clock, store: NewMemoryStore(DefaultStateTTL, clock.Now), p: p}
}

// authorize plays the browser: it asks for an authorization URL, visits
// it, and returns the state and code of the redirect back to Hearth.
func (f *flow) authorize(t *testing.T) (state, code string) {
	t.Helper()
	u, err := f.p.AuthURL(f.store, redirectURL)
	if err != nil {
		t.Fatal(err)
	}
	// The provider sends the browser back to the redirect_uri asked for,
	// which Authorize checks; that must be Hearth's.
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Query().Get("redirect_uri"); got != redirectURL {
		t.Fatalf("authorization URL redirects to %q, want %q", got, redirectURL)
	}
	code, state = f.idp.Authorize(t, u)
	return state, code
}

func (f *flow) login(t *testing.T) (*Identity, error) {
	t.Helper()
	state, code := f.authorize(t)
	return f.p.Login(t.Context(), f.store, state, code, redirectURL)
}

func TestLoginFullFlowTakesUsernameFromConfiguredClaim(t *testing.T) {
	for _, tc := range []struct {
		claim, want string
	}{
		{"subject", "8c1f2a7e-0d4b"},
		{"username", "jdoe"},
		{"email", "jane.doe@example.com"},
		{"locale", "de-AT"}, // reported by userinfo only
	} {
		t.Run(tc.claim, func(t *testing.T) {
			f := newFlow(t, func(c *Config) { c.UsernameClaim = tc.claim })
			id, err := f.login(t)
			if err != nil {
				t.Fatal(err)
			}
			if id.Username != tc.want {
				t.Errorf("username %q, want %q", id.Username, tc.want)
			}
			if id.Email != "jane.doe@example.com" || id.Firstname != "Jane" || id.Lastname != "Doe" {
				t.Errorf("profile %q %q %q", id.Email, id.Firstname, id.Lastname)
			}
			if !slices.Equal(id.Groups, []string{"admins", "ops team"}) {
				t.Errorf("groups %q", id.Groups)
			}
			obs := f.idp.Snapshot()
			verifiers, failures, infoCalls, q, auth := obs.Verifiers, obs.PKCEFailures, obs.UserinfoCalls, obs.AuthQuery, obs.ClientAuth
			if len(verifiers) != 1 || failures != 0 || s256(verifiers[0]) != q.Get("code_challenge") {
				t.Errorf("provider saw verifiers %q (%d PKCE failures) for challenge %q", verifiers, failures, q.Get("code_challenge"))
			}
			if infoCalls != 1 || id.Claims["locale"] != "de-AT" {
				t.Errorf("userinfo calls %d, locale claim %v", infoCalls, id.Claims["locale"])
			}
			if auth != "basic" {
				t.Errorf("client authenticated by %s, want basic", auth)
			}
		})
	}
}

func TestAuthURLAsksForCodeWithPKCEScopesPromptAndACR(t *testing.T) {
	f := newFlow(t, func(c *Config) {
		c.Prompt = "login"
		c.ACRValues = []string{"urn:mfa", "gold"}
	})
	state, _ := f.authorize(t)
	q := f.idp.Snapshot().AuthQuery
	for key, want := range map[string]string{
		"response_type":         "code",
		"client_id":             "hearth",
		"redirect_uri":          redirectURL,
		"scope":                 "openid email profile",
		"prompt":                "login",
		"acr_values":            "urn:mfa gold",
		"code_challenge_method": "S256",
		"state":                 state,
	} {
		if got := q.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if len(q.Get("nonce")) < 32 || len(state) < 32 {
		t.Errorf("nonce %q and state %q should carry 256 random bits", q.Get("nonce"), state)
	}
}

func TestAuthURLRefusesRelativeRedirectURL(t *testing.T) {
	f := newFlow(t, nil)
	if _, err := f.p.AuthURL(f.store, "/login"); err == nil {
		t.Fatal("relative redirect URL accepted")
	}
}

// TestLoginRejectsBadIDToken covers what the ID token check must catch.
func TestLoginRejectsBadIDToken(t *testing.T) {
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(f *flow)
		want string
	}{
		{"nonce", func(f *flow) {
			f.idp.EditIDToken(func(c map[string]any) { c["nonce"] = "replayed" })
		}, "id token nonce mismatch"},
		{"expired", func(f *flow) {
			f.idp.EditIDToken(func(c map[string]any) {
				now := f.clock.Now()
				c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
			})
		}, "expired"},
		{"audience", func(f *flow) {
			f.idp.EditIDToken(func(c map[string]any) { c["aud"] = "someone-else" })
		}, "audience"},
		{"issuer", func(f *flow) {
			f.idp.EditIDToken(func(c map[string]any) { c["iss"] = "https://evil.example" })
		}, "different provider"},
		{"unpublished key", func(f *flow) { f.idp.SignWith(otherKey) }, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			tc.set(f)
			id, err := f.login(t)
			if err == nil {
				t.Fatalf("login succeeded as %q", id.Username)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, realm.ErrAuth) {
				t.Errorf("error %q: want an authentication failure mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoginStateIsSingleUse(t *testing.T) {
	f := newFlow(t, nil)
	state, code := f.authorize(t)
	if _, err := f.p.Login(t.Context(), f.store, state, code, redirectURL); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Login(t.Context(), f.store, state, code, redirectURL)
	if !errors.Is(err, ErrUnknownState) || !strings.Contains(err.Error(), "unknown or expired state") {
		t.Fatalf("second login with the same state: %v", err)
	}
	if v := f.idp.Snapshot().Verifiers; len(v) != 1 {
		t.Errorf("provider got %d token requests, want 1", len(v))
	}
}

func TestLoginStateExpiresAfterTTL(t *testing.T) {
	f := newFlow(t, nil)
	state, code := f.authorize(t)
	f.clock.Advance(DefaultStateTTL)
	if _, err := f.p.Login(t.Context(), f.store, state, code, redirectURL); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("login after the state expired: %v", err)
	}
	if v := f.idp.Snapshot().Verifiers; len(v) != 0 {
		t.Errorf("provider was asked to redeem a code for an expired state")
	}
}

func TestLoginStateMustMatchRealmAndRedirectURL(t *testing.T) {
	f := newFlow(t, nil)
	other, err := NewProvider(t.Context(), &Config{Realm: "other", IssuerURL: f.idp.Issuer(), ClientID: "hearth"}, f.idp.Client())
	if err != nil {
		t.Fatal(err)
	}
	state, code := f.authorize(t)
	if _, err := other.Login(t.Context(), f.store, state, code, redirectURL); err == nil || !strings.Contains(err.Error(), "realm corp") {
		t.Errorf("state of realm corp used at realm other: %v", err)
	}
	state, code = f.authorize(t)
	if _, err := f.p.Login(t.Context(), f.store, state, code, "https://attacker.example/"); err == nil || !strings.Contains(err.Error(), "redirect URL") {
		t.Errorf("state used with another redirect URL: %v", err)
	}
	// A refused attempt still spends the state.
	if _, err := f.p.Login(t.Context(), f.store, state, code, redirectURL); !errors.Is(err, ErrUnknownState) {
		t.Errorf("state usable after a refused attempt: %v", err)
	}
}

func TestLoginWithWrongVerifierIsRefusedByProvider(t *testing.T) {
	f := newFlow(t, nil)
	state, code := f.authorize(t)
	pending, ok, err := f.store.Take(state)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	pending.Verifier = oauth2.GenerateVerifier()
	if err := f.store.Put(state, pending); err != nil {
		t.Fatal(err)
	}
	_, err = f.p.Login(t.Context(), f.store, state, code, redirectURL)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("login with a wrong verifier: %v", err)
	}
	obs := f.idp.Snapshot()
	verifiers, failures := obs.Verifiers, obs.PKCEFailures
	if failures != 1 || !slices.Equal(verifiers, []string{pending.Verifier}) {
		t.Errorf("provider saw verifiers %q with %d PKCE failures; want exactly the stored one, refused", verifiers, failures)
	}
}

func TestLoginWithoutUserinfoUsesIDTokenOnly(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.QueryUserinfo = false })
	id, err := f.login(t)
	if err != nil {
		t.Fatal(err)
	}
	if calls := f.idp.Snapshot().UserinfoCalls; calls != 0 {
		t.Errorf("userinfo asked %d times", calls)
	}
	if _, ok := id.Claims["locale"]; ok {
		t.Error("claim from userinfo present")
	}
}

func TestLoginRejectsUserinfoForAnotherSubject(t *testing.T) {
	f := newFlow(t, nil)
	f.idp.SetUserinfo("sub", "someone-else")
	if _, err := f.login(t); err == nil || !errors.Is(err, realm.ErrAuth) {
		t.Fatalf("userinfo of another subject accepted: %v", err)
	}
}

func TestLoginUsernameClaimProblems(t *testing.T) {
	for _, tc := range []struct {
		name, claim string
		value       any
		want        string
	}{
		{"missing", "username", nil, "claim preferred_username missing"},
		{"not a string", "username", 42, "not a non-empty string"},
		{"unstorable", "username", "jane:doe", "cannot store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, func(c *Config) { c.UsernameClaim = tc.claim })
			f.idp.SetUser("preferred_username", tc.value)
			_, err := f.login(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPublicClientNamesItselfInTheBody(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.ClientKey = "" })
	f.idp.SetClientSecret("")
	if _, err := f.login(t); err != nil {
		t.Fatal(err)
	}
	if auth := f.idp.Snapshot().ClientAuth; auth != "post" {
		t.Errorf("client authenticated by %s, want post", auth)
	}
}

func TestNewProviderRejectsIssuerMismatch(t *testing.T) {
	idp := openidtest.New(t, newClock().Now)
	_, err := NewProvider(t.Context(), &Config{Realm: "corp", IssuerURL: idp.Issuer() + "/", ClientID: "hearth"}, idp.Client())
	if err == nil || !strings.Contains(err.Error(), "realm corp") {
		t.Fatalf("issuer with a trailing slash accepted: %v", err)
	}
}

func TestProvidersReuseDiscoveryUntilConfigChanges(t *testing.T) {
	idp := openidtest.New(t, newClock().Now)
	ps := NewProviders(idp.Client())
	cfg := &Config{Realm: "corp", IssuerURL: idp.Issuer(), ClientID: "hearth"}
	ctx := context.Background()
	a, err := ps.Get(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ps.Get(ctx, &Config{Realm: "corp", IssuerURL: idp.Issuer(), ClientID: "hearth", Scopes: []string{"email", "profile"}})
	if err != nil || b != a {
		t.Fatalf("same configuration gave a new provider (%v)", err)
	}
	if got := b.Config().Scopes; !slices.Equal(got, defaultScopes) {
		t.Errorf("scopes %q: openid must be implied", got)
	}
	c, err := ps.Get(ctx, &Config{Realm: "corp", IssuerURL: idp.Issuer(), ClientID: "hearth", Prompt: "login"})
	if err != nil || c == a {
		t.Fatalf("changed configuration kept the old provider (%v)", err)
	}
	ps.Forget("corp")
	d, err := ps.Get(ctx, &Config{Realm: "corp", IssuerURL: idp.Issuer(), ClientID: "hearth", Prompt: "login"})
	if err != nil || d == c {
		t.Fatalf("forgotten realm kept its provider (%v)", err)
	}
}
