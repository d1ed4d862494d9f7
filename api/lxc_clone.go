package api

import (
	"strconv"

	"github.com/hearth-virt/hearth/api/schema"
)

// Templates, clones and volume operations of containers. A container's
// volumes are its root file system (rootfs) and its mount points (mpN);
// a volume taken out of the configuration is kept as unusedN.

// CTCloneParams is the input of POST …/clone.
type CTCloneParams struct {
	Node        string `json:"node"`
	VMID        int    `json:"vmid"`
	NewID       int    `json:"newid"`
	Hostname    string `json:"hostname"`
	Description string `json:"description"`
	// Full is nil when not given: full for containers, linked for templates.
	Full     *bool  `json:"full"`
	Target   string `json:"target"`
	Storage  string `json:"storage"`
	Pool     string `json:"pool"`
	SnapName string `json:"snapname"`
	// BWLimit is in KiB/s; nil means the configured clone limit.
	BWLimit *float64 `json:"bwlimit"`
}

// CTResizeParams is the input of PUT …/resize.
type CTResizeParams struct {
	Node   string `json:"node"`
	VMID   int    `json:"vmid"`
	Disk   string `json:"disk"`
	Size   string `json:"size"`
	Digest string `json:"digest"`
}

// CTMoveVolumeParams is the input of POST …/move_volume.
type CTMoveVolumeParams struct {
	Node         string   `json:"node"`
	VMID         int      `json:"vmid"`
	Volume       string   `json:"volume"`
	Storage      string   `json:"storage"`
	Delete       bool     `json:"delete"`
	Digest       string   `json:"digest"`
	BWLimit      *float64 `json:"bwlimit"`
	TargetVMID   int      `json:"target-vmid"`
	TargetVolume string   `json:"target-volume"`
	TargetDigest string   `json:"target-digest"`
}

// ctMountPoints is how many mount point keys (mp0 and up) and unused
// volume keys a container configuration has.
const ctMountPoints = 256

// ctVolumeKeys lists the volume keys in Proxmox VE's enum order: rootfs,
// the mount points and, with unused, the unusedN keys.
func ctVolumeKeys(unused bool) []string {
	keys := []string{"rootfs"}
	for i := range ctMountPoints {
		keys = append(keys, "mp"+strconv.Itoa(i))
	}
	if unused {
		for i := range ctMountPoints {
			keys = append(keys, "unused"+strconv.Itoa(i))
		}
	}
	return keys
}

