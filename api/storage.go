package api

import "github.com/hearth-virt/hearth/api/schema"

// Storage definitions (storage.cfg) and their content on each node.

// StorageTypes lists the storage types Hearth knows, as storage.cfg names them.
var StorageTypes = []string{"btrfs", "cephfs", "cifs", "dir", "glusterfs", "iscsi", "iscsidirect",
	"lvm", "lvmthin", "nfs", "rbd", "zfs", "zfspool"}

// StorageOptions returns the schema of every storage.cfg key of every
// storage type; they are also the parameters of creating a storage. Which
// keys a type takes, which it requires and which are fixed after creation
// is declared by the type's plugin and checked by internal/storage.
func StorageOptions() schema.Props {
	str := func(desc string) *schema.Schema { return schema.Str(desc).Opt() }
	fmtStr := func(format, desc string) *schema.Schema {
		return schema.Schema{Type: schema.String, Format: format, Description: desc}.Opt()
	}
	boolOpt := func(desc string) *schema.Schema { return schema.Bool(desc).Opt() }
	limit := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.Number, Minimum: schema.F(0), FormatDescription: "LIMIT", Description: desc}.Opt()
	}
	return schema.Props{
		"storage": schema.StorageID().Ptr(),
		"type":    schema.Enum("Kind of storage.", StorageTypes...).Ptr(),
		"content": fmtStr("pve-storage-content-list",
			"What the storage holds: images (VM disks), rootdir (container volumes), vztmpl (container templates), iso, backup, snippets, import; none for nothing."),
		"content-dirs": fmtStr("pve-dir-override-list", "Directories, relative to the storage's path, to use for content types instead of the usual ones, as iso=isos,backup=dumps."),
		"nodes":        fmtStr("pve-node-list", "Nodes that may use the storage; all nodes when unset."),
		"shared": boolOpt("The same data is reachable under this storage id from every node (set it for a local path that " +
			"really is a shared file system). Network storage types are always shared."),
		"disable":          boolOpt("Turn the storage off without removing its definition."),
		"format":           schema.Enum("Default image format of new disks.", "raw", "qcow2", "subvol", "vmdk").Opt(),
		"path":             fmtStr("pve-storage-path", "Directory of a dir or btrfs storage, or where a network file system is mounted."),
		"subdir":           fmtStr("pve-storage-path", "Directory on the share or file system to use instead of its root."),
		"mkdir":            boolOpt("Deprecated, use create-base-path and create-subdirs: create the path and its subdirectories when missing."),
		"create-base-path": schema.Bool("Create the storage's path when it does not exist.").Def(true).Ptr(),
		"create-subdirs":   schema.Bool("Create the directories for each content type when they do not exist.").Def(true).Ptr(),
		"is_mountpoint": schema.Schema{Type: schema.String, Description: "Only use the storage when its path is a mount point " +
			"(yes), or when the given path is one; protects against filling the root file system when a mount failed."}.Def("no").Ptr(),
		"preallocation": schema.Enum("How much of a new raw or qcow2 image is allocated at once.", "off", "metadata", "falloc", "full").Def("metadata").Ptr(),
		"prune-backups": &schema.Schema{Type: schema.String, Optional: true,
			Description: "Which backups pruning keeps, such as keep-last=3,keep-daily=7; keep-all=1 keeps everything.", Prop: PruneOptions()},
		"max-protected-backups": schema.Schema{Type: schema.Integer, Minimum: schema.F(-1),
			Description: "Most protected backups per guest; -1 is unlimited. Without it, users holding Datastore.Allocate have no limit and others 5."}.Opt(),
		"bwlimit": &schema.Schema{Type: schema.String, Optional: true, Description: "Bandwidth caps in KiB/s for operations reading or writing this storage.",
			Prop: schema.NewPropString(schema.Props{
				"clone":     limit("Cap for cloning disks, in KiB/s."),
				"default":   limit("Cap for operations without a cap of their own, in KiB/s."),
				"migration": limit("Cap for migrations, in KiB/s."),
				"move":      limit("Cap for moving disks, in KiB/s."),
				"restore":   limit("Cap for restoring backups, in KiB/s."),
			})},
		"nocow":                    schema.Bool("Create raw images with copy-on-write turned off (chattr +C), which suits databases and VM images on btrfs.").Def(false).Ptr(),
		"snapshot-as-volume-chain": schema.Bool("Take snapshots of raw or thick volumes as qcow2 overlay chains.").Def(false).Ptr(),
		// Network file systems.
		"server":                fmtStr("pve-storage-server", "Server name or address."),
		"server2":               fmtStr("pve-storage-server", "Backup volfile server (GlusterFS)."),
		"export":                fmtStr("pve-storage-path", "NFS export path."),
		"options":               fmtStr("pve-storage-options", "Extra mount options, comma-separated."),
		"share":                 str("CIFS share name."),
		"username":              str("User name for the share, RBD or CephFS."),
		"password":              schema.Schema{Type: schema.String, MaxLength: 256, Sensitive: true, Description: "Password of the CIFS user; kept in priv/storage/<storage>.pw."}.Opt(),
		"domain":                schema.Schema{Type: schema.String, MaxLength: 256, Description: "CIFS domain (workgroup)."}.Opt(),
		"smbversion":            schema.Enum("SMB protocol version; default lets client and server agree on the highest.", "default", "2.0", "2.1", "3", "3.0", "3.11").Def("default").Ptr(),
		"volume":                str("GlusterFS volume."),
		"transport":             schema.Enum("GlusterFS transport.", "tcp", "rdma", "unix").Opt(),
		"fs-name":               fmtStr("pve-configid", "Name of the Ceph file system to mount."),
		"fuse":                  boolOpt("Mount CephFS with ceph-fuse instead of the kernel client."),
		"monhost":               fmtStr("pve-storage-portal-dns-list", "Ceph monitors (address[:port]); only for an external cluster."),
		"keyring":               schema.Schema{Type: schema.String, Sensitive: true, Description: "Ceph client keyring (or the CephFS secret); kept in priv/storage/<storage>.keyring."}.Opt(),
		"pool":                  str("Pool: the Ceph pool of rbd, the ZFS pool or dataset of zfspool and ZFS over iSCSI."),
		"data-pool":             str("Ceph pool for the data of erasure-coded images."),
		"namespace":             str("RBD namespace within the pool."),
		"krbd":                  schema.Bool("Map RBD images through the kernel module instead of QEMU's librbd.").Def(false).Ptr(),
		"vgname":                fmtStr("pve-storage-vgname", "LVM volume group."),
		"thinpool":              fmtStr("pve-storage-vgname", "LVM thin pool."),
		"base":                  fmtStr("pve-volume-id", "Volume (an iSCSI LUN) the volume group is built on."),
		"saferemove":            boolOpt("Overwrite the data of removed LVM volumes with zeros."),
		"saferemove_throughput": str("Throughput cap of saferemove in bytes per second (as cstream -t), such as 10485760."),
		"saferemove-stepsize":   schema.Schema{Type: schema.Integer, Enum: []string{"1", "2", "4", "8", "16", "32"}, Description: "Size in MiB of each zeroing step of saferemove."}.Def(32).Ptr(),
		"tagged_only":           boolOpt("Only list LVM volumes tagged pve-vm-<vmid>."),
		"portal":                fmtStr("pve-storage-portal-dns", "iSCSI portal (address[:port])."),
		"target":                str("iSCSI target name (IQN)."),
		"iscsiprovider":         schema.Enum("iSCSI target software of a ZFS over iSCSI storage.", "comstar", "istgt", "iet", "LIO").Opt(),
		"blocksize":             str("ZFS block size of new volumes, such as 8k or 16k."),
		"sparse":                boolOpt("Create thin-provisioned ZFS volumes."),
		"mountpoint":            fmtStr("pve-storage-path", "Where the ZFS pool's datasets are mounted, when not the pool's own mountpoint."),
		"nowritecache":          boolOpt("Turn off the target's write cache (ZFS over iSCSI)."),
		"comstar_hg":            str("COMSTAR host group for the views of new LUNs."),
		"comstar_tg":            str("COMSTAR target group for the views of new LUNs."),
		"lio_tpg":               str("LIO target portal group of new LUNs."),
		"zfs-base-path":         fmtStr("pve-storage-path", "Where ZFS volumes appear on the target host (default /dev/zvol)."),
	}
}

