package nfs3

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// encoder writes XDR (RFC 4506): big-endian 32-bit units, variable data
// padded to a multiple of four bytes.
type encoder struct{ b []byte }

func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }

func (e *encoder) boolean(v bool) {
	if v {
		e.u32(1)
	} else {
		e.u32(0)
	}
}

func (e *encoder) opaque(p []byte) {
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) str(s string) { e.opaque([]byte(s)) }

// errShort is a reply that ends before its declared contents.
var errShort = errors.New("nfs3: truncated XDR reply")

// decoder reads XDR; the first error sticks, so a reply can be read
// field by field and checked once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.err = errShort
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u32() uint32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *decoder) u64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) boolean() bool { return d.u32() != 0 }

// opaque reads variable-length data of at most max bytes.
func (d *decoder) opaque(max int) []byte {
	n := int(d.u32())
	if d.err == nil && n > max {
		d.err = fmt.Errorf("nfs3: XDR item of %d bytes exceeds its limit of %d", n, max)
		return nil
	}
	p := d.take(n)
	d.take((4 - n%4) % 4)
	return append([]byte(nil), p...)
}

func (d *decoder) skip(n int) { d.take(n) }
