package rest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// Auth is what the server needs from access control.
type Auth interface {
	// VerifyTicket checks a ticket and returns its user, who must still be
	// allowed to log in.
	VerifyTicket(ticket string) (userid string, err error)
	// VerifyCSRF checks the CSRF token that must accompany every change
	// made with a ticket.
	VerifyCSRF(userid, token string) error
	// VerifyToken checks an API token ("user@realm!name") and its secret,
	// and returns the token's user.
	VerifyToken(tokenid, secret string) (userid string, err error)
	// Checker answers permission questions for a caller.
	Checker(userid, tokenid string) api.Checker
}

// TaskRunner starts the work of task endpoints.
type TaskRunner interface {
	Start(user string, t api.Task) (upid string, err error)
}

// Config holds the server's collaborators and limits.
type Config struct {
	Node   string
	Routes []api.Route
	Auth   Auth
	Tasks  TaskRunner
	// Forwarder sends requests meant for another node there; nil means
	// this is the only node.
	Forwarder Forwarder
	Logger    *slog.Logger
	// AuthFailDelay is how long a 401 waits before it is sent, to slow
	// down password guessing. Default 3 s, as Proxmox VE.
	AuthFailDelay time.Duration
	// MaxBody bounds request bodies of ordinary calls. Default 1 MiB.
	MaxBody int64
	// Extra serves paths outside /api2/json (the web UI, the OpenAPI
	// document). Nil means 501 for them.
	Extra http.Handler
}

// Server is the HTTP API: it routes, authenticates, validates, checks
// permissions, forwards to other nodes and calls the handlers.
type Server struct {
	cfg    Config
	router *router
	log    *slog.Logger
	gzip   gzipPool
}

// New builds a server. It fails when two routes collide.
func New(cfg Config) (*Server, error) {
	if cfg.AuthFailDelay == 0 {
		cfg.AuthFailDelay = 3 * time.Second
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rt, err := newRouter(cfg.Routes)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, router: rt, log: cfg.Logger}, nil
}

// Children lists the literal sub-paths below a declared API path, for
// directory index handlers.
func (s *Server) Children(path string) []string { return s.router.children(path) }

// APIPrefix is where the JSON API lives.
const APIPrefix = "/api2/json"

