package api

import (
	"slices"

	"github.com/hearth-virt/hearth/api/schema"
)

// Virtual machines of a node: listing, creating, configuring, destroying.
// Power, snapshots, disks, consoles and the guest agent follow in the
// other qemu_*.go files. The keys of a VM configuration are declared in
// qemu_options.go.

// VMParam names one VM on a node.
type VMParam struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
}

// VMListParams is the input of GET /nodes/{node}/qemu.
type VMListParams struct {
	Node string `json:"node"`
	Full bool   `json:"full"`
}

// VMStatus is one row of GET /nodes/{node}/qemu and the answer of
// …/status/current: the VM's state and its live counters.
type VMStatus struct {
	VMID      int     `json:"vmid"`
	Name      string  `json:"name,omitempty"`
	Status    string  `json:"status"`
	QMPStatus string  `json:"qmpstatus,omitempty"`
	CPU       float64 `json:"cpu"`
	CPUs      float64 `json:"cpus"`
	Mem       int64   `json:"mem"`
	MaxMem    int64   `json:"maxmem"`
	Disk      int64   `json:"disk"`
	MaxDisk   int64   `json:"maxdisk"`
	DiskRead  int64   `json:"diskread"`
	DiskWrite int64   `json:"diskwrite"`
	NetIn     int64   `json:"netin"`
	NetOut    int64   `json:"netout"`
	Uptime    int64   `json:"uptime"`
	PID       int     `json:"pid,omitempty"`
	Lock      string  `json:"lock,omitempty"`
	Tags      string  `json:"tags,omitempty"`
	Template  int     `json:"template,omitempty"`
	// RunningMachine and RunningQemu describe the running process.
	RunningMachine string `json:"running-machine,omitempty"`
	RunningQemu    string `json:"running-qemu,omitempty"`
	Serial         int    `json:"serial,omitempty"`
	// Only in status/current.
	Agent int            `json:"agent,omitempty"`
	HA    map[string]any `json:"ha,omitempty"`
	// NICs and BlockStat are per-device counters of status/current with full.
	NICs      map[string]NICCounters `json:"nics,omitempty"`
	BlockStat map[string]any         `json:"blockstat,omitempty"`
}

// NICCounters are the byte counters of one NIC.
type NICCounters struct {
	NetIn  int64 `json:"netin"`
	NetOut int64 `json:"netout"`
}

func vmStatusSchema() schema.Schema {
	num := func(desc string) *schema.Schema { return schema.Num(desc).Opt() }
	bytes := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: desc}.Opt()
	}
	return schema.Obj("", schema.Props{
		"vmid":            schema.VMID().Ptr(),
		"name":            schema.Str("The VM's name.").Opt(),
		"status":          schema.Enum("Whether the VM's process runs.", "running", "stopped").Ptr(),
		"qmpstatus":       schema.Str("The state QEMU reports (running, paused, prelaunch, suspended, …).").Opt(),
		"cpu":             num("CPU use, as a fraction of the VM's CPUs."),
		"cpus":            num("Number of virtual CPUs."),
		"mem":             bytes("Memory in use."),
		"maxmem":          bytes("Memory assigned."),
		"disk":            bytes("Disk space in use (not known for VMs: 0)."),
		"maxdisk":         bytes("Size of the boot disk."),
		"diskread":        bytes("Bytes read from disks since the start."),
		"diskwrite":       bytes("Bytes written to disks since the start."),
		"netin":           bytes("Bytes received by the NICs since the start."),
		"netout":          bytes("Bytes sent by the NICs since the start."),
		"uptime":          schema.Schema{Type: schema.Integer, Renderer: "duration", Description: "Seconds since the start."}.Opt(),
		"pid":             schema.Int("Process id of QEMU.").Opt(),
		"lock":            schema.Str("Lock held on the configuration, if any.").Opt(),
		"tags":            schema.Str("Tags of the VM.").Opt(),
		"template":        schema.Bool("The VM is a template.").Opt(),
		"running-machine": schema.Str("Machine type of the running process.").Opt(),
		"running-qemu":    schema.Str("QEMU version of the running process.").Opt(),
		"serial":          schema.Bool("The VM has a serial console.").Opt(),
		"agent":           schema.Bool("The guest agent is turned on in the configuration.").Opt(),
		"ha":              schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "High availability state."}.Opt(),
	})
}

// VMConfigParams is the input of GET …/config.
type VMConfigParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	Current  bool   `json:"current"`
	Snapshot string `json:"snapshot"`
}

// VMPending is one row of GET …/pending and …/cloudinit.
type VMPending struct {
	Key     string `json:"key"`
	Value   any    `json:"value,omitempty"`
	Pending any    `json:"pending,omitempty"`
	Delete  int    `json:"delete,omitempty"`
}

