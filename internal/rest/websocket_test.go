package rest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/pki"
)

type tunnelIn struct {
	Node   string `json:"node"`
	Ticket string `json:"ticket"`
}

var tunnelDecl = api.Declare[tunnelIn, api.Tunnel](api.Endpoint{
	Path: "/nodes/{node}/tunnel", Method: "GET", Name: "tunnel", Description: "Tunnel.",
	Params: schema.Props{"node": schema.Node().Ptr(), "ticket": schema.Str("Ticket.").Ptr()},
	Perm:   api.Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node", WebSocket: true,
})

// tunnelRoute serves the test websocket endpoint: ticket "good" connects
// to the unix socket at sock, after a greeting naming the node and the
// user; ticket "fail" upgrades and then fails; any other ticket is
// refused before the upgrade.
func tunnelRoute(node, sock string) api.Route {
	return tunnelDecl.Handle(func(ctx context.Context, c *api.Call, in *tunnelIn) (api.Tunnel, error) {
		switch in.Ticket {
		case "good":
		case "fail":
			return api.Tunnel{Serve: func(context.Context, io.ReadWriteCloser) error {
				return errors.New("the console is gone")
			}}, nil
		default:
			return api.Tunnel{}, api.Errorf(http.StatusForbidden, "Permission denied - invalid vnc ticket")
		}
		return api.Tunnel{
			Answer: map[string]string{"port": "5900"},
			Serve: func(_ context.Context, conn io.ReadWriteCloser) error {
				s, err := net.Dial("unix", sock)
				if err != nil {
					return err
				}
				defer s.Close()
				fmt.Fprintf(conn, "%s %s\n", node, c.User)
				go io.Copy(conn, s)
				_, err = io.Copy(s, conn)
				return err
			},
		}, nil
	})
}

// echoSocket listens on a unix socket and sends back what it reads.
func echoSocket(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "echo.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return path
}

// startTunnelCluster starts two API servers sharing a CA, each forwarding
// to the other, with the tunnel endpoint on both.
func startTunnelCluster(t *testing.T) (n1, n2 *httptest.Server, ca *pki.CA) {
	t.Helper()
	now := time.Now()
	ca, _, err := pki.NewCA("test cluster CA", now)
	if err != nil {
		t.Fatal(err)
	}
	sock := echoSocket(t)
	routes := &staticNodes{urls: map[string]string{}}
	servers := map[string]*httptest.Server{}
	for _, name := range []string{"n1", "n2"} {
		certPEM, keyPEM, err := ca.NodeCert(name, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		srvTLS, err := pki.ServerTLS(certPEM, keyPEM, ca.Pool())
		if err != nil {
			t.Fatal(err)
		}
		if name == "n1" {
			cliTLS, err := pki.ClientTLS(certPEM, keyPEM, ca.Pool())
			if err != nil {
				t.Fatal(err)
			}
			// As the cluster's client: an overall timeout, which must not
			// cut a forwarded session.
			routes.client = &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS}, Timeout: time.Minute}
		}
		srv, err := New(Config{Node: name, Routes: append(testRoutes(name), tunnelRoute(name, sock)), Auth: fakeAuth{},
			Tasks: &fakeRunner{}, AuthFailDelay: time.Millisecond, Forwarder: routes})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(srv)
		ts.EnableHTTP2 = false
		ts.TLS = srvTLS
		ts.StartTLS()
		t.Cleanup(ts.Close)
		routes.urls[name] = ts.URL
		servers[name] = ts
	}
	return servers["n1"], servers["n2"], ca
}

func dialTunnel(t *testing.T, ca *pki.CA, srv *httptest.Server, query string, hdr http.Header, protos ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, Subprotocols: protos, HandshakeTimeout: 5 * time.Second}
	u := "wss" + strings.TrimPrefix(srv.URL, "https") + APIPrefix + query
	ws, resp, err := d.Dial(u, hdr)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

func cookie(user string) http.Header {
	return http.Header{"Cookie": {"PVEAuthCookie=T:" + user}}
}

// readFor reads messages until their payloads hold want.
func readFor(t *testing.T, ws *websocket.Conn, want string, decode func([]byte) []byte) string {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	for !strings.Contains(string(got), want) {
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("reading %q, got %q: %v", want, got, err)
		}
		if decode != nil {
			p = decode(p)
		}
		got = append(got, p...)
	}
	return string(got)
}

