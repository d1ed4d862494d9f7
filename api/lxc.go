package api

import (
	"maps"
	"slices"

	"github.com/hearth-virt/hearth/api/schema"
)

// LXC containers of a node: listing, creating, configuring, destroying.
// Power, snapshots, volumes, consoles and Hearth's own additions (exec,
// file transfer, mount) follow in the other lxc_*.go files; the keys of a
// container configuration are declared in lxc_options.go. Where a call
// means the same for VMs and containers, the VM types and helpers are
// reused.

// CTParam names one container on a node.
type CTParam struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
}

// CTStatus is one row of GET /nodes/{node}/lxc and the answer of
// …/status/current: the container's state and its live counters.
type CTStatus struct {
	VMID      int     `json:"vmid"`
	Name      string  `json:"name,omitempty"`
	Status    string  `json:"status"`
	Type      string  `json:"type"`
	CPU       float64 `json:"cpu"`
	CPUs      float64 `json:"cpus"`
	Mem       int64   `json:"mem"`
	MaxMem    int64   `json:"maxmem"`
	Swap      int64   `json:"swap"`
	MaxSwap   int64   `json:"maxswap"`
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
	// The pressure stall averages of the container's cgroup over the last
	// 10 seconds (running containers only).
	PressureCPUSome    *float64 `json:"pressurecpusome,omitempty"`
	PressureIOSome     *float64 `json:"pressureiosome,omitempty"`
	PressureIOFull     *float64 `json:"pressureiofull,omitempty"`
	PressureMemorySome *float64 `json:"pressurememorysome,omitempty"`
	PressureMemoryFull *float64 `json:"pressurememoryfull,omitempty"`
	// HA is only in status/current.
	HA map[string]any `json:"ha,omitempty"`
}

// CTType is the type of every row of the container list.
const CTType = "lxc"

func ctStatusSchema() schema.Schema {
	num := func(desc string) *schema.Schema { return schema.Num(desc).Opt() }
	bytes := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: desc}.Opt()
	}
	return schema.Obj("", schema.Props{
		"vmid":               schema.VMID().Ptr(),
		"name":               schema.Str("The container's host name.").Opt(),
		"status":             schema.Enum("Whether the container runs.", "running", "stopped").Ptr(),
		"type":               schema.Enum("Always lxc, to tell containers from VMs in mixed lists.", CTType).Opt(),
		"cpu":                num("CPU use, as a fraction of the CPUs the container may use."),
		"cpus":               num("Number of CPUs the container may use."),
		"mem":                bytes("Memory in use."),
		"maxmem":             bytes("Memory limit."),
		"swap":               bytes("Swap in use."),
		"maxswap":            bytes("Swap limit."),
		"disk":               bytes("Space used on the root file system."),
		"maxdisk":            bytes("Size of the root file system."),
		"diskread":           bytes("Bytes read from block devices since the start, where the cgroup counts them."),
		"diskwrite":          bytes("Bytes written to block devices since the start, where the cgroup counts them."),
		"netin":              bytes("Bytes received by the interfaces since the start."),
		"netout":             bytes("Bytes sent by the interfaces since the start."),
		"uptime":             schema.Schema{Type: schema.Integer, Renderer: "duration", Description: "Seconds since the start."}.Opt(),
		"pid":                schema.Int("Process id of the container's init, as the host sees it.").Opt(),
		"lock":               schema.Str("Lock held on the configuration, if any.").Opt(),
		"tags":               schema.Str("Tags of the container.").Opt(),
		"template":           schema.Bool("The container is a template.").Opt(),
		"pressurecpusome":    num("Share of the last 10 seconds in which some task waited for a CPU."),
		"pressureiosome":     num("Share of the last 10 seconds in which some task waited for I/O."),
		"pressureiofull":     num("Share of the last 10 seconds in which every task waited for I/O."),
		"pressurememorysome": num("Share of the last 10 seconds in which some task waited for memory."),
		"pressurememoryfull": num("Share of the last 10 seconds in which every task waited for memory."),
		"ha":                 schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "High availability state (status/current only)."}.Opt(),
	})
}

