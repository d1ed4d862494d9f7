package api

import "github.com/hearth-virt/hearth/api/schema"

// Consoles of containers, reached as the ones of VMs are (see
// qemu_console.go): termproxy or vncproxy opens a session and returns a
// short-lived ticket, vncwebsocket connects to it. termproxy serves both
// `pct console` (the container's terminal) and `pct enter` (a root shell
// started inside it), told apart by its mode.

// CTTermProxyParams is the input of …/termproxy.
type CTTermProxyParams struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
	Mode string `json:"mode"`
}

// CTVNCProxyParams is the input of …/vncproxy.
type CTVNCProxyParams struct {
	Node      string `json:"node"`
	VMID      int    `json:"vmid"`
	WebSocket bool   `json:"websocket"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// The modes of a container's terminal session.
const (
	// CTConsoleMode attaches to the container's console (a tty, or
	// /dev/console, or a shell, as its cmode says), like lxc-console.
	CTConsoleMode = "console"
	// CTEnterMode starts a root shell inside the running container
	// through lxc-attach, needing no login and no getty.
	CTEnterMode = "enter"
)

var (
	CTVNCProxy = Declare[CTVNCProxyParams, ConsoleSession](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/vncproxy", Method: "POST", Name: "vncproxy",
		Description: "Open a session on the container's console drawn as a VNC display, for clients that only " +
			"speak VNC (noVNC). Connect to it with vncwebsocket within 10 seconds; the session ends when that " +
			"connection does.",
		Params: vmProps(schema.Props{
			"websocket": schema.Bool("Accepted for compatibility: every session is reached through vncwebsocket.").Opt(),
			"width":     schema.IntRange("Width of the display in pixels.", 16, 4096).Opt(),
			"height":    schema.IntRange("Height of the display in pixels.", 16, 2160).Opt(),
		}),
		Perm: consolePerm, ProxyTo: "node", Protected: true,
		Returns: consoleSessionSchema(true),
	})

	CTTermProxy = Declare[CTTermProxyParams, ConsoleSession](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/termproxy", Method: "POST", Name: "termproxy",
		Description: "Open a terminal session on a running container for a client such as xterm.js. Connect to it " +
			"with vncwebsocket within 10 seconds. The mode parameter is a Hearth addition: enter (behind pct enter) " +
			"starts a root shell in the container instead of attaching to its console (behind pct console).",
		Params: vmProps(schema.Props{
			"mode": schema.Enum("console: the container's console, as its cmode says; enter: a root shell started "+
				"inside the container (lxc-attach), without a login.", CTConsoleMode, CTEnterMode).Def(CTConsoleMode).Ptr(),
		}),
		Perm: consolePerm, ProxyTo: "node", Protected: true,
		Returns: consoleSessionSchema(false),
		CLI: []Command{
			{Tool: "pct", Cmd: "console", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode, "mode": CTConsoleMode},
				Client: "terminal"},
			{Tool: "pct", Cmd: "enter", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode, "mode": CTEnterMode},
				Client: "terminal"},
		},
	})

	CTVNCWebSocket = Declare[VNCWebSocketParams, Tunnel](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/vncwebsocket", Method: "GET", Name: "vncwebsocket",
		Description: "Connect to a console session opened with vncproxy or termproxy: the request upgrades to a " +
			"websocket (subprotocol binary) carrying the VNC or terminal traffic.",
		Params: vmProps(schema.Props{
			"port":      schema.IntRange("Session number vncproxy or termproxy returned.", ConsolePortMin, ConsolePortMax).Ptr(),
			"vncticket": schema.Schema{Type: schema.String, MaxLength: 512, Description: "Ticket vncproxy or termproxy returned."}.Ptr(),
		}),
		Perm:    withNote(consolePerm, "The session's ticket (vncticket) is needed as well."),
		ProxyTo: "node", WebSocket: true,
		Returns: schema.Obj("", schema.Props{"port": schema.Str("The session number (when the request did not upgrade).").Ptr()}),
	})
)

// ctConsoleEndpoints lists the console endpoints of containers.
func ctConsoleEndpoints() []*Endpoint {
	return []*Endpoint{CTVNCProxy.E, CTTermProxy.E, CTVNCWebSocket.E}
}