func pendingSchema() schema.Schema {
	return schema.ArrayOf("", schema.Obj("", schema.Props{
		"key":     schema.Str("Configuration key.").Ptr(),
		"value":   schema.Str("Current value.").Opt(),
		"pending": schema.Str("Value that takes effect at the next start.").Opt(),
		"delete": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(2),
			Description: "1: the key will be removed; 2: removal is forced."}.Opt(),
	}))
}

// VMDestroyParams is the input of DELETE /nodes/{node}/qemu/{vmid}.
type VMDestroyParams struct {
	Node                     string `json:"node"`
	VMID                     int    `json:"vmid"`
	Purge                    bool   `json:"purge"`
	SkipLock                 bool   `json:"skiplock"`
	DestroyUnreferencedDisks bool   `json:"destroy-unreferenced-disks"`
}

// ShowCmdParams is the input of GET …/showcmd.
type ShowCmdParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	Pretty   bool   `json:"pretty"`
	Snapshot string `json:"snapshot"`
}

func vmProps(extra schema.Props) schema.Props {
	p := schema.Props{"node": schema.Node().Ptr(), "vmid": schema.VMID().Ptr()}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// vmWriteProps are the parameters of creating or changing a VM: every
// configuration key plus the ones of the call itself.
func vmWriteProps(extra schema.Props) schema.Props {
	p := QemuOptions()
	p["node"] = schema.Node().Ptr()
	p["vmid"] = schema.VMID().Ptr()
	for k, v := range extra {
		p[k] = v
	}
	return p
}

var skipLock = schema.Bool("Ignore a lock on the configuration (root only).").Opt()

// vmConfigChangeProps are the parameters of POST and PUT …/config.
func vmConfigChangeProps() schema.Props {
	return vmWriteProps(schema.Props{
		"delete":           schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Keys to remove."}.Opt(),
		"revert":           schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Pending changes to drop, by key."}.Opt(),
		"digest":           schema.Digest().Opt(),
		"force":            schema.Bool("Remove disks for good instead of keeping them as unusedN (with delete).").Opt(),
		"skiplock":         skipLock,
		"background_delay": schema.IntRange("Wait up to this many seconds for the task before answering (POST only).", 1, 30).Opt(),
	})
}

var vmConfigPerm = AnyUser("You need VM.Config.* on /vms/{vmid} for the keys you change (VM.Config.Disk for disks, " +
	"VM.Config.Network for NICs, …), and Datastore.AllocateSpace on storages you allocate on.")

var (
	VMList = Declare[VMListParams, []VMStatus](Endpoint{
		Path: "/nodes/{node}/qemu", Method: "GET", Name: "vmlist",
		Description: "List the virtual machines of a node with their state.",
		Params:      schema.Props{"node": schema.Node().Ptr(), "full": schema.Bool("Read the live counters of every VM.").Opt()},
		Perm:        AnyUser("Lists the VMs on which you hold VM.Audit."),
		ProxyTo:     "node",
		Returns:     schema.ArrayOf("", vmStatusSchema()),
		CLI: []Command{{Tool: "qm", Cmd: "list", Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"vmid", "name", "status", "maxmem", "maxdisk", "pid"}, SortBy: "vmid"}},
	})

	VMCreate = DeclareTask[Params](Endpoint{
		Path: "/nodes/{node}/qemu", Method: "POST", Name: "create_vm",
		Description: "Create a virtual machine. Disks given as <storage>:<size in GiB> are allocated; " +
			"<storage>:0,import-from=<volume or path> imports an image.",
		Params: vmWriteProps(schema.Props{
			"start":   schema.Bool("Start the VM once it is created.").Def(false).Ptr(),
			"pool":    schema.Schema{Type: schema.String, Format: "pve-poolid", Description: "Add the VM to this pool."}.Opt(),
			"unique":  schema.Bool("Give restored NICs new MAC addresses (with archive).").Opt(),
			"archive": schema.Str("Restore from this backup archive (a volume id or path).").Opt(),
			"storage": schema.StorageID().Desc("Default storage for restored disks (with archive).").Opt(),
			"force":   schema.Bool("Overwrite an existing VM when restoring (with archive).").Opt(),
		}),
		Perm: AnyUser("You need VM.Allocate on /vms/{vmid} or on the pool, VM.Config.* for the keys you set, " +
			"and Datastore.AllocateSpace on the storages of new disks."),
		ProxyTo:   "node",
		Protected: true,
		CLI:       []Command{{Tool: "qm", Cmd: "create", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}, Complete: map[string]string{"vmid": "nextid"}}},
	})

	VMIndex = Declare[VMParam, []Child](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}", Method: "GET", Name: "vmdiridx",
		Description: "List what can be done with a VM.",
		Params:      vmProps(nil), Perm: AnyUser(""), ProxyTo: "node", Returns: childIndex("subdir"),
	})

	VMDestroy = DeclareTask[VMDestroyParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}", Method: "DELETE", Name: "destroy_vm",
		Description: "Destroy a stopped VM and the disks it owns. Refused while protection is set.",
		Params: vmProps(schema.Props{
			"purge":                      schema.Bool("Also remove the VM from backup jobs, replication jobs, HA and pools.").Opt(),
			"skiplock":                   skipLock,
			"destroy-unreferenced-disks": schema.Bool("Also remove disks on enabled storages that carry the VM's id but are not in its configuration.").Def(false).Ptr(),
		}),
		Perm:      Perm("/vms/{vmid}", "VM.Allocate"),
		ProxyTo:   "node",
		Protected: true,
		CLI:       []Command{{Tool: "qm", Cmd: "destroy", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	VMConfigGet = Declare[VMConfigParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/config", Method: "GET", Name: "vm_config",
		Description: "Show a VM's configuration, with pending changes applied unless current is set.",
		Params: vmProps(schema.Props{
			"current":  schema.Bool("Show the values in effect now, without pending changes.").Def(false).Ptr(),
			"snapshot": schema.Pat("Show the configuration of this snapshot.", `[A-Za-z][A-Za-z0-9_\-]{0,39}`).Opt(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.Audit"),
		ProxyTo: "node",
		Returns: schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The configuration keys, with digest."},
		CLI:     []Command{{Tool: "qm", Cmd: "config", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	VMConfigUpdateAsync = DeclareTask[Params](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/config", Method: "POST", Name: "update_vm_async",
		Description: "Change a VM's configuration in a task (disk allocations can take time). Changes a running VM cannot take " +
			"now are kept pending until its next start.",
		Params:  vmConfigChangeProps(),
		Perm:    vmConfigPerm,
		ProxyTo: "node", Protected: true,
	})

	VMConfigUpdate = Declare[Params, any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/config", Method: "PUT", Name: "update_vm",
		Description: "Change a VM's configuration and wait for the change. Changes a running VM cannot take " +
			"now are kept pending until its next start.",
		Params:  vmConfigChangeProps(),
		Perm:    vmConfigPerm,
		ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI:     []Command{{Tool: "qm", Cmd: "set", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	VMPendingGet = Declare[VMParam, []VMPending](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/pending", Method: "GET", Name: "vm_pending",
		Description: "Show the configuration with its pending changes, key by key.",
		Params:      vmProps(nil), Perm: Perm("/vms/{vmid}", "VM.Audit"), ProxyTo: "node",
		Returns: pendingSchema(),
		CLI:     []Command{{Tool: "qm", Cmd: "pending", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}, Columns: []string{"key", "value", "pending", "delete"}}},
	})

	VMShowCmd = Declare[ShowCmdParams, string](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/showcmd", Method: "GET", Name: "showcmd",
		Description: "Show the QEMU command line the VM would start with (Hearth addition, behind qm showcmd).",
		Params: vmProps(schema.Props{
			"pretty":   schema.Bool("One argument per line, continued with backslashes.").Def(false).Ptr(),
			"snapshot": schema.Pat("Use this snapshot's configuration.", `[A-Za-z][A-Za-z0-9_\-]{0,39}`).Opt(),
		}),
		Perm:    And(Perm("/vms/{vmid}", "VM.Audit"), Perm("/nodes/{node}", "Sys.Audit")),
		ProxyTo: "node",
		Returns: schema.Str("The command line."),
		CLI:     []Command{{Tool: "qm", Cmd: "showcmd", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}, Output: "raw"}},
	})
)

// QemuEndpoints lists the VM endpoints for the registry.
func QemuEndpoints() []*Endpoint {
	return append([]*Endpoint{
		VMList.E, VMCreate.E, VMIndex.E, VMDestroy.E, VMConfigGet.E, VMConfigUpdateAsync.E, VMConfigUpdate.E,
		VMPendingGet.E, VMShowCmd.E,
		VMStatusIndex.E, VMStatusCurrent.E, VMStart.E, VMStop.E, VMShutdown.E, VMReboot.E, VMReset.E,
		VMSuspend.E, VMResume.E, NodeStartAll.E, NodeStopAll.E,
	}, slices.Concat(agentEndpoints(), cloudInitEndpoints(), snapshotEndpoints(), cloneEndpoints(), diskEndpoints())...)
}