var (
	CTClone = DeclareTask[CTCloneParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/clone", Method: "POST", Name: "clone_vm",
		Description: "Make a new container from a container or a template. A linked clone shares the template's " +
			"base volumes and only stores what it changes; a full clone copies every volume. The new container " +
			"gets new MAC addresses.",
		Params: vmProps(schema.Props{
			"newid":       schema.VMID().Desc("Id of the new container.").Ptr(),
			"hostname":    schema.Schema{Type: schema.String, Format: "dns-name", Description: "Host name of the new container (default: the source's)."}.Opt(),
			"description": schema.Str("Description of the new container (default: the source's).").Opt(),
			"full": schema.Bool("Copy every volume. Always done for containers; templates get a linked clone " +
				"unless set, when all their volumes are on storages with linked clones.").Opt(),
			"target":   schema.Node().Desc("Node to create the container on. Only this node is possible for now.").Opt(),
			"storage":  schema.StorageID().Desc("Storage for the copied volumes of a full clone (default: each volume's own).").Opt(),
			"pool":     schema.Schema{Type: schema.String, Format: "pve-poolid", Description: "Put the new container into this pool."}.Opt(),
			"snapname": snapName("Clone the state of this snapshot instead of the current one.").Opt(),
			"bwlimit":  ctBWLimit("Limit the copying to this many KiB/s (0: no limit). Default: the clone limit of the storages and of the datacenter."),
		}),
		Perm: Permission{Kind: PermAnd, Sub: []Permission{
			Perm("/vms/{vmid}", "VM.Clone"),
			Or(Perm("/vms/{newid}", "VM.Allocate"), Perm("/pool/{pool}", "VM.Allocate")),
		}, Note: "The pool rule counts only when pool is given. Datastore.AllocateSpace is needed on every storage " +
			"the clone allocates on, and SDN.Use on the bridges of its interfaces."},
		ProxyTo: "node", Protected: true,
		CLI: []Command{{Tool: "pct", Cmd: "clone", Args: []string{"vmid", "newid"}, Fixed: map[string]string{"node": LocalNode},
			Complete: map[string]string{"newid": "nextid"}}},
	})

	CTTemplate = Declare[CTParam, any](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/template", Method: "POST", Name: "template",
		Description: "Turn a stopped container into a template: its volumes become read-only base volumes that " +
			"linked clones share, and it can no longer be started.",
		Params:  vmProps(nil),
		Perm:    Perm("/vms/{vmid}", "VM.Allocate"),
		ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI:     pctCLI("template"),
	})

	CTResize = DeclareTask[CTResizeParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/resize", Method: "PUT", Name: "resize_vm",
		Description: "Grow a volume of a container and the file system on it, also while the container runs. " +
			"Volumes never shrink.",
		Params: vmProps(schema.Props{
			"disk": schema.Enum("The volume to grow.", ctVolumeKeys(false)...).Ptr(),
			"size": schema.Pat("The new size: +<n> grows by <n>, <n> alone is the size to reach. "+
				"Units K, M, G, T (powers of 1024); bytes without a unit.", ResizeSizePattern).Ptr(),
			"digest": schema.Digest().Opt(),
		}),
		Perm:    withNote(PermAny("/vms/{vmid}", "VM.Config.Disk"), "Growing also needs Datastore.AllocateSpace on the volume's storage."),
		ProxyTo: "node", Protected: true,
		CLI: pctCLI("resize", "disk", "size"),
	})

	CTMoveVolume = DeclareTask[CTMoveVolumeParams](Endpoint{
		Path: "/nodes/{node}/lxc/{vmid}/move_volume", Method: "POST", Name: "move_volume",
		Description: "Move a volume of a stopped container to another storage, or give it to another container. " +
			"The old volume is kept as an unused volume unless delete is set.",
		Params: vmProps(schema.Props{
			"volume":      schema.Enum("The volume to move.", ctVolumeKeys(true)...).Ptr(),
			"storage":     schema.StorageID().Desc("Storage to move the volume to.").Opt(),
			"delete":      schema.Bool("Remove the old volume once the copy succeeded instead of keeping it as unusedN.").Def(false).Ptr(),
			"digest":      schema.Digest().Opt(),
			"bwlimit":     ctBWLimit("Limit the copying to this many KiB/s (0: no limit). Default: the move limit of the storages and of the datacenter."),
			"target-vmid": schema.VMID().Desc("Give the volume to this container instead of moving it to a storage.").Opt(),
			"target-volume": schema.Enum("Key of the volume in the target container (with target-vmid; default: the same key).",
				ctVolumeKeys(true)...).Opt(),
			"target-digest": schema.Digest().Desc("Digest of the target container's configuration (with target-vmid).").Opt(),
		}),
		Perm: withNote(Perm("/vms/{vmid}", "VM.Config.Disk"), "Moving to a storage also needs Datastore.AllocateSpace on it; "+
			"giving the volume to another container also needs VM.Config.Disk on that one."),
		ProxyTo: "node", Protected: true,
		CLI: []Command{
			{Tool: "pct", Cmd: "move-volume", Args: []string{"vmid", "volume", "storage", "target-vmid", "target-volume"},
				Fixed: map[string]string{"node": LocalNode}},
			{Tool: "pct", Cmd: "move_volume", Args: []string{"vmid", "volume", "storage", "target-vmid", "target-volume"},
				Fixed: map[string]string{"node": LocalNode}},
		},
	})
)

// ctCloneEndpoints lists the template, clone and volume endpoints of containers.
func ctCloneEndpoints() []*Endpoint {
	return []*Endpoint{CTClone.E, CTTemplate.E, CTResize.E, CTMoveVolume.E}
}