// PruneOptions is the property string of prune-backups: how many backups
// of each period pruning keeps.
func PruneOptions() *schema.PropString {
	keep := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: desc}.Opt()
	}
	return schema.NewPropString(schema.Props{
		"keep-all":     schema.Bool("Keep every backup; no other keep option may be given with it.").Opt(),
		"keep-last":    keep("Keep the newest backups, this many."),
		"keep-hourly":  keep("Keep the newest backup of each of this many hours that have one."),
		"keep-daily":   keep("Keep the newest backup of each of this many days that have one."),
		"keep-weekly":  keep("Keep the newest backup of each of this many weeks that have one."),
		"keep-monthly": keep("Keep the newest backup of each of this many months that have one."),
		"keep-yearly":  keep("Keep the newest backup of each of this many years that have one."),
	})
}

func storageUpdateOptions() schema.Props {
	p := StorageOptions()
	delete(p, "type")
	p["delete"] = schema.Schema{Type: schema.String, Format: "pve-configid-list", Description: "Options to remove."}.Opt()
	p["digest"] = schema.Digest().Opt()
	return p
}

func storageCreatedSchema() schema.Schema {
	return schema.Obj("", schema.Props{
		"storage": schema.Str("The storage's id.").Ptr(),
		"type":    schema.Enum("The storage's type.", StorageTypes...).Ptr(),
		"config":  schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "Options the server generated, if any."}.Opt(),
	})
}

