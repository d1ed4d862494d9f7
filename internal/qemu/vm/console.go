package vm

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// Consoles follow Proxmox VE's two-step flow. vncproxy or termproxy opens
// a session: it reserves a session number ("port"), issues a console
// ticket bound to the caller and the VM, and starts a vncproxy task that
// lives as long as the session. vncwebsocket, with that port and ticket,
// becomes a websocket that this file connects to the VM's VNC socket or
// to one of its serial sockets. A session admits one connection, which
// must come within consoleConnectTimeout; stopping the task ends it.
//
// QEMU's VNC server on the unix socket asks for no password: the socket
// is reachable by root only, and the console ticket is the guard.

// ConsoleTickets issues and checks console tickets; access.Service
// implements it with the cluster's ticket key.
type ConsoleTickets interface {
	VNCTicket(authid, path string) (string, error)
	VerifyVNCTicket(ticket, authid, path string) error
}

// consoleConnectTimeout is how long a session waits for its websocket,
// and then for a terminal client's credentials; Proxmox VE's proxies
// wait as long.
const consoleConnectTimeout = 10 * time.Second

// ConsoleRoutes binds the console endpoints. Sessions live in the memory
// of this node, which is where vncwebsocket requests for its VMs end up
// (the API server forwards them by the node parameter).
func (s *Service) ConsoleRoutes(tickets ConsoleTickets) []api.Route {
	c := newConsoles(s, tickets)
	return []api.Route{
		api.VMVNCProxy.Handle(c.vncProxy),
		api.VMTermProxy.Handle(c.termProxy),
		api.VMVNCWebSocket.Handle(c.webSocket),
	}
}

// consoles is the registry of the node's console sessions, by port.
type consoles struct {
	s              *Service
	tickets        ConsoleTickets
	connectTimeout time.Duration

	mu       sync.Mutex
	sessions map[int]*consoleSession
}

func newConsoles(s *Service, tickets ConsoleTickets) *consoles {
	return &consoles{s: s, tickets: tickets, connectTimeout: consoleConnectTimeout, sessions: map[int]*consoleSession{}}
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
	serial int // the serial port, or -1 for the display (VNC)
	authid string
	ticket string

	state   sessionState  // guarded by consoles.mu
	claimed chan struct{} // closed when a client takes the session
	ended   chan struct{} // closed when that client's connection is over
	err     error         // why the connection failed; set before ended closes

	mu      sync.Mutex
	closers []io.Closer // the ends of the connection, to stop it
	stopped bool
}

func (sess *consoleSession) what() string {
	if sess.serial < 0 {
		return "the display"
	}
	return "serial" + strconv.Itoa(sess.serial)
}

// attach registers an end of the connection for stop. It closes it at
// once and reports false when the session was stopped already.
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

// stop ends the connection by closing both its ends.
func (sess *consoleSession) stop() {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.stopped = true
	for _, c := range sess.closers {
		c.Close()
	}
}

var errSessionStopped = errors.New("the console session was stopped")

// add opens a session on the lowest free port.
func (c *consoles) add(vmid, serial int, authid, ticket string) (*consoleSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := api.ConsolePortMin; p <= api.ConsolePortMax; p++ {
		if _, used := c.sessions[p]; used {
			continue
		}
		sess := &consoleSession{port: p, vmid: vmid, serial: serial, authid: authid, ticket: ticket,
			claimed: make(chan struct{}), ended: make(chan struct{})}
		c.sessions[p] = sess
		return sess, nil
	}
	return nil, api.Errorf(http.StatusInternalServerError, "no free console port: %d console sessions are open on this node",
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
			"no console session of VM %d waits on port %d (it timed out or belongs to another ticket)", vmid, port)
	}
	if sess.state != sessionWaiting {
		return nil, api.Errorf(http.StatusInternalServerError, "console session %d of VM %d is already connected", port, vmid)
	}
	return sess, nil
}

