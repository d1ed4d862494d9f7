package cluster

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// RaftNet carries consensus traffic over the node's API port: incoming
// connections arrive through the API listener when the TLS handshake
// chose ALPNRaft, outgoing ones dial a peer's API port asking for it.
// Both sides must hold node certificates of the cluster CA.
type RaftNet struct {
	id        *Identity
	advertise string
	log       *slog.Logger

	mu    sync.Mutex
	cur   *layer
	conns map[*watchedConn]struct{} // handed-off connections still open
}

// NewRaftNet makes the consensus network of a node reachable at
// advertise (host:port of its API listener).
func NewRaftNet(id *Identity, advertise string, log *slog.Logger) *RaftNet {
	return &RaftNet{id: id, advertise: advertise, log: log, conns: map[*watchedConn]struct{}{}}
}

// Advertise is the address peers use to reach this node.
func (n *RaftNet) Advertise() string { return n.advertise }

// Transport makes a raft transport; it is the cfs.Config.Transport
// factory, called again each time raft restarts (raft closes the old one).
func (n *RaftNet) Transport() (raft.Transport, error) {
	l := &layer{net: n, conns: make(chan net.Conn), closed: make(chan struct{})}
	n.mu.Lock()
	n.cur = l
	n.mu.Unlock()
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: l, MaxPool: 3, Timeout: 10 * time.Second,
		Logger: cfs.HCLog(n.log, "raft-net"),
	}), nil
}

// Handoff takes a connection that negotiated ALPNRaft on the API listener
// (install it as http.Server.TLSNextProto[ALPNRaft]). It returns when raft
// is done with the connection, since the HTTP server closes it then.
func (n *RaftNet) Handoff(_ *http.Server, c *tls.Conn, _ http.Handler) {
	if err := n.id.verifyPeer(c.ConnectionState().PeerCertificates); err != nil {
		n.log.Warn("refused a consensus connection", "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	wc := &watchedConn{Conn: c, done: make(chan struct{})}
	n.mu.Lock()
	l := n.cur
	n.conns[wc] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.conns, wc)
		n.mu.Unlock()
	}()
	if l == nil {
		c.Close()
		return
	}
	select {
	case l.conns <- wc:
		<-wc.done
	case <-l.closed:
		c.Close()
	}
}

// CloseConns closes every consensus connection that arrived through the
// API listener. The HTTP server counts them as active requests, so its
// graceful shutdown would otherwise wait for them until it gives up;
// install it with http.Server.RegisterOnShutdown.
func (n *RaftNet) CloseConns() {
	n.mu.Lock()
	conns := make([]*watchedConn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// layer is one raft transport's view of the network.
type layer struct {
	net    *RaftNet
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var errLayerClosed = errors.New("consensus transport closed")

func (l *layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, errLayerClosed
	}
}

func (l *layer) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *layer) Addr() net.Addr { return advertisedAddr(l.net.advertise) }

func (l *layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: l.net.id.ClientTLS(ALPNRaft)}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	if p := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != ALPNRaft {
		c.Close()
		return nil, errors.New("peer at " + string(address) + " does not speak the consensus protocol")
	}
	return c, nil
}

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// watchedConn tells Handoff when raft has closed the connection.
type watchedConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (w *watchedConn) Close() error {
	err := w.Conn.Close()
	w.once.Do(func() { close(w.done) })
	return err
}
