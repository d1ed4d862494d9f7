package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-virt/hearth/internal/qemu/testguest"
)

// consoleSession is the answer of vncproxy and termproxy.
type consoleSession struct {
	port         int
	ticket, user string
	upid         string
	cert         string
}

func openConsole(t *testing.T, s *session, path string, v url.Values) consoleSession {
	t.Helper()
	data := s.must(t, "POST", path, v).body["data"].(map[string]any)
	c := consoleSession{ticket: data["ticket"].(string), user: data["user"].(string), upid: data["upid"].(string)}
	c.port = int(data["port"].(float64))
	c.cert, _ = data["cert"].(string)
	return c
}

// dialConsole opens the websocket of a console session as a browser
// would: the login cookie, and the session's port and ticket.
func dialConsole(t *testing.T, td *testDaemon, s *session, vmid, port int, ticket string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: td.caPool(t)}, Subprotocols: []string{"binary"},
		HandshakeTimeout: 10 * time.Second}
	u := fmt.Sprintf("wss://%s/api2/json/nodes/alpha/qemu/%d/vncwebsocket?%s", td.Addr(), vmid,
		url.Values{"port": {fmt.Sprint(port)}, "vncticket": {ticket}}.Encode())
	hdr := http.Header{}
	if c := s.hdr["Cookie"]; c != "" {
		hdr.Set("Cookie", c)
	}
	ws, resp, err := d.Dial(u, hdr)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// readWS reads messages until their payloads hold want.
func readWS(t *testing.T, ws *websocket.Conn, want string, timeout time.Duration) string {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(timeout))
	var got []byte
	for !strings.Contains(string(got), want) {
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q, got %q: %v", want, got, err)
		}
		got = append(got, p...)
	}
	return string(got)
}

func (td *testDaemon) waitUPID(t *testing.T, upid string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := td.tasks.Wait(ctx, upid)
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitStatus
}

// TestVMConsoleOverWebSockets opens both consoles of a real VM the way
// the web UI does: noVNC reads QEMU's RFB greeting and answers it through
// vncwebsocket; xterm.js logs in with the termproxy protocol and runs a
// command on the test guest's serial console.
func TestVMConsoleOverWebSockets(t *testing.T) {
	g := requireQEMU(t)
	td := startDaemon(t, "alpha")
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	args := "-kernel " + g.Kernel + " -initrd " + g.Initrd + " -append '" + testguest.KernelArgs("", "") + "'"
	if out, code := runCLI(t, "qm", "create", "100", "--memory", "128", "--serial0", "socket", "--args", args, sock); code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	r := s.do(t, "POST", "/nodes/alpha/qemu/100/vncproxy", nil)
	if r.code != 500 || r.status != "500 VM 100 not running" {
		t.Fatalf("vncproxy of a stopped VM: %s", r.status)
	}
	if out, code := runCLI(t, "qm", "start", "100", sock); code != 0 {
		t.Fatalf("qm start: %d\n%s", code, out)
	}

	// noVNC: vncproxy, then the websocket with the ticket.
	vnc := openConsole(t, s, "/nodes/alpha/qemu/100/vncproxy", url.Values{"websocket": {"1"}})
	if vnc.user != "admin@pve" || !strings.HasPrefix(vnc.ticket, "PVEVNC:") || vnc.port < 5900 ||
		!strings.Contains(vnc.upid, ":vncproxy:100:admin@pve:") || !strings.Contains(vnc.cert, "BEGIN CERTIFICATE") {
		t.Fatalf("vncproxy answer: %+v", vnc)
	}
	// Without the login cookie, or with a ticket of another session, the
	// upgrade is refused.
	if _, resp, err := dialConsole(t, td, &session{}, 100, vnc.port, vnc.ticket); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("without a cookie: %v %v", err, resp)
	}
	forged := vnc.ticket[:len(vnc.ticket)-4] + "AAA="
	if _, resp, err := dialConsole(t, td, s, 100, vnc.port, forged); err == nil || resp == nil || resp.Status != "403 Permission denied - invalid vnc ticket" {
		t.Fatalf("with a forged ticket: %v %v", err, resp)
	}
	ws, resp, err := dialConsole(t, td, s, 100, vnc.port, vnc.ticket)
	if err != nil {
		t.Fatalf("vncwebsocket: %v %v", err, resp)
	}
	if ws.Subprotocol() != "binary" {
		t.Errorf("subprotocol %q", ws.Subprotocol())
	}
	readWS(t, ws, "RFB 003.008\n", 10*time.Second)
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("RFB 003.008\n")); err != nil {
		t.Fatal(err)
	}
	// QEMU offers one security type, None (1): the ticket is the guard.
	if got := readWS(t, ws, "\x01\x01", 10*time.Second); got != "\x01\x01" {
		t.Fatalf("security types %q, want one: None", got)
	}
	// The session is used: a second connection with its ticket fails.
	if _, resp, err := dialConsole(t, td, s, 100, vnc.port, vnc.ticket); err == nil || resp == nil || resp.StatusCode != 500 {
		t.Fatalf("second connection: %v %v", err, resp)
	}
	ws.Close()
	if st := td.waitUPID(t, vnc.upid); st != "OK" {
		t.Fatalf("vncproxy task: %s", st)
	}

	// xterm.js: termproxy, the websocket, the credentials line, then
	// framed input. Output before the client connected is lost, so the
	// command is typed again until the guest's shell has answered it.
	term := openConsole(t, s, "/nodes/alpha/qemu/100/termproxy", nil)
	ws, resp, err = dialConsole(t, td, s, 100, term.port, term.ticket)
	if err != nil {
		t.Fatalf("vncwebsocket (terminal): %v %v", err, resp)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(term.user+":"+term.ticket+"\n"))
	readWS(t, ws, "OK", 10*time.Second)
	ws.WriteMessage(websocket.TextMessage, []byte("1:80:24:"))
	msgs := make(chan []byte, 100)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, p, err := ws.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			msgs <- p
		}
	}()
	cmd := "echo con''sole-$((6*7))\n"
	deadline := time.After(60 * time.Second)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "console-42") {
		ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("0:%d:%s", len(cmd), cmd)))
		retry := time.After(2 * time.Second)
	wait:
		for !strings.Contains(seen.String(), "console-42") {
			select {
			case p := <-msgs:
				seen.Write(p)
			case err := <-readErr:
				t.Fatalf("terminal: %v; output:\n%s", err, seen.String())
			case <-retry:
				break wait
			case <-deadline:
				t.Fatalf("the guest's shell did not answer on the terminal; output:\n%s", seen.String())
			}
		}
	}
	// Stopping the task ends the session.
	s.must(t, "DELETE", "/nodes/alpha/tasks/"+url.PathEscape(term.upid), nil)
	stopped := time.After(10 * time.Second)
	for {
		select {
		case <-msgs:
			continue
		case err := <-readErr:
			if _, closed := err.(*websocket.CloseError); !closed {
				t.Fatalf("after the task was stopped: %v", err)
			}
		case <-stopped:
			t.Fatal("the terminal stayed open after its task was stopped")
		}
		break
	}
	// The task writes its last line as it ends, after the socket closed.
	stoppedTask := result{code: 200, body: map[string]any{"data": term.upid}}
	td.waitTask(t, stoppedTask)
	if log := td.taskLog(t, stoppedTask); !strings.Contains(log, "connection closed") {
		t.Errorf("terminal task log:\n%s", log)
	}
}