// claim gives the session to the connection that arrived.
func (c *consoles) claim(sess *consoleSession) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess.state != sessionWaiting {
		return fmt.Errorf("console session %d of VM %d is already connected or gone", sess.port, sess.vmid)
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
	log.Printf("console session %d on %s of VM %d for %s: waiting for the websocket", sess.port, sess.what(), sess.vmid, sess.authid)
	t := time.NewTimer(c.connectTimeout)
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

func consoleACLPath(vmid int) string { return "/vms/" + strconv.Itoa(vmid) }

// open starts a session and its task.
func (c *consoles) open(call *api.Call, vmid, serial int) (api.ConsoleSession, error) {
	if call.StartTask == nil {
		return api.ConsoleSession{}, errors.New("consoles need the task runner, which this server lacks")
	}
	authid := consoleUser(call)
	ticket, err := c.tickets.VNCTicket(authid, consoleACLPath(vmid))
	if err != nil {
		return api.ConsoleSession{}, err
	}
	sess, err := c.add(vmid, serial, authid, ticket)
	if err != nil {
		return api.ConsoleSession{}, err
	}
	upid, err := call.StartTask(vmTask("vncproxy", vmid, func(ctx context.Context, log api.TaskLog) error {
		return c.run(ctx, sess, log)
	}))
	if err != nil {
		c.expire(sess)
		return api.ConsoleSession{}, fmt.Errorf("starting the console task: %w", err)
	}
	return api.ConsoleSession{User: authid, Ticket: ticket, Port: sess.port, UPID: upid}, nil
}

// serialDisplay returns the serial port the VM's display is redirected
// to (vga: serialN), if it is.
func serialDisplay(cf *conf) (string, bool) {
	v, ok := cf.Main().Get("vga")
	if !ok {
		return "", false
	}
	g, err := vmconf.ParseVGA(v)
	if err != nil || !strings.HasPrefix(g.Type, "serial") {
		return "", false
	}
	return g.Type, true
}

func (c *consoles) vncProxy(_ context.Context, call *api.Call, in *api.VNCProxyParams) (api.ConsoleSession, error) {
	cf, err := c.s.load(in.VMID)
	if err != nil {
		return api.ConsoleSession{}, err
	}
	if port, ok := serialDisplay(cf); ok {
		// Proxmox VE draws such a terminal into a VNC framebuffer;
		// Hearth serves it to terminal clients only.
		return api.ConsoleSession{}, api.Errorf(http.StatusInternalServerError,
			"VM %d shows its console on %s (vga: %s): open it with termproxy", in.VMID, port, port)
	}
	if _, running := c.s.paths(in.VMID).running(); !running {
		return api.ConsoleSession{}, errNotRunning(in.VMID)
	}
	res, err := c.open(call, in.VMID, -1)
	if err != nil {
		return res, err
	}
	// The cluster CA, which noVNC outside the web UI pins. It is public.
	if e, err := c.s.o.Store.Get("pve-root-ca.pem"); err == nil {
		res.Cert = string(e.Data)
	}
	return res, nil
}

func (c *consoles) termProxy(_ context.Context, call *api.Call, in *api.TermProxyParams) (api.ConsoleSession, error) {
	cf, err := c.s.load(in.VMID)
	if err != nil {
		return api.ConsoleSession{}, err
	}
	key := in.Serial
	if key == "" {
		key = "serial0"
		if port, ok := serialDisplay(cf); ok {
			key = port
		}
	}
	n, err := strconv.Atoi(strings.TrimPrefix(key, "serial"))
	if err != nil || n < 0 || n > 3 {
		return api.ConsoleSession{}, api.ParamError("serial", "value '%s' is not one of serial0, serial1, serial2, serial3", key)
	}
	v, ok := cf.Main().Get(key)
	if !ok {
		return api.ConsoleSession{}, api.Errorf(http.StatusInternalServerError,
			"VM %d has no %s; add one with 'qm set %d --%s socket'", in.VMID, key, in.VMID, key)
	}
	if sp, err := vmconf.ParseSerial(v); err != nil || !sp.IsSocket() {
		return api.ConsoleSession{}, api.Errorf(http.StatusInternalServerError,
			"%s of VM %d is the host device '%s', not a socket: only a socket can be opened as a terminal", key, in.VMID, v)
	}
	if _, running := c.s.paths(in.VMID).running(); !running {
		return api.ConsoleSession{}, errNotRunning(in.VMID)
	}
	return c.open(call, in.VMID, n)
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

// serve runs the websocket of a session: it takes the session, then
// proxies to the display or to the serial port.
func (c *consoles) serve(sess *consoleSession, conn io.ReadWriteCloser) (err error) {
	if err := c.claim(sess); err != nil {
		return err
	}
	defer func() { c.release(sess, err) }()
	if !sess.attach(conn) {
		return errSessionStopped
	}
	if sess.serial < 0 {
		sock, err := c.dial(sess.vmid, c.s.paths(sess.vmid).vnc())
		if err != nil {
			return err
		}
		if !sess.attach(sock) {
			return errSessionStopped
		}
		pipeConsole(conn, sock, func() error {
			_, err := io.Copy(sock, conn)
			return err
		})
		return nil // a client or a VM that went away is no error
	}
	return c.serveTerm(sess, conn)
}

// dial connects to one of a VM's sockets.
func (c *consoles) dial(vmid int, path string) (net.Conn, error) {
	sock, err := net.Dial("unix", path)
	if err != nil {
		if _, running := c.s.paths(vmid).running(); !running {
			return nil, errNotRunning(vmid)
		}
		return nil, fmt.Errorf("connecting to VM %d: %w", vmid, err)
	}
	return sock, nil
}

// pipeConsole copies the VM's output to the client, and the client's
// input to the VM with input, until either side ends. When the VM's side
// ends it closes both; when the client's side ends it closes the socket
// and returns input's error, leaving the client to the caller, which may
// still tell it why.
func pipeConsole(client io.ReadWriteCloser, sock net.Conn, input func() error) error {
	var inErr error
	inputEnded := make(chan struct{})
	go func() {
		inErr = input()
		close(inputEnded)
		sock.Close()
	}()
	io.Copy(client, sock)
	select {
	case <-inputEnded:
		return inErr
	default:
	}
	client.Close()
	sock.Close()
	<-inputEnded
	return nil
}
