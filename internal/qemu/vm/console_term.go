package vm

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"
)

// The terminal protocol of Proxmox VE's termproxy, which its xterm.js
// client speaks over the websocket (as one byte stream, whatever the
// message boundaries):
//
//	client: <authid>:<ticket>\n        once, first
//	server: OK                         credentials accepted; then raw output
//	client: 0:<n>:<n bytes>            keyboard input, n in bytes
//	client: 1:<cols>:<rows>:           terminal size
//	client: 2                          keep-alive
//
// A serial port has no window size, so size messages are read and
// dropped, as are keep-alives.

// maxTermAuth bounds the credentials line.
const maxTermAuth = 4096

// Bounds of the numbers in messages: a length beyond 1 GiB or a size
// beyond 5 digits is not a terminal talking.
const (
	maxTermDigitsLen  = 10
	maxTermInputLen   = 1 << 30
	maxTermDigitsSize = 5
)

var errTermAuth = errors.New("permission denied - invalid ticket")

// termProtocolError is input that is not a terminal message, as opposed
// to a client that went away.
type termProtocolError struct{ msg string }

func (e *termProtocolError) Error() string { return e.msg }

func termProtoErr(format string, args ...any) error {
	return &termProtocolError{msg: fmt.Sprintf(format, args...)}
}

// readTermAuth reads the credentials line.
func readTermAuth(r *bufio.Reader) (authid, ticket string, err error) {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return "", "", fmt.Errorf("reading the terminal's credentials: %w", err)
		}
		if b == '\n' {
			break
		}
		if len(line) >= maxTermAuth {
			return "", "", errors.New("the terminal's credentials line is too long")
		}
		line = append(line, b)
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	a, t, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(a) == 0 || len(t) == 0 {
		return "", "", errors.New("the terminal's credentials are not <user>:<ticket>")
	}
	return string(a), string(t), nil
}

// termSink receives the decoded messages of a terminal client.
type termSink interface {
	// input is called before the n bytes of a keyboard message are
	// copied to the output.
	input(n int64)
	resize(cols, rows int)
	ping()
}

// copyTermInput decodes a terminal client's messages from r and writes
// the keyboard input to w, until r ends (nil) or holds something that is
// not a message (an error). sink may be nil.
func copyTermInput(w io.Writer, r *bufio.Reader, sink termSink) error {
	for {
		kind, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch kind {
		case '0':
			if err := termExpect(r, ':'); err != nil {
				return err
			}
			n, err := termNumber(r, maxTermDigitsLen)
			if err != nil {
				return err
			}
			if n > maxTermInputLen {
				return termProtoErr("terminal input of %d bytes is too long", n)
			}
			if sink != nil {
				sink.input(n)
			}
			if _, err := io.CopyN(w, r, n); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		case '1':
			if err := termExpect(r, ':'); err != nil {
				return err
			}
			cols, err := termNumber(r, maxTermDigitsSize)
			if err != nil {
				return err
			}
			rows, err := termNumber(r, maxTermDigitsSize)
			if err != nil {
				return err
			}
			if sink != nil {
				sink.resize(int(cols), int(rows))
			}
		case '2':
			if sink != nil {
				sink.ping()
			}
		default:
			return termProtoErr("unknown terminal message type %q", kind)
		}
	}
}

func termExpect(r *bufio.Reader, want byte) error {
	b, err := r.ReadByte()
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if b != want {
		return termProtoErr("terminal message: %q where %q belongs", b, want)
	}
	return nil
}

// termNumber reads decimal digits ended by ':' (which it consumes).
func termNumber(r *bufio.Reader, maxDigits int) (int64, error) {
	var n int64
	digits := 0
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
		if b == ':' {
			if digits == 0 {
				return 0, termProtoErr("terminal message: a number is missing")
			}
			return n, nil
		}
		if b < '0' || b > '9' {
			return 0, termProtoErr("terminal message: %q in a number", b)
		}
		if digits++; digits > maxDigits {
			return 0, termProtoErr("terminal message: a number of more than %d digits", maxDigits)
		}
		n = n*10 + int64(b-'0')
	}
}

// serveTerm runs a terminal session: credentials first, then the serial
// port's output to the client and the client's keyboard input to it.
func (c *consoles) serveTerm(sess *consoleSession, conn io.ReadWriteCloser) error {
	in := bufio.NewReader(conn)
	// A client that never sends its credentials is cut off.
	timer := time.AfterFunc(c.connectTimeout, func() { conn.Close() })
	authid, ticket, err := readTermAuth(in)
	if !timer.Stop() {
		return fmt.Errorf("no terminal credentials within %v", c.connectTimeout)
	}
	if err != nil {
		return err
	}
	if authid != sess.authid || subtle.ConstantTimeCompare([]byte(ticket), []byte(sess.ticket)) != 1 ||
		c.tickets.VerifyVNCTicket(ticket, authid, consoleACLPath(sess.vmid)) != nil {
		return errTermAuth
	}
	sock, err := c.dial(sess.vmid, c.s.paths(sess.vmid).serial(sess.serial))
	if err != nil {
		return err
	}
	if !sess.attach(sock) {
		return errSessionStopped
	}
	if _, err := conn.Write([]byte("OK")); err != nil {
		sock.Close()
		return err
	}
	err = pipeConsole(conn, sock, func() error { return copyTermInput(sock, in, nil) })
	// A client that broke the protocol hears why; one that went away, or
	// a VM that did, is no error.
	var pe *termProtocolError
	if errors.As(err, &pe) {
		return err
	}
	return nil
}
