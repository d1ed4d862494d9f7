package api

import "github.com/hearth-virt/hearth/api/schema"

// Hearth additions for containers. Proxmox VE's pct does these things
// itself on the node, as root, outside its API (lxc-attach, mount, fsck);
// Hearth's pct is an API client that may run anywhere, so each gets an
// endpoint here, behind the pct command of the same name.

// CTExecParams is the input of POST …/exec.
type CTExecParams struct {
	Node      string   `json:"node"`
	VMID      int      `json:"vmid"`
	Command   []string `json:"command"`
	InputData string   `json:"input-data"`
	Timeout   int      `json:"timeout"`
}

// CTExecResult is the answer of POST …/exec.
type CTExecResult struct {
	ExitCode     int    `json:"exitcode"`
	OutData      string `json:"out-data"`
	ErrData      string `json:"err-data"`
	OutTruncated bool   `json:"out-truncated,omitempty"`
	ErrTruncated bool   `json:"err-truncated,omitempty"`
}

// CTPushParams is the input of POST …/push. File is the multipart part
// carrying the content; its value is the name the client gave it.
type CTPushParams struct {
	Node  string `json:"node"`
	VMID  int    `json:"vmid"`
	File  string `json:"file"`
	Path  string `json:"path"`
	User  string `json:"user"`
	Group string `json:"group"`
	Perms string `json:"perms"`
}

// CTPullParams is the input of GET …/pull.
type CTPullParams struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
	Path string `json:"path"`
}

// CTFile is the answer of GET …/pull.
type CTFile struct {
	// Content is the file's bytes in standard base64.
	Content string `json:"content"`
	Size    int64  `json:"size"`
	// Mode is the file's permission bits in octal, such as 0644.
	Mode string `json:"mode"`
}

// CTFsckParams is the input of POST …/fsck.
type CTFsckParams struct {
	Node   string `json:"node"`
	VMID   int    `json:"vmid"`
	Device string `json:"device"`
	Force  bool   `json:"force"`
}

// Limits of the exec and file calls: they travel in one JSON answer or
// one form field, so they are bounded.
const (
	// CTExecInputMax bounds input-data, as for the guest agent's exec.
	CTExecInputMax = 64 << 10
	// CTExecOutputMax bounds each of out-data and err-data; what a command
	// prints beyond it is dropped and the stream marked truncated.
	CTExecOutputMax = 1 << 20
	// CTExecTimeout is the default of exec's timeout, in seconds.
	CTExecTimeout = 30
	// CTPullMax is the largest file pull returns.
	CTPullMax = 64 << 20
	// CTMountRoot is the host directory a mounted container's file
	// systems appear under, as /var/lib/lxc/<vmid>/rootfs.
	CTMountRoot = "/var/lib/lxc"
)

// ctPathInside is an absolute path in the container's file system.
func ctPathInside(desc string) *schema.Schema {
	return schema.Schema{Type: schema.String, MaxLength: 4096, Description: desc}.WithPattern(`/.*`).Ptr()
}

// ctFileModeProps are the owner and permissions given to a file, in the
// container (push) or on the client's side (pull).
func ctFileModeProps(where string) schema.Props {
	return schema.Props{
		"user":  schema.Schema{Type: schema.String, MaxLength: 64, Description: "Owner: a user name or a numeric id " + where + " (default: root)."}.Opt(),
		"group": schema.Schema{Type: schema.String, MaxLength: 64, Description: "Group: a group name or a numeric id " + where + " (default: root)."}.Opt(),
		"perms": schema.Pat("Permission bits, in octal (such as 644), or in hexadecimal with a 0x prefix.",
			`0x[0-9a-fA-F]{1,4}|0?[0-7]{1,4}`).Opt(),
	}
}

