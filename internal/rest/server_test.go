package rest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// fakeAuth accepts tickets "T:<user>", CSRF tokens "C:<user>" and the API
// token secret "s3cret". alice has Sys.Audit on /nodes/<anything>.
type fakeAuth struct{}

func (fakeAuth) VerifyTicket(t string) (string, error) {
	if u, ok := strings.CutPrefix(t, "T:"); ok {
		return u, nil
	}
	return "", errors.New("bad ticket")
}

func (fakeAuth) VerifyCSRF(user, token string) error {
	if token == "C:"+user {
		return nil
	}
	return errors.New("bad csrf")
}

func (fakeAuth) VerifyToken(id, secret string) (string, error) {
	if secret != "s3cret" {
		return "", errors.New("bad secret")
	}
	user, _, _ := strings.Cut(id, "!")
	return user, nil
}

func (fakeAuth) Checker(user, token string) api.Checker { return fakeChecker{user} }

type fakeChecker struct{ user string }

func (c fakeChecker) Has(path string, privs ...string) bool {
	if c.user == api.RootUser {
		return true
	}
	for _, p := range privs {
		if !(c.user == "alice@pve" && strings.HasPrefix(path, "/nodes/") && p == "Sys.Audit") {
			return false
		}
	}
	return true
}

func (c fakeChecker) HasAny(path string, privs ...string) bool {
	for _, p := range privs {
		if c.Has(path, p) {
			return true
		}
	}
	return false
}

type echoIn struct {
	Node  string `json:"node"`
	Count int    `json:"count"`
	Flag  *bool  `json:"flag"`
	Name  string `json:"name"`
}

type echoOut struct {
	Node  string `json:"node"`
	Count int    `json:"count"`
	Flag  *bool  `json:"flag,omitempty"`
	Name  string `json:"name"`
	User  string `json:"user"`
	Token string `json:"token,omitempty"`
	Ran   string `json:"ran"`
}

var echoProps = schema.Props{
	"node":  schema.Node().Ptr(),
	"count": schema.IntRange("How many.", 0, 10).Def(int64(1)).Ptr(),
	"flag":  schema.Bool("A flag.").Opt(),
	"name":  schema.Schema{Type: schema.String, MaxLength: 8, Optional: true}.Ptr(),
}

