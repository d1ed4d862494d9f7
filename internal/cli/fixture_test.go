package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/pki"
	"github.com/hearth-virt/hearth/internal/rest"
)

// The test API: a "thing" resource below each node, served by a real
// rest.Server, with CLI hints for a tool named thingctl.

const (
	testPassword = "pw-Secret-123"
	testSecret   = "tok-Secret-456"
)

// fakeAuth accepts the tickets and CSRF tokens the test login issues and
// one API token, root@pam!ci.
type fakeAuth struct{}

func (fakeAuth) VerifyTicket(t string) (string, error) {
	if u, ok := strings.CutPrefix(t, "PVE:"); ok && strings.HasSuffix(u, "::sig") {
		return strings.TrimSuffix(u, "::sig"), nil
	}
	return "", errors.New("bad ticket")
}

func (fakeAuth) VerifyCSRF(user, token string) error {
	if token == "csrf:"+user {
		return nil
	}
	return errors.New("bad csrf")
}

func (fakeAuth) VerifyToken(id, secret string) (string, error) {
	if id != "root@pam!ci" || secret != testSecret {
		return "", errors.New("bad token")
	}
	return "root@pam", nil
}

func (fakeAuth) Checker(user, token string) api.Checker { return allowAll{} }

type allowAll struct{}

func (allowAll) Has(string, ...string) bool    { return true }
func (allowAll) HasAny(string, ...string) bool { return true }

type thing struct {
	Name    string         `json:"name"`
	Size    int64          `json:"size"`
	Uptime  int64          `json:"uptime"`
	Created int64          `json:"created"`
	Load    float64        `json:"load"`
	Active  bool           `json:"active"`
	Meta    map[string]any `json:"meta,omitempty"`
}

type thingIn struct {
	Node   string   `json:"node"`
	Name   string   `json:"name"`
	Size   *int64   `json:"size"`
	Mode   string   `json:"mode"`
	Flag   *bool    `json:"flag"`
	Tags   []string `json:"tags"`
	Target string   `json:"target"`
}

type thingKey struct {
	Node string `json:"node"`
	Name string `json:"name"`
}

type workIn struct {
	Node    string `json:"node"`
	Outcome string `json:"outcome"`
}

func thingProps() schema.Props {
	return schema.Props{
		"name":    schema.Str("Name of the thing.").Ptr(),
		"size":    schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: "Size in bytes."}.Ptr(),
		"uptime":  schema.Schema{Type: schema.Integer, Renderer: "duration", Description: "Seconds it has been up."}.Ptr(),
		"created": schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When it was made."}.Ptr(),
		"load":    schema.Schema{Type: schema.Number, Renderer: "fraction_as_percentage", Description: "How busy it is."}.Ptr(),
		"active":  schema.Bool("Whether it is in use.").Ptr(),
		"meta":    schema.Schema{Type: schema.Object, Optional: true, AdditionalProperties: true, Description: "Free-form data."}.Ptr(),
	}
}

// testDecls declares the thing endpoints; handlers are bound by the fixture.
type testDecls struct {
	list   api.Decl[api.NodeParam, []thing]
	get    api.Decl[thingKey, thing]
	set    api.Decl[thingIn, any]
	create api.Decl[thingIn, any]
	del    api.Decl[thingKey, any]
	work   api.TaskDecl[workIn]
}