// StorageTypeFilter is the input of GET /storage.
type StorageTypeFilter struct {
	Type string `json:"type"`
}

// StorageParam names one storage.
type StorageParam struct {
	Storage string `json:"storage"`
}

// StorageItem is one row of GET /storage: the definition, with its type
// and digest.
type StorageItem = map[string]any

// StorageCreated is the answer of POST and PUT /storage.
type StorageCreated struct {
	Storage string         `json:"storage"`
	Type    string         `json:"type"`
	Config  map[string]any `json:"config,omitempty"`
}

var (
	StorageList = Declare[StorageTypeFilter, []StorageItem](Endpoint{
		Path: "/storage", Method: "GET", Name: "index",
		Description: "List the storage definitions you may see.",
		Params:      schema.Props{"type": schema.Enum("Only storages of this type.", StorageTypes...).Opt()},
		Perm:        AnyUser("Lists the storages on which you hold Datastore.Audit or Datastore.AllocateSpace."),
		Returns: schema.ArrayOf("", schema.Schema{Type: schema.Object, AdditionalProperties: true,
			Properties: schema.Props{"storage": schema.Str("Storage id.").Ptr()}}),
		CLI: []Command{{Tool: "pvesm", Cmd: "config list", Columns: []string{"storage", "type", "content", "path", "shared"}, SortBy: "storage"}},
	})

	StorageCreate = Declare[Params, StorageCreated](Endpoint{
		Path: "/storage", Method: "POST", Name: "create",
		Description: "Add a storage definition.",
		Params:      StorageOptions(),
		Perm:        Perm("/storage", "Datastore.Allocate"),
		Protected:   true, Returns: storageCreatedSchema(),
		CLI: []Command{{Tool: "pvesm", Cmd: "add", Args: []string{"type", "storage"}}},
	})

	StorageGet = Declare[StorageParam, StorageItem](Endpoint{
		Path: "/storage/{storage}", Method: "GET", Name: "read",
		Description: "Show a storage definition (never its password or keyring).",
		Params:      schema.Props{"storage": schema.StorageID().Ptr()},
		Perm:        Perm("/storage/{storage}", "Datastore.Allocate"),
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The storage's options, with type and digest."},
		CLI:         []Command{{Tool: "pvesm", Cmd: "config get", Args: []string{"storage"}}},
	})

	StorageUpdate = Declare[Params, StorageCreated](Endpoint{
		Path: "/storage/{storage}", Method: "PUT", Name: "update",
		Description: "Change a storage definition. Options that say where the data is (path, pool, server, …) cannot change.",
		Params:      storageUpdateOptions(),
		Perm:        Perm("/storage", "Datastore.Allocate"),
		Protected:   true, Returns: storageCreatedSchema(),
		CLI: []Command{{Tool: "pvesm", Cmd: "set", Args: []string{"storage"}}},
	})

	StorageDelete = Declare[StorageParam, any](Endpoint{
		Path: "/storage/{storage}", Method: "DELETE", Name: "delete",
		Description: "Remove a storage definition. The data on the storage stays where it is.",
		Params:      schema.Props{"storage": schema.StorageID().Ptr()},
		Perm:        Perm("/storage", "Datastore.Allocate"),
		Protected:   true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pvesm", Cmd: "remove", Args: []string{"storage"}}},
	})
)
