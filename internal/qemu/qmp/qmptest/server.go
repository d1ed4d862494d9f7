// Package qmptest is a fake QEMU monitor for unit tests. It listens on a
// unix socket, speaks the QMP wire protocol the way QEMU does (greeting,
// capabilities negotiation, id echo, events), and answers commands from a
// handler, so code that drives QEMU can be tested without starting it.
package qmptest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Request is one command the fake received.
type Request struct {
	Command string
	Args    json.RawMessage // nil when the command had no arguments
	ID      json.RawMessage
}

// Decode unmarshals the command's arguments into v.
func (r Request) Decode(v any) error {
	if r.Args == nil {
		return errors.New("qmptest: request " + r.Command + " has no arguments")
	}
	return json.Unmarshal(r.Args, v)
}

// Error is a QMP error reply.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

// Event is an asynchronous message the fake sends to its clients.
type Event struct {
	Name string
	Data any // nil sends no data member
}

// Response is how the fake answers one command.
type Response struct {
	Return any    // the success value; nil sends {}
	Error  *Error // when set, the command fails with this error
	// Before are events sent ahead of the reply: QEMU announces a job's
	// first status changes before the command that started it returns.
	Before []Event
	// After are events sent right after the reply (DEVICE_DELETED,
	// JOB_STATUS_CHANGE, SHUTDOWN, ...).
	After []Event
	// NoReply leaves the command unanswered, like a monitor that hangs.
	NoReply bool
	// Hangup closes the connection after the reply and events, the way
	// QEMU does on quit.
	Hangup bool
}

// Return is a successful Response carrying v.
func Return(v any) Response { return Response{Return: v} }

// Fail is a failing Response with the given QMP error class and text.
func Fail(class, desc string) Response { return Response{Error: &Error{Class: class, Desc: desc}} }

// Handler answers one command. Handlers run concurrently, one goroutine per
// command, so a slow command does not hold up others (as with QEMU's
// out-of-band execution); replies are therefore matched by id, not order.
// A handler must return before the test ends: the server waits for it.
type Handler func(Request) Response

// Script answers each command with its responses in turn, repeating the
// last one; commands it does not list fail with CommandNotFound as QEMU
// does.
func Script(replies map[string][]Response) Handler {
	var mu sync.Mutex
	next := map[string]int{}
	return func(r Request) Response {
		mu.Lock()
		defer mu.Unlock()
		rs := replies[r.Command]
		if len(rs) == 0 {
			return Fail("CommandNotFound", "The command "+r.Command+" has not been found")
		}
		i := min(next[r.Command], len(rs)-1)
		next[r.Command]++
		return rs[i]
	}
}

// Server is a running fake monitor. Path is the socket to dial.
type Server struct {
	Path string

	handler Handler
	ln      net.Listener

	mu       sync.Mutex
	conns    map[*conn]struct{}
	requests []Request
	wg       sync.WaitGroup
}

// NewServer starts a fake monitor on a socket in t.TempDir(); it is shut
// down when the test ends. A nil handler answers every command with {}.
func NewServer(t testing.TB, handler Handler) *Server {
	t.Helper()
	if handler == nil {
		handler = func(Request) Response { return Response{} }
	}
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("qmptest: listen on %s: %v", path, err)
	}
	s := &Server{Path: path, handler: handler, ln: ln, conns: map[*conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops listening, drops every client and waits for the fake's
// goroutines.
func (s *Server) Close() {
	s.ln.Close()
	s.Hangup()
	s.wg.Wait()
}

// Hangup drops every connected client, the way QEMU's exit would.
func (s *Server) Hangup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
	}
}

// Emit sends an event to every client that has finished capabilities
// negotiation; like QEMU, clients that are not listening yet never see it.
func (s *Server) Emit(name string, data any) {
	s.mu.Lock()
	var cs []*conn
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.sendEvents([]Event{{Name: name, Data: data}})
	}
}

