package rest

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-virt/hearth/api"
)

// Websocket endpoints (api.Endpoint.WebSocket) go through the same
// routing, authentication, parameter and permission checks as every other
// call; the handler then checks what is particular to it (a console
// ticket) and returns an api.Tunnel. Only after that does the server
// answer 101 and hand the connection to the tunnel. A request for another
// node is forwarded before the upgrade and spliced through (see
// websocket_forward.go), so the node holding the session serves it.

// Subprotocols, as Proxmox VE's proxy offers them: "binary" carries the
// stream in binary messages (noVNC, xterm.js); "base64" in text messages
// holding base64 (old noVNC versions). A client that asks for neither
// gets binary messages without a subprotocol.
const (
	protoBinary = "binary"
	protoBase64 = "base64"
)

// wsPingInterval keeps idle consoles alive through proxies that cut
// quiet connections (a VNC display that does not change sends nothing).
const wsPingInterval = 30 * time.Second

// wsWriteTimeout bounds one write to a client that stopped reading.
const wsWriteTimeout = 30 * time.Second

// isWebSocket reports whether a request asks to upgrade to a websocket.
func isWebSocket(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

// serveTunnel answers a websocket endpoint whose handler accepted the
// request: an upgrade request becomes a websocket served by the tunnel,
// a plain request gets the tunnel's answer.
func (s *Server) serveTunnel(w http.ResponseWriter, r *http.Request, route *api.Route, res any) {
	t, ok := res.(api.Tunnel)
	if !ok || t.Serve == nil {
		s.fail(w, r, errors.New(route.Key()+": the handler returned no tunnel"))
		return
	}
	if !isWebSocket(r) {
		s.gzip.writeJSON(w, r, t.Answer, nil)
		return
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   32 << 10,
		WriteBufferSize:  32 << 10,
		Subprotocols:     []string{protoBinary, protoBase64},
		// CheckOrigin stays the default, same-origin: a page elsewhere must
		// not ride on the browser's cookie (it would need the console
		// ticket too, but that is no reason to drop the first guard).
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeError(w, r, status, reason.Error(), nil)
		},
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade refused", "path", r.URL.Path, "error", err)
		return
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols
	}
	conn := newWSStream(ws, ws.Subprotocol() == protoBase64)
	defer conn.Close()
	stop := conn.keepAlive()
	defer stop()
	// The request's context lasts until this handler returns, which is
	// when the tunnel is over.
	if err := t.Serve(r.Context(), conn); err != nil {
		s.log.Info("websocket ended with an error", "path", r.URL.Path, "error", err)
		conn.closeWith(websocket.CloseInternalServerErr, err.Error())
	}
}

// wsStream presents a websocket as a byte stream: Read returns the
// payloads of data messages one after another, Write sends one message.
type wsStream struct {
	ws     *websocket.Conn
	base64 bool
	cur    io.Reader // the message being read

	wmu       sync.Mutex // one writer at a time, as the library requires
	closeOnce sync.Once
}

func newWSStream(ws *websocket.Conn, b64 bool) *wsStream {
	return &wsStream{ws: ws, base64: b64}
}

func (c *wsStream) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			_, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if c.base64 {
				r = base64.NewDecoder(base64.StdEncoding, r)
			}
			c.cur = r
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsStream) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	var err error
	if c.base64 {
		err = c.ws.WriteMessage(websocket.TextMessage, []byte(base64.StdEncoding.EncodeToString(p)))
	} else {
		err = c.ws.WriteMessage(websocket.BinaryMessage, p)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the websocket with a normal close message.
func (c *wsStream) Close() error {
	c.closeWith(websocket.CloseNormalClosure, "")
	return nil
}

// closeWith sends a close message with a code and reason (clients such
// as noVNC show the reason) and closes the connection. The first call
// wins.
func (c *wsStream) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		// A close reason has room for 123 bytes.
		if len(reason) > 123 {
			reason = reason[:120] + "..."
		}
		reason = strings.ToValidUTF8(reason, "?")
		msg := websocket.FormatCloseMessage(code, reason)
		c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		c.ws.Close()
	})
}

// keepAlive pings the client until the returned function is called.
func (c *wsStream) keepAlive() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(wsPingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)) != nil {
					return
				}
			}
		}
	}()
	return cancel
}
