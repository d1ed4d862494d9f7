package ct

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
)

// Container consoles follow the flow of VM consoles (internal/qemu/vm):
// termproxy opens a session, which reserves a session number ("port"),
// issues a console ticket bound to the caller and the container, and
// starts a vncproxy task living as long as the session; vncwebsocket,
// given that port and ticket, becomes a websocket speaking the termproxy
// protocol (termproto.go). Only then is the console program started, on
// a pseudo-terminal of its own: lxc-console for the container's console
// (mode console), lxc-attach with a login shell for `pct enter` (mode
// enter). A session admits one connection, which must come within
// consoleConnectTimeout; stopping the task ends it and the program.

// ConsoleTickets issues and checks console tickets; access.Service
// implements it with the cluster's ticket key.
type ConsoleTickets interface {
	VNCTicket(authid, path string) (string, error)
	VerifyVNCTicket(ticket, authid, path string) error
}

// consoleConnectTimeout is how long a session waits for its websocket,
// and then for the client's credentials, as Proxmox VE's proxies do.
const consoleConnectTimeout = 10 * time.Second

// consoleTerm is the terminal type the programs in the container are
// told; xterm.js and the CLI's terminal both understand it.
const consoleTerm = "xterm-256color"

// consoles is the registry of the node's container console sessions, by
// port. Container sessions are numbered apart from VM sessions: a
// session is found by port and vmid, and the vmid says which service
// holds it.
type consoles struct {
	s       *Service
	tickets ConsoleTickets
	// connectTimeout is read by running sessions while tests shorten it.
	connectTimeout atomic.Int64
	// start runs a console program; startPTY but in tests.
	start func(argv []string) (*ptyProcess, error)

	mu       sync.Mutex
	sessions map[int]*consoleSession
}

func newConsoles(s *Service, tickets ConsoleTickets) *consoles {
	c := &consoles{s: s, tickets: tickets,
		start: startConsoleProgram, sessions: map[int]*consoleSession{}}
	c.connectTimeout.Store(int64(consoleConnectTimeout))
	return c
}

func (c *consoles) timeout() time.Duration { return time.Duration(c.connectTimeout.Load()) }

// startConsoleProgram starts a console tool of the host with a clean
// environment: what the program in the container sees is set by
// lxc-attach's own options, not by the daemon's variables.
func startConsoleProgram(argv []string) (*ptyProcess, error) {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return startPTY(argv, []string{"PATH=" + path, "TERM=" + consoleTerm, "LANG=C.UTF-8"}, 0, 0)
}

type sessionState int

const (
	sessionWaiting sessionState = iota
	sessionConnected
	sessionGone
)

// consoleSession is one opened console.
type consoleSession struct {
	port   int
	vmid   int
	what   string   // what it attaches to, for the task log
	argv   []string // the console program, decided when the session opened
	authid string
	ticket string

	state   sessionState  // guarded by consoles.mu
	claimed chan struct{} // closed when a client takes the session
	ended   chan struct{} // closed when that client's connection is over
	err     error         // why the connection failed; set before ended closes

	mu      sync.Mutex
	closers []io.Closer // the connection and the program, to stop them
	stopped bool
}

// attach registers something for stop to close. It closes it at once and
// reports false when the session was stopped already.
func (sess *consoleSession) attach(c io.Closer) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.stopped {
		c.Close()
		return false
	}
	sess.closers = append(sess.closers, c)
	return true
}

// stop ends the connection and the program.
func (sess *consoleSession) stop() {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.stopped = true
	for _, c := range sess.closers {
		c.Close()
	}
}

var (
	errSessionStopped = errors.New("the console session was stopped")
	errTermAuth       = errors.New("permission denied - invalid ticket")
)

// add opens a session on the lowest free port.
func (c *consoles) add(vmid int, what string, argv []string, authid, ticket string) (*consoleSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := api.ConsolePortMin; p <= api.ConsolePortMax; p++ {
		if _, used := c.sessions[p]; used {
			continue
		}
		sess := &consoleSession{port: p, vmid: vmid, what: what, argv: argv, authid: authid, ticket: ticket,
			claimed: make(chan struct{}), ended: make(chan struct{})}
		c.sessions[p] = sess
		return sess, nil
	}
	return nil, api.Errorf(http.StatusInternalServerError, "no free console port: %d container console sessions are open on this node",
		api.ConsolePortMax-api.ConsolePortMin+1)
}

// lookup finds the waiting session that a port and ticket name.
func (c *consoles) lookup(port, vmid int, authid, ticket string) (*consoleSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sess := c.sessions[port]
	if sess == nil || sess.vmid != vmid || sess.authid != authid ||
		subtle.ConstantTimeCompare([]byte(sess.ticket), []byte(ticket)) != 1 {
		return nil, api.Errorf(http.StatusInternalServerError,
			"no console session of CT %d waits on port %d (it timed out or belongs to another ticket)", vmid, port)
	}
	if sess.state != sessionWaiting {
		return nil, api.Errorf(http.StatusInternalServerError, "console session %d of CT %d is already connected", port, vmid)
	}
	return sess, nil
}

