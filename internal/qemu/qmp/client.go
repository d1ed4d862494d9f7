package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrDisconnected is returned (wrapped) by every call once the monitor
// connection is gone, whether QEMU exited or Close was called.
var ErrDisconnected = errors.New("QEMU monitor connection closed")

// Error is an error reply from QEMU. Its text is QEMU's description alone,
// because that is what users of Proxmox VE see in task logs.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *Error) Error() string { return e.Desc }

// Greeting is what QEMU announces when a client connects.
type Greeting struct {
	Version      Version  `json:"version"`
	Capabilities []string `json:"capabilities"`
}

// Client is one QMP connection. It is safe for concurrent use.
type Client struct {
	conn     *net.UnixConn
	greeting Greeting

	writeMu sync.Mutex // one request on the wire at a time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply
	subs    map[*subscription]struct{}
	err     error // why the connection ended; set once
	done    chan struct{}
}

type reply struct {
	ret  json.RawMessage
	qerr *Error
}

// message is every shape QEMU sends: greeting, reply or event.
type message struct {
	QMP       *Greeting       `json:"QMP"`
	Return    json.RawMessage `json:"return"`
	Error     *Error          `json:"error"`
	ID        json.RawMessage `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

// Dial connects to the QMP socket at path, reads the greeting and leaves
// capabilities negotiation done, so the connection receives events from
// then on.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to QEMU monitor %s: %w", path, err)
	}
	conn := nc.(*net.UnixConn)
	// Bound the handshake by ctx: a socket that accepts but never greets
	// (a QEMU stuck in startup) must not hang the caller.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	dec := json.NewDecoder(conn)
	g, err := handshake(conn, dec)
	if !stop() || err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("QMP handshake on %s: %w", path, err)
	}
	conn.SetDeadline(time.Time{})
	c := &Client{
		conn:     conn,
		greeting: g,
		pending:  map[uint64]chan reply{},
		subs:     map[*subscription]struct{}{},
		done:     make(chan struct{}),
	}
	go c.readLoop(dec)
	return c, nil
}

func handshake(conn net.Conn, dec *json.Decoder) (Greeting, error) {
	var m message
	if err := dec.Decode(&m); err != nil {
		return Greeting{}, fmt.Errorf("read greeting: %w", err)
	}
	if m.QMP == nil {
		return Greeting{}, errors.New("the peer did not greet with a QMP banner")
	}
	if _, err := conn.Write([]byte(`{"execute":"qmp_capabilities"}` + "\n")); err != nil {
		return Greeting{}, fmt.Errorf("send qmp_capabilities: %w", err)
	}
	for {
		var r message
		if err := dec.Decode(&r); err != nil {
			return Greeting{}, fmt.Errorf("read qmp_capabilities reply: %w", err)
		}
		if r.Error != nil {
			return Greeting{}, fmt.Errorf("qmp_capabilities: %w", r.Error)
		}
		if r.Return != nil {
			return *m.QMP, nil
		}
	}
}

// Greeting returns what QEMU announced on connect, including its version.
func (c *Client) Greeting() Greeting { return c.greeting }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is up, and wraps ErrDisconnected after.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection. Pending calls fail and event streams close.
func (c *Client) Close() error {
	c.shutdown(nil)
	<-c.done
	return nil
}

// shutdown records why the connection ended (the first reason wins),
// closes the socket, and releases every waiter. cause nil means Close.
func (c *Client) shutdown(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	switch {
	case cause == nil || errors.Is(cause, io.EOF) || errors.Is(cause, net.ErrClosed):
		c.err = ErrDisconnected
	default:
		c.err = fmt.Errorf("%w: %v", ErrDisconnected, cause)
	}
	subs := c.subs
	c.subs = map[*subscription]struct{}{}
	c.mu.Unlock()
	c.conn.Close()
	for s := range subs {
		s.finish()
	}
	close(c.done)
}

func (c *Client) readLoop(dec *json.Decoder) {
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			c.shutdown(err)
			return
		}
		switch {
		case m.Event != "":
			ev := Event{Name: m.Event, Data: m.Data}
			if m.Timestamp != nil {
				ev.Timestamp = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
			}
			c.publish(ev)
		case m.Return != nil || m.Error != nil:
			// Replies without our numeric id (a parse error QEMU reports
			// without one) cannot be matched to a caller and are dropped;
			// our requests are generated JSON, so they do not happen.
			id, err := strconv.ParseUint(string(m.ID), 10, 64)
			if err != nil {
				continue
			}
			c.mu.Lock()
			ch, ok := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ok {
				ch <- reply{ret: m.Return, qerr: m.Error}
			}
		}
	}
}

// request is a command on the wire.
type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        uint64 `json:"id"`
}

// Execute runs one QMP command. args is marshalled as the command's
// arguments (nil for none); the reply's return value is unmarshalled into
// result unless it is nil. A QEMU error is returned as *Error. Cancelling
// ctx abandons the wait; the reply, if it comes, is discarded.
func (c *Client) Execute(ctx context.Context, command string, args, result any) error {
	return c.execute(ctx, command, args, result, nil)
}

// execute is Execute that, when f is not nil, passes f's descriptor along
// with the command (SCM_RIGHTS), as getfd and add-fd expect.
func (c *Client) execute(ctx context.Context, command string, args, result any, f *os.File) error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("qmp %s: %w", command, err)
	}
	c.nextID++
	id := c.nextID
	ch := make(chan reply, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	b, err := json.Marshal(request{Execute: command, Arguments: args, ID: id})
	if err != nil {
		forget()
		return fmt.Errorf("qmp %s: encode arguments: %w", command, err)
	}
	if n, err := c.write(ctx, append(b, '\n'), f); err != nil {
		forget()
		if n == 0 && ctx.Err() != nil {
			// Nothing reached the socket; the connection is intact.
			return fmt.Errorf("qmp %s: %w", command, ctx.Err())
		}
		// A request cut off mid-write would garble the next one, so the
		// connection cannot be trusted any more.
		c.shutdown(fmt.Errorf("write %s: %w", command, err))
		return fmt.Errorf("qmp %s: %w", command, c.Err())
	}

	var r reply
	select {
	case r = <-ch:
	case <-ctx.Done():
		forget()
		return fmt.Errorf("qmp %s: %w", command, ctx.Err())
	case <-c.done:
		// The reply may have been delivered just before the connection
		// ended; prefer it.
		select {
		case r = <-ch:
		default:
			return fmt.Errorf("qmp %s: %w", command, c.Err())
		}
	}
	if r.qerr != nil {
		return r.qerr
	}
	if result != nil {
		if err := json.Unmarshal(r.ret, result); err != nil {
			return fmt.Errorf("qmp %s: decode reply: %w", command, err)
		}
	}
	return nil
}

// write sends one request and reports how many bytes of it went out.
func (c *Client) write(ctx context.Context, b []byte, f *os.File) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// A blocked write (QEMU not reading) ends when ctx does. If ctx ends
	// just as the write succeeds, the deadline is cleared again so the next
	// request is not cut off.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetWriteDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
			c.conn.SetWriteDeadline(time.Time{})
		}
	}()
	if f == nil {
		return c.conn.Write(b)
	}
	n, _, err := c.conn.WriteMsgUnix(b, syscall.UnixRights(int(f.Fd())), nil)
	if err == nil && n < len(b) {
		// The descriptor travelled with the first bytes; the rest of the
		// request follows as plain data.
		var m int
		m, err = c.conn.Write(b[n:])
		n += m
	}
	runtime.KeepAlive(f)
	return n, err
}
