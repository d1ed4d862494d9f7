// Package daemon builds and runs a Hearth node: it opens the cluster file
// system, access control, the task runner and the host sampler, binds every
// API declaration to its handler, and serves the API over HTTPS and the
// local root socket. Every dependency is wired here, explicitly.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/access"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/hostinfo"
	"github.com/hearth-virt/hearth/internal/logbook"
	"github.com/hearth-virt/hearth/internal/rest"
	"github.com/hearth-virt/hearth/internal/task"
	"golang.org/x/sys/unix"
)

// Config is how a node is started.
type Config struct {
	StateDir string // default /var/lib/hearth
	Listen   string // default 0.0.0.0:8006; port 0 picks a free one
	Node     string // default: the short host name
	// Socket is the root-only unix socket of the CLI; default
	// <StateDir>/hearth.sock.
	Socket string
	// InitialPasswordFile holds the first administrator's password; when
	// empty one is generated and saved in <StateDir>/initial-password.
	InitialPasswordFile string
	LogLevel            slog.Level
	Stderr              io.Writer // where log lines also go; nil for none
	// AuthFailDelay overrides the 3 s wait before a 401 (tests).
	AuthFailDelay time.Duration
	// Announce receives the ready message with the URL and the login.
	Announce io.Writer
}

// Daemon is a running node.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	book    *logbook.Book
	store   *cfs.Store
	access  *access.Service
	tasks   *task.Runner
	sampler *hostinfo.Sampler
	host    hostinfo.Reader
	status  statusCache
	api     *rest.Server
	tlsConf *tls.Config

	// newPassword is the generated first password, shown once at start.
	newPassword string

	httpSrv, sockSrv *http.Server
	httpLn, sockLn   net.Listener
	wg               sync.WaitGroup
	cancel           context.CancelFunc
}

// New opens the node's state and prepares every service, creating what a
// first start needs (keys, certificates, the first administrator). It does
// not listen yet; Start does.
func New(ctx context.Context, cfg Config) (d *Daemon, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d = &Daemon{cfg: cfg}
	defer func() {
		if err != nil {
			d.closeStores()
		}
	}()
	d.book, err = logbook.Open(logbook.Options{Dir: filepath.Join(cfg.StateDir, "log"), Node: cfg.Node, Stderr: cfg.Stderr, Level: cfg.LogLevel})
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	d.log = slog.New(d.book.Handler())

	d.store, err = cfs.Open(ctx, cfs.Config{Dir: filepath.Join(cfg.StateDir, "cfs"), NodeID: cfg.Node, Logger: d.log.With("component", "cfs")})
	if err != nil {
		return nil, fmt.Errorf("cluster file system: %w", err)
	}
	if err := d.store.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("cluster file system: %w", err)
	}
	if err := d.ensureLayout(ctx); err != nil {
		return nil, err
	}
	if d.tlsConf, err = d.ensureCertificates(ctx); err != nil {
		return nil, err
	}
	d.access = access.New(d.store, d.log.With("component", "access"))
	if err := d.access.EnsureKeys(ctx, time.Now()); err != nil {
		return nil, err
	}
	if err := d.bootstrapAdmin(ctx); err != nil {
		return nil, err
	}
	d.tasks, err = task.Open(task.Config{Dir: filepath.Join(cfg.StateDir, "tasks"), Node: cfg.Node, Logger: d.log.With("component", "tasks")})
	if err != nil {
		return nil, fmt.Errorf("task runner: %w", err)
	}
	d.sampler = hostinfo.NewSampler(d.host)
	if err := d.sampler.Sample(); err != nil {
		d.log.Warn("cannot read CPU usage", "error", err)
	}
	extra, err := d.extraHandler()
	if err != nil {
		return nil, err
	}
	d.api, err = rest.New(rest.Config{
		Node:          cfg.Node,
		Routes:        d.routes(),
		Auth:          d.access,
		Tasks:         taskStarter{d.tasks},
		Logger:        d.log.With("component", "api"),
		AuthFailDelay: cfg.AuthFailDelay,
		Extra:         extra,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (c *Config) defaults() error {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/hearth"
	}
	if c.Listen == "" {
		c.Listen = "0.0.0.0:8006"
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.StateDir, "hearth.sock")
	}
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w; give one with --node", err)
		}
		c.Node, _, _ = cutDot(h)
	}
	if err := schema.CheckFormat("pve-node", c.Node); err != nil {
		return fmt.Errorf("node name %q: %w; give a valid one with --node", c.Node, err)
	}
	return nil
}

func cutDot(h string) (string, string, bool) {
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			return h[:i], h[i+1:], true
		}
	}
	return h, "", false
}

// taskStarter adapts the task runner to the API server.
type taskStarter struct{ r *task.Runner }

func (t taskStarter) Start(user string, tk api.Task) (string, error) {
	u, err := t.r.Start(user, tk)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// Start listens on the API address and the root socket and serves until
// Shutdown. Background work (CPU sampling, key rotation) starts here too.
func (d *Daemon) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(ctx)
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", d.cfg.Listen, err)
	}
	d.httpLn = tls.NewListener(ln, d.tlsConf)
	sock, err := listenSocket(d.cfg.Socket)
	if err != nil {
		ln.Close()
		return err
	}
	d.sockLn = sock
	d.httpSrv = rest.NewHTTPServer(d.api, nil, d.log)
	d.sockSrv = rest.NewHTTPServer(d.api, nil, d.log)
	d.sockSrv.ConnContext = rest.RootConnContext
	serve := func(srv *http.Server, ln net.Listener) {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("server stopped", "error", err)
		}
	}
	d.wg.Add(4)
	go serve(d.httpSrv, d.httpLn)
	go serve(d.sockSrv, d.sockLn)
	go func() { defer d.wg.Done(); d.sampler.Run(ctx, 5*time.Second) }()
	go func() { defer d.wg.Done(); d.rotateKeys(ctx) }()
	d.log.Info("node started", "node", d.cfg.Node, "listen", d.httpLn.Addr().String(), "socket", d.cfg.Socket, "version", api.HearthVersion)
	d.announce()
	return nil
}

// listenSocket opens the root-only CLI socket, replacing a stale one.
func listenSocket(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	// The umask keeps the socket private from the moment it exists.
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// rotateKeys replaces the ticket key once it is a day old.
func (d *Daemon) rotateKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := d.access.EnsureKeys(ctx, now); err != nil {
				d.log.Warn("key rotation failed", "error", err)
			}
		}
	}
}

// Addr is the address the API listens on.
func (d *Daemon) Addr() net.Addr { return d.httpLn.Addr() }

// Node is the node's name.
func (d *Daemon) Node() string { return d.cfg.Node }

// Shutdown stops serving, waits for requests and tasks (bounded by ctx),
// and closes the state.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if d.cancel != nil {
		d.cancel()
	}
	var errs []error
	for _, srv := range []*http.Server{d.httpSrv, d.sockSrv} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	d.wg.Wait()
	if d.tasks != nil {
		errs = append(errs, d.tasks.Shutdown(ctx))
	}
	os.Remove(d.cfg.Socket)
	d.log.Info("node stopped")
	errs = append(errs, d.closeStores())
	return errors.Join(errs...)
}

func (d *Daemon) closeStores() error {
	var errs []error
	if d.store != nil {
		errs = append(errs, d.store.Close())
		d.store = nil
	}
	if d.book != nil {
		errs = append(errs, d.book.Close())
		d.book = nil
	}
	return errors.Join(errs...)
}