// Requests returns the commands received so far, in arrival order, without
// the capabilities negotiation.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Commands returns the names of the commands received so far, in order.
func (s *Server) Commands() []string {
	var names []string
	for _, r := range s.Requests() {
		names = append(names, r.Command)
	}
	return names
}

// Clients is the number of connections that completed negotiation and are
// still open.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.ready() {
			n++
		}
	}
	return n
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{nc: nc, w: bufio.NewWriter(nc)}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			nc.Close()
		}()
	}
}

// wireRequest is a command as QEMU reads it.
type wireRequest struct {
	Execute   string          `json:"execute"`
	ExecOOB   string          `json:"exec-oob"`
	Arguments json.RawMessage `json:"arguments"`
	ID        json.RawMessage `json:"id"`
}

func (s *Server) serve(c *conn) {
	greeting := map[string]any{"QMP": map[string]any{
		"version": map[string]any{
			"qemu":    map[string]int{"major": 7, "minor": 2, "micro": 0},
			"package": "qmptest",
		},
		"capabilities": []string{"oob"},
	}}
	if c.send(greeting) != nil {
		return
	}
	dec := json.NewDecoder(c.nc)
	var handlers sync.WaitGroup
	defer handlers.Wait()
	for {
		var req wireRequest
		if err := dec.Decode(&req); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.reply(nil, nil, &Error{Class: "GenericError", Desc: "JSON parse error, " + err.Error()})
			}
			return
		}
		name := req.Execute
		if name == "" {
			name = req.ExecOOB
		}
		switch {
		case name == "":
			c.reply(req.ID, nil, &Error{Class: "GenericError", Desc: "QMP input lacks member 'execute'"})
			continue
		case name == "qmp_capabilities" && !c.ready():
			c.setReady()
			c.reply(req.ID, struct{}{}, nil)
			continue
		case name == "qmp_capabilities":
			c.reply(req.ID, nil, &Error{Class: "CommandNotFound", Desc: "Capabilities negotiation is already complete, command ignored"})
			continue
		case !c.ready():
			c.reply(req.ID, nil, &Error{Class: "CommandNotFound", Desc: "Expecting capabilities negotiation with 'qmp_capabilities'"})
			continue
		}
		r := Request{Command: name, Args: req.Arguments, ID: req.ID}
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.mu.Unlock()
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			resp := s.handler(r)
			if resp.NoReply {
				return
			}
			c.sendEvents(resp.Before)
			ret := resp.Return
			if ret == nil {
				ret = struct{}{}
			}
			c.reply(r.ID, ret, resp.Error)
			c.sendEvents(resp.After)
			if resp.Hangup {
				c.nc.Close()
			}
		}()
	}
}

// conn is one client connection; writes are serialized so concurrent
// handlers and Emit never interleave messages.
type conn struct {
	nc net.Conn

	mu         sync.Mutex
	w          *bufio.Writer
	negotiated bool
}

func (c *conn) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.negotiated
}

func (c *conn) setReady() {
	c.mu.Lock()
	c.negotiated = true
	c.mu.Unlock()
}

func (c *conn) send(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(v)
}

func (c *conn) sendLocked(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// QEMU terminates each message with CRLF.
	c.w.Write(b)
	c.w.WriteString("\r\n")
	return c.w.Flush()
}

func (c *conn) reply(id json.RawMessage, ret any, qerr *Error) {
	msg := map[string]any{}
	if qerr != nil {
		msg["error"] = qerr
	} else {
		msg["return"] = ret
	}
	if id != nil {
		msg["id"] = id
	}
	c.send(msg)
}

func (c *conn) sendEvents(events []Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.negotiated {
		return
	}
	for _, ev := range events {
		now := time.Now()
		msg := map[string]any{
			"event":     ev.Name,
			"timestamp": map[string]int64{"seconds": now.Unix(), "microseconds": int64(now.Nanosecond() / 1000)},
		}
		if ev.Data != nil {
			msg["data"] = ev.Data
		}
		if c.sendLocked(msg) != nil {
			return
		}
	}
}