func declareThings() testDecls {
	node := schema.Props{"node": schema.Node().Ptr()}
	key := schema.Props{"node": schema.Node().Ptr(), "name": schema.Pat("Name of the thing.", `[a-z][a-z0-9-]*`).Ptr()}
	change := schema.Props{
		"node":   schema.Node().Ptr(),
		"name":   schema.Pat("Name of the thing.", `[a-z][a-z0-9-]*`).Ptr(),
		"size":   schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(100), Description: "New size in GiB."}.Opt(),
		"mode":   schema.Enum("How it runs.", "fast", "slow").Def("fast").Ptr(),
		"flag":   schema.Bool("Mark it.").Opt(),
		"tags":   schema.Schema{Type: schema.Array, Optional: true, Items: &schema.Schema{Type: schema.String}, Description: "Labels."}.Ptr(),
		"target": schema.Node().Desc("Move it to this node.").Opt(),
	}
	fixed := map[string]string{"node": api.LocalNode}
	return testDecls{
		list: api.Declare[api.NodeParam, []thing](api.Endpoint{Path: "/nodes/{node}/things", Method: "GET", Name: "things",
			Description: "List the things of a node.", Params: node, Perm: api.AnyUser(""),
			Returns: schema.ArrayOf("", schema.Obj("", thingProps())),
			CLI:     []api.Command{{Tool: "thingctl", Cmd: "thing list", Fixed: fixed, SortBy: "name"}}}),
		get: api.Declare[thingKey, thing](api.Endpoint{Path: "/nodes/{node}/things/{name}", Method: "GET", Name: "thing",
			Description: "Show one thing.", Params: key, Perm: api.AnyUser(""), Returns: schema.Obj("", thingProps()),
			CLI: []api.Command{{Tool: "thingctl", Cmd: "thing show", Args: []string{"name"}, Fixed: fixed}}}),
		set: api.Declare[thingIn, any](api.Endpoint{Path: "/nodes/{node}/things/{name}", Method: "PUT", Name: "set_thing",
			Description: "Change a thing.", Params: change, Perm: api.AnyUser(""), Returns: schema.Schema{Type: schema.Null},
			CLI: []api.Command{{Tool: "thingctl", Cmd: "thing set", Args: []string{"name"}, Fixed: fixed}}}),
		create: api.Declare[thingIn, any](api.Endpoint{Path: "/nodes/{node}/things", Method: "POST", Name: "create_thing",
			Description: "Make a thing.", Params: change, Perm: api.AnyUser(""), Returns: schema.Schema{Type: schema.Null}}),
		del: api.Declare[thingKey, any](api.Endpoint{Path: "/nodes/{node}/things/{name}", Method: "DELETE", Name: "delete_thing",
			Description: "Remove a thing.", Params: key, Perm: api.AnyUser(""), Returns: schema.Schema{Type: schema.Null},
			CLI: []api.Command{{Tool: "thingctl", Cmd: "thing remove", Args: []string{"name"}, Fixed: fixed}}}),
		work: api.DeclareTask[workIn](api.Endpoint{Path: "/nodes/{node}/work", Method: "POST", Name: "work",
			Description: "Do some work in a task.",
			Params: schema.Props{"node": schema.Node().Ptr(),
				"outcome": schema.Enum("How the work ends.", "ok", "warn", "fail", "hang").Ptr()},
			Perm: api.AnyUser(""),
			CLI:  []api.Command{{Tool: "thingctl", Cmd: "work", Args: []string{"outcome"}, Fixed: fixed}}}),
	}
}

func (d testDecls) endpoints() []*api.Endpoint {
	return []*api.Endpoint{d.list.E, d.get.E, d.set.E, d.create.E, d.del.E, d.work.E}
}

// fixture is a running API with the thing endpoints and the real node,
// cluster, task and login declarations.
type fixture struct {
	t      *testing.T
	eps    []*api.Endpoint
	node   string
	socket string
	tls    *httptest.Server
	tasks  *fakeTasks

	mu    sync.Mutex
	calls []string // "METHOD node/name user: params" of thing calls
}

