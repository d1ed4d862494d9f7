// Package agent is Hearth's client for the QEMU guest agent, the daemon
// inside a VM that answers over a virtio-serial port. The port's host end
// is a unix socket that accepts connections whether or not anything runs in
// the guest, so every call first resynchronizes the stream with
// guest-sync-delimited; an agent that does not answer that in time is
// reported as not running.
package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// ErrNotRunning is returned when the agent does not answer the sync. Its
// text is what Proxmox VE prints, and API clients match on it.
var ErrNotRunning = errors.New("QEMU guest agent is not running")

// Error is an error reply from the agent; its text is the agent's own.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *Error) Error() string { return e.Desc }

// Options tune a Client; zero values mean the defaults.
type Options struct {
	// SyncTimeout bounds the wait for the sync answer (default 3s).
	SyncTimeout time.Duration
	// Timeout bounds a command when ctx has no deadline (default 10s;
	// fsfreeze-freeze and fstrim get an hour, as they walk every disk).
	Timeout time.Duration
	// MaxReply caps one reply's size (default 64 MiB).
	MaxReply int
}

// longCommands may legitimately take far longer than an ordinary call.
var longCommands = map[string]time.Duration{
	"guest-fsfreeze-freeze":      time.Hour,
	"guest-fsfreeze-freeze-list": time.Hour,
	"guest-fstrim":               time.Hour,
}

// Client talks to one VM's guest agent. Calls are serialized (the agent
// handles one at a time anyway); the connection is kept between calls and
// redialled after any error.
type Client struct {
	path string
	opts Options

	// File transfer sizes; fields so tests can use small ones.
	fileChunk, maxFileRead int

	// turn is held by the call in progress. It is a channel rather than a
	// mutex so a caller queued behind a long fsfreeze can give up when its
	// ctx ends.
	turn chan struct{}
	conn net.Conn
	fr   *frameReader
}

// New returns a client for the agent socket at path. It connects lazily.
func New(path string, opts Options) *Client {
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 3 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxReply <= 0 {
		opts.MaxReply = 64 << 20
	}
	return &Client{path: path, opts: opts, fileChunk: fileChunk, maxFileRead: MaxFileRead, turn: make(chan struct{}, 1)}
}

// Close drops the connection, after waiting for a call in progress; a
// later call reconnects.
func (c *Client) Close() error {
	c.turn <- struct{}{}
	defer func() { <-c.turn }()
	c.drop()
	return nil
}

func (c *Client) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.fr = nil, nil
	}
}

// Call runs command with args (nil for none) and unmarshals the reply's
// return value into result (unless nil). An agent error comes back as
// *Error; an agent that does not respond to the sync as ErrNotRunning.
func (c *Client) Call(ctx context.Context, command string, args, result any) error {
	return c.call(ctx, command, args, result, true)
}

// send runs a command that has no reply when it succeeds (guest-shutdown,
// guest-suspend-*): the guest goes away instead of answering. An error
// reply, if any, is skipped by the next call's sync.
func (c *Client) send(ctx context.Context, command string, args any) error {
	return c.call(ctx, command, args, nil, false)
}

type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
}

func (c *Client) call(ctx context.Context, command string, args, result any, wantReply bool) error {
	req, err := json.Marshal(request{Execute: command, Arguments: args})
	if err != nil {
		return fmt.Errorf("guest agent %s: encode arguments: %w", command, err)
	}
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("guest agent %s: waiting for the previous command: %w", command, ctx.Err())
	}
	defer func() { <-c.turn }()
	if err := c.syncFresh(ctx); err != nil {
		return err
	}

	timeout := c.opts.Timeout
	if d, ok := longCommands[command]; ok {
		timeout = d
	}
	if _, ok := ctx.Deadline(); ok {
		timeout = 0 // ctx decides
	}
	disarm := c.arm(ctx, timeout)
	defer disarm()
	if _, err := c.conn.Write(req); err != nil {
		c.drop()
		return c.ioError(ctx, command, err)
	}
	if !wantReply {
		return nil
	}
	for {
		f, err := c.fr.next()
		if err != nil {
			c.drop()
			return c.ioError(ctx, command, err)
		}
		if f.delim {
			continue
		}
		var r struct {
			Return json.RawMessage `json:"return"`
			Error  *Error          `json:"error"`
		}
		if json.Unmarshal(f.obj, &r) != nil || (r.Return == nil && r.Error == nil) {
			continue
		}
		if r.Error != nil {
			return r.Error
		}
		if result != nil {
			if err := json.Unmarshal(r.Return, result); err != nil {
				return fmt.Errorf("guest agent %s: decode reply: %w", command, err)
			}
		}
		return nil
	}
}

func (c *Client) ioError(ctx context.Context, command string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("guest agent %s: %w", command, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("guest agent %s: no reply in time", command)
	}
	return fmt.Errorf("guest agent %s: %w", command, err)
}

// syncFresh connects if needed and synchronizes. A kept connection may
// have died with the previous QEMU or agent; it gets one retry on a fresh
// connection before the error counts.
func (c *Client) syncFresh(ctx context.Context) error {
	reused := c.conn != nil
	err := c.connectAndSync(ctx)
	if err != nil && reused && !errors.Is(err, ErrNotRunning) && ctx.Err() == nil {
		err = c.connectAndSync(ctx)
	}
	return err
}

func (c *Client) connectAndSync(ctx context.Context) error {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", c.path)
		if err != nil {
			return fmt.Errorf("connect to guest agent socket %s: %w", c.path, err)
		}
		c.conn = conn
		c.fr = newFrameReader(bufio.NewReaderSize(conn, 64<<10), c.opts.MaxReply)
	}
	err := c.sync(ctx)
	if err != nil {
		c.drop()
	}
	return err
}

// sync sends guest-sync-delimited with a fresh id and reads until the
// delimited answer carrying that id: everything before it is stale.
func (c *Client) sync(ctx context.Context) error {
	timeout := c.opts.SyncTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	disarm := c.arm(ctx, timeout)
	defer disarm()

	id := rand.Int64N(1<<53-1) + 1 // exact as a JSON number in any parser
	req := fmt.Sprintf(`{"execute":"guest-sync-delimited","arguments":{"id":%d}}`, id)
	// The leading delimiter makes the agent discard any half-read request
	// a previous client left behind.
	if _, err := c.conn.Write(append([]byte{delimiter}, req...)); err != nil {
		return c.syncError(ctx, err)
	}
	afterDelim := false
	for {
		f, err := c.fr.next()
		if err != nil {
			return c.syncError(ctx, err)
		}
		if f.delim {
			afterDelim = true
			continue
		}
		if !afterDelim {
			continue
		}
		afterDelim = false
		var r struct {
			Return *int64 `json:"return"`
		}
		if json.Unmarshal(f.obj, &r) == nil && r.Return != nil && *r.Return == id {
			return nil
		}
	}
}

func (c *Client) syncError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("guest agent sync: %w", ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrNotRunning
	}
	return fmt.Errorf("guest agent sync: %w", err)
}

// arm bounds the connection's I/O by timeout (none if 0) and by ctx. The
// returned func must be called when the I/O is done; it makes sure a ctx
// that ends just then cannot poison the next call's deadline.
func (c *Client) arm(ctx context.Context, timeout time.Duration) func() {
	conn := c.conn
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
	} else {
		conn.SetDeadline(time.Time{})
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
		}
	}
}