// ServeHTTP handles one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	var user string
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeError(rec, r, http.StatusInternalServerError, "internal error", nil)
			}
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"user", user, "remote", r.RemoteAddr, "duration", time.Since(start))
	}()
	escaped := r.URL.EscapedPath()
	if escaped != APIPrefix && !strings.HasPrefix(escaped, APIPrefix+"/") {
		if s.cfg.Extra != nil {
			s.cfg.Extra.ServeHTTP(rec, r)
			return
		}
		s.fail(rec, r, api.Errorf(http.StatusNotImplemented, "no API below %s; use %s/...", r.URL.Path, APIPrefix))
		return
	}
	user = s.serveAPI(rec, r, strings.TrimPrefix(escaped, APIPrefix))
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, path string) string {
	route, pathParams, exists, err := s.router.match(r.Method, path)
	if err != nil {
		s.fail(w, r, api.Errorf(http.StatusBadRequest, "%v", err))
		return ""
	}
	if route == nil {
		what := "Method"
		if !exists {
			what = "Path"
		}
		s.fail(w, r, api.Errorf(http.StatusNotImplemented, "%s '%s %s' not implemented", what, r.Method, path))
		return ""
	}
	id, err := s.authenticate(r, route)
	if err != nil {
		s.fail(w, r, err)
		return ""
	}
	var raw *rawRequest
	var upload *api.Upload
	if route.Upload != "" && isMultipart(r) {
		raw, upload, err = readUpload(r, route.Upload, s.cfg.MaxBody)
	} else {
		raw, err = readParams(r, s.cfg.MaxBody)
	}
	if upload != nil {
		if rec, ok := w.(*statusRecorder); ok {
			rec.upload = upload
		}
	}
	if err == nil {
		err = mergePathParams(raw.params, pathParams)
	}
	if err != nil {
		s.fail(w, r, err)
		return id.user
	}
	values, errs := schema.DecodeParams(route.Params, raw.params, route.AllowExtra)
	if errs != nil {
		s.fail(w, r, &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs})
		return id.user
	}
	call := &api.Call{User: id.user, Token: id.token, Node: s.cfg.Node, RemoteAddr: r.RemoteAddr, Upload: upload}
	// Handlers that start a task besides answering (consoles) start it
	// for the caller, as the server does for task endpoints.
	if s.cfg.Tasks != nil {
		call.StartTask = func(t api.Task) (string, error) { return s.cfg.Tasks.Start(taskUser(call), t) }
	}
	if id.user != "" {
		call.Perm = s.cfg.Auth.Checker(id.user, id.token)
	}
	if err := route.Perm.Check(call, values); err != nil {
		s.fail(w, r, err)
		return id.user
	}
	if route.ProxyTo != "" {
		target, _ := values[route.ProxyTo].(string)
		if target != s.cfg.Node {
			if id.forwarded {
				s.fail(w, r, fmt.Errorf("request forwarded to node %s names node %s; refusing to forward it again", s.cfg.Node, target))
				return id.user
			}
			if route.WebSocket && isWebSocket(r) {
				// A websocket for another node: spliced through once that
				// node has upgraded it (websocket_forward.go).
				s.forwardWebSocket(w, r, target, id)
				return id.user
			}
			s.forward(w, r, target, raw, id)
			return id.user
		}
	}
	s.invoke(w, r, route, call, values)
	return id.user
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, route *api.Route, call *api.Call, values map[string]any) {
	ctx := r.Context()
	if route.RunTask != nil {
		task, err := route.RunTask(ctx, call, values)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		user := call.User
		if call.Token != "" {
			user = call.Token
		}
		if up := call.Upload; up != nil {
			run := task.Run
			task.Run = func(ctx context.Context, log api.TaskLog) error {
				defer up.Close()
				return run(ctx, log)
			}
		}
		upid, err := s.cfg.Tasks.Start(user, task)
		if err != nil {
			s.fail(w, r, fmt.Errorf("starting task: %w", err))
			return
		}
		if call.Upload != nil {
			// The task reads the file from this request's body: answer
			// only when it has, or the body would be cut off.
			select {
			case <-call.Upload.Done():
			case <-ctx.Done():
				return
			}
		}
		s.gzip.writeJSON(w, r, upid, nil)
		return
	}
	res, err := route.Invoke(ctx, call, values)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if route.WebSocket {
		// The handler accepted the request: upgrade (websocket.go).
		s.serveTunnel(w, r, route, res)
		return
	}
	if p, ok := res.(interface{ PagedData() (any, int) }); ok {
		data, total := p.PagedData()
		s.gzip.writeJSON(w, r, data, &total)
		return
	}
	if a, ok := res.(interface{ ResultAttrs() (any, map[string]any) }); ok {
		data, attrs := a.ResultAttrs()
		s.gzip.writeJSONAttrs(w, r, data, attrs)
		return
	}
	s.gzip.writeJSON(w, r, res, nil)
}

// taskUser is who a task runs for: the API token when one was used.
func taskUser(call *api.Call) string {
	if call.Token != "" {
		return call.Token
	}
	return call.User
}

// fail answers with the error's status; 401s wait first.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := api.StatusOf(err)
	var errs map[string]string
	var ae *api.Error
	if errors.As(err, &ae) {
		errs = ae.Errors
	}
	msg := err.Error()
	if status == http.StatusInternalServerError && errors.Is(err, context.Canceled) {
		msg = "request cancelled"
	}
	if status == http.StatusUnauthorized {
		s.delay(r.Context())
	}
	if status >= 500 {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", msg)
	}
	if rec, ok := w.(*statusRecorder); ok {
		if rec.status == 0 {
			rec.status = status
		}
		rec.drainUpload()
	}
	writeError(w, r, status, msg, errs)
}

func (s *Server) delay(ctx context.Context) {
	t := time.NewTimer(s.cfg.AuthFailDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// statusRecorder remembers the status for the access log and lets error
// writing hijack the connection underneath.
type statusRecorder struct {
	http.ResponseWriter
	status int
	// upload is the file of an upload request, which a refusal must
	// read away: a client still sending it would see the connection
	// reset instead of the answer.
	upload *api.Upload
}

// maxDrain bounds what is read away of a refused upload; a client that
// sends more sees the connection closed.
const maxDrain = 256 << 20

func (s *statusRecorder) drainUpload() {
	if s.upload != nil {
		io.Copy(io.Discard, io.LimitReader(s.upload, maxDrain))
		s.upload.Close()
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack exposes the connection for hand-written error responses and,
// later, websockets.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be taken over")
	}
	return hj.Hijack()
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