type fixtureOpts struct {
	// solo makes a single node that /cluster/status does not mark local.
	solo bool
	// routes adds endpoints with their handlers (real declarations
	// served by fakes), which the tools then see too.
	routes func(f *fixture) []api.Route
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{t: t, node: "n1"}
	if o.solo {
		f.node = "solo"
	}
	taskCtx, stopTasks := context.WithCancel(context.Background())
	t.Cleanup(stopTasks)
	f.tasks = &fakeTasks{ctx: taskCtx, node: f.node, tasks: map[string]*fakeTask{}}
	d := declareThings()
	base := []*api.Endpoint{api.NodeList.E, api.NodeIndex.E, api.ClusterStatus.E, api.ClusterResources.E,
		api.TaskList.E, api.TaskStatusGet.E, api.TaskLogGet.E, api.TicketCreate.E, api.Version.E}
	f.eps = append(base, d.endpoints()...)
	routes := append(f.baseRoutes(o), f.thingRoutes(d)...)
	if o.routes != nil {
		for _, rt := range o.routes(f) {
			routes = append(routes, rt)
			f.eps = append(f.eps, rt.Endpoint)
		}
	}
	srv, err := rest.New(rest.Config{Node: f.node, Routes: routes, Auth: fakeAuth{}, Tasks: f.tasks,
		AuthFailDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.tls = httptest.NewUnstartedServer(srv)
	f.tls.EnableHTTP2 = false
	// Handshakes the trust tests make fail on purpose are not news.
	f.tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.tls.StartTLS()
	t.Cleanup(f.tls.Close)

	dir := t.TempDir()
	if len(dir) > 90 {
		// Unix socket paths are limited to about 108 bytes.
		dir, err = os.MkdirTemp("", "hcli")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	f.socket = filepath.Join(dir, "h.sock")
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ConnContext: rest.RootConnContext}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return f
}

func (f *fixture) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fixture) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func ip(n int) *int { return &n }

func (f *fixture) baseRoutes(o fixtureOpts) []api.Route {
	nodes := []string{"n1", "n2"}
	if o.solo {
		nodes = []string{"solo"}
	}
	return []api.Route{
		api.NodeList.Handle(func(context.Context, *api.Call, *api.NoParams) ([]api.NodeListItem, error) {
			var out []api.NodeListItem
			for _, n := range nodes {
				out = append(out, api.NodeListItem{Node: n, Status: "online", ID: "node/" + n, Type: "node"})
			}
			return out, nil
		}),
		api.NodeIndex.Handle(func(context.Context, *api.Call, *api.NodeParam) ([]api.Child, error) {
			return []api.Child{{Name: "things"}, {Name: "tasks"}}, nil
		}),
		api.ClusterStatus.Handle(func(context.Context, *api.Call, *api.NoParams) ([]api.ClusterStatusItem, error) {
			if o.solo {
				return []api.ClusterStatusItem{{Type: "node", ID: "node/solo", Name: "solo", Online: ip(1)}}, nil
			}
			return []api.ClusterStatusItem{
				{Type: "cluster", ID: "cluster", Name: "lab", Nodes: ip(2), Quorate: ip(1)},
				{Type: "node", ID: "node/n2", Name: "n2", Local: ip(0), Online: ip(1)},
				{Type: "node", ID: "node/n1", Name: "n1", Local: ip(1), Online: ip(1)},
			}, nil
		}),
		api.ClusterResources.Handle(func(_ context.Context, _ *api.Call, in *api.ResourcesParams) ([]api.Resource, error) {
			return []api.Resource{{ID: "qemu/100", Type: "qemu", VMID: 100}, {ID: "lxc/205", Type: "lxc", VMID: 205}}, nil
		}),
		api.TaskList.Handle(func(_ context.Context, _ *api.Call, in *api.TaskListParams) (api.Paged[api.TaskListItem], error) {
			var out []api.TaskListItem
			for _, u := range f.tasks.upids() {
				out = append(out, api.TaskListItem{UPID: u, Node: in.Node})
			}
			return api.Paged[api.TaskListItem]{Items: out, Total: len(out)}, nil
		}),
		api.TaskStatusGet.Handle(func(_ context.Context, _ *api.Call, in *api.TaskParams) (api.TaskStatus, error) {
			running, exit, ok := f.tasks.status(in.UPID)
			if !ok {
				return api.TaskStatus{}, api.Errorf(http.StatusNotFound, "no such task")
			}
			st := api.TaskStatus{UPID: in.UPID, Node: in.Node, Status: "stopped", ExitStatus: exit}
			if running {
				st.Status, st.ExitStatus = "running", ""
			}
			return st, nil
		}),
		api.TaskLogGet.Handle(func(_ context.Context, _ *api.Call, in *api.TaskLogParams) (api.Paged[api.LogLine], error) {
			lines := f.tasks.log(in.UPID)
			var out []api.LogLine
			for i := in.Start; i < len(lines) && len(out) < in.Limit; i++ {
				out = append(out, api.LogLine{N: i + 1, T: lines[i]})
			}
			return api.Paged[api.LogLine]{Items: out, Total: len(lines)}, nil
		}),
		api.TicketCreate.Handle(func(_ context.Context, _ *api.Call, in *api.TicketParams) (api.Ticket, error) {
			if in.Username != "root@pam" || in.Password != testPassword {
				return api.Ticket{}, api.ErrAuthFailed
			}
			return api.Ticket{Username: in.Username, Ticket: "PVE:root@pam::sig", CSRFToken: "csrf:root@pam"}, nil
		}),
		api.Version.Handle(func(context.Context, *api.Call, *api.NoParams) (api.VersionInfo, error) {
			return api.VersionInfo{Version: "9.0.0", Release: "9.0", RepoID: "abc", Hearth: "0.1.0"}, nil
		}),
	}
}

func (f *fixture) thingRoutes(d testDecls) []api.Route {
	return []api.Route{
		d.list.Handle(func(_ context.Context, c *api.Call, in *api.NodeParam) ([]thing, error) {
			f.record("GET %s %s", in.Node, c.User)
			return []thing{
				{Name: "zeta", Size: 1536, Uptime: 93784, Created: 1700000000, Load: 0.1234, Active: true},
				{Name: "alpha", Size: 5 << 30, Uptime: 59, Created: 1600000000, Load: 1, Meta: map[string]any{"k": "v<1>", "n": 2}},
			}, nil
		}),
		d.get.Handle(func(_ context.Context, c *api.Call, in *thingKey) (thing, error) {
			f.record("GET %s/%s %s", in.Node, in.Name, c.User)
			return thing{Name: in.Name, Size: 2048, Uptime: 3600, Created: 1700000000, Load: 0.5}, nil
		}),
		d.set.Handle(func(_ context.Context, c *api.Call, in *thingIn) (any, error) {
			f.record("PUT %s/%s %s: %s", in.Node, in.Name, c.User, describe(in))
			if in.Name == "taken" {
				return nil, api.ParamError("name", "thing %s is locked", in.Name)
			}
			return nil, nil
		}),
		d.create.Handle(func(_ context.Context, c *api.Call, in *thingIn) (any, error) {
			f.record("POST %s/%s %s: %s", in.Node, in.Name, c.User, describe(in))
			return nil, nil
		}),
		d.del.Handle(func(_ context.Context, c *api.Call, in *thingKey) (any, error) {
			f.record("DELETE %s/%s %s", in.Node, in.Name, c.User)
			if in.Name == "busy" {
				return nil, errors.New("thing busy is in use")
			}
			return nil, nil
		}),
		d.work.Handle(func(_ context.Context, c *api.Call, in *workIn) (api.Task, error) {
			f.record("POST work %s %s", in.Node, in.Outcome)
			return api.Task{Type: "thingwork", ID: in.Outcome, Run: workRun(in.Outcome)}, nil
		}),
	}
}

func describe(in *thingIn) string {
	var b strings.Builder
	if in.Size != nil {
		fmt.Fprintf(&b, "size=%d ", *in.Size)
	}
	fmt.Fprintf(&b, "mode=%s", in.Mode)
	if in.Flag != nil {
		fmt.Fprintf(&b, " flag=%v", *in.Flag)
	}
	if in.Tags != nil {
		fmt.Fprintf(&b, " tags=%s", strings.Join(in.Tags, ","))
	}
	return b.String()
}

// workRun is the work of the test task: a few lines, progress, and the
// requested end. The pause makes the CLI poll more than once.
func workRun(outcome string) func(context.Context, api.TaskLog) error {
	return func(ctx context.Context, log api.TaskLog) error {
		log.Printf("starting work")
		log.Progress(1, 2)
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		log.Progress(2, 2)
		log.Printf("finishing work")
		switch outcome {
		case "warn":
			log.Warnf("something odd")
		case "fail":
			return errors.New("it broke")
		case "hang":
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
}

// fakeTasks runs tasks in goroutines and keeps their logs in memory, the
// way the real runner's files look through the API.
type fakeTasks struct {
	ctx   context.Context
	node  string
	mu    sync.Mutex
	n     int
	order []string
	tasks map[string]*fakeTask
}

type fakeTask struct {
	lines    []string
	running  bool
	exit     string
	warnings int
}

type fakeLog struct {
	f    *fakeTasks
	task *fakeTask
}

func (l fakeLog) add(s string) {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.task.lines = append(l.task.lines, s)
}

func (l fakeLog) Printf(format string, args ...any) { l.add(fmt.Sprintf(format, args...)) }
func (l fakeLog) Warnf(format string, args ...any) {
	l.f.mu.Lock()
	l.task.warnings++
	l.f.mu.Unlock()
	l.add("WARN: " + fmt.Sprintf(format, args...))
}
func (l fakeLog) Progress(done, total int64) {
	l.add(fmt.Sprintf("progress %.1f%% (%d/%d)", float64(done)*100/float64(total), done, total))
}

func (f *fakeTasks) Start(user string, t api.Task) (string, error) {
	f.mu.Lock()
	f.n++
	upid := fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:", f.node, 4000+f.n, f.n, 0x65000000+f.n, t.Type, t.ID, user)
	task := &fakeTask{running: true}
	f.tasks[upid] = task
	f.order = append(f.order, upid)
	f.mu.Unlock()
	go func() {
		err := t.Run(f.ctx, fakeLog{f, task})
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case err != nil:
			task.exit = err.Error()
			task.lines = append(task.lines, "TASK ERROR: "+err.Error())
		case task.warnings > 0:
			task.exit = fmt.Sprintf("WARNINGS: %d", task.warnings)
			task.lines = append(task.lines, "TASK "+task.exit)
		default:
			task.exit = "OK"
			task.lines = append(task.lines, "TASK OK")
		}
		task.running = false
	}()
	return upid, nil
}

func (f *fakeTasks) status(upid string) (running bool, exit string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[upid]
	if !ok {
		return false, "", false
	}
	return t.running, t.exit, true
}

func (f *fakeTasks) log(upid string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tasks[upid]; ok {
		return append([]string(nil), t.lines...)
	}
	return nil
}

func (f *fakeTasks) upids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...)
}

