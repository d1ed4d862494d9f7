package openidtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const redirect = "https://rp.example/cb"

// authURL builds an authorization request for verifier's S256 challenge.
func authURL(i *IdP, verifier string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {i.ClientID()},
		"redirect_uri":          {redirect},
		"scope":                 {"openid email"},
		"state":                 {"st"},
		"nonce":                 {"n"},
		"code_challenge":        {s256(verifier)},
		"code_challenge_method": {"S256"},
	}
	return i.Issuer() + "/authorize?" + q.Encode()
}

// redeem posts a token request with the client credentials in the body
// and returns the status and the decoded answer.
func redeem(t *testing.T, i *IdP, secret, code, verifier, redirectURI string) (int, map[string]any) {
	t.Helper()
	resp, err := i.Client().PostForm(i.Issuer()+"/token", url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {i.ClientID()},
		"client_secret": {secret},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {redirectURI},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestTokenEndpointChecks(t *testing.T) {
	const verifier = "a-verifier-of-enough-length-0123456789abcdef"
	i := New(t, NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)).Now)
	for _, tc := range []struct {
		name                         string
		secret, verifier, redirectTo string
		status                       int
		error                        string
	}{
		{"wrong secret", "nope", verifier, redirect, http.StatusUnauthorized, "invalid_client"},
		{"wrong verifier", i.ClientSecret(), verifier + "x", redirect, http.StatusBadRequest, "invalid_grant"},
		{"other redirect", i.ClientSecret(), verifier, "https://evil.example/", http.StatusBadRequest, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, state := i.Authorize(t, authURL(i, verifier))
			if state != "st" {
				t.Errorf("state %q", state)
			}
			status, out := redeem(t, i, tc.secret, code, tc.verifier, tc.redirectTo)
			if status != tc.status || out["error"] != tc.error {
				t.Errorf("answer %d %v, want %d %s", status, out, tc.status, tc.error)
			}
		})
	}
	if obs := i.Snapshot(); obs.PKCEFailures != 1 || obs.ClientAuth != "post" || len(obs.Verifiers) != 2 {
		t.Errorf("observations %+v", obs)
	}

	code, _ := i.Authorize(t, authURL(i, verifier))
	status, out := redeem(t, i, i.ClientSecret(), code, verifier, redirect)
	if status != http.StatusOK || out["id_token"] == nil || out["access_token"] == nil {
		t.Fatalf("good request answered %d %v", status, out)
	}
	status, out = redeem(t, i, i.ClientSecret(), code, verifier, redirect)
	if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("code redeemed twice: %d %v", status, out)
	}
}

func TestAuthorizeRequiresPKCE(t *testing.T) {
	i := New(t, nil)
	u := strings.Replace(authURL(i, "v"), "code_challenge_method=S256", "code_challenge_method=plain", 1)
	resp, err := i.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain PKCE answered %s", resp.Status)
	}
}
