package api

import "github.com/hearth-virt/hearth/api/schema"

// Snapshots of containers: the saved states of a container's
// configuration and volumes (never its memory), and the feature check
// clients ask before offering snapshot, clone or copy. Parameters and
// rows that mean the same as for VMs use the VM types.

// CTSnapshotCreateParams is the input of POST …/snapshot.
type CTSnapshotCreateParams struct {
	Node        string `json:"node"`
	VMID        int    `json:"vmid"`
	SnapName    string `json:"snapname"`
	Description string `json:"description"`
}

var ctSnapshotListRows = schema.ArrayOf("The snapshots, and the current state as the row named current.", schema.Obj("", schema.Props{
	"name":        schema.Str("Name of the snapshot; current stands for the container as it is now.").Ptr(),
	"description": schema.Str("What the snapshot is for.").Ptr(),
	"snaptime":    schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When the snapshot was taken."}.Opt(),
	"parent":      schema.Str("The snapshot this one (or the current state) was taken after.").Opt(),
	"running":     schema.Bool("The container runs (current row only).").Opt(),
	"digest":      schema.Str("Digest of the configuration file (current row only).").Opt(),
}))

var (
	CTSnapshotList = Declare[CTParam, []SnapshotInfo](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot", Method: "GET", Name: "list",
		Description: "List the snapshots of a container, each with its parent, so that the list describes a tree.",
		Params:      vmProps(nil),
		Perm:        Perm("/vms/{vmid}", "VM.Audit"),
		ProxyTo:     "node", Protected: true,
		Returns: ctSnapshotListRows,
		CLI: []Command{{Tool: "pct", Cmd: "listsnapshot", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"name", "snaptime", "parent", "description"}, SortBy: "snaptime"}},
	})

	CTSnapshotCreate = DeclareTask[CTSnapshotCreateParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot", Method: "POST", Name: "snapshot",
		Description: "Take a snapshot of a container: its configuration and every volume. A running container is " +
			"frozen while its volumes are snapshotted, so that they agree with each other. Each storage volume must be " +
			"on a storage with snapshots (btrfs, ZFS, LVM-thin, …); bind and device mount points are left out.",
		Params: vmProps(schema.Props{
			"snapname":    snapName("Name of the new snapshot.").Ptr(),
			"description": schema.Str("What the snapshot is for.").Opt(),
		}),
		Perm: snapPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("snapshot", "snapname"),
	})

	CTSnapshotIndex = Declare[SnapshotParams, []SnapshotCmd](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", Method: "GET", Name: "snapshot_cmd_idx",
		Description: "List what can be done with a snapshot.",
		Params:      vmProps(schema.Props{"snapname": snapName("Name of the snapshot.").Ptr()}),
		Perm:        AnyUser(""), ProxyTo: "node",
		Returns: schema.ArrayOf("The sub-paths below this path.", schema.Obj("", schema.Props{"cmd": schema.Str("Name of the sub-path.").Ptr()})),
	})

	CTSnapshotDelete = DeclareTask[SnapshotDeleteParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", Method: "DELETE", Name: "delsnapshot",
		Description: "Delete a snapshot from the configuration and from every volume. What came after it is re-attached to its parent.",
		Params: vmProps(schema.Props{
			"snapname": snapName("Name of the snapshot.").Ptr(),
			"force":    schema.Bool("Remove the snapshot from the configuration even when a volume's snapshot cannot be removed.").Opt(),
		}),
		Perm: snapPerm, ProxyTo: "node", Protected: true,
		CLI: pctCLI("delsnapshot", "snapname"),
	})

	CTSnapshotConfigGet = Declare[SnapshotParams, map[string]any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", Method: "GET", Name: "get_snapshot_config",
		Description: "Show the configuration a snapshot recorded.",
		Params:      vmProps(schema.Props{"snapname": snapName("Name of the snapshot.").Ptr()}),
		Perm:        PermAny("/vms/{vmid}", "VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"),
		ProxyTo:     "node",
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The keys of the snapshot section."},
	})

	CTSnapshotConfigUpdate = Declare[SnapshotUpdateParams, any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", Method: "PUT", Name: "update_snapshot_config",
		Description: "Change the description of a snapshot; nothing else of a snapshot can change.",
		Params: vmProps(schema.Props{
			"snapname":    snapName("Name of the snapshot.").Ptr(),
			"description": schema.Str("The new description; empty removes it.").Opt(),
		}),
		Perm: snapPerm, ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})

	CTSnapshotRollback = DeclareTask[SnapshotRollbackParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback", Method: "POST", Name: "rollback",
		Description: "Return a container to a snapshot: a running container is stopped, then its volumes and its " +
			"configuration go back to what the snapshot holds.",
		Params: vmProps(schema.Props{
			"snapname": snapName("Name of the snapshot.").Ptr(),
			"start":    schema.Bool("Start the container once the rollback is done.").Def(false).Ptr(),
		}),
		Perm:    PermAny("/vms/{vmid}", "VM.Snapshot", "VM.Snapshot.Rollback"),
		ProxyTo: "node", Protected: true,
		CLI: pctCLI("rollback", "snapname"),
	})

	CTFeature = Declare[FeatureParams, FeatureInfo](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/feature", Method: "GET", Name: "vm_feature",
		Description: "Tell whether every volume of a container (or of one of its snapshots) allows snapshot, clone or copy.",
		Params: vmProps(schema.Props{
			"feature":  schema.Enum("The feature to check.", "snapshot", "clone", "copy").Ptr(),
			"snapname": snapName("Check the volumes of this snapshot instead of the current ones.").Opt(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.Audit"),
		ProxyTo: "node", Protected: true,
		Returns: schema.Obj("", schema.Props{
			"hasFeature": schema.Bool("Every volume allows the feature.").Ptr(),
			"nodes":      schema.ArrayOf("Nodes on which all of the container's volumes are available.", schema.Str("A node name.")).Opt(),
		}),
	})
)

// ctSnapshotEndpoints lists the snapshot endpoints of containers.
func ctSnapshotEndpoints() []*Endpoint {
	return []*Endpoint{CTSnapshotList.E, CTSnapshotCreate.E, CTSnapshotIndex.E, CTSnapshotDelete.E,
		CTSnapshotConfigGet.E, CTSnapshotConfigUpdate.E, CTSnapshotRollback.E, CTFeature.E}
}
