package api

import "github.com/hearth-virt/hearth/api/schema"

// Snapshots of virtual machines: the saved states of a VM (its
// configuration, its disks and optionally its memory) and the feature
// check clients ask before offering snapshot, clone or copy.

// SnapshotParams names one snapshot of a VM.
type SnapshotParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SnapName string `json:"snapname"`
}

// SnapshotCreateParams is the input of POST …/snapshot.
type SnapshotCreateParams struct {
	Node        string `json:"node"`
	VMID        int    `json:"vmid"`
	SnapName    string `json:"snapname"`
	Description string `json:"description"`
	VMState     bool   `json:"vmstate"`
}

// SnapshotDeleteParams is the input of DELETE …/snapshot/{snapname}.
type SnapshotDeleteParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SnapName string `json:"snapname"`
	Force    bool   `json:"force"`
}

// SnapshotRollbackParams is the input of POST …/snapshot/{snapname}/rollback.
type SnapshotRollbackParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	SnapName string `json:"snapname"`
	Start    bool   `json:"start"`
}

// SnapshotUpdateParams is the input of PUT …/snapshot/{snapname}/config.
type SnapshotUpdateParams struct {
	Node        string  `json:"node"`
	VMID        int     `json:"vmid"`
	SnapName    string  `json:"snapname"`
	Description *string `json:"description"`
}

