package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
)

const testPassword = "correct horse battery"

type testDaemon struct {
	*Daemon
	base   string // https://127.0.0.1:port/api2/json
	client *http.Client
	out    *bytes.Buffer
}

// startDaemon runs a real node in-process on a loopback port with its
// state in a temporary directory.
func startDaemon(t *testing.T, node string, mutate ...func(*Config)) *testDaemon {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	cfg := Config{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", Node: node,
		InitialPasswordFile: pwFile, AuthFailDelay: 20 * time.Millisecond, Announce: out}
	for _, m := range mutate {
		m(&cfg)
	}
	ctx := context.Background()
	d, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		d.Shutdown(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.caPool(t)}}}
	return &testDaemon{Daemon: d, base: "https://" + d.Addr().String() + "/api2/json", client: client, out: out}
}

func (d *Daemon) caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	e, err := d.store.Get(caCertPath)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(e.Data) {
		t.Fatal("bad CA PEM")
	}
	return p
}

type result struct {
	status string
	code   int
	body   map[string]any
	raw    string
}

func (td *testDaemon) call(t *testing.T, method, path string, body io.Reader, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, td.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := td.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.Status, code: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

// login returns cookie and CSRF headers for admin@pve.
func (td *testDaemon) login(t *testing.T) map[string]string {
	t.Helper()
	r := td.call(t, "POST", "/access/ticket", strings.NewReader(url.Values{"username": {"admin@pve"}, "password": {testPassword}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.code != 200 {
		t.Fatalf("login: %s %s", r.status, r.raw)
	}
	data := r.body["data"].(map[string]any)
	return map[string]string{"Cookie": "PVEAuthCookie=" + data["ticket"].(string), "CSRFPreventionToken": data["CSRFPreventionToken"].(string)}
}

func TestLoginForms(t *testing.T) {
	td := startDaemon(t, "alpha")
	form := url.Values{"username": {"admin"}, "realm": {"pve"}, "password": {testPassword}}.Encode()
	tests := []struct {
		name string
		body string
		hdr  map[string]string
	}{
		{"json", `{"username":"admin@pve","password":"` + testPassword + `"}`, map[string]string{"Content-Type": "application/json"}},
		{"form", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{"form without content type", form, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := td.call(t, "POST", "/access/ticket", strings.NewReader(tt.body), tt.hdr)
			if r.code != 200 {
				t.Fatalf("%s %s", r.status, r.raw)
			}
			data := r.body["data"].(map[string]any)
			if data["username"] != "admin@pve" || !strings.HasPrefix(data["ticket"].(string), "PVE:admin@pve:") || data["CSRFPreventionToken"] == "" {
				t.Fatalf("answer %v", data)
			}
			caps := data["cap"].(map[string]any)
			if caps["nodes"].(map[string]any)["Sys.Audit"] != float64(1) || caps["vms"].(map[string]any)["VM.Allocate"] != float64(1) {
				t.Fatalf("cap map of an administrator: %v", caps)
			}
		})
	}
	bad := []string{
		url.Values{"username": {"admin@pve"}, "password": {"wrong password"}}.Encode(),
		url.Values{"username": {"nobody@pve"}, "password": {testPassword}}.Encode(),
		url.Values{"username": {"admin@pam"}, "password": {testPassword}}.Encode(),
	}
	for _, b := range bad {
		start := time.Now()
		r := td.call(t, "POST", "/access/ticket", strings.NewReader(b), nil)
		if r.status != "401 authentication failure" || r.raw != "" || time.Since(start) < 20*time.Millisecond {
			t.Errorf("%s: %s %q after %v", b, r.status, r.raw, time.Since(start))
		}
	}
	if strings.Contains(readLog(t, td), testPassword) {
		t.Fatal("a password reached the daemon log")
	}
}

func readLog(t *testing.T, td *testDaemon) string {
	t.Helper()
	lines, err := td.book.Lines()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestTicketsCSRFAndRenewal(t *testing.T) {
	td := startDaemon(t, "alpha")
	auth := td.login(t)
	if r := td.call(t, "GET", "/nodes/alpha/status", nil, auth); r.code != 200 {
		t.Fatalf("status with ticket: %s", r.status)
	}
	// The ticket also works in the Authorization header.
	ticket := strings.TrimPrefix(auth["Cookie"], "PVEAuthCookie=")
	if r := td.call(t, "GET", "/version", nil, map[string]string{"Authorization": "PVEAuthCookie=" + ticket}); r.code != 200 {
		t.Fatalf("header ticket: %s", r.status)
	}
	// A change without the CSRF token is refused.
	r := td.call(t, "POST", "/access/ticket", strings.NewReader("username=admin@pve&password="+url.QueryEscape(ticket)), map[string]string{"Cookie": auth["Cookie"]})
	if r.code != 200 {
		t.Fatalf("renewal (login needs no CSRF token): %s %s", r.status, r.raw)
	}
	renewed := r.body["data"].(map[string]any)["ticket"].(string)
	if !strings.HasPrefix(renewed, "PVE:admin@pve:") {
		t.Fatalf("renewed ticket %q", renewed)
	}
	// Tampered tickets are refused.
	for _, bad := range []string{
		strings.Replace(ticket, "admin@pve", "root@pam", 1),
		ticket[:len(ticket)-4] + "AAA=",
		"PVE:admin@pve:00000001::" + strings.SplitN(ticket, "::", 2)[1], // expired long ago
	} {
		if r := td.call(t, "GET", "/version", nil, map[string]string{"Cookie": "PVEAuthCookie=" + bad}); r.code != 401 {
			t.Errorf("tampered ticket %q: %s", bad, r.status)
		}
	}
	// A ticket of one user cannot be renewed as another.
	r = td.call(t, "POST", "/access/ticket", strings.NewReader("username=other@pve&password="+url.QueryEscape(ticket)), nil)
	if r.code != 401 {
		t.Fatalf("renewal as another user: %s", r.status)
	}
}

func TestCSRFRequiredForChanges(t *testing.T) {
	td := startDaemon(t, "alpha")
	auth := td.login(t)
	upid := td.startTask(t, "admin@pve", "hold")
	path := "/nodes/alpha/tasks/" + url.PathEscape(upid)
	r := td.call(t, "DELETE", path, nil, map[string]string{"Cookie": auth["Cookie"]})
	if r.status != "401 Permission denied - invalid csrf token" {
		t.Fatalf("DELETE without CSRF: %s", r.status)
	}
	r = td.call(t, "DELETE", path, nil, map[string]string{"Cookie": auth["Cookie"], "CSRFPreventionToken": "6553F100:forged"})
	if r.code != 401 {
		t.Fatalf("DELETE with a forged CSRF token: %s", r.status)
	}
	if r := td.call(t, "DELETE", path, nil, auth); r.code != 200 {
		t.Fatalf("DELETE with CSRF: %s %s", r.status, r.raw)
	}
}

// startTask runs a task directly in the node's runner; "hold" waits until
// stopped, anything else finishes at once with two log lines.
func (td *testDaemon) startTask(t *testing.T, user, kind string) string {
	t.Helper()
	u, err := td.tasks.Start(user, api.Task{Type: "test" + kind, ID: "100", Run: func(ctx context.Context, log api.TaskLog) error {
		log.Printf("first line")
		if kind == "hold" {
			<-ctx.Done()
			return ctx.Err()
		}
		log.Warnf("careful")
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

func TestTaskEndpoints(t *testing.T) {
	td := startDaemon(t, "alpha")
	auth := td.login(t)
	done := td.startTask(t, "admin@pve", "quick")
	if _, err := td.tasks.Wait(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	held := td.startTask(t, "other@pve", "hold")

	r := td.call(t, "GET", "/nodes/alpha/tasks/"+url.PathEscape(done)+"/status", nil, auth)
	data, _ := r.body["data"].(map[string]any)
	if r.code != 200 || data["status"] != "stopped" || data["exitstatus"] != "WARNINGS: 1" || data["upid"] != done {
		t.Fatalf("status: %s %s", r.status, r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/tasks/"+done+"/log?start=1&limit=1", nil, auth)
	if r.raw != `{"data":[{"n":2,"t":"WARN: careful"}],"total":3}` {
		t.Fatalf("log page: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/tasks?source=all", nil, auth)
	items, _ := r.body["data"].([]any)
	if r.code != 200 || len(items) != 2 || r.body["total"] != float64(2) {
		t.Fatalf("list: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/tasks?errors=1&source=archive", nil, auth)
	if items, _ := r.body["data"].([]any); len(items) != 1 {
		t.Fatalf("errors filter: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/tasks/UPID:alpha:bogus/status", nil, auth)
	if r.code != 400 || !strings.Contains(r.raw, "upid") {
		t.Fatalf("malformed upid: %s %s", r.status, r.raw)
	}
	r = td.call(t, "DELETE", "/nodes/alpha/tasks/"+url.PathEscape(held), nil, auth)
	if r.code != 200 {
		t.Fatalf("stop: %s %s", r.status, r.raw)
	}
	st, err := td.tasks.Wait(context.Background(), held)
	if err != nil || st.Status != "stopped" || st.ExitStatus == "OK" {
		t.Fatalf("stopped task: %+v %v", st, err)
	}
}

func TestNodeAndClusterEndpoints(t *testing.T) {
	td := startDaemon(t, "alpha")
	auth := td.login(t)
	r := td.call(t, "GET", "/nodes/alpha/status", nil, auth)
	data, _ := r.body["data"].(map[string]any)
	cpuinfo, _ := data["cpuinfo"].(map[string]any)
	if r.code != 200 || cpuinfo["cpus"].(float64) < 1 || data["memory"].(map[string]any)["total"].(float64) <= 0 ||
		!strings.HasPrefix(data["pveversion"].(string), "pve-manager/") {
		t.Fatalf("status: %s", r.raw)
	}
	r = td.call(t, "GET", "/cluster/nextid", nil, auth)
	if r.raw != `{"data":"100"}` {
		t.Fatalf("nextid: %s", r.raw)
	}
	if _, err := td.store.Apply(context.Background(), cfs.Write("nodes/alpha/qemu-server/100.conf", []byte("memory: 512\n"))); err != nil {
		t.Fatal(err)
	}
	if r = td.call(t, "GET", "/cluster/nextid", nil, auth); r.raw != `{"data":"101"}` {
		t.Fatalf("nextid after 100 is used: %s", r.raw)
	}
	// The datacenter's next-id range moves the proposal.
	r = td.call(t, "PUT", "/cluster/options", strings.NewReader("next-id=lower=200,upper=300"), auth)
	if r.code != 200 {
		t.Fatalf("setting next-id: %s %s", r.status, r.raw)
	}
	if r = td.call(t, "GET", "/cluster/nextid", nil, auth); r.raw != `{"data":"200"}` {
		t.Fatalf("nextid within next-id: %s", r.raw)
	}
	r = td.call(t, "GET", "/cluster/nextid?vmid=100", nil, auth)
	if r.status != "400 Parameter verification failed." || !strings.Contains(r.raw, `"vmid":"VM 100 already exists"`) {
		t.Fatalf("nextid of a used id: %s %s", r.status, r.raw)
	}
	r = td.call(t, "GET", "/cluster/status", nil, auth)
	if !strings.Contains(r.raw, `"quorate":1`) || !strings.Contains(r.raw, `"local":1`) {
		t.Fatalf("cluster status: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/syslog?limit=3", nil, auth)
	if lines, _ := r.body["data"].([]any); r.code != 200 || len(lines) != 3 || r.body["total"].(float64) < 3 {
		t.Fatalf("syslog: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/journal?lastentries=2", nil, auth)
	if lines, _ := r.body["data"].([]any); r.code != 200 || len(lines) != 4 {
		t.Fatalf("journal: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha", nil, auth)
	for _, want := range []string{`{"name":"status"}`, `{"name":"tasks"}`, `{"name":"syslog"}`} {
		if !strings.Contains(r.raw, want) {
			t.Fatalf("node index lacks %s: %s", want, r.raw)
		}
	}
	r = td.call(t, "GET", "/access", nil, auth)
	if !strings.Contains(r.raw, `{"subdir":"ticket"}`) {
		t.Fatalf("access index: %s", r.raw)
	}
	r = td.call(t, "GET", "/nodes/beta/status", nil, auth)
	if r.status != "500 node 'beta' is not a member of this cluster" {
		t.Fatalf("other node: %s", r.status)
	}
	r = td.call(t, "GET", "/access/domains", nil, nil)
	if r.code != 200 || !strings.Contains(r.raw, `"realm":"pve"`) {
		t.Fatalf("domains must be public: %s %s", r.status, r.raw)
	}
}

func TestOpenAPIAndStartPage(t *testing.T) {
	td := startDaemon(t, "alpha")
	resp, err := td.client.Get("https://" + td.Addr().String() + "/api2/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("openapi: %d %v", resp.StatusCode, err)
	}
	if !strings.HasPrefix(fmt.Sprint(doc["openapi"]), "3.1") {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	for _, e := range api.All() {
		if _, ok := paths[e.Path]; !ok {
			t.Errorf("%s missing from the served document", e.Path)
		}
	}
	resp, err = td.client.Get("https://" + td.Addr().String() + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("start page: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestRootSocket(t *testing.T) {
	td := startDaemon(t, "alpha")
	st, err := os.Stat(td.cfg.Socket)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st, err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", td.cfg.Socket)
	}}}
	resp, err := c.Get("http://localhost/api2/json/nodes/alpha/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("root socket: %s", resp.Status)
	}
}

func TestFirstStartAndRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{StateDir: dir, Listen: "127.0.0.1:0", Node: "alpha", Announce: &bytes.Buffer{}}
	ctx := context.Background()
	d, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out := cfg.Announce.(*bytes.Buffer).String()
	pw, err := os.ReadFile(filepath.Join(dir, "initial-password"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "initial-password")); st.Mode().Perm() != 0o600 {
		t.Fatalf("initial-password mode %v", st.Mode())
	}
	password := strings.TrimSpace(string(pw))
	if len(password) < 16 || !strings.Contains(out, password) || !strings.Contains(out, "admin@pve") || !strings.Contains(out, "https://") {
		t.Fatalf("announcement:\n%s", out)
	}
	if strings.Contains(readLog(t, &testDaemon{Daemon: d}), password) {
		t.Fatal("the generated password reached the log")
	}
	fp := d.fingerprint()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// The second start keeps users, keys and certificate, and does not
	// show the password again.
	cfg.Announce = &bytes.Buffer{}
	d, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(ctx)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out := cfg.Announce.(*bytes.Buffer).String(); strings.Contains(out, password) || !strings.Contains(out, "initial-password") {
		t.Fatalf("second announcement:\n%s", out)
	}
	if d.fingerprint() != fp {
		t.Fatal("the node certificate changed across a restart")
	}
	td := &testDaemon{Daemon: d, base: "https://" + d.Addr().String() + "/api2/json",
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.caPool(t)}}}}
	r := td.call(t, "POST", "/access/ticket", strings.NewReader(url.Values{"username": {"admin@pve"}, "password": {password}}.Encode()), nil)
	if r.code != 200 {
		t.Fatalf("login after restart: %s", r.status)
	}
}