var (
	CTExec = Declare[CTExecParams, CTExecResult](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/exec", Method: "POST", Name: "exec",
		Description: "Run a command inside a running container, as root with a minimal environment, and wait for " +
			"it to end; the answer holds its exit code and what it printed. A Hearth addition, behind pct exec.",
		Params: vmProps(schema.Props{
			"command": schema.ArrayOf("The program and its arguments (at least the program). A program name "+
				"without a slash is looked up in the container's PATH.", schema.Str("An argument.")).Ptr(),
			"input-data": schema.Schema{Type: schema.String, MaxLength: CTExecInputMax, Description: "Data for the command's standard input " +
				"(otherwise it reads an empty input)."}.Opt(),
			"timeout": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(86400),
				Description: "Kill the command and fail when it runs longer than this many seconds (0: wait as long as it takes)."}.Def(CTExecTimeout).Ptr(),
		}),
		Perm:    consolePerm,
		ProxyTo: "node", Protected: true,
		Returns: schema.Obj("", schema.Props{
			"exitcode":      schema.Int("Exit code of the command; 128 plus the signal number when a signal ended it.").Ptr(),
			"out-data":      schema.Str("What the command wrote to its standard output (at most 1 MiB).").Ptr(),
			"err-data":      schema.Str("What the command wrote to its standard error (at most 1 MiB).").Ptr(),
			"out-truncated": schema.Bool("The standard output went on past what out-data holds.").Opt(),
			"err-truncated": schema.Bool("The standard error went on past what err-data holds.").Opt(),
		}),
		CLI: []Command{{Tool: "pct", Cmd: "exec", Args: []string{"vmid", "command"}, Fixed: map[string]string{"node": LocalNode},
			Client: "ct-exec", Local: schema.Props{
				"pass-stdin": schema.Bool("Send standard input (up to 64 KiB) to the command.").Def(false).Ptr(),
			}}},
	})

	CTPush = Declare[CTPushParams, any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/push", Method: "POST", Name: "push",
		Description: "Write a file into a running container, replacing one that is there. Send the content as the " +
			"multipart/form-data part file, after the other fields. A Hearth addition, behind pct push.",
		Params: func() schema.Props {
			p := vmProps(ctFileModeProps("in the container; a name must exist there"))
			p["file"] = schema.Schema{Type: schema.String, MaxLength: 4096,
				Description: "The content, sent as a file part; on the command line, the local file to send."}.Ptr()
			p["path"] = ctPathInside("Where to write the file in the container.")
			return p
		}(),
		Perm:    RootOnly(),
		ProxyTo: "node", Protected: true,
		Upload:  "file",
		Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pct", Cmd: "push", Args: []string{"vmid", "file", "path"}, Fixed: map[string]string{"node": LocalNode},
			Complete: map[string]string{"file": "file"}}},
	})

	CTPull = Declare[CTPullParams, CTFile](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/pull", Method: "GET", Name: "pull",
		Description: "Read a file of a running container (at most 64 MiB). A Hearth addition, behind pct pull.",
		Params:      vmProps(schema.Props{"path": ctPathInside("The file to read in the container.")}),
		Perm:        RootOnly(),
		ProxyTo:     "node",
		Returns: schema.Obj("", schema.Props{
			"content": schema.Str("The file's content in base64.").Ptr(),
			"size":    schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: "Size of the file in bytes."}.Ptr(),
			"mode":    schema.Str("The file's permission bits in octal, such as 0644.").Ptr(),
		}),
		CLI: []Command{{Tool: "pct", Cmd: "pull", Args: []string{"vmid", "path", "destination"}, Fixed: map[string]string{"node": LocalNode},
			Client: "ct-pull", Local: func() schema.Props {
				p := ctFileModeProps("here")
				p["destination"] = schema.Str("The local file to write.").Ptr()
				return p
			}()}},
	})

	CTMount = Declare[CTParam, string](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/mount", Method: "POST", Name: "mount",
		Description: "Mount a stopped container's root file system and mount points on the node, under " +
			CTMountRoot + "/<vmid>/rootfs, for repairs. Until unmount, the configuration holds the lock mounted, " +
			"which refuses other changes to the container. A Hearth addition, behind pct mount.",
		Params:  vmProps(nil),
		Perm:    RootOnly(),
		ProxyTo: "node", Protected: true,
		Returns: schema.Str("Where the root file system is mounted on the node."),
		CLI: []Command{{Tool: "pct", Cmd: "mount", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Output: "raw"}},
	})

	CTUnmount = Declare[CTParam, any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/unmount", Method: "POST", Name: "unmount",
		Description: "Undo mount: unmount the container's file systems from the node and remove the lock mounted. " +
			"A Hearth addition, behind pct unmount.",
		Params:  vmProps(nil),
		Perm:    RootOnly(),
		ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI:     pctCLI("unmount"),
	})

	CTFsck = DeclareTask[CTFsckParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/fsck", Method: "POST", Name: "fsck",
		Description: "Check and repair the file system of a stopped container's volume (fsck). Only volumes that " +
			"hold a file system image or block device can be checked, not directories. A Hearth addition, behind pct fsck.",
		Params: vmProps(schema.Props{
			"device": schema.Enum("The volume to check.", ctVolumeKeys(false)...).Def("rootfs").Ptr(),
			"force":  schema.Bool("Check even when the file system is marked clean.").Def(false).Ptr(),
		}),
		Perm:    RootOnly(),
		ProxyTo: "node", Protected: true,
		CLI: pctCLI("fsck"),
	})
)

// ctExtraEndpoints lists Hearth's additions for containers.
func ctExtraEndpoints() []*Endpoint {
	return []*Endpoint{CTExec.E, CTPush.E, CTPull.E, CTMount.E, CTUnmount.E, CTFsck.E}
}
