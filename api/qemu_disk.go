package api

import (
	"strconv"

	"github.com/hearth-virt/hearth/api/schema"
)

// Disk operations of virtual machines (grow, move to another storage,
// detach), and the two low-level doors into a running QEMU: key presses
// and the human monitor.

// VMResizeParams is the input of PUT …/resize.
type VMResizeParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	Disk     string `json:"disk"`
	Size     string `json:"size"`
	Digest   string `json:"digest"`
	SkipLock bool   `json:"skiplock"`
}

// VMMoveDiskParams is the input of POST …/move_disk.
type VMMoveDiskParams struct {
	Node         string `json:"node"`
	VMID         int    `json:"vmid"`
	Disk         string `json:"disk"`
	Storage      string `json:"storage"`
	Format       string `json:"format"`
	Delete       bool   `json:"delete"`
	Digest       string `json:"digest"`
	BWLimit      *int64 `json:"bwlimit"`
	TargetVMID   int    `json:"target-vmid"`
	TargetDisk   string `json:"target-disk"`
	TargetDigest string `json:"target-digest"`
}

// VMUnlinkParams is the input of PUT …/unlink.
type VMUnlinkParams struct {
	Node   string `json:"node"`
	VMID   int    `json:"vmid"`
	IDList string `json:"idlist"`
	Force  bool   `json:"force"`
}

