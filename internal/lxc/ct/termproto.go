package ct

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// A terminal client (xterm.js, `pct enter`) speaks Proxmox VE's termproxy
// protocol over the websocket, as one byte stream whatever the message
// boundaries:
//
//	client: <authid>:<ticket>\n        once, first
//	server: OK                         then the terminal's raw output
//	client: 0:<n>:<n bytes>            keyboard input, n counted in bytes
//	client: 1:<cols>:<rows>:           the window size changed
//	client: 2                          keep-alive
//
// This is the decoder of the client's side; unlike a VM's serial port, a
// container's terminal has a window size, so resizes are passed on.

// maxTermAuth bounds the credentials line.
const maxTermAuth = 4096

// Bounds of the numbers in messages: an input length beyond 1 GiB or a
// size of more than 5 digits is not a terminal talking.
const (
	maxTermLenDigits  = 10
	maxTermInput      = 1 << 30
	maxTermSizeDigits = 5
)

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
			return "", "", termProtoErr("the terminal's credentials line is longer than %d bytes", maxTermAuth)
		}
		line = append(line, b)
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	a, t, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(a) == 0 || len(t) == 0 {
		return "", "", termProtoErr("the terminal's credentials are not <user>:<ticket>")
	}
	return string(a), string(t), nil
}

// decodeTerm reads a terminal client's messages from r, writes keyboard
// input to w and reports window sizes to resize, until r ends between two
// messages (nil), ends inside one (io.ErrUnexpectedEOF), holds something
// that is no message (*termProtocolError) or w fails.
func decodeTerm(r *bufio.Reader, w io.Writer, resize func(cols, rows int)) error {
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
			n, err := termNumber(r, maxTermLenDigits)
			if err != nil {
				return err
			}
			if n > maxTermInput {
				return termProtoErr("terminal input of %d bytes is more than the %d allowed", n, maxTermInput)
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
			cols, err := termNumber(r, maxTermSizeDigits)
			if err != nil {
				return err
			}
			rows, err := termNumber(r, maxTermSizeDigits)
			if err != nil {
				return err
			}
			// A client may report 0 while its window is hidden; that is
			// no size to give a terminal.
			if cols > 0 && rows > 0 && cols <= 0xffff && rows <= 0xffff && resize != nil {
				resize(int(cols), int(rows))
			}
		case '2':
		default:
			return termProtoErr("unknown terminal message type %q (expected 0 for input, 1 for a size, 2 for a keep-alive)", kind)
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

// isTermProtocolError tells a client that broke the protocol, which hears
// why, from one that merely went away.
func isTermProtocolError(err error) bool {
	var pe *termProtocolError
	return errors.As(err, &pe)
}
