package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
)

// delimiter is the byte the guest agent puts before its answer to
// guest-sync-delimited. It never occurs in UTF-8 JSON, so it marks a point
// from which the stream can be trusted again.
const delimiter = 0xFF

// frame is one unit of the agent's output stream: either the sync
// delimiter or one complete top-level JSON object.
type frame struct {
	delim bool
	obj   []byte
}

// errFrameTooLarge stops a runaway or hostile guest from making the host
// buffer without bound.
var errFrameTooLarge = errors.New("guest agent reply exceeds the size limit")

// frameReader splits the agent's byte stream into frames. The stream may
// start mid-object (leftovers of a reply nobody waited for), so anything
// outside braces is skipped, and a delimiter abandons a partial object.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newFrameReader(r *bufio.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max}
}

// next returns the next frame; an object's bytes are only valid until the
// following call. On an I/O error a partially read object is
// lost, which is fine: callers drop the connection on errors.
func (f *frameReader) next() (frame, error) {
	f.buf = f.buf[:0]
	depth := 0
	inString, escaped := false, false
	for {
		// Work on whatever is buffered; file contents arrive as megabytes
		// of base64, too much for a byte-at-a-time loop.
		if f.r.Buffered() == 0 {
			if _, err := f.r.Peek(1); err != nil {
				return frame{}, err
			}
		}
		p, _ := f.r.Peek(f.r.Buffered())
		i := 0
		for i < len(p) {
			b := p[i]
			i++
			if b == delimiter {
				f.r.Discard(i)
				return frame{delim: true}, nil
			}
			if depth == 0 {
				if b == '{' {
					depth = 1
					f.buf = append(f.buf, b)
				}
				continue // whitespace between replies, or stale debris
			}
			if inString && !escaped && b != '"' && b != '\\' {
				// Skip to the next byte that matters inside a string.
				j := special(p[i:])
				f.buf = append(f.buf, p[i-1:i+j]...)
				i += j
				if len(f.buf) > f.max {
					return frame{}, fmt.Errorf("%w of %d bytes", errFrameTooLarge, f.max)
				}
				continue
			}
			f.buf = append(f.buf, b)
			if len(f.buf) > f.max {
				return frame{}, fmt.Errorf("%w of %d bytes", errFrameTooLarge, f.max)
			}
			switch {
			case escaped:
				escaped = false
			case inString && b == '\\':
				escaped = true
			case b == '"':
				inString = !inString
			case inString:
			case b == '{' || b == '[':
				depth++
			case b == '}' || b == ']':
				depth--
				if depth == 0 && b == ']' {
					// Brackets that do not pair up: debris, not a reply.
					f.buf = f.buf[:0]
					continue
				}
				if depth == 0 {
					f.r.Discard(i)
					return frame{obj: f.buf}, nil
				}
			}
		}
		f.r.Discard(i)
	}
}

// special returns the index of the first byte in p that ends a run of
// plain string content (quote, backslash or delimiter), or len(p).
func special(p []byte) int {
	n := len(p)
	for _, c := range []byte{'"', '\\', delimiter} {
		if j := bytes.IndexByte(p[:n], c); j >= 0 {
			n = j
		}
	}
	return n
}