// VMSendKeyParams is the input of PUT …/sendkey.
type VMSendKeyParams struct {
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`
	Key      string `json:"key"`
	SkipLock bool   `json:"skiplock"`
}

// VMMonitorParams is the input of POST …/monitor.
type VMMonitorParams struct {
	Node    string `json:"node"`
	VMID    int    `json:"vmid"`
	Command string `json:"command"`
}

// ResizeSizePattern is what the size of a resize may look like: an
// optional + (grow by), a number and an optional K, M, G or T unit
// (bytes without one).
const ResizeSizePattern = `\+?\d+(\.\d+)?[KMGT]?`

// qemuDiskKeys lists the drive keys in Proxmox VE's enum order; with
// unused, the unusedN keys follow.
func qemuDiskKeys(unused bool) []string {
	var keys []string
	for _, bus := range QemuDriveBuses {
		for i := 0; i <= QemuDriveMaxIndex(bus); i++ {
			keys = append(keys, bus+strconv.Itoa(i))
		}
	}
	keys = append(keys, "efidisk0", "tpmstate0")
	if unused {
		for i := range 256 {
			keys = append(keys, "unused"+strconv.Itoa(i))
		}
	}
	return keys
}

var diskPerm = Perm("/vms/{vmid}", "VM.Config.Disk")

// withNote adds the explanation of the checks a handler makes itself.
func withNote(p Permission, note string) Permission {
	p.Note = note
	return p
}

var (
	VMResize = DeclareTask[VMResizeParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/resize", Method: "PUT", Name: "resize_vm",
		Description: "Grow a disk of a VM, also while it runs (the guest then sees the new size; its partitions and " +
			"file systems are left to it). Disks never shrink.",
		Params: vmProps(schema.Props{
			"disk": schema.Enum("The disk to grow.", qemuDiskKeys(false)...).Ptr(),
			"size": schema.Pat("The new size: +<n> grows by <n>, <n> alone is the size to reach. "+
				"Units K, M, G, T (powers of 1024); bytes without a unit. Rounded up to whole KiB.", ResizeSizePattern).Ptr(),
			"digest":   schema.Digest().Opt(),
			"skiplock": skipLock,
		}),
		Perm:    withNote(diskPerm, "Growing also needs Datastore.AllocateSpace on the disk's storage."),
		ProxyTo: "node", Protected: true,
		CLI: []Command{
			{Tool: "qm", Cmd: "disk resize", Args: []string{"vmid", "disk", "size"}, Fixed: map[string]string{"node": LocalNode}},
			{Tool: "qm", Cmd: "resize", Args: []string{"vmid", "disk", "size"}, Fixed: map[string]string{"node": LocalNode}},
		},
	})

	VMMoveDisk = DeclareTask[VMMoveDiskParams](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/move_disk", Method: "POST", Name: "move_vm_disk",
		Description: "Move a disk of a VM to another storage or format. A running VM keeps using the disk while its " +
			"data is mirrored to the new volume and switches over at the end. The old volume is kept as an unused " +
			"disk unless delete is set.",
		Params: vmProps(schema.Props{
			"disk":    schema.Enum("The disk to move.", qemuDiskKeys(true)...).Ptr(),
			"storage": schema.StorageID().Desc("Storage to move the disk to.").Opt(),
			"format":  schema.Enum("Image format on the target storage (default: the current one when the storage holds it, else the storage's default).", "raw", "qcow2", "vmdk").Opt(),
			"delete":  schema.Bool("Remove the old volume once the move succeeded instead of keeping it as unusedN.").Def(false).Ptr(),
			"digest":  schema.Digest().Opt(),
			"bwlimit": schema.Schema{Type: schema.Integer, Minimum: schema.F(0),
				Description: "Bandwidth limit of the copy in KiB/s (default: the move limit of the datacenter and the storages; 0 for none)."}.Opt(),
			"target-vmid":   schema.VMID().Desc("Give the disk to this VM instead (not supported yet).").Opt(),
			"target-disk":   schema.Enum("Drive key on the target VM (with target-vmid; not supported yet).", qemuDiskKeys(true)...).Opt(),
			"target-digest": schema.Digest().Desc("Digest of the target VM's configuration (with target-vmid).").Opt(),
		}),
		Perm:    withNote(diskPerm, "Moving also needs Datastore.AllocateSpace on the target storage."),
		ProxyTo: "node", Protected: true,
		CLI: []Command{
			{Tool: "qm", Cmd: "disk move", Args: []string{"vmid", "disk", "storage"}, Fixed: map[string]string{"node": LocalNode}},
			{Tool: "qm", Cmd: "move-disk", Args: []string{"vmid", "disk", "storage"}, Fixed: map[string]string{"node": LocalNode}},
			{Tool: "qm", Cmd: "move_disk", Args: []string{"vmid", "disk", "storage"}, Fixed: map[string]string{"node": LocalNode}},
		},
	})

	VMUnlink = Declare[VMUnlinkParams, any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/unlink", Method: "PUT", Name: "unlink",
		Description: "Take disks out of a VM's configuration. They are kept as unusedN unless force is set; " +
			"unusedN entries given here are always removed with their volumes.",
		Params: vmProps(schema.Props{
			"idlist": schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "The drive keys to remove, such as scsi1,unused0."}.Ptr(),
			"force":  schema.Bool("Remove the volumes for good instead of keeping them as unusedN.").Opt(),
		}),
		Perm: diskPerm, ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{
			{Tool: "qm", Cmd: "disk unlink", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}},
			{Tool: "qm", Cmd: "unlink", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}},
		},
	})

	VMSendKey = Declare[VMSendKeyParams, any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/sendkey", Method: "PUT", Name: "vm_sendkey",
		Description: "Press a key or a key combination on the VM's keyboard, such as ctrl-alt-delete.",
		Params: vmProps(schema.Props{
			"key": schema.Str("Key names joined by '-', pressed together, as QEMU's monitor writes them " +
				"(ctrl-alt-delete, shift-a, ret, f2, or a scancode such as 0x1d).").Ptr(),
			"skiplock": skipLock,
		}),
		Perm: Perm("/vms/{vmid}", "VM.Console"), ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI:     qmCLI("sendkey", "key"),
	})

	VMMonitor = Declare[VMMonitorParams, string](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/monitor", Method: "POST", Name: "monitor",
		Description: "Run a command of QEMU's human monitor in a running VM and return what it printed.",
		Params: vmProps(schema.Props{
			"command": schema.Str("The monitor command line, such as 'info block'.").Ptr(),
		}),
		Perm: Permission{Kind: PermCheck, Path: "/vms/{vmid}", Privs: []string{"Sys.Audit", "Sys.Modify"}, Any: true,
			Note: "Reading commands (info, help, ?) need no more. Commands that change the VM need Sys.Modify on " +
				"/vms/{vmid}; those that reach the host (files, devices, migration, networking) are root@pam's only."},
		ProxyTo: "node", Protected: true,
		Returns: schema.Str("What the monitor printed."),
		CLI: []Command{{Tool: "qm", Cmd: "monitor", Args: []string{"vmid", "command"}, Fixed: map[string]string{"node": LocalNode},
			Output: "raw", Client: "monitor"}},
	})
)

// diskEndpoints lists the disk, key and monitor endpoints.
func diskEndpoints() []*Endpoint {
	return []*Endpoint{VMResize.E, VMMoveDisk.E, VMUnlink.E, VMSendKey.E, VMMonitor.E}
}