// result is what one CLI run printed.
type result struct {
	out, err string
	code     int
}

// cliOpts adjust one run.
type cliOpts struct {
	env      map[string]string
	stdin    io.Reader
	terminal bool
	ctx      context.Context
	schema   func([]*api.Endpoint) any
}

// run calls Main with the fixture's socket in the environment.
func (f *fixture) run(argv ...string) result {
	f.t.Helper()
	return f.runWith(cliOpts{}, argv...)
}

func (f *fixture) runWith(o cliOpts, argv ...string) result {
	f.t.Helper()
	env := map[string]string{"HEARTH_SOCKET": f.socket}
	for k, v := range o.env {
		env[k] = v
	}
	return runMain(f.t, f.eps, env, o, argv...)
}

func runMain(t *testing.T, eps []*api.Endpoint, env map[string]string, o cliOpts, argv ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := o.ctx
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
	}
	code := Main(ctx, argv, Env{
		Stdin:  o.stdin,
		Stdout: &out, Stderr: &errb,
		Getenv:     func(k string) string { return env[k] },
		Endpoints:  eps,
		Schema:     o.schema,
		IsTerminal: func(any) bool { return o.terminal },
		Location:   time.UTC,
	})
	return result{out: out.String(), err: errb.String(), code: code}
}

// remote returns the options that reach the fixture over HTTPS, pinned to
// its certificate.
func (f *fixture) remote() []string {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(f.tls.URL, "https://"))
	return []string{"--host", host, "--port", port, "--fingerprint", f.fingerprint()}
}

func (f *fixture) fingerprint() string {
	sum := sha256.Sum256(f.tls.Certificate().Raw)
	return pki.FormatFingerprint(sum[:])
}

func (f *fixture) caFile() string {
	path := filepath.Join(f.t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.tls.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func expectCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.out, r.err)
	}
}
