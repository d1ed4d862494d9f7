package api

import "github.com/hearth-virt/hearth/api/schema"

// Power management of virtual machines, and of all guests of a node.

// VMStartParams is the input of …/status/start.
type VMStartParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SkipLock bool   `json:"skiplock"`
	Timeout  int    `json:"timeout"`
	Machine  string `json:"machine"`
	ForceCPU string `json:"force-cpu"`
	StateURI string `json:"stateuri"`
}

// VMStopParams is the input of …/status/stop.
type VMStopParams struct {
	Node             string `json:"node"`
	VMID             int    `json:"vmid"`
	SkipLock         bool   `json:"skiplock"`
	Timeout          int    `json:"timeout"`
	KeepActive       bool   `json:"keepActive"`
	OverruleShutdown bool   `json:"overrule-shutdown"`
}

// VMShutdownParams is the input of …/status/shutdown.
type VMShutdownParams struct {
	Node       string `json:"node"`
	VMID       int    `json:"vmid"`
	SkipLock   bool   `json:"skiplock"`
	Timeout    int    `json:"timeout"`
	ForceStop  bool   `json:"forceStop"`
	KeepActive bool   `json:"keepActive"`
}

// VMRebootParams is the input of …/status/reboot.
type VMRebootParams struct {
	Node    string `json:"node"`
	VMID    int    `json:"vmid"`
	Timeout int    `json:"timeout"`
}

// VMSkipLockParams is the input of calls that only take skiplock.
type VMSkipLockParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SkipLock bool   `json:"skiplock"`
}

// VMSuspendParams is the input of …/status/suspend.
type VMSuspendParams struct {
	Node         string `json:"node"`
	VMID         int    `json:"vmid"`
	SkipLock     bool   `json:"skiplock"`
	ToDisk       bool   `json:"todisk"`
	StateStorage string `json:"statestorage"`
}

// VMResumeParams is the input of …/status/resume.
type VMResumeParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SkipLock bool   `json:"skiplock"`
	NoCheck  bool   `json:"nocheck"`
}

// StartAllParams is the input of /nodes/{node}/startall.
type StartAllParams struct {
	Node       string `json:"node"`
	Force      bool   `json:"force"`
	VMs        string `json:"vms"`
	MaxWorkers int    `json:"max-workers"`
}

// StopAllParams is the input of /nodes/{node}/stopall.
type StopAllParams struct {
	Node       string `json:"node"`
	VMs        string `json:"vms"`
	Timeout    int    `json:"timeout"`
	ForceStop  *bool  `json:"force-stop"`
	MaxWorkers int    `json:"max-workers"`
}

var powerPerm = Perm("/vms/{vmid}", "VM.PowerMgmt")

func qmCLI(cmd string, args ...string) []Command {
	return []Command{{Tool: "qm", Cmd: cmd, Args: append([]string{"vmid"}, args...), Fixed: map[string]string{"node": LocalNode}}}
}

