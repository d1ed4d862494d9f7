package api

import "github.com/hearth-virt/hearth/api/schema"

// Power management of containers. Unlike a VM, a container has no
// firmware to reset and no memory image to save: suspend freezes its
// processes (the cgroup freezer) and resume thaws them.

// CTStartParams is the input of …/status/start.
type CTStartParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SkipLock bool   `json:"skiplock"`
	Debug    bool   `json:"debug"`
}

// CTStopParams is the input of …/status/stop.
type CTStopParams struct {
	Node             string `json:"node"`
	VMID             int    `json:"vmid"`
	SkipLock         bool   `json:"skiplock"`
	OverruleShutdown bool   `json:"overrule-shutdown"`
}

// CTShutdownParams is the input of …/status/shutdown.
type CTShutdownParams struct {
	Node      string `json:"node"`
	VMID      int    `json:"vmid"`
	Timeout   int    `json:"timeout"`
	ForceStop bool   `json:"forceStop"`
}

// CTShutdownTimeout is how many seconds a shutdown waits by default.
const CTShutdownTimeout = 60

var (
	CTStatusIndex = Declare[CTParam, []Child](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status", Method: "GET", Name: "vmcmdidx",
		Description: "List the power commands of a container.",
		Params:      vmProps(nil), Perm: AnyUser(""), ProxyTo: "node", Returns: childIndex("subdir"),
	})

	CTStatusCurrent = Declare[CTParam, CTStatus](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/current", Method: "GET", Name: "vm_status",
		Description: "Show a container's state with its live counters.",
		Params:      vmProps(nil), Perm: Perm("/vms/{vmid}", "VM.Audit"), ProxyTo: "node", Protected: true,
		Returns: ctStatusSchema(),
		CLI: []Command{{Tool: "pct", Cmd: "status", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"status"}}},
	})

	CTStart = DeclareTask[CTStartParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/start", Method: "POST", Name: "vm_start",
		Description: "Start a container: mount its volumes, set up its interfaces and run its init.",
		Params: vmProps(schema.Props{
			"skiplock": skipLock,
			"debug": schema.Bool("Write a detailed log of the start (lxc-start at debug level) and show it in the " +
				"task log, for finding out why a container does not come up.").Def(false).Ptr(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("start"),
	})

	CTStop = DeclareTask[CTStopParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/stop", Method: "POST", Name: "vm_stop",
		Description: "Stop a container at once: every process in it is killed, nothing gets to shut down cleanly.",
		Params: vmProps(schema.Props{
			"skiplock":          skipLock,
			"overrule-shutdown": schema.Bool("Stop running shutdown tasks of the container first.").Def(false).Ptr(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("stop"),
	})

	CTShutdown = DeclareTask[CTShutdownParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/shutdown", Method: "POST", Name: "vm_shutdown",
		Description: "Ask the container's init to power off (the signal lxc-stop sends for a clean halt) and wait for it.",
		Params: vmProps(schema.Props{
			"timeout":   schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait for the container."}.Def(CTShutdownTimeout).Ptr(),
			"forceStop": schema.Bool("Stop the container when it has not shut down in time.").Def(false).Ptr(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("shutdown"),
	})

	CTReboot = DeclareTask[VMRebootParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/reboot", Method: "POST", Name: "vm_reboot",
		Description: "Shut the container down and start it again, applying pending changes.",
		Params: vmProps(schema.Props{
			"timeout": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait for the shutdown."}.Opt(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("reboot"),
	})

	CTSuspend = DeclareTask[CTParam](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/suspend", Method: "POST", Name: "vm_suspend",
		Description: "Freeze every process of a running container; resume thaws them. The container keeps its memory.",
		Params:      vmProps(nil),
		Perm:        powerPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("suspend"),
	})

	CTResume = DeclareTask[CTParam](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/status/resume", Method: "POST", Name: "vm_resume",
		Description: "Thaw a suspended container.",
		Params:      vmProps(nil),
		Perm:        powerPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("resume"),
	})
)

// ctStatusEndpoints lists the power endpoints of containers.
func ctStatusEndpoints() []*Endpoint {
	return []*Endpoint{CTStatusIndex.E, CTStatusCurrent.E, CTStart.E, CTStop.E, CTShutdown.E, CTReboot.E, CTSuspend.E, CTResume.E}
}
