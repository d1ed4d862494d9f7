// Package openidtest runs a small OpenID Connect identity provider for
// tests, so that tests of any package can log in through a real
// authorization code flow with PKCE instead of faking the provider.
package openidtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Clock is a settable clock, meant to be shared by the identity provider
// and the code under test so that tests move time instead of sleeping.
// It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Default client credentials registered at a new IdP.
const (
	DefaultClientID     = "hearth"
	DefaultClientSecret = "s3cret:with/odd&chars"
)

// keyID names the published signing key in the JWKS and token headers.
const keyID = "k1"

// authRequest is what the identity provider remembers about an issued code.
type authRequest struct {
	clientID, redirectURI, nonce, challenge string
}

// Observations is what an IdP has seen so far, for assertions.
type Observations struct {
	// AuthQuery is the query of the last authorization request.
	AuthQuery url.Values
	// Verifiers holds the code_verifier of every token request whose
	// client authentication succeeded, in order.
	Verifiers []string
	// PKCEFailures counts token requests refused because the verifier
	// did not match the code challenge.
	PKCEFailures int
	// ClientAuth is how the last token request authenticated the client:
	// "basic" (HTTP Basic) or "post" (credentials in the form body).
	ClientAuth string
	// UserinfoCalls counts requests to the userinfo endpoint.
	UserinfoCalls int
}

// IdP is a small OpenID Connect provider served over TLS: discovery,
// JWKS, authorization (which logs the user in at once and redirects back
// with a code), a token endpoint that checks client authentication
// (client_secret_basic or client_secret_post), the redirect URI, single
// use of codes and PKCE S256, and userinfo. ID tokens are signed with
// ES256. Setters let a test change the user or corrupt what is issued.
//
// All methods are safe for concurrent use.
type IdP struct {
	t     testing.TB
	srv   *httptest.Server
	clock func() time.Time
	key   *ecdsa.PrivateKey // published in the JWKS

	mu           sync.Mutex
	clientID     string
	clientSecret string
	// user holds the claims of the one user who logs in.
	user map[string]any
	// userinfo holds claims only the userinfo endpoint reports.
	userinfo map[string]any
	// signKey, when set, signs ID tokens instead of key.
	signKey *ecdsa.PrivateKey
	// editToken, when set, changes the ID token claims before signing.
	editToken func(claims map[string]any)

	codes        map[string]authRequest
	accessTokens map[string]bool
	obs          Observations
}

// New starts an identity provider on a TLS test server that is closed
// when the test ends. The clock judges token lifetimes; nil means
// time.Now.
//
// The client registered is DefaultClientID with DefaultClientSecret. The
// user who logs in has the claims
//
//	sub                 8c1f2a7e-0d4b
//	email               jane.doe@example.com
//	preferred_username  jdoe
//	given_name          Jane
//	family_name         Doe
//	groups              ["admins", "ops team"]
//
// and userinfo additionally reports locale "de-AT".
func New(t testing.TB, clock func() time.Time) *IdP {
	t.Helper()
	if clock == nil {
		clock = time.Now
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i := &IdP{
		t:            t,
		clock:        clock,
		key:          key,
		clientID:     DefaultClientID,
		clientSecret: DefaultClientSecret,
		user: map[string]any{
			"sub":                "8c1f2a7e-0d4b",
			"email":              "jane.doe@example.com",
			"preferred_username": "jdoe",
			"given_name":         "Jane",
			"family_name":        "Doe",
			"groups":             []string{"admins", "ops team"},
		},
		userinfo:     map[string]any{"locale": "de-AT"},
		codes:        map[string]authRequest{},
		accessTokens: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /jwks", i.jwks)
	mux.HandleFunc("GET /authorize", i.authorize)
	mux.HandleFunc("POST /token", i.token)
	mux.HandleFunc("GET /userinfo", i.userinfoHandler)
	i.srv = httptest.NewTLSServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

// Issuer returns the issuer URL, which is also the base of all endpoints.
// It has no trailing slash.
func (i *IdP) Issuer() string { return i.srv.URL }

// Client returns an HTTP client that trusts the provider's certificate.
// It is the same client on every call; copy it before changing it.
func (i *IdP) Client() *http.Client { return i.srv.Client() }

// ClientID returns the client ID registered at the provider.
func (i *IdP) ClientID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.clientID
}

// ClientSecret returns the secret the registered client must present.
func (i *IdP) ClientSecret() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.clientSecret
}

// SetClientSecret changes the client's secret; "" makes it a public
// client, which names itself in the token request body.
func (i *IdP) SetClientSecret(secret string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.clientSecret = secret
}

// User returns a shallow copy of the claims of the user who logs in.
func (i *IdP) User() map[string]any {
	i.mu.Lock()
	defer i.mu.Unlock()
	return maps.Clone(i.user)
}

// SetUser sets a claim of the user for the ID tokens issued from now on;
// a nil value removes the claim.
func (i *IdP) SetUser(claim string, value any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	setClaim(i.user, claim, value)
}

// SetUserinfo sets a claim that only the userinfo endpoint reports; a nil
// value removes it. Userinfo reports the user's sub unless "sub" is set
// here.
func (i *IdP) SetUserinfo(claim string, value any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	setClaim(i.userinfo, claim, value)
}

func setClaim(claims map[string]any, name string, value any) {
	if value == nil {
		delete(claims, name)
		return
	}
	claims[name] = value
}

// EditIDToken installs a function that changes the claims of every ID
// token just before it is signed; the claims already hold iss, aud, iat,
// exp and nonce. It runs with the IdP locked, so it must not call methods
// of the IdP. nil removes it.
func (i *IdP) EditIDToken(edit func(claims map[string]any)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.editToken = edit
}

// SignWith makes the provider sign ID tokens with key, under the key ID
// of the published key, while the JWKS keeps publishing the original
// key. nil restores signing with the published key.
func (i *IdP) SignWith(key *ecdsa.PrivateKey) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.signKey = key
}