func TestConsoleWebSocketUpgradeAndRefusals(t *testing.T) {
	n1, _, ca := startTunnelCluster(t)

	// Refusals happen before the upgrade, as ordinary API errors.
	refusals := []struct {
		name   string
		query  string
		hdr    http.Header
		status string
	}{
		{"no cookie", "/nodes/n1/tunnel?ticket=good", nil, "401 No ticket"},
		{"bad cookie", "/nodes/n1/tunnel?ticket=good", http.Header{"Cookie": {"PVEAuthCookie=garbage"}}, "401 invalid or expired ticket"},
		{"no privilege", "/nodes/n1/tunnel?ticket=good", cookie("bob@pve"), "403 Permission check failed (/nodes/n1, Sys.Audit)"},
		{"wrong ticket", "/nodes/n1/tunnel?ticket=bad", cookie("alice@pve"), "403 Permission denied - invalid vnc ticket"},
		{"wrong ticket on another node", "/nodes/n2/tunnel?ticket=bad", cookie("alice@pve"), "403 Permission denied - invalid vnc ticket"},
		{"no ticket", "/nodes/n1/tunnel", cookie("alice@pve"), "400 Parameter verification failed."},
		{"foreign origin", "/nodes/n1/tunnel?ticket=good", http.Header{"Cookie": {"PVEAuthCookie=T:alice@pve"}, "Origin": {"https://evil.example"}}, "403 "},
		{"foreign origin on another node", "/nodes/n2/tunnel?ticket=good", http.Header{"Cookie": {"PVEAuthCookie=T:alice@pve"}, "Origin": {"https://evil.example"}}, "403 "},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := dialTunnel(t, ca, n1, tt.query, tt.hdr, "binary")
			if err == nil || resp == nil {
				t.Fatalf("upgraded: %v", err)
			}
			if !strings.HasPrefix(resp.Status, tt.status) {
				t.Fatalf("status %q, want %q", resp.Status, tt.status)
			}
		})
	}

	// A plain GET gets the tunnel's answer as JSON.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	r := do(t, c, "GET", n1.URL+APIPrefix+"/nodes/n1/tunnel?ticket=good", nil, map[string]string{"Cookie": "PVEAuthCookie=T:alice@pve"})
	if r.code != 200 || string(r.raw) != `{"data":{"port":"5900"}}` {
		t.Fatalf("plain GET: %s %s", r.status, r.raw)
	}
}

func TestConsoleWebSocketCarriesBytesBothWays(t *testing.T) {
	n1, _, ca := startTunnelCluster(t)
	for _, node := range []string{"n1", "n2"} {
		t.Run("to "+node, func(t *testing.T) {
			ws, resp, err := dialTunnel(t, ca, n1, "/nodes/"+node+"/tunnel?ticket=good", cookie("alice@pve"), "binary")
			if err != nil {
				t.Fatalf("dial: %v (%v)", err, resp)
			}
			if ws.Subprotocol() != "binary" {
				t.Fatalf("subprotocol %q, want binary", ws.Subprotocol())
			}
			// The tunnel ran on the named node, for the caller.
			readFor(t, ws, node+" alice@pve\n", nil)
			// Message boundaries do not matter: the socket sees a stream.
			for _, m := range []string{"RFB 003", ".008\n", strings.Repeat("x", 100000)} {
				if err := ws.WriteMessage(websocket.BinaryMessage, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			got := readFor(t, ws, "RFB 003.008\n"+strings.Repeat("x", 100000), nil)
			if got != "RFB 003.008\n"+strings.Repeat("x", 100000) {
				t.Fatalf("echo: %d bytes, starting %q", len(got), got[:min(len(got), 20)])
			}
			// Text messages count as well (xterm.js sends those).
			ws.WriteMessage(websocket.TextMessage, []byte("text"))
			readFor(t, ws, "text", nil)
		})
	}
}

func TestConsoleWebSocketBase64AndCloseReason(t *testing.T) {
	n1, _, ca := startTunnelCluster(t)
	ws, _, err := dialTunnel(t, ca, n1, "/nodes/n2/tunnel?ticket=good", cookie("alice@pve"), "base64")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Subprotocol() != "base64" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	dec := func(p []byte) []byte {
		out, err := base64.StdEncoding.DecodeString(string(p))
		if err != nil {
			t.Fatalf("not base64: %q", p)
		}
		return out
	}
	readFor(t, ws, "n2 alice@pve\n", dec)
	ws.WriteMessage(websocket.TextMessage, []byte(base64.StdEncoding.EncodeToString([]byte("hello\x00\xff"))))
	readFor(t, ws, "hello\x00\xff", dec)

	// A tunnel that fails says why in the close message, also through a
	// forwarding node.
	for _, node := range []string{"n1", "n2"} {
		ws, _, err := dialTunnel(t, ca, n1, "/nodes/"+node+"/tunnel?ticket=fail", cookie("alice@pve"), "binary")
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err = ws.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseInternalServerErr || ce.Text != "the console is gone" {
			t.Fatalf("%s: close: %v", node, err)
		}
	}
}