// CTCreateParams is the input of POST /nodes/{node}/lxc: the parameters
// of the call itself, and in Config every configuration key given.
type CTCreateParams struct {
	Node               string   `json:"node"`
	VMID               int      `json:"vmid"`
	OSTemplate         string   `json:"ostemplate"`
	Password           string   `json:"password"`
	SSHPublicKeys      string   `json:"ssh-public-keys"`
	Storage            string   `json:"storage"`
	Start              bool     `json:"start"`
	Pool               string   `json:"pool"`
	Unique             bool     `json:"unique"`
	Restore            bool     `json:"restore"`
	Force              bool     `json:"force"`
	IgnoreUnpackErrors bool     `json:"ignore-unpack-errors"`
	BWLimit            *float64 `json:"bwlimit"`
	HAManaged          bool     `json:"ha-managed"`
	// Config holds the configuration keys (LXCOptions) that were given.
	Config map[string]any `param:"rest"`
}

// CTDestroyParams is the input of DELETE /nodes/{node}/lxc/{vmid}.
type CTDestroyParams struct {
	Node                     string `json:"node"`
	VMID                     int    `json:"vmid"`
	Purge                    bool   `json:"purge"`
	Force                    bool   `json:"force"`
	DestroyUnreferencedDisks bool   `json:"destroy-unreferenced-disks"`
}

// CTConfigUpdateParams is the input of PUT …/config: what to change, and
// in Config the keys to set.
type CTConfigUpdateParams struct {
	Node   string `json:"node"`
	VMID   int    `json:"vmid"`
	Delete string `json:"delete"`
	Revert string `json:"revert"`
	Digest string `json:"digest"`
	// Config holds the configuration keys (LXCOptions) that were given.
	Config map[string]any `param:"rest"`
}

// ctWriteProps are the parameters of creating or changing a container:
// every configuration key plus the ones of the call itself.
func ctWriteProps(extra schema.Props) schema.Props {
	p := schema.Props{}
	maps.Copy(p, LXCOptions())
	p["node"] = schema.Node().Ptr()
	p["vmid"] = schema.VMID().Ptr()
	maps.Copy(p, extra)
	return p
}

// ctBWLimit is the bandwidth limit of calls that copy volumes; it is a
// number in Proxmox VE's container API, unlike the VM one.
func ctBWLimit(desc string) *schema.Schema {
	return schema.Schema{Type: schema.Number, Minimum: schema.F(0), Description: desc}.Opt()
}

func pctCLI(cmd string, args ...string) []Command {
	return []Command{{Tool: "pct", Cmd: cmd, Args: append([]string{"vmid"}, args...), Fixed: map[string]string{"node": LocalNode}}}
}