// SnapshotInfo is one row of GET …/snapshot. The row named "current"
// stands for the VM as it is now; its parent is the snapshot the current
// state grew from.
type SnapshotInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	SnapTime    int64  `json:"snaptime,omitempty"`
	VMState     int    `json:"vmstate,omitempty"`
	Parent      string `json:"parent,omitempty"`
	// Running and Digest are only set on the "current" row.
	Running *int   `json:"running,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// SnapshotCmd is one row of GET …/snapshot/{snapname}.
type SnapshotCmd struct {
	Cmd string `json:"cmd"`
}

// FeatureParams is the input of GET …/feature.
type FeatureParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	Feature  string `json:"feature"`
	SnapName string `json:"snapname"`
}

// FeatureInfo is the answer of GET …/feature.
type FeatureInfo struct {
	HasFeature bool     `json:"hasFeature"`
	Nodes      []string `json:"nodes"`
}

// SnapshotNameMax is the longest snapshot name the API takes.
const SnapshotNameMax = 40

func snapName(desc string) schema.Schema {
	return schema.Schema{Type: schema.String, Format: "pve-configid", MaxLength: SnapshotNameMax, Description: desc}
}

var (
	snapPerm         = Perm("/vms/{vmid}", "VM.Snapshot")
	snapshotListRows = schema.ArrayOf("The snapshots, and the current state as the row named current.", schema.Obj("", schema.Props{
		"name":        schema.Str("Name of the snapshot; current stands for the VM as it is now.").Ptr(),
		"description": schema.Str("What the snapshot is for.").Ptr(),
		"snaptime":    schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When the snapshot was taken."}.Opt(),
		"vmstate":     schema.Bool("The snapshot holds the VM's memory too.").Opt(),
		"parent":      schema.Str("The snapshot this one (or the current state) was taken after.").Opt(),
		"running":     schema.Bool("The VM runs (current row only).").Opt(),
		"digest":      schema.Str("Digest of the configuration file (current row only).").Opt(),
	}))
)

var (
	SnapshotList = Declare[VMParam, []SnapshotInfo](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot", Method: "GET", Name: "snapshot_list",
		Description: "List the snapshots of a VM, each with its parent, so that the list describes a tree.",
		Params:      vmProps(nil),
		Perm:        Perm("/vms/{vmid}", "VM.Audit"),
		ProxyTo:     "node",
		Returns:     snapshotListRows,
		CLI: []Command{{Tool: "qm", Cmd: "listsnapshot", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"name", "snaptime", "parent", "vmstate", "description"}, SortBy: "snaptime"}},
	})

	SnapshotCreate = DeclareTask[SnapshotCreateParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot", Method: "POST", Name: "snapshot",
		Description: "Take a snapshot of a VM: its configuration and every disk, and with vmstate the memory of a running VM. " +
			"Each disk must be on a storage and in a format with snapshots (qcow2 on directory storages, raw on btrfs, …).",
		Params: vmProps(schema.Props{
			"snapname":    snapName("Name of the new snapshot.").Ptr(),
			"description": schema.Str("What the snapshot is for.").Opt(),
			"vmstate":     schema.Bool("Also save the memory of the running VM, so that a rollback resumes it where it was.").Opt(),
		}),
		Perm: snapPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("snapshot", "snapname"),
	})

	SnapshotIndex = Declare[SnapshotParams, []SnapshotCmd](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}", Method: "GET", Name: "snapshot_cmd_idx",
		Description: "List what can be done with a snapshot.",
		Params:      vmProps(schema.Props{"snapname": snapName("Name of the snapshot.").Ptr()}),
		Perm:        AnyUser(""), ProxyTo: "node",
		Returns: schema.ArrayOf("The sub-paths below this path.", schema.Obj("", schema.Props{"cmd": schema.Str("Name of the sub-path.").Ptr()})),
	})

	SnapshotDelete = DeclareTask[SnapshotDeleteParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}", Method: "DELETE", Name: "delsnapshot",
		Description: "Delete a snapshot from the configuration and from every disk. What came after it is re-attached to its parent.",
		Params: vmProps(schema.Props{
			"snapname": snapName("Name of the snapshot.").Ptr(),
			"force":    schema.Bool("Remove the snapshot from the configuration even when a disk's snapshot cannot be removed.").Opt(),
		}),
		Perm: snapPerm, ProxyTo: "node", Protected: true,
		CLI: qmCLI("delsnapshot", "snapname"),
	})

	SnapshotConfigGet = Declare[SnapshotParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config", Method: "GET", Name: "get_snapshot_config",
		Description: "Show the configuration a snapshot recorded.",
		Params:      vmProps(schema.Props{"snapname": snapName("Name of the snapshot.").Ptr()}),
		Perm:        PermAny("/vms/{vmid}", "VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"),
		ProxyTo:     "node",
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The keys of the snapshot section."},
	})

	SnapshotConfigUpdate = Declare[SnapshotUpdateParams, any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config", Method: "PUT", Name: "update_snapshot_config",
		Description: "Change the description of a snapshot; nothing else of a snapshot can change.",
		Params: vmProps(schema.Props{
			"snapname":    snapName("Name of the snapshot.").Ptr(),
			"description": schema.Str("The new description; empty removes it.").Opt(),
		}),
		Perm: snapPerm, ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})

	SnapshotRollback = DeclareTask[SnapshotRollbackParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback", Method: "POST", Name: "rollback",
		Description: "Return a VM to a snapshot: a running VM is stopped, the disks and the configuration go back, " +
			"and a snapshot with memory resumes running where it was taken.",
		Params: vmProps(schema.Props{
			"snapname": snapName("Name of the snapshot.").Ptr(),
			"start":    schema.Bool("Start the VM afterwards (a snapshot with memory always resumes).").Def(false).Ptr(),
		}),
		Perm:    PermAny("/vms/{vmid}", "VM.Snapshot", "VM.Snapshot.Rollback"),
		ProxyTo: "node", Protected: true,
		CLI: qmCLI("rollback", "snapname"),
	})

	VMFeature = Declare[FeatureParams, FeatureInfo](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/feature", Method: "GET", Name: "vm_feature",
		Description: "Tell whether every disk of a VM (or of one of its snapshots) allows snapshot, clone or copy, " +
			"and on which nodes the VM's volumes are reachable.",
		Params: vmProps(schema.Props{
			"feature":  schema.Enum("The feature to check.", "snapshot", "clone", "copy").Ptr(),
			"snapname": snapName("Check the disks of this snapshot instead of the current ones.").Opt(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.Audit"),
		ProxyTo: "node",
		Returns: schema.Obj("", schema.Props{
			"hasFeature": schema.Bool("Every disk allows the feature.").Ptr(),
			"nodes":      schema.ArrayOf("Nodes on which all of the VM's volumes are available.", schema.Str("A node name.")).Ptr(),
		}),
	})
)

// snapshotEndpoints lists the snapshot endpoints.
func snapshotEndpoints() []*Endpoint {
	return []*Endpoint{SnapshotList.E, SnapshotCreate.E, SnapshotIndex.E, SnapshotDelete.E,
		SnapshotConfigGet.E, SnapshotConfigUpdate.E, SnapshotRollback.E, VMFeature.E}
}