// claim gives the session to the connection that arrived.
func (c *consoles) claim(sess *consoleSession) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess.state != sessionWaiting {
		return fmt.Errorf("console session %d of CT %d is already connected or gone", sess.port, sess.vmid)
	}
	sess.state = sessionConnected
	close(sess.claimed)
	return nil
}

// expire drops a session nobody connected to. It reports false when a
// client took it meanwhile.
func (c *consoles) expire(sess *consoleSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess.state != sessionWaiting {
		return false
	}
	sess.state = sessionGone
	delete(c.sessions, sess.port)
	return true
}

// release ends a connected session, with the error that ended it if
// any, and frees its port.
func (c *consoles) release(sess *consoleSession, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sess.state = sessionGone
	sess.err = err
	if c.sessions[sess.port] == sess {
		delete(c.sessions, sess.port)
	}
	close(sess.ended)
}

// run is the session's task: it waits for the client, then for the end
// of its connection; stopping the task cuts the connection.
func (c *consoles) run(ctx context.Context, sess *consoleSession, log api.TaskLog) error {
	log.Printf("console session %d on %s of CT %d for %s: waiting for the websocket", sess.port, sess.what, sess.vmid, sess.authid)
	t := time.NewTimer(c.timeout())
	defer t.Stop()
	select {
	case <-sess.claimed:
	case <-t.C:
		if c.expire(sess) {
			return errors.New("connection timed out")
		}
	case <-ctx.Done():
		if c.expire(sess) {
			return ctx.Err()
		}
	}
	log.Printf("connected")
	select {
	case <-sess.ended:
	case <-ctx.Done():
		sess.stop()
		<-sess.ended
	}
	if sess.err != nil && !errors.Is(sess.err, errSessionStopped) {
		return sess.err
	}
	log.Printf("connection closed")
	return nil
}

func consoleUser(call *api.Call) string {
	if call.Token != "" {
		return call.Token
	}
	return call.User
}

// consoleACLPath is the object a console ticket is bound to; the same
// as for a VM, since vmids are unique in the cluster.
func consoleACLPath(vmid int) string { return "/vms/" + strconv.Itoa(vmid) }

// open starts a session and its task.
func (c *consoles) open(call *api.Call, vmid int, what string, argv []string) (api.ConsoleSession, error) {
	if call.StartTask == nil {
		return api.ConsoleSession{}, errors.New("consoles need the task runner, which this server lacks")
	}
	authid := consoleUser(call)
	ticket, err := c.tickets.VNCTicket(authid, consoleACLPath(vmid))
	if err != nil {
		return api.ConsoleSession{}, err
	}
	sess, err := c.add(vmid, what, argv, authid, ticket)
	if err != nil {
		return api.ConsoleSession{}, err
	}
	upid, err := call.StartTask(ctTask("vncproxy", vmid, func(ctx context.Context, log api.TaskLog) error {
		return c.run(ctx, sess, log)
	}))
	if err != nil {
		c.expire(sess)
		return api.ConsoleSession{}, fmt.Errorf("starting the console task: %w", err)
	}
	return api.ConsoleSession{User: authid, Ticket: ticket, Port: sess.port, UPID: upid}, nil
}

// vncProxy refuses: a container's console is a text terminal, and
// Hearth has no VNC server that draws one (Proxmox VE's vncterm).
func (c *consoles) vncProxy(_ context.Context, _ *api.Call, in *api.CTVNCProxyParams) (api.ConsoleSession, error) {
	if err := c.s.exists(in.VMID); err != nil {
		return api.ConsoleSession{}, err
	}
	return api.ConsoleSession{}, api.Errorf(http.StatusNotImplemented,
		"CT %d: container consoles are served to terminal clients only; open it with termproxy (xterm.js, 'pct console', 'pct enter')", in.VMID)
}

func (c *consoles) termProxy(_ context.Context, call *api.Call, in *api.CTTermProxyParams) (api.ConsoleSession, error) {
	cf, err := c.s.repo.Load(in.VMID)
	if err != nil {
		return api.ConsoleSession{}, err
	}
	pid, running := c.s.running(in.VMID)
	if !running {
		return api.ConsoleSession{}, errNotRunning(in.VMID)
	}
	what, argv, err := c.s.consoleCommand(in.VMID, cf.Main(), in.Mode, procRoot(pid))
	if err != nil {
		return api.ConsoleSession{}, err
	}
	return c.open(call, in.VMID, what, argv)
}

