package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// escapeKey ends a terminal session: Ctrl+O, as with Proxmox VE's qm
// terminal.
const escapeKey = 0x0f

// webSocketDialer is implemented by clients that can open the API's
// websockets (consoles).
type webSocketDialer interface {
	DialWebSocket(ctx context.Context, apiPath string, params schema.Raw) (*websocket.Conn, error)
}

// DialWebSocket opens a websocket on an API path, with the client's
// credentials and transport (TLS or the root socket).
func (c *httpClient) DialWebSocket(ctx context.Context, apiPath string, params schema.Raw) (*websocket.Conn, error) {
	u := c.base + "/api2/json" + escapePath(apiPath)
	if form := url.Values(params).Encode(); form != "" {
		u += "?" + form
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.authenticate != nil {
		c.authenticate(req)
	}
	d := websocket.Dialer{Subprotocols: []string{"binary"}, HandshakeTimeout: 15 * time.Second}
	if tr, ok := c.hc.Transport.(*http.Transport); ok {
		d.NetDialContext = tr.DialContext
		d.TLSClientConfig = tr.TLSClientConfig
	}
	u = "ws" + strings.TrimPrefix(u, "http")
	conn, resp, err := d.DialContext(ctx, u, req.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("opening the console: %s", resp.Status)
		}
		return nil, fmt.Errorf("opening the console: %w", err)
	}
	return conn, nil
}

// terminal attaches the terminal to a console session that termproxy
// opened: the websocket speaks Proxmox VE's termproxy framing. sent are
// the parameters of the termproxy call, which say what was opened.
func (r *run) terminal(ctx context.Context, c Client, path string, sent schema.Raw, data json.RawMessage) int {
	var sess struct {
		Port   any    `json:"port"`
		Ticket string `json:"ticket"`
		User   string `json:"user"`
	}
	if err := json.Unmarshal(data, &sess); err != nil || sess.Ticket == "" {
		return r.fail(fmt.Errorf("the console answer is not a session: %s", data))
	}
	wd, ok := c.(webSocketDialer)
	if !ok {
		return r.fail(fmt.Errorf("this connection cannot open consoles"))
	}
	ws, err := wd.DialWebSocket(ctx, strings.TrimSuffix(path, "/termproxy")+"/vncwebsocket",
		schema.Raw{"port": {fmt.Sprint(sess.Port)}, "vncticket": {sess.Ticket}})
	if err != nil {
		return r.fail(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(sess.User+":"+sess.Ticket+"\n")); err != nil {
		return r.fail(err)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), "OK") {
		return r.fail(fmt.Errorf("the console refused the session: %q %v", msg, err))
	}
	if f, ok := r.env.Stdin.(*os.File); ok && r.env.IsTerminal(r.env.Stdin) {
		if restore, err := makeRaw(f); err == nil {
			defer restore()
		}
	}
	fmt.Fprintf(r.stderr, "%s (press Ctrl+O to leave)\n", terminalBanner(path, sent))
	done := make(chan error, 1)
	go func() {
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			r.stdout.Write(msg)
		}
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.env.Stdin.Read(buf)
			in := buf[:n]
			if i := strings.IndexByte(string(in), escapeKey); i >= 0 {
				in, err = in[:i], io.EOF
			}
			if len(in) > 0 {
				frame := fmt.Sprintf("0:%d:%s", len(in), in)
				if werr := ws.WriteMessage(websocket.BinaryMessage, []byte(frame)); werr != nil {
					done <- werr
					return
				}
			}
			if err != nil {
				done <- nil
				return
			}
		}
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if err != nil && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		return r.fail(err)
	}
	return exitOK
}

// terminalBanner says what a terminal session is attached to, from the
// termproxy path (…/qemu/<vmid>/termproxy or …/lxc/<vmid>/termproxy) and
// its parameters.
func terminalBanner(path string, sent schema.Raw) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	kind, id := "", ""
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "qemu" || segs[i] == "lxc" {
			kind, id = segs[i], segs[i+1]
		}
	}
	switch kind {
	case "lxc":
		if mode, _ := sent.Get("mode"); mode == api.CTEnterMode {
			return "starting a root shell in CT " + id
		}
		return "attaching to the console of CT " + id
	case "qemu":
		if serial, ok := sent.Get("serial"); ok {
			return "starting serial terminal of VM " + id + " on " + serial
		}
		return "starting serial terminal of VM " + id
	}
	return "starting terminal"
}
