package api

import "github.com/hearth-virt/hearth/api/schema"

// The QEMU guest agent of a VM, reached through the API. Every answer is
// {"result": <what the agent returned>}, as on Proxmox VE.

// AgentCommands are the agent commands without parameters, with the
// privilege (besides VM.GuestAgent.Unrestricted) that allows each and
// whether it is read with GET.
var AgentCommands = []struct {
	Name string
	Priv string
	Get  bool
}{
	{"fsfreeze-freeze", "VM.GuestAgent.FileSystemMgmt", false},
	{"fsfreeze-status", "VM.GuestAgent.Audit", false},
	{"fsfreeze-thaw", "VM.GuestAgent.FileSystemMgmt", false},
	{"fstrim", "VM.GuestAgent.FileSystemMgmt", false},
	{"get-fsinfo", "VM.GuestAgent.Audit", true},
	{"get-host-name", "VM.GuestAgent.Audit", true},
	{"get-memory-block-info", "VM.GuestAgent.Audit", true},
	{"get-memory-blocks", "VM.GuestAgent.Audit", true},
	{"get-osinfo", "VM.GuestAgent.Audit", true},
	{"get-time", "VM.GuestAgent.Audit", true},
	{"get-timezone", "VM.GuestAgent.Audit", true},
	{"get-users", "VM.GuestAgent.Audit", true},
	{"get-vcpus", "VM.GuestAgent.Audit", true},
	{"info", "VM.GuestAgent.Audit", true},
	{"network-get-interfaces", "VM.GuestAgent.Audit", true},
	{"ping", "VM.GuestAgent.Audit", false},
	{"shutdown", "VM.PowerMgmt", false},
	{"suspend-disk", "VM.PowerMgmt", false},
	{"suspend-hybrid", "VM.PowerMgmt", false},
	{"suspend-ram", "VM.PowerMgmt", false},
}

// AgentResult is the answer of an agent call.
type AgentResult struct {
	Result any `json:"result"`
}

// AgentCommandParams is the input of POST …/agent.
type AgentCommandParams struct {
	Node    string `json:"node"`
	VMID    int    `json:"vmid"`
	Command string `json:"command"`
}

// AgentExecParams is the input of POST …/agent/exec.
type AgentExecParams struct {
	Node      string   `json:"node"`
	VMID      int      `json:"vmid"`
	Command   []string `json:"command"`
	InputData string   `json:"input-data"`
}

// AgentExecStatusParams is the input of GET …/agent/exec-status.
type AgentExecStatusParams struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
	PID  int    `json:"pid"`
}

// AgentFileReadParams is the input of GET …/agent/file-read.
type AgentFileReadParams struct {
	Node   string `json:"node"`
	VMID   int    `json:"vmid"`
	File   string `json:"file"`
	Count  int64  `json:"count"`
	Offset int64  `json:"offset"`
	Decode *bool  `json:"decode"`
}

// AgentFileWriteParams is the input of POST …/agent/file-write.
type AgentFileWriteParams struct {
	Node    string `json:"node"`
	VMID    int    `json:"vmid"`
	File    string `json:"file"`
	Content string `json:"content"`
	Encode  *bool  `json:"encode"`
}

// AgentPasswordParams is the input of POST …/agent/set-user-password.
type AgentPasswordParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	Username string `json:"username"`
	Password string `json:"password"`
	Crypted  bool   `json:"crypted"`
}

func agentPerm(priv string) Permission {
	return PermAny("/vms/{vmid}", priv, "VM.GuestAgent.Unrestricted")
}

var resultSchema = schema.Obj("An object with the agent's answer as result.", schema.Props{
	"result": schema.Schema{Type: schema.Any, Description: "What the agent returned."}.Opt(),
})

func agentNames() []string {
	out := make([]string, len(AgentCommands))
	for i, c := range AgentCommands {
		out[i] = c.Name
	}
	return out
}

