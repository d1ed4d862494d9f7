package api

import (
	"strconv"

	"github.com/hearth-virt/hearth/api/schema"
)

// Templates and clones of virtual machines. A template is a VM whose
// disks became read-only base volumes; a linked clone shares them
// copy-on-write, a full clone copies every disk.

// VMCloneParams is the input of POST …/clone.
type VMCloneParams struct {
	Node        string `json:"node"`
	VMID        int    `json:"vmid"`
	NewID       int    `json:"newid"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Full is nil when not given: full for VMs, linked for templates.
	Full     *bool  `json:"full"`
	Target   string `json:"target"`
	Storage  string `json:"storage"`
	Format   string `json:"format"`
	Pool     string `json:"pool"`
	SnapName string `json:"snapname"`
	// BWLimit is in KiB/s; nil means the configured clone limit.
	BWLimit *int64 `json:"bwlimit"`
}

// VMTemplateParams is the input of POST …/template.
type VMTemplateParams struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
	Disk string `json:"disk"`
}

// templateDiskKeys are the drives that can become base volumes one by
// one: every disk bus index, the EFI variable store and the TPM state.
func templateDiskKeys() []string {
	var keys []string
	for _, bus := range QemuDriveBuses {
		for i := 0; i <= QemuDriveMaxIndex(bus); i++ {
			keys = append(keys, bus+strconv.Itoa(i))
		}
	}
	return append(keys, "efidisk0", "tpmstate0")
}

var (
	VMClone = DeclareTask[VMCloneParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/clone", Method: "POST", Name: "clone_vm",
		Description: "Make a new VM from a VM or a template. A linked clone shares the template's base volumes " +
			"and only stores what it changes; a full clone copies every disk. The new VM gets new MAC addresses and " +
			"a new SMBIOS UUID.",
		Params: vmProps(schema.Props{
			"newid":       schema.VMID().Desc("Id of the new VM.").Ptr(),
			"name":        schema.Schema{Type: schema.String, Format: "dns-name", Description: "Name of the new VM (default: Copy-of-VM-<name of the source>)."}.Opt(),
			"description": schema.Str("Description of the new VM (default: the source's).").Opt(),
			"full": schema.Bool("Copy every disk. The default for VMs, and the only way to clone them; templates get a " +
				"linked clone unless set, when all their disks are on storages with linked clones.").Opt(),
			"target":   schema.Node().Desc("Node to create the VM on. Only this node is possible for now.").Opt(),
			"storage":  schema.StorageID().Desc("Storage for the copied disks of a full clone (default: each disk's own).").Opt(),
			"format":   schema.Enum("Image format of the copied disks of a full clone, where the storage offers a choice.", "raw", "qcow2", "vmdk").Opt(),
			"pool":     schema.Schema{Type: schema.String, Format: "pve-poolid", Description: "Put the new VM into this pool."}.Opt(),
			"snapname": schema.Schema{Type: schema.String, Format: "pve-configid", MaxLength: 40, Description: "Clone the state of this snapshot instead of the current one."}.Opt(),
			"bwlimit":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Limit the copying to this many KiB/s (0: no limit). Default: the clone limit of the storages and of the datacenter."}.Opt(),
		}),
		Perm: Permission{Kind: PermAnd, Sub: []Permission{
			Perm("/vms/{vmid}", "VM.Clone"),
			Or(Perm("/vms/{newid}", "VM.Allocate"), Perm("/pool/{pool}", "VM.Allocate")),
		}, Note: "The pool rule counts only when pool is given. Datastore.AllocateSpace is needed on every storage the clone allocates on."},
		ProxyTo: "node", Protected: true,
		CLI: []Command{{Tool: "qm", Cmd: "clone", Args: []string{"vmid", "newid"}, Fixed: map[string]string{"node": LocalNode},
			Complete: map[string]string{"newid": "nextid"}}},
	})

	VMTemplate = DeclareTask[VMTemplateParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/template", Method: "POST", Name: "template",
		Description: "Turn a stopped VM into a template: its disks become read-only base volumes that linked clones " +
			"share, and it can no longer be started.",
		Params: vmProps(schema.Props{
			"disk": schema.Enum("Turn only this disk into a base volume (for a disk added to a template later).", templateDiskKeys()...).Opt(),
		}),
		Perm:    Perm("/vms/{vmid}", "VM.Allocate"),
		ProxyTo: "node", Protected: true,
		CLI: qmCLI("template"),
	})
)

// cloneEndpoints lists the template and clone endpoints.
func cloneEndpoints() []*Endpoint { return []*Endpoint{VMClone.E, VMTemplate.E} }