var (
	VMStatusIndex = Declare[VMParam, []Child](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status", Method: "GET", Name: "vmcmdidx",
		Description: "List the power commands of a VM.",
		Params:      vmProps(nil), Perm: AnyUser(""), ProxyTo: "node", Returns: childIndex("subdir"),
	})

	VMStatusCurrent = Declare[VMParam, VMStatus](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/current", Method: "GET", Name: "vm_status",
		Description: "Show a VM's state with its live counters.",
		Params:      vmProps(nil), Perm: Perm("/vms/{vmid}", "VM.Audit"), ProxyTo: "node",
		Returns: vmStatusSchema(),
		CLI: []Command{
			{Tool: "qm", Cmd: "status", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}, Columns: []string{"status"}},
			{Tool: "qm", Cmd: "wait", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}, Client: "wait",
				Local: schema.Props{"timeout": schema.Schema{Type: schema.Integer, Minimum: schema.F(1),
					Description: "Give up after this many seconds (default: wait as long as it takes)."}.Opt()}},
		},
	})

	VMStart = DeclareTask[VMStartParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/start", Method: "POST", Name: "vm_start",
		Description: "Start a VM. Without /dev/kvm it runs under software emulation (TCG), with a warning.",
		Params: vmProps(schema.Props{
			"skiplock":  skipLock,
			"timeout":   schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(86400), Description: "Seconds to wait for QEMU to come up (default: 30, or the memory in GiB when larger)."}.Opt(),
			"machine":   schema.Str("Machine type to start with instead of the configured one, such as pc-q35-7.2.").Opt(),
			"force-cpu": schema.Str("CPU model to start with instead of the configured one.").Opt(),
			"stateuri":  schema.Str("Where to load a saved state from (used by migration and resume from disk).").Opt(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("start"),
	})

	VMStop = DeclareTask[VMStopParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/stop", Method: "POST", Name: "vm_stop",
		Description: "Stop a VM at once, as pulling the plug would. The guest does not get to shut down.",
		Params: vmProps(schema.Props{
			"skiplock":          skipLock,
			"timeout":           schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait for QEMU to exit before it is killed."}.Opt(),
			"keepActive":        schema.Bool("Leave the storage volumes activated.").Def(false).Ptr(),
			"overrule-shutdown": schema.Bool("Stop running shutdown tasks of the VM first.").Def(false).Ptr(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("stop"),
	})

	VMShutdown = DeclareTask[VMShutdownParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/shutdown", Method: "POST", Name: "vm_shutdown",
		Description: "Ask the guest to shut down (an ACPI power button press, or the guest agent when turned on) and wait for it.",
		Params: vmProps(schema.Props{
			"skiplock":   skipLock,
			"timeout":    schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait for the guest (default 180)."}.Opt(),
			"forceStop":  schema.Bool("Stop the VM when the guest has not shut down in time.").Def(false).Ptr(),
			"keepActive": schema.Bool("Leave the storage volumes activated.").Def(false).Ptr(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("shutdown"),
	})

	VMReboot = DeclareTask[VMRebootParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/reboot", Method: "POST", Name: "vm_reboot",
		Description: "Shut the guest down and start the VM again, applying pending changes.",
		Params: vmProps(schema.Props{
			"timeout": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait for the shutdown."}.Opt(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("reboot"),
	})

	VMReset = DeclareTask[VMSkipLockParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/reset", Method: "POST", Name: "vm_reset",
		Description: "Reset a running VM, as the reset button of a machine would.",
		Params:      vmProps(schema.Props{"skiplock": skipLock}),
		Perm:        powerPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("reset"),
	})

	VMSuspend = DeclareTask[VMSuspendParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/suspend", Method: "POST", Name: "vm_suspend",
		Description: "Pause a VM, or with todisk save its memory to a volume and stop it (hibernate); the next start resumes it.",
		Params: vmProps(schema.Props{
			"skiplock":     skipLock,
			"todisk":       schema.Bool("Save the state to disk and stop the VM.").Def(false).Ptr(),
			"statestorage": schema.StorageID().Desc("Storage for the saved state (with todisk).").Opt(),
		}),
		Perm:    AnyUser("You need VM.PowerMgmt on /vms/{vmid}; with todisk also VM.Config.Disk there and Datastore.AllocateSpace on the state storage."),
		ProxyTo: "node", Protected: true,
		CLI: qmCLI("suspend"),
	})

	VMResume = DeclareTask[VMResumeParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/status/resume", Method: "POST", Name: "vm_resume",
		Description: "Resume a paused VM.",
		Params: vmProps(schema.Props{
			"skiplock": skipLock,
			"nocheck":  schema.Bool("Do not check the configuration's lock.").Opt(),
		}),
		Perm: powerPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("resume"),
	})

	NodeStartAll = DeclareTask[StartAllParams](Endpoint{
		Path: "/nodes/{node}/startall", Method: "POST", Name: "startall",
		Description: "Start the guests of the node marked onboot, in the order of their startup option.",
		Params: schema.Props{
			"node":        schema.Node().Ptr(),
			"force":       schema.Bool("Also start guests without onboot.").Def(false).Ptr(),
			"vms":         schema.Schema{Type: schema.String, Format: "pve-vmid-list", Description: "Only these guests."}.Opt(),
			"max-workers": schema.IntRange("Start this many guests at once.", 1, 64).Opt(),
		},
		Perm:    AnyUser("You need VM.PowerMgmt on / or on each guest given in vms."),
		ProxyTo: "node", Protected: true,
		CLI: []Command{{Tool: "pvenode", Cmd: "startall", Fixed: map[string]string{"node": LocalNode}}},
	})

	NodeStopAll = DeclareTask[StopAllParams](Endpoint{
		Path: "/nodes/{node}/stopall", Method: "POST", Name: "stopall",
		Description: "Shut down every running guest of the node, in the reverse startup order.",
		Params: schema.Props{
			"node":        schema.Node().Ptr(),
			"vms":         schema.Schema{Type: schema.String, Format: "pve-vmid-list", Description: "Only these guests."}.Opt(),
			"timeout":     schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(7200), Description: "Seconds each guest gets to shut down."}.Def(180).Ptr(),
			"force-stop":  schema.Bool("Stop guests that have not shut down in time.").Def(true).Ptr(),
			"max-workers": schema.IntRange("Shut down this many guests at once.", 1, 64).Opt(),
		},
		Perm:    AnyUser("You need VM.PowerMgmt on / or on each guest given in vms."),
		ProxyTo: "node", Protected: true,
		CLI: []Command{{Tool: "pvenode", Cmd: "stopall", Fixed: map[string]string{"node": LocalNode}}},
	})
)