var (
	echoGet = api.Declare[echoIn, echoOut](api.Endpoint{Path: "/nodes/{node}/echo", Method: "GET", Name: "echo",
		Description: "Echo.", Params: echoProps, Perm: api.Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node"})
	echoPost = api.Declare[echoIn, echoOut](api.Endpoint{Path: "/nodes/{node}/echo", Method: "POST", Name: "echo_post",
		Description: "Echo.", Params: echoProps, Perm: api.Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node"})
	boom = api.Declare[api.NoParams, any](api.Endpoint{Path: "/boom", Method: "GET", Name: "boom",
		Description: "Panics.", Perm: api.AnyUser("")})
	notRunning = api.Declare[api.NoParams, any](api.Endpoint{Path: "/vm", Method: "GET", Name: "vm",
		Description: "Fails.", Perm: api.AnyUser("")})
	big = api.Declare[api.NoParams, []string](api.Endpoint{Path: "/big", Method: "GET", Name: "big",
		Description: "Large.", Perm: api.AnyUser("")})
	paged = api.Declare[api.NoParams, api.Paged[int]](api.Endpoint{Path: "/paged", Method: "GET", Name: "paged",
		Description: "Paged.", Perm: api.AnyUser("")})
	public = api.Declare[api.NoParams, string](api.Endpoint{Path: "/public", Method: "POST", Name: "public",
		Description: "Public.", Perm: api.Public(), NoCSRF: true})
	task = api.DeclareTask[api.NodeParam](api.Endpoint{Path: "/nodes/{node}/work", Method: "POST", Name: "work",
		Description: "Task.", Params: schema.Props{"node": schema.Node().Ptr()}, Perm: api.AnyUser(""), ProxyTo: "node"})
)

type fakeRunner struct{ started []string }

func (f *fakeRunner) Start(user string, t api.Task) (string, error) {
	f.started = append(f.started, user+" "+t.Type)
	if t.Run != nil {
		go t.Run(context.Background(), nopLog{})
	}
	return "UPID:n1:00000001:00000002:00000003:" + t.Type + ":" + t.ID + ":" + user + ":", nil
}

func testRoutes(node string) []api.Route {
	handler := func(ctx context.Context, c *api.Call, in *echoIn) (echoOut, error) {
		if in.Name == "fail" {
			return echoOut{}, fmt.Errorf("failed on %s", c.Node)
		}
		return echoOut{Node: in.Node, Count: in.Count, Flag: in.Flag, Name: in.Name, User: c.User, Token: c.Token, Ran: c.Node}, nil
	}
	return []api.Route{
		echoGet.Handle(handler),
		echoPost.Handle(handler),
		boom.Handle(func(context.Context, *api.Call, *api.NoParams) (any, error) { panic("kaboom") }),
		notRunning.Handle(func(context.Context, *api.Call, *api.NoParams) (any, error) {
			return nil, errors.New("VM 100 not running")
		}),
		big.Handle(func(context.Context, *api.Call, *api.NoParams) ([]string, error) {
			return []string{strings.Repeat("x", 5000)}, nil
		}),
		paged.Handle(func(context.Context, *api.Call, *api.NoParams) (api.Paged[int], error) {
			return api.Paged[int]{Items: []int{1, 2}, Total: 7}, nil
		}),
		public.Handle(func(context.Context, *api.Call, *api.NoParams) (string, error) { return "hello", nil }),
		task.Handle(func(ctx context.Context, c *api.Call, in *api.NodeParam) (api.Task, error) {
			return api.Task{Type: "work", ID: "100"}, nil
		}),
		uploadTask.Handle(uploadHandler(node)),
	}
}

func startServer(t *testing.T, node string, fw Forwarder) (*httptest.Server, *fakeRunner) {
	t.Helper()
	runner := &fakeRunner{}
	srv, err := New(Config{Node: node, Routes: testRoutes(node), Auth: fakeAuth{}, Tasks: runner,
		AuthFailDelay: 50 * time.Millisecond, MaxBody: 4096, Forwarder: fw})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.EnableHTTP2 = false
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, runner
}

type resp struct {
	status  string
	code    int
	body    map[string]any
	raw     []byte
	header  http.Header
	elapsed time.Duration
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr map[string]string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.Status, code: res.StatusCode, raw: raw, header: res.Header, elapsed: time.Since(start)}
	if len(raw) > 0 {
		json.Unmarshal(raw, &out.body)
	}
	return out
}

func ticket(user string) map[string]string {
	return map[string]string{"Cookie": "PVEAuthCookie=T:" + user, "CSRFPreventionToken": "C:" + user}
}

func TestRoutingAndErrors(t *testing.T) {
	ts, _ := startServer(t, "n1", nil)
	c := ts.Client()
	base := ts.URL + APIPrefix
	root := ticket(api.RootUser)

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		hdr        map[string]string
		wantStatus string
		wantErrs   map[string]any
	}{
		{"unknown path", "GET", "/nope", "", root, "501 Path 'GET /nope' not implemented", nil},
		{"unknown method", "PUT", "/nodes/n1/echo", "", root, "501 Method 'PUT /nodes/n1/echo' not implemented", nil},
		{"handler error keeps its message as reason phrase", "GET", "/vm", "", root, "500 VM 100 not running", nil},
		{"panic is a 500", "GET", "/boom", "", root, "500 internal error", nil},
		{"unknown parameter", "GET", "/nodes/n1/echo?bogus=1", "", root, "400 Parameter verification failed.",
			map[string]any{"bogus": "unknown parameter; allowed: count, flag, name, node"}},
		{"out of range", "GET", "/nodes/n1/echo?count=11", "", root, "400 Parameter verification failed.",
			map[string]any{"count": "must be at most 10"}},
		{"wrong type", "GET", "/nodes/n1/echo?flag=perhaps", "", root, "400 Parameter verification failed.",
			map[string]any{"flag": `expected a boolean (1/0, true/false, yes/no, on/off), got "perhaps"`}},
		{"traversal in a path parameter", "GET", "/nodes/..%2F..%2Fetc/echo", "", root, "400 Parameter verification failed.",
			map[string]any{"node": `"../../etc" is not a valid node name: expected letters, digits and inner hyphens`}},
		{"path parameter repeated", "GET", "/nodes/n1/echo?node=n2", "", root, "400 Parameter verification failed.",
			map[string]any{"node": "given in the path and again as a parameter"}},
		{"body on GET", "GET", "/nodes/n1/echo", "count=1", root, "501 GET requests must not have a body; pass parameters in the query string", nil},
		{"oversize body", "POST", "/nodes/n1/echo", "name=" + strings.Repeat("x", 5000), root, "413 request body is larger than the limit of 4096 bytes", nil},
		{"forbidden", "GET", "/nodes/n1/echo", "", ticket("bob@pve"), "403 Permission check failed (/nodes/n1, Sys.Audit)", nil},
		{"no credentials", "GET", "/nodes/n1/echo", "", nil, "401 No ticket", nil},
		{"bad ticket", "GET", "/nodes/n1/echo", "", map[string]string{"Cookie": "PVEAuthCookie=forged"}, "401 invalid or expired ticket", nil},
		{"missing csrf", "POST", "/nodes/n1/echo", "", map[string]string{"Cookie": "PVEAuthCookie=T:root@pam"}, "401 Permission denied - invalid csrf token", nil},
		{"bad api token", "GET", "/nodes/n1/echo", "", map[string]string{"Authorization": "PVEAPIToken=root@pam!ci=wrong"}, "401 invalid API token", nil},
		{"unknown node without a cluster", "GET", "/nodes/n9/echo", "", root, "500 node 'n9' is not a member of this cluster", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := do(t, c, tt.method, base+tt.path, body, tt.hdr)
			if r.status != tt.wantStatus {
				t.Fatalf("status %q, want %q (body %s)", r.status, tt.wantStatus, r.raw)
			}
			if r.code == 401 {
				if len(r.raw) != 0 {
					t.Errorf("401 has a body: %s", r.raw)
				}
				if r.elapsed < 50*time.Millisecond {
					t.Errorf("401 answered after %v, before the delay", r.elapsed)
				}
				return
			}
			if _, ok := r.body["data"]; !ok || r.body["data"] != nil {
				t.Errorf("error body lacks data: null: %s", r.raw)
			}
			msg, _ := r.body["message"].(string)
			if !strings.HasSuffix(msg, "\n") || !strings.Contains(tt.wantStatus, strings.TrimSpace(msg)) {
				t.Errorf("message %q does not match the status line", msg)
			}
			if tt.wantErrs != nil {
				got, _ := r.body["errors"].(map[string]any)
				if fmt.Sprint(got) != fmt.Sprint(tt.wantErrs) {
					t.Errorf("errors %v, want %v", got, tt.wantErrs)
				}
			}
		})
	}
}

func TestParameterSources(t *testing.T) {
	ts, _ := startServer(t, "n1", nil)
	c := ts.Client()
	url := ts.URL + APIPrefix + "/nodes/n1/echo"
	root := ticket(api.RootUser)
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range root {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name string
		url  string
		body string
		hdr  map[string]string
		want string
	}{
		{"json body", url, `{"count": 3, "flag": true, "name": "x"}`, with(map[string]string{"Content-Type": "application/json"}), `"count":3,"flag":true,"name":"x"`},
		{"json numbers as strings", url, `{"count": "4"}`, with(map[string]string{"Content-Type": "application/json; charset=utf-8"}), `"count":4,`},
		{"form body", url, "count=5&flag=0", with(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), `"count":5,"flag":false`},
		{"form body without content type", url, "count=6", root, `"count":6,`},
		{"query wins over body", url + "?count=7", "count=2", root, `"count":7,`},
		{"cache buster ignored", url + "?_dc=12345", "", root, `"count":1,`},
		{"default applied", url, "", root, `"count":1,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := do(t, c, "POST", tt.url, body, tt.hdr)
			if r.code != 200 || !strings.Contains(string(r.raw), tt.want) {
				t.Fatalf("%s: %s, want body containing %s", r.status, r.raw, tt.want)
			}
		})
	}
	// A JSON body must be an object of scalars or lists.
	r := do(t, c, "POST", url, strings.NewReader(`{"name": {"a": 1}}`), with(map[string]string{"Content-Type": "application/json"}))
	if r.code != 400 || !strings.Contains(string(r.raw), "expected a string, number or boolean") {
		t.Fatalf("nested JSON: %s %s", r.status, r.raw)
	}
	r = do(t, c, "POST", url, strings.NewReader(`[1]`), with(map[string]string{"Content-Type": "application/json"}))
	if r.code != 400 {
		t.Fatalf("JSON array body: %s %s", r.status, r.raw)
	}
}

func TestAuthenticationForms(t *testing.T) {
	ts, runner := startServer(t, "n1", nil)
	c := ts.Client()
	base := ts.URL + APIPrefix
	// Header form of the ticket.
	r := do(t, c, "GET", base+"/nodes/n1/echo", nil, map[string]string{"Authorization": "PVEAuthCookie=T:alice@pve"})
	if r.code != 200 || !strings.Contains(string(r.raw), `"user":"alice@pve"`) {
		t.Fatalf("header ticket: %s %s", r.status, r.raw)
	}
	// API tokens need no CSRF token; the call runs as the token's user.
	r = do(t, c, "POST", base+"/nodes/n1/echo", nil, map[string]string{"Authorization": "PVEAPIToken=alice@pve!ci=s3cret"})
	if r.code != 200 || !strings.Contains(string(r.raw), `"token":"alice@pve!ci"`) {
		t.Fatalf("token: %s %s", r.status, r.raw)
	}
	// Public calls work without credentials, and with a stale cookie.
	r = do(t, c, "POST", base+"/public", nil, map[string]string{"Cookie": "PVEAuthCookie=stale"})
	if r.code != 200 || r.body["data"] != "hello" {
		t.Fatalf("public: %s %s", r.status, r.raw)
	}
	// Tasks answer with the UPID and run as the token id.
	r = do(t, c, "POST", base+"/nodes/n1/work", nil, map[string]string{"Authorization": "PVEAPIToken=alice@pve!ci=s3cret"})
	if r.code != 200 || !strings.HasPrefix(r.body["data"].(string), "UPID:") || runner.started[0] != "alice@pve!ci work" {
		t.Fatalf("task: %s %s %v", r.status, r.raw, runner.started)
	}
}

func TestResponseShapes(t *testing.T) {
	ts, _ := startServer(t, "n1", nil)
	c := ts.Client()
	base := ts.URL + APIPrefix
	root := ticket(api.RootUser)
	r := do(t, c, "GET", base+"/paged", nil, root)
	if string(r.raw) != `{"data":[1,2],"total":7}` {
		t.Fatalf("paged: %s", r.raw)
	}
	// Large answers are compressed for clients that accept it.
	tr := c.Transport.(*http.Transport).Clone()
	tr.DisableCompression = true
	plain := &http.Client{Transport: tr}
	r = do(t, plain, "GET", base+"/big", nil, map[string]string{"Cookie": root["Cookie"], "Accept-Encoding": "gzip"})
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("large answer not compressed: %v", r.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.raw))
	if err != nil {
		t.Fatal(err)
	}
	un, _ := io.ReadAll(zr)
	if !bytes.HasPrefix(un, []byte(`{"data":["xxx`)) {
		t.Fatalf("decompressed: %.40s", un)
	}
	r = do(t, plain, "GET", base+"/paged", nil, map[string]string{"Cookie": root["Cookie"], "Accept-Encoding": "gzip"})
	if r.header.Get("Content-Encoding") != "" {
		t.Fatal("small answer compressed")
	}
	// The server keeps serving after a panic.
	do(t, c, "GET", base+"/boom", nil, root)
	if r := do(t, c, "GET", base+"/paged", nil, root); r.code != 200 {
		t.Fatalf("after panic: %s", r.status)
	}
}

func TestFormParsingOfDeclaredEscapes(t *testing.T) {
	ts, _ := startServer(t, "n1", nil)
	q := url.Values{"name": {"a b"}}.Encode()
	r := do(t, ts.Client(), "GET", ts.URL+APIPrefix+"/nodes/n1/echo?"+q, nil, ticket(api.RootUser))
	if r.code != 200 || !strings.Contains(string(r.raw), `"name":"a b"`) {
		t.Fatalf("%s %s", r.status, r.raw)
	}
}
