package openid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// fakeClock is a settable clock shared by the identity provider, the
// Provider and the state store, so tests move time instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// authRequest is what the identity provider remembers about an issued code.
type authRequest struct {
	clientID, redirectURI, nonce, challenge string
}

// testIdP is a small OpenID Connect provider over TLS: discovery, JWKS,
// authorization (which answers at once with a redirect carrying a code),
// token endpoint with client authentication and PKCE S256 checks, and
// userinfo. Knobs let a test corrupt what it issues.
type testIdP struct {
	t            *testing.T
	srv          *httptest.Server
	clock        *fakeClock
	clientID     string
	clientSecret string
	key          *ecdsa.PrivateKey // published in the JWKS

	mu sync.Mutex
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
	// Observations for assertions.
	authQuery     url.Values // the last authorization request
	verifiers     []string   // code_verifier of every token request
	pkceFailures  int
	clientAuth    string // "basic" or "post", of the last token request
	userinfoCalls int
}

func newTestIdP(t *testing.T, clock *fakeClock) *testIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{
		t:            t,
		clock:        clock,
		clientID:     "hearth",
		clientSecret: "s3cret:with/odd&chars",
		key:          key,
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
	mux.HandleFunc("GET /.well-known/openid-configuration", idp.discovery)
	mux.HandleFunc("GET /jwks", idp.jwks)
	mux.HandleFunc("GET /authorize", idp.authorize)
	mux.HandleFunc("POST /token", idp.token)
	mux.HandleFunc("GET /userinfo", idp.userinfoHandler)
	idp.srv = httptest.NewTLSServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *testIdP) issuer() string { return idp.srv.URL }

func (idp *testIdP) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                idp.issuer(),
		"authorization_endpoint":                idp.issuer() + "/authorize",
		"token_endpoint":                        idp.issuer() + "/token",
		"jwks_uri":                              idp.issuer() + "/jwks",
		"userinfo_endpoint":                     idp.issuer() + "/userinfo",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (idp *testIdP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &idp.key.PublicKey, KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"},
	}})
}

// authorize logs the user in without asking and redirects back with a code.
func (idp *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	idp.authQuery = q
	idp.mu.Unlock()
	switch {
	case q.Get("response_type") != "code":
		http.Error(w, "only the code flow", http.StatusBadRequest)
		return
	case q.Get("client_id") != idp.clientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "scope openid required", http.StatusBadRequest)
		return
	}
	code := randomString(idp.t)
	idp.mu.Lock()
	idp.codes[code] = authRequest{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		nonce:       q.Get("nonce"),
		challenge:   q.Get("code_challenge"),
	}
	idp.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (idp *testIdP) token(w http.ResponseWriter, r *http.Request) {
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
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.clientAuth = map[bool]string{true: "basic", false: "post"}[basic]
	if id != idp.clientID || secret != idp.clientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	verifier := r.PostForm.Get("code_verifier")
	idp.verifiers = append(idp.verifiers, verifier)
	req, ok := idp.codes[r.PostForm.Get("code")]
	delete(idp.codes, r.PostForm.Get("code")) // codes are single use
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	case !ok || req.clientID != id || req.redirectURI != r.PostForm.Get("redirect_uri"):
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	case s256(verifier) != req.challenge:
		idp.pkceFailures++
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	now := idp.clock.Now()
	claims := maps.Clone(idp.user)
	claims["iss"] = idp.issuer()
	claims["aud"] = idp.clientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(10 * time.Minute).Unix()
	claims["nonce"] = req.nonce
	if idp.editToken != nil {
		idp.editToken(claims)
	}
	key := idp.key
	if idp.signKey != nil {
		key = idp.signKey
	}
	access := randomString(idp.t)
	idp.accessTokens[access] = true
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     signToken(idp.t, key, claims),
	})
}

func (idp *testIdP) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.userinfoCalls++
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !idp.accessTokens[tok] {
		http.Error(w, "bad access token", http.StatusUnauthorized)
		return
	}
	out := maps.Clone(idp.userinfo)
	if _, ok := out["sub"]; !ok {
		out["sub"] = idp.user["sub"]
	}
	writeJSON(w, http.StatusOK, out)
}

// setUser changes a claim of the user under the lock the handlers take.
func (idp *testIdP) setUser(name string, value any) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if value == nil {
		delete(idp.user, name)
		return
	}
	idp.user[name] = value
}

func (idp *testIdP) set(f func(idp *testIdP)) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	f(idp)
}

func (idp *testIdP) snapshot() (verifiers []string, pkceFailures, userinfoCalls int, authQuery url.Values, clientAuth string) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return append([]string(nil), idp.verifiers...), idp.pkceFailures, idp.userinfoCalls, idp.authQuery, idp.clientAuth
}

func signToken(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Error(err)
		return ""
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Error(err)
		return ""
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Error(err)
		return ""
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Error(err)
	}
	return out
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Error(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}
