package api

import "github.com/hearth-virt/hearth/api/schema"

// Consoles of virtual machines, reached the way Proxmox VE's web UI
// reaches them: vncproxy (noVNC) or termproxy (xterm.js) opens a console
// session and returns a short-lived ticket for it; vncwebsocket, given
// that ticket, upgrades to a websocket connected to the VM's display or
// serial port. No TCP port is opened on the node: the "port" only names
// the session among the node's open ones, in Proxmox VE's range.

// Console ports: the range session numbers are taken from.
const (
	ConsolePortMin = 5900
	ConsolePortMax = 5999
)

// VNCProxyParams is the input of POST …/vncproxy.
type VNCProxyParams struct {
	Node             string `json:"node"`
	VMID             int    `json:"vmid"`
	WebSocket        bool   `json:"websocket"`
	GeneratePassword bool   `json:"generate-password"`
}

// TermProxyParams is the input of POST …/termproxy.
type TermProxyParams struct {
	Node   string `json:"node"`
	VMID   int    `json:"vmid"`
	Serial string `json:"serial"`
}

// VNCWebSocketParams is the input of GET …/vncwebsocket.
type VNCWebSocketParams struct {
	Node      string `json:"node"`
	VMID      int    `json:"vmid"`
	Port      int    `json:"port"`
	VNCTicket string `json:"vncticket"`
}

// ConsoleSession is the answer of vncproxy and termproxy: what a client
// needs to connect the websocket within a few seconds.
type ConsoleSession struct {
	User   string `json:"user"`
	Ticket string `json:"ticket"`
	Port   int    `json:"port"`
	UPID   string `json:"upid"`
	// Cert is the cluster CA (vncproxy only), which clients pin for TLS.
	Cert string `json:"cert,omitempty"`
}

// WebSocketAnswer is what vncwebsocket returns to a request that does not
// upgrade.
type WebSocketAnswer struct {
	Port string `json:"port"`
}

func consoleSessionSchema(cert bool) schema.Schema {
	p := schema.Props{
		"user":   schema.Str("Who may connect: the caller (its API token id for a token).").Ptr(),
		"ticket": schema.Str("Ticket to pass to vncwebsocket (and, for termproxy, in the first line the client sends).").Ptr(),
		"port":   schema.IntRange("Number of the session, to pass to vncwebsocket.", ConsolePortMin, ConsolePortMax).Ptr(),
		"upid":   schema.Str("Task that lives as long as the session.").Ptr(),
	}
	if cert {
		p["cert"] = schema.Str("The cluster's CA certificate (PEM).").Ptr()
	}
	return schema.Obj("", p)
}

var consolePerm = Perm("/vms/{vmid}", "VM.Console")

var (
	VMVNCProxy = Declare[VNCProxyParams, ConsoleSession](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/vncproxy", Method: "POST", Name: "vncproxy",
		Description: "Open a session on the VM's graphical console (VNC). Connect to it with vncwebsocket " +
			"within 10 seconds; the session ends when that connection does.",
		Params: vmProps(schema.Props{
			"websocket": schema.Bool("Accepted for compatibility: every session is reached through vncwebsocket.").Opt(),
			"generate-password": schema.Bool("Deprecated and without effect: the display needs no VNC password, " +
				"since only the holder of the ticket can reach it.").Def(false).Ptr(),
		}),
		Perm: consolePerm, ProxyTo: "node", Protected: true,
		Returns: consoleSessionSchema(true),
	})

	VMTermProxy = Declare[TermProxyParams, ConsoleSession](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/termproxy", Method: "POST", Name: "termproxy",
		Description: "Open a session on a serial port of the VM (one configured as a socket) for a terminal " +
			"client such as xterm.js. Connect to it with vncwebsocket within 10 seconds.",
		Params: vmProps(schema.Props{
			"serial": schema.Enum("The serial port; default: the one the display is redirected to (vga: serialN), else serial0.",
				"serial0", "serial1", "serial2", "serial3").Opt(),
		}),
		Perm: consolePerm, ProxyTo: "node", Protected: true,
		Returns: consoleSessionSchema(false),
		CLI: []Command{{Tool: "qm", Cmd: "terminal", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Client: "terminal"}},
	})

	VMVNCWebSocket = Declare[VNCWebSocketParams, Tunnel](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/vncwebsocket", Method: "GET", Name: "vncwebsocket",
		Description: "Connect to a console session opened with vncproxy or termproxy: the request upgrades to a " +
			"websocket (subprotocol binary) carrying the VNC or terminal traffic.",
		Params: vmProps(schema.Props{
			"port":      schema.IntRange("Session number vncproxy or termproxy returned.", ConsolePortMin, ConsolePortMax).Ptr(),
			"vncticket": schema.Schema{Type: schema.String, MaxLength: 512, Description: "Ticket vncproxy or termproxy returned."}.Ptr(),
		}),
		Perm:    Permission{Kind: PermCheck, Path: "/vms/{vmid}", Privs: []string{"VM.Console"}, Note: "The session's ticket (vncticket) is needed as well."},
		ProxyTo: "node", WebSocket: true,
		Returns: schema.Obj("", schema.Props{"port": schema.Str("The session number (when the request did not upgrade).").Ptr()}),
	})
)

// ConsoleEndpoints lists the console endpoints for the registry.
func ConsoleEndpoints() []*Endpoint {
	return []*Endpoint{VMVNCProxy.E, VMTermProxy.E, VMVNCWebSocket.E}
}