// consoleCommand picks the program of a terminal session: for mode
// enter a login shell started in the container, for mode console what
// the container's cmode says (as Proxmox VE's console command does).
// root is the container's root file system, to look for a shell in.
func (s *Service) consoleCommand(vmid int, sec *guestconf.Section, mode, root string) (what string, argv []string, err error) {
	attach := func(args ...string) []string {
		return s.lxcArgv("lxc-attach", vmid, append([]string{"--clear-env",
			"--set-var", "TERM=" + consoleTerm, "--set-var", "HOME=/root"}, args...)...)
	}
	switch mode {
	case api.CTEnterMode:
		shell := "/bin/sh"
		if isExecutableIn(root, "/bin/bash") {
			shell = "/bin/bash"
		} else if !isExecutableIn(root, shell) {
			return "", nil, api.Errorf(http.StatusInternalServerError, "CT %d has neither /bin/bash nor /bin/sh to enter it with", vmid)
		}
		return "a root shell (" + shell + ")", attach("--", shell, "-l"), nil
	case api.CTConsoleMode, "":
	default:
		return "", nil, api.ParamError("mode", "value '%s' is not one of %s, %s", mode, api.CTConsoleMode, api.CTEnterMode)
	}
	switch cmode := or(sec.Value("cmode"), "tty"); cmode {
	case "console":
		if sec.Value("console") == "0" {
			return "", nil, api.Errorf(http.StatusInternalServerError,
				"CT %d has no console (console: 0) but its cmode is console; enable it or use 'pct enter'", vmid)
		}
		return "the console", s.lxcArgv("lxc-console", vmid, "-t", "0", "-e", "-1"), nil
	case "tty":
		if sec.Value("tty") == "0" {
			return "", nil, api.Errorf(http.StatusInternalServerError,
				"CT %d has no terminals (tty: 0) but its cmode is tty; give it some or use 'pct enter'", vmid)
		}
		return "a terminal", s.lxcArgv("lxc-console", vmid, "-e", "-1"), nil
	case "shell":
		return "a shell", attach(), nil
	default:
		return "", nil, api.Errorf(http.StatusInternalServerError, "CT %d has the unknown cmode '%s' (expected tty, console or shell)", vmid, cmode)
	}
}

func (c *consoles) webSocket(_ context.Context, call *api.Call, in *api.VNCWebSocketParams) (api.Tunnel, error) {
	authid := consoleUser(call)
	if err := c.tickets.VerifyVNCTicket(in.VNCTicket, authid, consoleACLPath(in.VMID)); err != nil {
		return api.Tunnel{}, api.Errorf(http.StatusForbidden, "Permission denied - invalid vnc ticket")
	}
	if err := c.s.exists(in.VMID); err != nil {
		return api.Tunnel{}, err
	}
	sess, err := c.lookup(in.Port, in.VMID, authid, in.VNCTicket)
	if err != nil {
		return api.Tunnel{}, err
	}
	return api.Tunnel{
		Answer: api.WebSocketAnswer{Port: strconv.Itoa(in.Port)},
		Serve: func(_ context.Context, conn io.ReadWriteCloser) error {
			return c.serve(sess, conn)
		},
	}, nil
}

// serve runs the websocket of a session: it takes the session, checks
// the client's credentials, starts the console program and connects the
// two until either ends.
func (c *consoles) serve(sess *consoleSession, conn io.ReadWriteCloser) (err error) {
	if err := c.claim(sess); err != nil {
		return err
	}
	defer func() { c.release(sess, err) }()
	if !sess.attach(conn) {
		return errSessionStopped
	}
	in := bufio.NewReader(conn)
	// A client that never sends its credentials is cut off.
	timer := time.AfterFunc(c.timeout(), func() { conn.Close() })
	authid, ticket, err := readTermAuth(in)
	if !timer.Stop() {
		return fmt.Errorf("no terminal credentials within %v", c.timeout())
	}
	if err != nil {
		return err
	}
	if authid != sess.authid || subtle.ConstantTimeCompare([]byte(ticket), []byte(sess.ticket)) != 1 ||
		c.tickets.VerifyVNCTicket(ticket, authid, consoleACLPath(sess.vmid)) != nil {
		return errTermAuth
	}
	p, err := c.start(sess.argv)
	if err != nil {
		return fmt.Errorf("starting the console of CT %d: %w", sess.vmid, err)
	}
	defer p.Wait()
	defer p.Close()
	if !sess.attach(p) {
		return errSessionStopped
	}
	if _, err := conn.Write([]byte("OK")); err != nil {
		return nil // the client left
	}
	return pipeTerm(conn, in, p)
}

// pipeTerm copies the program's output to the client and the client's
// messages to the program until either side ends. When the program's
// side ends first the client is disconnected; when the client's side
// ends the program is hung up on. A client that broke the protocol gets
// the reason as the error, to be told; anything else ends quietly.
func pipeTerm(conn io.ReadWriteCloser, in *bufio.Reader, p *ptyProcess) error {
	inputDone := make(chan error, 1)
	go func() {
		inputDone <- decodeTerm(in, p, func(cols, rows int) { p.Resize(cols, rows) })
		p.Close()
	}()
	// A program that ended while something it left behind still holds
	// the terminal would otherwise keep the session open.
	go func() {
		<-p.Exited()
		t := time.NewTimer(time.Second)
		defer t.Stop()
		<-t.C
		p.Close()
	}()
	io.Copy(conn, p)
	var err error
	select {
	case err = <-inputDone:
	default:
		conn.Close()
		<-inputDone
	}
	if isTermProtocolError(err) {
		return err
	}
	return nil
}
