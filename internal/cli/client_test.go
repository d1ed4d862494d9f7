package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api/schema"
)

func writePasswordFile(t *testing.T, pw string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noSecrets fails when a run printed a secret anywhere.
func noSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.out, s) || strings.Contains(r.err, s) {
			t.Errorf("output shows the secret %q:\nstdout %q\nstderr %q", s, r.out, r.err)
		}
	}
}

func TestLoginWithUserAndPasswordFile(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	pw := writePasswordFile(t, testPassword)
	// A change needs the ticket's CSRF token too.
	argv := append(append([]string{"pvesh"}, f.remote()...), "--user", "root@pam", "--password-file", pw,
		"set", "/nodes/n1/things/box", "--size", "3")
	r := f.runWith(cliOpts{env: map[string]string{"HEARTH_SOCKET": "/nonexistent"}}, argv...)
	expectCode(t, r, 0)
	if calls := f.recorded(); len(calls) != 1 || calls[0] != "PUT n1/box root@pam: size=3 mode=fast" {
		t.Errorf("server saw %q", calls)
	}
	// The password may also come from the environment.
	argv = append(append([]string{"thingctl"}, f.remote()...), "--user", "root@pam", "thing", "show", "box")
	r = f.runWith(cliOpts{env: map[string]string{"HEARTH_PASSWORD": testPassword}}, argv...)
	expectCode(t, r, 0)
	noSecrets(t, r, testPassword)
}

func TestLoginFailureDoesNotShowThePassword(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	wrong := "wrong-Pass-789"
	argv := append(append([]string{"pvesh"}, f.remote()...), "--user", "root@pam",
		"--password-file", writePasswordFile(t, wrong), "get", "/nodes")
	r := f.run(argv...)
	expectCode(t, r, 1)
	if want := "login as root@pam: 401 authentication failure\n"; r.err != want {
		t.Errorf("stderr %q, want %q", r.err, want)
	}
	noSecrets(t, r, wrong)
	// Without a terminal there is nobody to ask.
	argv = append(append([]string{"pvesh"}, f.remote()...), "--user", "root@pam", "get", "/nodes")
	r = f.run(argv...)
	expectCode(t, r, 1)
	if !strings.Contains(r.err, "no password") {
		t.Errorf("stderr %q", r.err)
	}
}

func TestTokenAuth(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	token := "root@pam!ci=" + testSecret
	argv := append(append([]string{"pvesh"}, f.remote()...), "--token", token, "delete", "/nodes/n2/things/old")
	r := f.run(argv...)
	expectCode(t, r, 0)
	argv = append(append([]string{"thingctl"}, f.remote()...), "thing", "remove", "older")
	r = f.runWith(cliOpts{env: map[string]string{"HEARTH_TOKEN": token}}, argv...)
	expectCode(t, r, 0)
	if calls := f.recorded(); len(calls) != 2 || calls[0] != "DELETE n2/old root@pam" || calls[1] != "DELETE n1/older root@pam" {
		t.Errorf("server saw %q", calls)
	}
	bad := "root@pam!ci=bad-Secret-000"
	argv = append(append([]string{"pvesh"}, f.remote()...), "--token", bad, "get", "/nodes")
	r = f.run(argv...)
	expectCode(t, r, 1)
	if r.err != "401 invalid API token\n" {
		t.Errorf("stderr %q", r.err)
	}
	noSecrets(t, r, "bad-Secret-000", testSecret)
	r = f.run("pvesh", "--token", token, "get", "/nodes")
	expectCode(t, r, 1)
	if !strings.Contains(r.err, "need --host") {
		t.Errorf("token without host: %q", r.err)
	}
	noSecrets(t, r, testSecret)
}

func TestCertificateTrust(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	host := f.remote()[:4] // --host H --port P
	token := "root@pam!ci=" + testSecret
	ok := [][]string{
		{"--fingerprint", f.fingerprint()},
		{"--fingerprint", strings.ToLower(strings.ReplaceAll(f.fingerprint(), ":", ""))},
		{"--ca-file", f.caFile()},
	}
	for _, trust := range ok {
		argv := append(append(append([]string{"pvesh"}, host...), trust...), "--token", token, "get", "/version")
		r := f.run(argv...)
		expectCode(t, r, 0)
	}
	wrongFP := strings.Repeat("AB:", 31) + "AB"
	bad := []struct {
		trust []string
		err   string
	}{
		{[]string{"--fingerprint", wrongFP}, "does not match the pinned " + wrongFP},
		// The test certificate is not in the system roots.
		{nil, "certificate signed by unknown authority (pin the node's certificate with --fingerprint"},
		{[]string{"--fingerprint", "12:34"}, "malformed fingerprint"},
	}
	for _, b := range bad {
		argv := append(append(append([]string{"pvesh"}, host...), b.trust...), "--token", token, "get", "/version")
		r := f.run(argv...)
		expectCode(t, r, 1)
		if !strings.Contains(r.err, b.err) {
			t.Errorf("trust %v: stderr %q lacks %q", b.trust, r.err, b.err)
		}
		noSecrets(t, r, testSecret)
	}
	if len(f.recorded()) != 0 {
		t.Errorf("calls got through: %q", f.recorded())
	}
}

func TestSocketClientReachesTheDaemonAsRoot(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c := NewSocketClient(f.socket)
	q := schema.Raw{}
	q.Set("size", "4")
	res, err := c.Do(context.Background(), "PUT", "/nodes/n1/things/box", q)
	if err != nil || res.Status != 200 || string(res.Data) != "null" {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if calls := f.recorded(); len(calls) != 1 || calls[0] != "PUT n1/box root@pam: size=4 mode=fast" {
		t.Errorf("server saw %q", calls)
	}
	_, err = c.Do(context.Background(), "GET", "/nodes/n1/things/box", q)
	e, ok := err.(*Error)
	if !ok || e.Status != 400 || e.Errors["size"] == "" {
		t.Errorf("GET with an unknown parameter: %v", err)
	}
	r := runMain(t, f.eps, map[string]string{"HEARTH_SOCKET": filepath.Join(t.TempDir(), "none.sock")}, cliOpts{}, "pvesh", "get", "/nodes")
	expectCode(t, r, 1)
	if !strings.Contains(r.err, "GET /nodes: dial unix") {
		t.Errorf("no daemon: %q", r.err)
	}
}

func TestErrorFormatting(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{Status: 400, Message: "Parameter verification failed.\n", Errors: map[string]string{"b": "bad", "a": "worse"}},
			"400 Parameter verification failed.\na: worse\nb: bad"},
		{Error{Status: 500, Message: "VM 100 not running"}, "VM 100 not running"},
		{Error{Status: 403, Message: "Permission check failed (/vms/100, VM.Audit)"}, "403 Permission check failed (/vms/100, VM.Audit)"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