// Snapshot returns a copy of what the provider has observed so far.
func (i *IdP) Snapshot() Observations {
	i.mu.Lock()
	defer i.mu.Unlock()
	o := i.obs
	if o.AuthQuery != nil {
		o.AuthQuery = maps.Clone(o.AuthQuery)
	}
	o.Verifiers = append([]string(nil), o.Verifiers...)
	return o
}

// Authorize plays the browser: it visits authURL, an authorization URL
// of this provider, without following redirects, checks that the
// provider sends the user back to the redirect_uri asked for, and returns
// the code and state of that redirect. It fails the test otherwise, so
// it must be called from the test's goroutine.
func (i *IdP) Authorize(t testing.TB, authURL string) (code, state string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(authURL, i.Issuer()+"/authorize") {
		t.Fatalf("authorization URL %s is not of this provider (%s)", authURL, i.Issuer())
	}
	browser := *i.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		t.Fatalf("authorize answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	back, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	want, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil {
		t.Fatal(err)
	}
	got := *back
	got.RawQuery, want.RawQuery = "", ""
	if got.String() != want.String() {
		t.Fatalf("redirected to %s, want %s", back, u.Query().Get("redirect_uri"))
	}
	q := back.Query()
	if q.Get("code") == "" {
		t.Fatalf("redirect %s carries no code", back)
	}
	return q.Get("code"), q.Get("state")
}

func (i *IdP) discovery(w http.ResponseWriter, r *http.Request) {
	iss := i.Issuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/jwks",
		"userinfo_endpoint":                     iss + "/userinfo",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (i *IdP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &i.key.PublicKey, KeyID: keyID, Algorithm: string(jose.ES256), Use: "sig"},
	}})
}

// authorize logs the user in without asking and redirects back with a code.
func (i *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.obs.AuthQuery = q
	switch {
	case q.Get("response_type") != "code":
		http.Error(w, "only the code flow", http.StatusBadRequest)
		return
	case q.Get("client_id") != i.clientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "scope openid required", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	i.codes[code] = authRequest{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		nonce:       q.Get("nonce"),
		challenge:   q.Get("code_challenge"),
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (i *IdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: both parts are form-encoded before Basic auth.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.obs.ClientAuth = map[bool]string{true: "basic", false: "post"}[basic]
	if id != i.clientID || secret != i.clientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	verifier := r.PostForm.Get("code_verifier")
	i.obs.Verifiers = append(i.obs.Verifiers, verifier)
	req, ok := i.codes[r.PostForm.Get("code")]
	delete(i.codes, r.PostForm.Get("code")) // codes are single use
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	case !ok || req.clientID != id || req.redirectURI != r.PostForm.Get("redirect_uri"):
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	case s256(verifier) != req.challenge:
		i.obs.PKCEFailures++
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	now := i.clock()
	claims := maps.Clone(i.user)
	claims["iss"] = i.Issuer()
	claims["aud"] = i.clientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(10 * time.Minute).Unix()
	claims["nonce"] = req.nonce
	if i.editToken != nil {
		i.editToken(claims)
	}
	key := i.key
	if i.signKey != nil {
		key = i.signKey
	}
	idToken, err := signToken(key, claims)
	if err != nil {
		i.t.Error(err)
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	access := rand.Text()
	i.accessTokens[access] = true
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     idToken,
	})
}

func (i *IdP) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.obs.UserinfoCalls++
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !i.accessTokens[tok] {
		http.Error(w, "bad access token", http.StatusUnauthorized)
		return
	}
	out := maps.Clone(i.userinfo)
	if _, ok := out["sub"]; !ok {
		out["sub"] = i.user["sub"]
	}
	writeJSON(w, http.StatusOK, out)
}

func signToken(key *ecdsa.PrivateKey, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// s256 is the PKCE S256 code challenge of verifier (RFC 7636 4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}
