package daemon

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestTwoFactorLogin sets up TOTP and recovery keys through the API and
// logs in with each in the two-step flow; wrong codes lock TOTP until an
// administrator unlocks it; a realm can require a second factor.
func TestTwoFactorLogin(t *testing.T) {
	td := startDaemon(t, "alpha")
	admin := &session{td: td, hdr: td.login(t)}
	admin.must(t, "POST", "/access/users", url.Values{"userid": {"tina@pve"}, "password": {"tina-secret"}})
	tina := td.loginAs(t, "tina@pve", "tina-secret")

	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Hearth", AccountName: "tina@pve"})
	if err != nil {
		t.Fatal(err)
	}
	if r := tina.do(t, "POST", "/access/tfa/tina@pve", url.Values{"type": {"totp"}, "totp": {key.URL()}, "value": {totpCode(t, key.Secret(), time.Now())}}); r.code != 400 || !strings.Contains(r.raw, "password") {
		t.Errorf("adding TOTP without the password: %s %s", r.status, r.raw)
	}
	if r := tina.do(t, "POST", "/access/tfa/tina@pve", url.Values{"type": {"totp"}, "totp": {key.URL()}, "value": {"000000"}, "password": {"tina-secret"}}); r.code != 400 {
		t.Errorf("adding TOTP with a wrong code: %s %s", r.status, r.raw)
	}
	tina.must(t, "POST", "/access/tfa/tina@pve", url.Values{"type": {"totp"}, "description": {"phone"}, "totp": {key.URL()},
		"value": {totpCode(t, key.Secret(), time.Now())}, "password": {"tina-secret"}})

	first := func() string {
		t.Helper()
		r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"tina@pve"}, "password": {"tina-secret"}})
		data, _ := r.body["data"].(map[string]any)
		if r.code != 200 || data["NeedTFA"] != float64(1) || !strings.HasPrefix(data["ticket"].(string), "PVE:!tfa!") {
			t.Fatalf("first step: %s %s", r.status, r.raw)
		}
		if _, ok := data["CSRFPreventionToken"]; ok {
			t.Errorf("the first step hands out a CSRF token: %s", r.raw)
		}
		return data["ticket"].(string)
	}
	second := func(half, answer string) result {
		return td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"tina@pve"}, "tfa-challenge": {half}, "password": {answer}})
	}

	half := first()
	if r := td.call(t, "GET", "/version", nil, map[string]string{"Cookie": "PVEAuthCookie=" + half}); r.code != 401 {
		t.Errorf("a half ticket opens the API: %s", r.status)
	}
	if !strings.Contains(half, "totp") {
		t.Errorf("the half ticket does not carry the challenge: %s", half)
	}
	// The code used to set TOTP up is spent; the next one works.
	next := totpCode(t, key.Secret(), time.Now().Add(30*time.Second))
	if r := second(half, "totp:"+next); r.code != 200 || r.body["data"].(map[string]any)["CSRFPreventionToken"] == nil {
		t.Fatalf("second step with TOTP: %s %s", r.status, r.raw)
	}
	if r := second(half, "totp:"+next); r.code != 401 {
		t.Errorf("a replayed code: %s", r.status)
	}
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"admin@pve"}, "tfa-challenge": {half}, "password": {"totp:" + next}}); r.code != 401 {
		t.Errorf("tina's half ticket completes admin's login: %s", r.status)
	}

	rec := tina.must(t, "POST", "/access/tfa/tina@pve", url.Values{"type": {"recovery"}, "password": {"tina-secret"}}).body["data"].(map[string]any)
	keys := rec["recovery"].([]any)
	if len(keys) != 10 {
		t.Fatalf("recovery keys: %v", rec)
	}
	if r := second(first(), "recovery:"+keys[0].(string)); r.code != 200 {
		t.Errorf("login with a recovery key: %s %s", r.status, r.raw)
	}
	if r := second(first(), "recovery:"+keys[0].(string)); r.code != 401 {
		t.Errorf("a recovery key used twice: %s", r.status)
	}
	entries := tina.must(t, "GET", "/access/tfa/tina@pve", nil).body["data"].([]any)
	if len(entries) != 2 { // the TOTP entry and the recovery set
		t.Errorf("tina's factors: %v", entries)
	}

	// Eight wrong codes lock TOTP; an administrator lifts the lock. A
	// second authenticator provides a fresh code: the first one's codes
	// up to 30 s ahead are spent.
	key2, err := totp.Generate(totp.GenerateOpts{Issuer: "Hearth", AccountName: "tina@pve"})
	if err != nil {
		t.Fatal(err)
	}
	tina.must(t, "POST", "/access/tfa/tina@pve", url.Values{"type": {"totp"}, "description": {"tablet"}, "totp": {key2.URL()},
		"value": {totpCode(t, key2.Secret(), time.Now())}, "password": {"tina-secret"}})
	fresh := totpCode(t, key2.Secret(), time.Now().Add(30*time.Second))
	for i := 0; i < 8; i++ {
		second(first(), "totp:000000")
	}
	users := admin.must(t, "GET", "/access/users", nil).raw
	if !strings.Contains(users, `"totp-locked":1`) {
		t.Errorf("TOTP not locked after 8 failures: %s", users)
	}
	if r := second(first(), "totp:"+fresh); r.code != 401 {
		t.Errorf("a locked TOTP works: %s", r.status)
	}
	if r := admin.must(t, "PUT", "/access/users/tina@pve/unlock-tfa", nil); r.body["data"] != float64(1) {
		t.Errorf("unlock: %s", r.raw)
	}
	if r := second(first(), "totp:"+fresh); r.code != 200 {
		t.Errorf("TOTP after unlock: %s %s", r.status, r.raw)
	}

	// A realm that requires TOTP refuses users without it.
	admin.must(t, "PUT", "/access/domains/pve", url.Values{"tfa": {"type=oath"}})
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"admin@pve"}, "password": {testPassword}}); r.code != 401 {
		t.Errorf("login without the factor the realm requires: %s", r.status)
	}
	doms := td.form(t, nil, "GET", "/access/domains", nil).raw
	if !strings.Contains(doms, `"tfa":"oath"`) {
		t.Errorf("domains do not show the realm's factor: %s", doms)
	}
	for _, line := range strings.Split(readLog(t, td), "\n") {
		if strings.Contains(line, "tina-secret") || strings.Contains(line, keys[1].(string)) || strings.Contains(line, key.Secret()) {
			t.Errorf("a secret is in the log: %s", line)
		}
	}
}
