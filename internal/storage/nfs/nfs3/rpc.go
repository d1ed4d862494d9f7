package nfs3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ONC RPC (RFC 5531) constants used here.
const (
	rpcVersion  = 2
	msgCall     = 0
	msgReply    = 1
	authNone    = 0
	authSys     = 1
	lastFrag    = 1 << 31
	maxRecord   = 1 << 20 // replies of the procedures used here are small
	replyOK     = 0
	acceptOK    = 0
	rejectRPC   = 0
	rejectAuth  = 1
	progPortmap = 100000
	progMount   = 100005
	progNFS     = 100003
)

// Cred is the AUTH_SYS identity calls are made with.
type Cred struct {
	UID, GID uint32
	Machine  string
}

// rpcConn is one TCP connection to one RPC program. Calls are
// serialized: the operations of a storage are few and short, so one call
// in flight keeps the reply matching trivial.
type rpcConn struct {
	mu   sync.Mutex
	conn net.Conn
	prog uint32
	vers uint32
	cred Cred
	xid  uint32
}

func newRPCConn(conn net.Conn, prog, vers uint32, cred Cred) *rpcConn {
	return &rpcConn{conn: conn, prog: prog, vers: vers, cred: cred,
		xid: uint32(time.Now().UnixNano())}
}

func (r *rpcConn) Close() error { return r.conn.Close() }

// RPCError is a call the server refused at the RPC layer (not the NFS one).
type RPCError struct {
	Prog, Vers, Proc uint32
	Msg              string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("RPC program %d version %d procedure %d: %s", e.Prog, e.Vers, e.Proc, e.Msg)
}

// call sends one request and returns the decoder positioned at the
// procedure's results.
func (r *rpcConn) call(ctx context.Context, proc uint32, args []byte) (*decoder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := r.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A cancelled context must interrupt a blocked read, not only the
	// next call.
	stop := context.AfterFunc(ctx, func() { _ = r.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	r.xid++
	xid := r.xid
	var e encoder
	e.u32(0) // record mark, filled below
	e.u32(xid)
	e.u32(msgCall)
	e.u32(rpcVersion)
	e.u32(r.prog)
	e.u32(r.vers)
	e.u32(proc)
	if r.prog == progPortmap {
		e.u32(authNone)
		e.u32(0)
	} else {
		var body encoder
		body.u32(uint32(time.Now().Unix()))
		body.str(r.cred.Machine)
		body.u32(r.cred.UID)
		body.u32(r.cred.GID)
		body.u32(1)
		body.u32(r.cred.GID)
		e.u32(authSys)
		e.opaque(body.b)
	}
	e.u32(authNone) // verifier
	e.u32(0)
	e.b = append(e.b, args...)
	binary.BigEndian.PutUint32(e.b[:4], lastFrag|uint32(len(e.b)-4))
	if _, err := r.conn.Write(e.b); err != nil {
		return nil, r.ioErr(ctx, err)
	}
	for {
		rec, err := r.readRecord()
		if err != nil {
			return nil, r.ioErr(ctx, err)
		}
		d := &decoder{b: rec}
		if d.u32() != xid {
			continue // a late reply to a call that timed out earlier
		}
		if d.u32() != msgReply {
			return nil, errors.New("nfs3: server sent a call instead of a reply")
		}
		return d, r.replyHeader(d, proc)
	}
}

func (r *rpcConn) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (r *rpcConn) readRecord() ([]byte, error) {
	var rec []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r.conn, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ lastFrag)
		if len(rec)+n > maxRecord {
			return nil, fmt.Errorf("nfs3: RPC reply of more than %d bytes", maxRecord)
		}
		frag := make([]byte, n)
		if _, err := io.ReadFull(r.conn, frag); err != nil {
			return nil, err
		}
		rec = append(rec, frag...)
		if h&lastFrag != 0 {
			return rec, nil
		}
	}
}

func (r *rpcConn) replyHeader(d *decoder, proc uint32) error {
	fail := func(msg string) error {
		return &RPCError{Prog: r.prog, Vers: r.vers, Proc: proc, Msg: msg}
	}
	if d.u32() != replyOK {
		switch d.u32() {
		case rejectRPC:
			lo, hi := d.u32(), d.u32()
			return fail(fmt.Sprintf("RPC version mismatch (server supports %d to %d)", lo, hi))
		case rejectAuth:
			return fail(fmt.Sprintf("authentication refused (auth_stat %d)", d.u32()))
		}
		return fail("call denied")
	}
	d.u32()       // verifier flavor
	d.opaque(400) // verifier body
	switch st := d.u32(); st {
	case acceptOK:
		return d.err
	case 1:
		return fail("program unavailable")
	case 2:
		lo, hi := d.u32(), d.u32()
		return fail(fmt.Sprintf("program version mismatch (server supports %d to %d)", lo, hi))
	case 3:
		return fail("procedure unavailable")
	case 4:
		return fail("server could not decode the arguments")
	default:
		return fail(fmt.Sprintf("server error (accept_stat %d)", st))
	}
}
