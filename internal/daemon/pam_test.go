//go:build pam && cgo

package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPAMLogin logs a host account in through the API, as root@pam logs
// in on a real install, and changes its password through the API. It
// creates the account and removes it afterwards.
func TestPAMLogin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating a host account needs root")
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := "hearth-t" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "--no-create-home", name).CombinedOutput(); err != nil {
		t.Skipf("skipping: useradd: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(name + ":first-Pass-1\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}

	td := startDaemon(t, "alpha")
	admin := &session{td: td, hdr: td.login(t)}
	userid := name + "@pam"
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {userid}, "password": {"first-Pass-1"}}); r.code != 401 {
		t.Errorf("a host account not in user.cfg logs in: %s", r.status)
	}
	admin.must(t, "POST", "/access/users", url.Values{"userid": {userid}})
	td.loginAs(t, userid, "first-Pass-1")
	if r := td.form(t, nil, "POST", "/access/ticket", url.Values{"username": {name}, "realm": {"pam"}, "password": {"wrong-Pass-1"}}); r.code != 401 {
		t.Errorf("wrong PAM password: %s", r.status)
	}
	admin.must(t, "PUT", "/access/password", url.Values{"userid": {userid}, "password": {"second-Pass-2"}, "confirmation-password": {testPassword}})
	td.loginAs(t, userid, "second-Pass-2")
}
