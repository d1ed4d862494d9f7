package openid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

const redirectURL = "https://hearth.example:8006/"

// flow wires a Provider to a test identity provider with one shared clock.
type flow struct {
	idp   *testIdP
	clock *fakeClock
	store StateStore
	p     *Provider
}

func newFlow(t *testing.T, edit func(*Config)) *flow {
	t.Helper()
	clock := newClock()
	idp := newTestIdP(t, clock)
	cfg := &Config{
		Realm:         "corp",
		IssuerURL:     idp.issuer(),
		ClientID:      idp.clientID,
		ClientKey:     idp.clientSecret,
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
	p, err := NewProvider(t.Context(), cfg, idp.srv.Client())
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
	browser := *f.idp.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %s", resp.Status)
	}
	back, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), redirectURL) {
		t.Fatalf("redirected to %s, want %s", back, redirectURL)
	}
	return back.Query().Get("state"), back.Query().Get("code")
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
			verifiers, failures, infoCalls, q, auth := f.idp.snapshot()
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
	_, _, _, q, _ := f.idp.snapshot()
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
		set  func(idp *testIdP)
		want string
	}{
		{"nonce", func(idp *testIdP) {
			idp.editToken = func(c map[string]any) { c["nonce"] = "replayed" }
		}, "id token nonce mismatch"},
		{"expired", func(idp *testIdP) {
			idp.editToken = func(c map[string]any) {
				now := idp.clock.Now()
				c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
			}
		}, "expired"},
		{"audience", func(idp *testIdP) {
			idp.editToken = func(c map[string]any) { c["aud"] = "someone-else" }
		}, "audience"},
		{"issuer", func(idp *testIdP) {
			idp.editToken = func(c map[string]any) { c["iss"] = "https://evil.example" }
		}, "different provider"},
		{"unpublished key", func(idp *testIdP) { idp.signKey = otherKey }, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			f.idp.set(tc.set)
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
	if v, _, _, _, _ := f.idp.snapshot(); len(v) != 1 {
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
	if v, _, _, _, _ := f.idp.snapshot(); len(v) != 0 {
		t.Errorf("provider was asked to redeem a code for an expired state")
	}
}

func TestLoginStateMustMatchRealmAndRedirectURL(t *testing.T) {
	f := newFlow(t, nil)
	other, err := NewProvider(t.Context(), &Config{Realm: "other", IssuerURL: f.idp.issuer(), ClientID: "hearth"}, f.idp.srv.Client())
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
	verifiers, failures, _, _, _ := f.idp.snapshot()
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
	if _, _, calls, _, _ := f.idp.snapshot(); calls != 0 {
		t.Errorf("userinfo asked %d times", calls)
	}
	if _, ok := id.Claims["locale"]; ok {
		t.Error("claim from userinfo present")
	}
}

func TestLoginRejectsUserinfoForAnotherSubject(t *testing.T) {
	f := newFlow(t, nil)
	f.idp.set(func(idp *testIdP) { idp.userinfo["sub"] = "someone-else" })
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
			f.idp.setUser("preferred_username", tc.value)
			_, err := f.login(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPublicClientNamesItselfInTheBody(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.ClientKey = "" })
	f.idp.set(func(idp *testIdP) { idp.clientSecret = "" })
	if _, err := f.login(t); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, auth := f.idp.snapshot(); auth != "post" {
		t.Errorf("client authenticated by %s, want post", auth)
	}
}

func TestNewProviderRejectsIssuerMismatch(t *testing.T) {
	idp := newTestIdP(t, newClock())
	_, err := NewProvider(t.Context(), &Config{Realm: "corp", IssuerURL: idp.issuer() + "/", ClientID: "hearth"}, idp.srv.Client())
	if err == nil || !strings.Contains(err.Error(), "realm corp") {
		t.Fatalf("issuer with a trailing slash accepted: %v", err)
	}
}

func TestProvidersReuseDiscoveryUntilConfigChanges(t *testing.T) {
	idp := newTestIdP(t, newClock())
	ps := NewProviders(idp.srv.Client())
	cfg := &Config{Realm: "corp", IssuerURL: idp.issuer(), ClientID: "hearth"}
	ctx := context.Background()
	a, err := ps.Get(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ps.Get(ctx, &Config{Realm: "corp", IssuerURL: idp.issuer(), ClientID: "hearth", Scopes: []string{"email", "profile"}})
	if err != nil || b != a {
		t.Fatalf("same configuration gave a new provider (%v)", err)
	}
	if got := b.Config().Scopes; !slices.Equal(got, defaultScopes) {
		t.Errorf("scopes %q: openid must be implied", got)
	}
	c, err := ps.Get(ctx, &Config{Realm: "corp", IssuerURL: idp.issuer(), ClientID: "hearth", Prompt: "login"})
	if err != nil || c == a {
		t.Fatalf("changed configuration kept the old provider (%v)", err)
	}
	ps.Forget("corp")
	d, err := ps.Get(ctx, &Config{Realm: "corp", IssuerURL: idp.issuer(), ClientID: "hearth", Prompt: "login"})
	if err != nil || d == c {
		t.Fatalf("forgotten realm kept its provider (%v)", err)
	}
}