var (
	CTList = Declare[NodeParam, []CTStatus](Endpoint{
		Path: "/nodes/{node}/lxc", Method: "GET", Name: "vmlist",
		Description: "List the containers of a node with their state.",
		Params:      schema.Props{"node": schema.Node().Ptr()},
		Perm:        AnyUser("Lists the containers on which you hold VM.Audit."),
		ProxyTo:     "node", Protected: true,
		Returns: schema.ArrayOf("", ctStatusSchema()),
		CLI: []Command{{Tool: "pct", Cmd: "list", Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"vmid", "status", "lock", "name"}, SortBy: "vmid"}},
	})

	CTCreate = DeclareTask[CTCreateParams](Endpoint{
		Path: "/nodes/{node}/lxc", Method: "POST", Name: "create_vm",
		Description: "Create a container from an OS template (a vztmpl volume), or restore one from a backup " +
			"archive with restore. Volumes given as <storage>:<size in GiB> are allocated and formatted.",
		Params: ctWriteProps(schema.Props{
			"ostemplate": schema.Schema{Type: schema.String, MaxLength: 255,
				Description: "The template to unpack (such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst), or with restore the backup archive."}.Ptr(),
			"password": schema.Schema{Type: schema.String, MinLength: 5, Sensitive: true,
				Description: "Password to set for root in the container."}.Opt(),
			"ssh-public-keys": schema.Str("Public SSH keys to install for root, one per line in OpenSSH format.").Opt(),
			"storage":         schema.StorageID().Desc("Storage for volumes given without one, such as the root file system as a bare size.").Def("local").Ptr(),
			"start":           schema.Bool("Start the container once it is created.").Def(false).Ptr(),
			"pool":            schema.Schema{Type: schema.String, Format: "pve-poolid", Description: "Add the container to this pool."}.Opt(),
			"unique":          schema.Bool("Give restored interfaces new MAC addresses (with restore).").Opt(),
			"restore":         schema.Bool("ostemplate is a backup archive to restore.").Opt(),
			"force":           schema.Bool("Replace an existing container of the same id.").Opt(),
			"ignore-unpack-errors": schema.Bool("Go on when some files of the template cannot be unpacked " +
				"(device nodes in an unprivileged container, for instance).").Opt(),
			"bwlimit":    ctBWLimit("Limit reading the archive to this many KiB/s (0: no limit). Default: the restore limit of the storages and of the datacenter."),
			"ha-managed": schema.Bool("Put the new container under high availability.").Def(false).Ptr(),
		}),
		Perm: AnyUser("You need VM.Allocate on /vms/{vmid} or on the pool, and Datastore.AllocateSpace on the storages of " +
			"new volumes; restoring over an existing container needs only VM.Backup on it. A privileged container " +
			"(unprivileged 0) also needs Sys.Modify on /."),
		ProxyTo:   "node",
		Protected: true,
		CLI: []Command{
			{Tool: "pct", Cmd: "create", Args: []string{"vmid", "ostemplate"}, Fixed: map[string]string{"node": LocalNode},
				Complete: map[string]string{"vmid": "nextid"}, FileParams: []string{"ssh-public-keys"}},
			{Tool: "pct", Cmd: "restore", Args: []string{"vmid", "ostemplate"}, Fixed: map[string]string{"node": LocalNode, "restore": "1"},
				FileParams: []string{"ssh-public-keys"}},
		},
	})

	CTIndex = Declare[CTParam, []Child](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}", Method: "GET", Name: "vmdiridx",
		Description: "List what can be done with a container.",
		Params:      vmProps(nil), Perm: AnyUser(""), ProxyTo: "node", Returns: childIndex("subdir"),
	})

	CTDestroy = DeclareTask[CTDestroyParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}", Method: "DELETE", Name: "destroy_vm",
		Description: "Destroy a container and the volumes it owns. Refused while protection is set.",
		Params: vmProps(schema.Props{
			"purge":                      schema.Bool("Also remove the container from backup jobs, replication jobs, HA and pools.").Def(false).Ptr(),
			"force":                      schema.Bool("Stop a running container first instead of refusing.").Def(false).Ptr(),
			"destroy-unreferenced-disks": schema.Bool("Also remove volumes on enabled storages that carry the container's id but are not in its configuration.").Opt(),
		}),
		Perm:      Perm("/vms/{vmid}", "VM.Allocate"),
		ProxyTo:   "node",
		Protected: true,
		CLI:       pctCLI("destroy"),
	})

	CTConfigGet = Declare[VMConfigParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/config", Method: "GET", Name: "vm_config",
		Description: "Show a container's configuration, with pending changes applied unless current is set.",
		Params: vmProps(schema.Props{
			"current":  schema.Bool("Show the values in effect now, without pending changes.").Def(false).Ptr(),
			"snapshot": snapName("Show the configuration of this snapshot.").Opt(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.Audit"),
		ProxyTo: "node",
		Returns: schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The configuration keys, with digest."},
		CLI: []Command{{Tool: "pct", Cmd: "config", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Complete: map[string]string{"vmid": "vmid"}}},
	})

	CTConfigUpdate = Declare[CTConfigUpdateParams, any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/config", Method: "PUT", Name: "update_vm",
		Description: "Change a container's configuration. Changes a running container cannot take now are kept " +
			"pending until its next start.",
		Params: ctWriteProps(schema.Props{
			"delete": schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Keys to remove."}.Opt(),
			"revert": schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Pending changes to drop, by key."}.Opt(),
			"digest": schema.Digest().Opt(),
		}),
		Perm: withNote(PermAny("/vms/{vmid}", "VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options"),
			"Each key needs its own privilege (VM.Config.Disk for rootfs and mpN, VM.Config.Network for netN, …); "+
				"mount points that are not storage volumes (bind mounts, devices) are root@pam's only."),
		ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI:     pctCLI("set"),
	})

	CTPendingGet = Declare[CTParam, []VMPending](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/pending", Method: "GET", Name: "vm_pending",
		Description: "Show the configuration with its pending changes, key by key.",
		Params:      vmProps(nil), Perm: Perm("/vms/{vmid}", "VM.Audit"), ProxyTo: "node",
		Returns: pendingSchema(),
		CLI: []Command{{Tool: "pct", Cmd: "pending", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"key", "value", "pending", "delete"}}},
	})
)

// LXCEndpoints lists the container endpoints and the template list of a
// node, for the registry.
func LXCEndpoints() []*Endpoint {
	return slices.Concat([]*Endpoint{
		CTList.E, CTCreate.E, CTIndex.E, CTDestroy.E, CTConfigGet.E, CTConfigUpdate.E, CTPendingGet.E,
	}, ctStatusEndpoints(), ctSnapshotEndpoints(), ctCloneEndpoints(), ctConsoleEndpoints(), ctExtraEndpoints(),
		aplInfoEndpoints())
}
