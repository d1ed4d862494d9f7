package daemon

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/realm/openid/openidtest"
)

// TestOpenIDRealm logs a user in through an OpenID provider the test runs:
// discovery, the authorization code flow with PKCE, a signed ID token,
// and the user created on first login.
func TestOpenIDRealm(t *testing.T) {
	idp := openidtest.New(t, nil)
	td := startDaemon(t, "alpha")
	td.access.HTTPClient = idp.Client()
	admin := &session{td: td, hdr: td.login(t)}
	admin.must(t, "POST", "/access/domains", url.Values{"realm": {"sso"}, "type": {"openid"}, "issuer-url": {idp.Issuer()},
		"client-id": {idp.ClientID()}, "client-key": {idp.ClientSecret()}, "username-claim": {"username"}, "autocreate": {"1"},
		"comment": {"single sign-on"}})
	if r := admin.do(t, "POST", "/access/domains", url.Values{"realm": {"bad"}, "type": {"openid"}, "client-id": {"x"}}); r.code != 400 || !strings.Contains(r.raw, "issuer-url") {
		t.Errorf("an OpenID realm without issuer: %s %s", r.status, r.raw)
	}
	got := admin.must(t, "GET", "/access/domains/sso", nil).raw
	if strings.Contains(got, idp.ClientSecret()) || !strings.Contains(got, idp.Issuer()) {
		t.Errorf("realm settings: %s", got)
	}

	const redirect = "https://hearth.example.com:8006"
	start := func() (code, state string) {
		t.Helper()
		r := td.form(t, nil, "POST", "/access/openid/auth-url", url.Values{"realm": {"sso"}, "redirect-url": {redirect}})
		if r.code != 200 {
			t.Fatalf("auth-url: %s %s", r.status, r.raw)
		}
		return idp.Authorize(t, r.body["data"].(string))
	}
	code, state := start()
	r := td.form(t, nil, "POST", "/access/openid/login", url.Values{"code": {code}, "state": {state}, "redirect-url": {redirect}})
	if r.code != 200 {
		t.Fatalf("openid login: %s %s", r.status, r.raw)
	}
	data := r.body["data"].(map[string]any)
	if data["username"] != "jdoe@sso" || !strings.HasPrefix(data["ticket"].(string), "PVE:jdoe@sso:") {
		t.Errorf("login answer: %v", data)
	}
	user := admin.must(t, "GET", "/access/users/jdoe@sso", nil).body["data"].(map[string]any)
	if user["email"] != "jane.doe@example.com" {
		t.Errorf("autocreated user: %v", user)
	}
	if r := td.form(t, nil, "POST", "/access/openid/login", url.Values{"code": {code}, "state": {state}, "redirect-url": {redirect}}); r.code != 401 {
		t.Errorf("a state used twice: %s", r.status)
	}
	code, state = start()
	if r := td.form(t, nil, "POST", "/access/openid/login", url.Values{"code": {code}, "state": {state}, "redirect-url": {"https://evil.example.com"}}); r.code != 401 {
		t.Errorf("a different redirect URL: %s", r.status)
	}
	// An OpenID user has no password to log in with.
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"jdoe@sso"}, "password": {"anything"}}); r.code != 401 {
		t.Errorf("password login to an OpenID realm: %s", r.status)
	}
	if strings.Contains(readLog(t, td), idp.ClientSecret()) {
		t.Error("the client secret is in the log")
	}
}