var (
	AgentIndex = Declare[VMParam, []Child](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent", Method: "GET", Name: "index",
		Description: "List the guest agent commands.",
		Params:      vmProps(nil), Perm: AnyUser(""), ProxyTo: "node", Returns: childIndex("name"),
	})

	AgentCommand = Declare[AgentCommandParams, AgentResult](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent", Method: "POST", Name: "agent",
		Description: "Run a guest agent command without parameters.",
		Params:      vmProps(schema.Props{"command": schema.Enum("The command.", agentNames()...).Ptr()}),
		Perm:        PermAny("/vms/{vmid}", "VM.GuestAgent.Unrestricted"),
		ProxyTo:     "node", Protected: true, Returns: resultSchema,
		CLI: []Command{{Tool: "qm", Cmd: "guest cmd", Args: []string{"vmid", "command"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	AgentExec = Declare[AgentExecParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent/exec", Method: "POST", Name: "exec",
		Description: "Start a program in the guest; read its outcome with exec-status.",
		Params: vmProps(schema.Props{
			"command":    schema.ArrayOf("The program and its arguments.", schema.Str("An argument.")).Ptr(),
			"input-data": schema.Schema{Type: schema.String, MaxLength: 65536, Description: "Data for the program's standard input."}.Opt(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.GuestAgent.Unrestricted"),
		ProxyTo: "node", Protected: true,
		Returns: schema.Obj("", schema.Props{"pid": schema.Int("Process id of the program in the guest.").Ptr()}),
		CLI: []Command{{Tool: "qm", Cmd: "guest exec", Args: []string{"vmid", "command"}, Fixed: map[string]string{"node": LocalNode},
			Client: "guest-exec", Local: schema.Props{
				"synchronous": schema.Bool("Wait for the program to end and print its exit code and output.").Def(true).Ptr(),
				"timeout":     schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "With synchronous, give up waiting after this many seconds (0: never)."}.Def(30).Ptr(),
				"pass-stdin":  schema.Bool("Send standard input (up to 64 KiB) to the program.").Def(false).Ptr(),
			}}},
	})

	AgentExecStatus = Declare[AgentExecStatusParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent/exec-status", Method: "GET", Name: "exec-status",
		Description: "Show whether a program started with exec has ended, with its exit code and output.",
		Params:      vmProps(schema.Props{"pid": schema.Int("Process id exec returned.").Ptr()}),
		Perm:        Perm("/vms/{vmid}", "VM.GuestAgent.Unrestricted"),
		ProxyTo:     "node",
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "exited, exitcode, out-data, err-data, signal."},
	})

	AgentFileRead = Declare[AgentFileReadParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent/file-read", Method: "GET", Name: "file-read",
		Description: "Read a file in the guest (at most 16 MiB).",
		Params: vmProps(schema.Props{
			"file":   schema.Str("Path of the file in the guest.").Ptr(),
			"count":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(16 << 20), Description: "Bytes to read."}.Def(16 << 20).Ptr(),
			"offset": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Where to start reading."}.Def(0).Ptr(),
			"decode": schema.Bool("Return the content as text; off returns base64.").Def(true).Ptr(),
		}),
		Perm:    agentPerm("VM.GuestAgent.FileRead"),
		ProxyTo: "node",
		Returns: schema.Obj("", schema.Props{
			"content":   schema.Str("The content.").Ptr(),
			"truncated": schema.Bool("The file goes on past what was read.").Opt(),
		}),
	})

	AgentFileWrite = Declare[AgentFileWriteParams, any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent/file-write", Method: "POST", Name: "file-write",
		Description: "Write a file in the guest.",
		Params: vmProps(schema.Props{
			"file":    schema.Str("Path of the file in the guest.").Ptr(),
			"content": schema.Schema{Type: schema.String, MaxLength: 61440, Description: "What to write."}.Ptr(),
			"encode":  schema.Bool("The content is text and gets encoded here; off means it is base64 already.").Def(true).Ptr(),
		}),
		Perm:    agentPerm("VM.GuestAgent.FileWrite"),
		ProxyTo: "node", Protected: true, Returns: schema.Schema{Type: schema.Null},
	})

	AgentSetPassword = Declare[AgentPasswordParams, AgentResult](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/agent/set-user-password", Method: "POST", Name: "set-user-password",
		Description: "Set the password of a user in the guest.",
		Params: vmProps(schema.Props{
			"username": schema.Str("The user.").Ptr(),
			"password": schema.Schema{Type: schema.String, MinLength: 5, MaxLength: 1024, Sensitive: true, Description: "The new password."}.Ptr(),
			"crypted":  schema.Bool("The password is already crypt()-hashed.").Def(false).Ptr(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.GuestAgent.Unrestricted"),
		ProxyTo: "node", Protected: true, Returns: resultSchema,
	})

	// AgentSimple are the per-command endpoints (…/agent/ping, …).
	AgentSimple = agentSimple()
)

func agentSimple() []Decl[VMParam, AgentResult] {
	out := make([]Decl[VMParam, AgentResult], 0, len(AgentCommands))
	for _, c := range AgentCommands {
		method := "POST"
		if c.Get {
			method = "GET"
		}
		out = append(out, Declare[VMParam, AgentResult](Endpoint{
			Path: "/nodes/{node}/qemu/{vmid}/agent/" + c.Name, Method: method, Name: c.Name,
			Description: "Run the guest agent command " + c.Name + ".",
			Params:      vmProps(nil), Perm: agentPerm(c.Priv), ProxyTo: "node", Protected: method == "POST",
			Returns: resultSchema,
		}))
	}
	return out
}

func agentEndpoints() []*Endpoint {
	out := []*Endpoint{AgentIndex.E, AgentCommand.E, AgentExec.E, AgentExecStatus.E, AgentFileRead.E, AgentFileWrite.E, AgentSetPassword.E}
	for _, d := range AgentSimple {
		out = append(out, d.E)
	}
	return out
}
