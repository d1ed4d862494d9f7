package daemon

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/realm/ldap/ldaptest"
)

// TestLDAPRealm adds an LDAP realm for a real slapd through the API,
// syncs its users and groups with a task, and logs a synced user in over
// StartTLS with certificate verification.
func TestLDAPRealm(t *testing.T) {
	dir := ldaptest.Start(t)
	td := startDaemon(t, "alpha")
	admin := &session{td: td, hdr: td.login(t)}
	realm := url.Values{"realm": {"corp"}, "type": {"ldap"}, "server1": {"127.0.0.1"}, "port": {strconv.Itoa(dir.Port)},
		"mode": {"ldap+starttls"}, "verify": {"1"}, "capath": {dir.CAFile}, "base_dn": {ldaptest.PeopleDN}, "user_attr": {"uid"},
		"bind_dn": {ldaptest.ReaderDN}, "password": {ldaptest.ReaderPW}, "group_dn": {ldaptest.GroupsDN},
		"sync_attributes": {"email=mail,firstname=givenName,lastname=sn"}, "sync-defaults-options": {"scope=both,enable-new=1"}, "check-connection": {"1"}}
	admin.must(t, "POST", "/access/domains", realm)
	if got := admin.must(t, "GET", "/access/domains/corp", nil).raw; strings.Contains(got, ldaptest.ReaderPW) {
		t.Errorf("the bind password is shown: %s", got)
	}

	// Before the sync alice is unknown to user.cfg and cannot log in.
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"alice@corp"}, "password": {"alice-pw"}}); r.code != 401 {
		t.Errorf("login before the sync: %s", r.status)
	}
	upid := admin.must(t, "POST", "/access/domains/corp/sync", nil).body["data"].(string)
	waitTask(t, admin, upid)
	user := admin.must(t, "GET", "/access/users/alice@corp", nil).body["data"].(map[string]any)
	if user["email"] != "alice@example.org" || !strings.Contains(strings.Join(toStrings(user["groups"]), ","), "admins-corp") {
		t.Errorf("synced user: %v", user)
	}
	td.loginAs(t, "alice@corp", "alice-pw")
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {"alice@corp"}, "password": {"wrong"}}); r.code != 401 {
		t.Errorf("wrong LDAP password: %s", r.status)
	}
	// A realm pointing at a server with another CA is refused when checked.
	bad := url.Values{}
	for k, v := range realm {
		bad[k] = v
	}
	bad.Set("realm", "corp2")
	bad.Set("capath", "/etc/ssl/certs/ca-certificates.crt")
	if r := admin.do(t, "POST", "/access/domains", bad); r.code != 400 || !strings.Contains(r.raw, "certificate") {
		t.Errorf("a realm whose server certificate does not verify: %s %s", r.status, r.raw)
	}
	if strings.Contains(readLog(t, td), ldaptest.ReaderPW) {
		t.Error("the bind password is in the log")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// waitTask waits for a task to end and fails the test unless it ended OK.
func waitTask(t *testing.T, s *session, upid string) {
	t.Helper()
	node := strings.Split(upid, ":")[1]
	waitFor(t, "task "+upid, 30e9, func() bool {
		st := s.must(t, "GET", "/nodes/"+node+"/tasks/"+url.PathEscape(upid)+"/status", nil).body["data"].(map[string]any)
		if st["status"] != "stopped" {
			return false
		}
		if st["exitstatus"] != "OK" {
			log := s.must(t, "GET", "/nodes/"+node+"/tasks/"+url.PathEscape(upid)+"/log", nil).raw
			t.Fatalf("task %s: %v\n%s", upid, st["exitstatus"], log)
		}
		return true
	})
}
