package rest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/api"
)

// forwardWebSocket sends a websocket upgrade meant for another node
// there, with the caller's identity, and once that node has upgraded,
// splices the two connections: the client talks websocket with the
// remote node through this one. A refusal comes back as the remote
// node's error, as for any forwarded call.
func (s *Server) forwardWebSocket(w http.ResponseWriter, r *http.Request, node string, id identity) {
	if s.cfg.Forwarder == nil {
		s.fail(w, r, fmt.Errorf("node '%s' is not a member of this cluster", node))
		return
	}
	// The remote node sees this node as the client, not the browser, so
	// the same-origin rule of a local upgrade is applied here.
	if !sameOrigin(r) {
		s.fail(w, r, api.Errorf(http.StatusForbidden, "websocket origin %s does not match host %s", r.Header.Get("Origin"), r.Host))
		return
	}
	base, client, err := s.cfg.Forwarder.Route(node)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	target := base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	// Extensions (compression) are not passed on: the remote node then
	// negotiates none, and the client accepts that.
	for _, k := range []string{"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol"} {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	req.Header.Set(HeaderForwardedUser, id.user)
	if id.token != "" {
		req.Header.Set(HeaderForwardedToken, id.token)
	}
	// The transport, not the client: a client's overall timeout would cut
	// the session off, and it hides the upgraded connection.
	rt := client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		writeError(w, r, StatusProxyFailed, fmt.Sprintf("node %s is unreachable: %v", node, trimURLError(err)), nil)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if rec, ok := w.(*statusRecorder); ok {
			rec.status = resp.StatusCode
		}
		if resp.StatusCode < 300 {
			// A plain answer to an upgrade request: the remote node did not
			// take it as a websocket.
			writeError(w, r, http.StatusBadGateway, fmt.Sprintf("node %s did not upgrade the connection", node), nil)
			return
		}
		relayError(w, r, resp, body)
		return
	}
	remote, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		s.fail(w, r, fmt.Errorf("node %s: the upgraded connection cannot be written", node))
		return
	}
	defer remote.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.fail(w, r, fmt.Errorf("connection cannot be taken over"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer conn.Close()
	if rec, ok := w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols
	}
	// The server's deadlines are for requests, not for a session.
	conn.SetDeadline(time.Time{})
	writeSwitching(brw.Writer, resp.Header)
	if err := brw.Flush(); err != nil {
		return
	}
	splice(conn, brw.Reader, remote)
}

// writeSwitching relays the remote node's 101 answer; its accept key was
// computed from the client's own key, so it holds here too.
func writeSwitching(bw *bufio.Writer, h http.Header) {
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	for _, k := range []string{"Sec-WebSocket-Accept", "Sec-WebSocket-Protocol"} {
		if v := h.Get(k); v != "" {
			bw.WriteString(k + ": " + v + "\r\n")
		}
	}
	bw.WriteString("\r\n")
}

// splice copies both ways until one side ends, then closes both. The
// client's bytes are read through its buffered reader, which may already
// hold the first frames.
func splice(client net.Conn, clientIn io.Reader, remote io.ReadWriteCloser) {
	var once sync.Once
	end := func() {
		once.Do(func() {
			client.Close()
			remote.Close()
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(remote, clientIn)
		end()
	}()
	io.Copy(client, remote)
	end()
	<-done
}

// sameOrigin is the websocket library's default origin rule: no Origin
// header, or one naming the host the request was sent to.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
