package api

import "github.com/hearth-virt/hearth/api/schema"

// The storages of one node and their content.

// NodeStorageListParams is the input of GET /nodes/{node}/storage.
type NodeStorageListParams struct {
	Node    string `json:"node"`
	Content string `json:"content"`
	Enabled bool   `json:"enabled"`
	Format  bool   `json:"format"`
	Storage string `json:"storage"`
	Target  string `json:"target"`
}

// NodeStorage is one row of GET /nodes/{node}/storage and the answer of
// …/status.
type NodeStorage struct {
	Storage      string         `json:"storage"`
	Type         string         `json:"type"`
	Content      string         `json:"content"`
	Active       int            `json:"active"`
	Enabled      int            `json:"enabled"`
	Shared       int            `json:"shared"`
	Total        int64          `json:"total"`
	Used         int64          `json:"used"`
	Avail        int64          `json:"avail"`
	UsedFraction float64        `json:"used_fraction"`
	Formats      map[string]any `json:"formats,omitempty"`
	// Error says why an enabled storage is not active (Hearth addition).
	Error string `json:"error,omitempty"`
}

// NodeStorageParam names a storage on a node.
type NodeStorageParam struct {
	Node    string `json:"node"`
	Storage string `json:"storage"`
}

// ContentListParams is the input of GET …/content.
type ContentListParams struct {
	Node    string `json:"node"`
	Storage string `json:"storage"`
	Content string `json:"content"`
	VMID    int    `json:"vmid"`
}

// ContentItem is one volume in a content listing.
type ContentItem struct {
	VolID     string `json:"volid"`
	Content   string `json:"content"`
	Format    string `json:"format"`
	Size      int64  `json:"size"`
	Used      int64  `json:"used,omitempty"`
	VMID      int    `json:"vmid,omitempty"`
	CTime     int64  `json:"ctime,omitempty"`
	Parent    string `json:"parent,omitempty"`
	Notes     string `json:"notes,omitempty"`
	Protected int    `json:"protected,omitempty"`
}

// AllocParams is the input of POST …/content.
type AllocParams struct {
	Node     string `json:"node"`
	Storage  string `json:"storage"`
	Filename string `json:"filename"`
	Size     string `json:"size"`
	VMID     int    `json:"vmid"`
	Format   string `json:"format"`
}

// VolumeParams names one volume. Volume is a volume id, or a volume name
// of the storage in the path.
type VolumeParams struct {
	Node    string `json:"node"`
	Storage string `json:"storage"`
	Volume  string `json:"volume"`
}

// VolumeAttrs is the answer of GET …/content/{volume}.
type VolumeAttrs struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Used      int64  `json:"used"`
	Format    string `json:"format"`
	Notes     string `json:"notes,omitempty"`
	Protected int    `json:"protected,omitempty"`
}

// VolumeUpdateParams is the input of PUT …/content/{volume}.
type VolumeUpdateParams struct {
	Node      string  `json:"node"`
	Storage   string  `json:"storage"`
	Volume    string  `json:"volume"`
	Notes     *string `json:"notes"`
	Protected *bool   `json:"protected"`
}

// VolumeCopyParams is the input of POST …/content/{volume}.
type VolumeCopyParams struct {
	Node       string `json:"node"`
	Storage    string `json:"storage"`
	Volume     string `json:"volume"`
	Target     string `json:"target"`
	TargetNode string `json:"target_node"`
}

// VolumeDeleteParams is the input of DELETE …/content/{volume}.
type VolumeDeleteParams struct {
	Node    string `json:"node"`
	Storage string `json:"storage"`
	Volume  string `json:"volume"`
	Delay   *int   `json:"delay"`
}

// UploadParams is the input of POST …/upload.
type UploadParams struct {
	Node              string `json:"node"`
	Storage           string `json:"storage"`
	Content           string `json:"content"`
	Filename          string `json:"filename"`
	Checksum          string `json:"checksum"`
	ChecksumAlgorithm string `json:"checksum-algorithm"`
	TmpFilename       string `json:"tmpfilename"`
}

// DownloadParams is the input of POST …/download-url.
type DownloadParams struct {
	Node               string `json:"node"`
	Storage            string `json:"storage"`
	Content            string `json:"content"`
	Filename           string `json:"filename"`
	URL                string `json:"url"`
	Checksum           string `json:"checksum"`
	ChecksumAlgorithm  string `json:"checksum-algorithm"`
	Compression        string `json:"compression"`
	VerifyCertificates bool   `json:"verify-certificates"`
}

// PruneParams is the input of GET and DELETE …/prunebackups.
type PruneParams struct {
	Node         string `json:"node"`
	Storage      string `json:"storage"`
	PruneBackups string `json:"prune-backups"`
	Type         string `json:"type"`
	VMID         int    `json:"vmid"`
}

// PruneItem says what pruning would do with one backup.
type PruneItem struct {
	VolID string `json:"volid"`
	CTime int64  `json:"ctime"`
	Mark  string `json:"mark"`
	Type  string `json:"type"`
	VMID  int    `json:"vmid,omitempty"`
}

// ExtractConfigParams is the input of GET /nodes/{node}/vzdump/extractconfig.
type ExtractConfigParams struct {
	Node   string `json:"node"`
	Volume string `json:"volume"`
}

func nodeStorageProps(extra schema.Props) schema.Props {
	p := schema.Props{"node": schema.Node().Ptr(), "storage": schema.StorageID().Ptr()}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func volumeProps(extra schema.Props) schema.Props {
	p := nodeStorageProps(extra)
	p["volume"] = schema.Str("Volume id (storage:name), or the volume name within the storage of the path.").Ptr()
	return p
}

func nodeStorageSchema() schema.Schema {
	b := func(desc string) *schema.Schema { return schema.Bool(desc).Opt() }
	size := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: desc}.Opt()
	}
	return schema.Obj("", schema.Props{
		"storage":       schema.StorageID().Ptr(),
		"type":          schema.Str("Storage type.").Ptr(),
		"content":       schema.Schema{Type: schema.String, Format: "pve-storage-content-list", Description: "What the storage may hold."}.Ptr(),
		"active":        b("The storage is usable on this node."),
		"enabled":       b("The storage is not disabled."),
		"shared":        b("The storage is shared between nodes."),
		"total":         size("Total space in bytes."),
		"used":          size("Used space in bytes."),
		"avail":         size("Available space in bytes."),
		"used_fraction": schema.Num("Used part of the total, 0 to 1.").Opt(),
		"formats":       schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "Image formats and the default one; only with format=1."}.Opt(),
		"error":         schema.Str("Why an enabled storage is not active on this node.").Opt(),
	})
}

func contentItemSchema() schema.Schema {
	return schema.Obj("", schema.Props{
		"volid":     schema.Str("Volume id.").Ptr(),
		"content":   schema.Schema{Type: schema.String, Format: "pve-storage-content", Description: "Content type."}.Ptr(),
		"format":    schema.Str("Image format or file kind (raw, qcow2, subvol, iso, tar.zst, …).").Ptr(),
		"size":      schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: "Size in bytes (the virtual size of images)."}.Ptr(),
		"used":      schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: "Space the volume takes, where the storage knows it."}.Opt(),
		"vmid":      schema.Int("Guest that owns the volume.").Opt(),
		"ctime":     schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "Creation time."}.Opt(),
		"parent":    schema.Str("Base volume of a linked clone.").Opt(),
		"notes":     schema.Str("First line of the notes.").Opt(),
		"protected": schema.Bool("Protected from removal and pruning.").Opt(),
	})
}

var checksumAlgorithms = []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}

var (
	NodeStorageList = Declare[NodeStorageListParams, []NodeStorage](Endpoint{
		Path: "/nodes/{node}/storage", Method: "GET", Name: "index",
		Description: "List the storages of a node with their state and usage.",
		Params: schema.Props{
			"node":    schema.Node().Ptr(),
			"content": schema.Schema{Type: schema.String, Format: "pve-storage-content-list", Description: "Only storages holding one of these content types."}.Opt(),
			"enabled": schema.Bool("Only enabled storages.").Def(false).Ptr(),
			"format":  schema.Bool("Include the image formats.").Def(false).Ptr(),
			"storage": schema.StorageID().Desc("Only this storage.").Opt(),
			"target":  schema.Node().Desc("Only storages also usable on this node.").Opt(),
		},
		Perm:    AnyUser("Lists the storages on which you hold Datastore.Audit or Datastore.AllocateSpace."),
		ProxyTo: "node",
		Returns: schema.ArrayOf("", nodeStorageSchema()),
		CLI: []Command{{Tool: "pvesm", Cmd: "status", Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"storage", "type", "active", "total", "used", "avail", "used_fraction"}, SortBy: "storage"}},
	})

	NodeStorageIndex = Declare[NodeStorageParam, []Child](Endpoint{
		Path: "/nodes/{node}/storage/{storage}", Method: "GET", Name: "diridx",
		Description: "Index of a storage's calls.",
		Params:      nodeStorageProps(nil),
		Perm:        PermAny("/storage/{storage}", "Datastore.Audit", "Datastore.AllocateSpace"),
		Returns:     childIndex("subdir"),
	})

	NodeStorageStatus = Declare[NodeStorageParam, NodeStorage](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/status", Method: "GET", Name: "read_status",
		Description: "Show a storage's state and usage on a node.",
		Params:      nodeStorageProps(nil),
		Perm:        PermAny("/storage/{storage}", "Datastore.Audit", "Datastore.AllocateSpace"),
		ProxyTo:     "node",
		Returns:     nodeStorageSchema(),
	})

	ContentList = Declare[ContentListParams, []ContentItem](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content", Method: "GET", Name: "index",
		Description: "List the volumes of a storage.",
		Params: nodeStorageProps(schema.Props{
			"content": schema.Schema{Type: schema.String, Format: "pve-storage-content", Description: "Only this content type."}.Opt(),
			"vmid":    schema.VMID().Desc("Only volumes of this guest.").Opt(),
		}),
		Perm:    PermAny("/storage/{storage}", "Datastore.Audit", "Datastore.AllocateSpace"),
		ProxyTo: "node",
		Returns: schema.ArrayOf("", contentItemSchema()),
		CLI: []Command{
			{Tool: "pvesm", Cmd: "list", Args: []string{"storage"}, Fixed: map[string]string{"node": LocalNode},
				Columns: []string{"volid", "format", "content", "size", "vmid"}, SortBy: "volid"},
			{Tool: "pveam", Cmd: "list", Args: []string{"storage"}, Fixed: map[string]string{"node": LocalNode, "content": "vztmpl"},
				Columns: []string{"volid", "size"}, SortBy: "volid"},
		},
	})

	ContentAlloc = Declare[AllocParams, string](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content", Method: "POST", Name: "create",
		Description: "Allocate a disk image for a guest.",
		Params: nodeStorageProps(schema.Props{
			"filename": schema.Str("Name of the new volume (vm-<vmid>-disk-<n> with the format's extension on file storages), or empty for the next free one.").Ptr(),
			"size":     schema.Schema{Type: schema.String, Pattern: `\d+[MG]?`, Description: "Size in KiB, or with a suffix M or G."}.Ptr(),
			"vmid":     schema.VMID().Desc("Guest that owns the volume.").Ptr(),
			"format":   schema.Enum("Image format; the storage's default when unset.", "raw", "qcow2", "subvol", "vmdk").Opt(),
		}),
		Perm:      Perm("/storage/{storage}", "Datastore.AllocateSpace"),
		ProxyTo:   "node",
		Protected: true,
		Returns:   schema.Str("Volume id of the new volume."),
		CLI: []Command{{Tool: "pvesm", Cmd: "alloc", Args: []string{"storage", "vmid", "filename", "size"},
			Fixed: map[string]string{"node": LocalNode}, Output: "created"}},
	})

	VolumeGet = Declare[VolumeParams, VolumeAttrs](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content/{volume}", Method: "GET", Name: "info",
		Description: "Show a volume's path, size, format and notes.",
		Params:      volumeProps(nil),
		Perm:        AnyUser("You need read access to the volume: Datastore.Allocate on the storage, or Datastore.AllocateSpace and the owning guest's VM.Config.Disk (VM.Backup for backups), or Datastore.Audit for templates and ISO images."),
		ProxyTo:     "node",
		Returns: schema.Obj("", schema.Props{
			"path":      schema.Str("Path on the node, or the URL QEMU opens.").Ptr(),
			"size":      schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: "Size in bytes."}.Ptr(),
			"used":      schema.Schema{Type: schema.Integer, Renderer: "bytes", Description: "Space taken."}.Ptr(),
			"format":    schema.Str("Format.").Ptr(),
			"notes":     schema.Str("Notes.").Opt(),
			"protected": schema.Bool("Protected from removal.").Opt(),
		}),
		CLI: []Command{{Tool: "pvesm", Cmd: "volume info", Args: []string{"volume"}, Fixed: map[string]string{"node": LocalNode, "storage": StorageOfVolume}}},
	})

	VolumeUpdate = Declare[VolumeUpdateParams, any](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content/{volume}", Method: "PUT", Name: "updateattributes",
		Description: "Change a volume's notes or protection.",
		Params: volumeProps(schema.Props{
			"notes":     schema.Schema{Type: schema.String, MaxLength: 65536, Description: "Notes; empty removes them."}.Opt(),
			"protected": schema.Bool("Protect the volume from removal and pruning.").Opt(),
		}),
		Perm:      AnyUser("You need write access to the volume, as for removing it."),
		ProxyTo:   "node",
		Protected: true,
		Returns:   schema.Schema{Type: schema.Null},
		CLI:       []Command{{Tool: "pvesm", Cmd: "set-attributes", Args: []string{"volume"}, Fixed: map[string]string{"node": LocalNode, "storage": StorageOfVolume}}},
	})

	VolumeCopy = DeclareTask[VolumeCopyParams](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content/{volume}", Method: "POST", Name: "copy",
		Description: "Copy a volume to another volume id (a full copy, converted as the target storage needs).",
		Params: volumeProps(schema.Props{
			"target":      schema.Str("Target volume id, or a storage id to pick a free name there.").Ptr(),
			"target_node": schema.Node().Desc("Node of the target (this node when unset).").Opt(),
		}),
		Perm:      AnyUser("You need read access to the volume and Datastore.AllocateSpace on the target storage."),
		ProxyTo:   "node",
		Protected: true,
		CLI:       []Command{{Tool: "pvesm", Cmd: "copy", Args: []string{"volume", "target"}, Fixed: map[string]string{"node": LocalNode, "storage": StorageOfVolume}}},
	})

	VolumeDelete = DeclareTask[VolumeDeleteParams](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content/{volume}", Method: "DELETE", Name: "delete",
		Description: "Remove a volume. Volumes a guest configuration still uses are refused, except unusedN entries, which are removed with them.",
		Params: volumeProps(schema.Props{
			"delay": schema.IntRange("Wait up to this many seconds for the removal before answering.", 1, 30).Opt(),
		}),
		Perm:      AnyUser("You need Datastore.Allocate on the storage, or Datastore.AllocateSpace and VM.Backup on the guest for its backups."),
		ProxyTo:   "node",
		Protected: true,
		CLI:       []Command{{Tool: "pvesm", Cmd: "free", Args: []string{"volume"}, Fixed: map[string]string{"node": LocalNode, "storage": StorageOfVolume}}},
	})

	VolumePath = Declare[VolumeParams, string](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/content/{volume}/path", Method: "GET", Name: "path",
		Description: "Show where a volume is on the node: a file, a device, a directory or the URL QEMU opens (Hearth addition, behind pvesm path).",
		Params:      volumeProps(nil),
		Perm:        RootOnly(),
		ProxyTo:     "node",
		Returns:     schema.Str("Path, device or URL."),
		CLI:         []Command{{Tool: "pvesm", Cmd: "path", Args: []string{"volume"}, Fixed: map[string]string{"node": LocalNode, "storage": StorageOfVolume}, Output: "raw"}},
	})

	StorageUpload = DeclareTask[UploadParams](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/upload", Method: "POST", Name: "upload",
		Description: "Upload an ISO image, container template or import file. Send the file as multipart/form-data, after the other fields.",
		Params: nodeStorageProps(schema.Props{
			"content":            schema.Enum("Content type of the file.", "iso", "vztmpl", "import").Ptr(),
			"filename":           schema.Schema{Type: schema.String, MaxLength: 255, Description: "Name of the file on the storage (the upload's file name when sent as multipart)."}.Ptr(),
			"checksum":           schema.Str("Expected checksum; the upload is refused when it differs.").Opt(),
			"checksum-algorithm": schema.Enum("Algorithm of checksum.", checksumAlgorithms...).Opt(),
			"tmpfilename":        schema.Schema{Type: schema.String, Pattern: `/var/tmp/pveupload-[0-9a-f]+`, Description: "Where a front end already stored the upload (root only)."}.Opt(),
		}),
		Perm:      Perm("/storage/{storage}", "Datastore.AllocateTemplate"),
		ProxyTo:   "node",
		Protected: true,
		Upload:    "filename",
		CLI: []Command{{Tool: "pvesm", Cmd: "upload", Args: []string{"storage", "filename"}, Fixed: map[string]string{"node": LocalNode},
			Complete: map[string]string{"filename": "file"}}},
	})

	StorageDownload = DeclareTask[DownloadParams](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/download-url", Method: "POST", Name: "download_url",
		Description: "Download a file from an http or https URL into the storage.",
		Params: nodeStorageProps(schema.Props{
			"content":             schema.Enum("Content type of the file.", "iso", "vztmpl", "import").Ptr(),
			"filename":            schema.Schema{Type: schema.String, MaxLength: 255, Description: "Name of the file on the storage."}.Ptr(),
			"url":                 schema.Pat("Where to download from.", `https?://.+`).Ptr(),
			"checksum":            schema.Str("Expected checksum; the download is removed when it differs.").Opt(),
			"checksum-algorithm":  schema.Enum("Algorithm of checksum.", checksumAlgorithms...).Opt(),
			"compression":         schema.Enum("Decompress the download (ISO images only).", "gz", "lzo", "zst", "bz2").Opt(),
			"verify-certificates": schema.Bool("Check the server's TLS certificate.").Def(true).Ptr(),
		}),
		Perm: And(Perm("/storage/{storage}", "Datastore.AllocateTemplate"),
			Or(Perm("/", "Sys.Audit", "Sys.Modify"), Perm("/nodes/{node}", "Sys.AccessNetwork"))),
		ProxyTo:   "node",
		Protected: true,
		CLI: []Command{{Tool: "pvesm", Cmd: "download-url", Args: []string{"storage", "filename", "url"},
			Fixed: map[string]string{"node": LocalNode}}},
	})

	PruneList = Declare[PruneParams, []PruneItem](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/prunebackups", Method: "GET", Name: "dryrun",
		Description: "Show which backups pruning would keep and which it would remove.",
		Params:      pruneProps(),
		Perm:        PermAny("/storage/{storage}", "Datastore.Audit", "Datastore.AllocateSpace"),
		ProxyTo:     "node",
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"volid": schema.Str("Backup volume id.").Ptr(),
			"ctime": schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When the backup was made."}.Ptr(),
			"mark":  schema.Enum("What pruning does with it.", "keep", "remove", "protected", "renamed").Ptr(),
			"type":  schema.Str("qemu, lxc, openvz or unknown.").Ptr(),
			"vmid":  schema.Int("Guest of the backup.").Opt(),
		})),
		CLI: []Command{{Tool: "pvesm", Cmd: "prune-backups", Args: []string{"storage"}, Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"volid", "type", "vmid", "ctime", "mark"}, SortBy: "volid"}},
	})

	PruneRun = DeclareTask[PruneParams](Endpoint{
		Path: "/nodes/{node}/storage/{storage}/prunebackups", Method: "DELETE", Name: "delete",
		Description: "Remove the backups pruning does not keep.",
		Params:      pruneProps(),
		Perm:        AnyUser("You need Datastore.Allocate on the storage, or with vmid, Datastore.AllocateSpace and the guest's VM.Backup."),
		ProxyTo:     "node",
		Protected:   true,
	})

	ExtractConfig = Declare[ExtractConfigParams, string](Endpoint{
		Path: "/nodes/{node}/vzdump/extractconfig", Method: "GET", Name: "extractconfig",
		Description: "Show the guest configuration stored in a backup archive.",
		Params: schema.Props{
			"node":   schema.Node().Ptr(),
			"volume": schema.Schema{Type: schema.String, Format: "pve-volume-id", Description: "Backup volume id."}.Ptr(),
		},
		Perm:    AnyUser("You need read access to the backup: Datastore.Allocate on the storage, or Datastore.AllocateSpace and the guest's VM.Backup."),
		ProxyTo: "node",
		Returns: schema.Str("The configuration."),
		CLI:     []Command{{Tool: "pvesm", Cmd: "extractconfig", Args: []string{"volume"}, Fixed: map[string]string{"node": LocalNode}, Output: "raw"}},
	})
)

func pruneProps() schema.Props {
	return nodeStorageProps(schema.Props{
		"prune-backups": &schema.Schema{Type: schema.String, Optional: true, Prop: PruneOptions(),
			Description: "Keep options to use instead of the storage's."},
		"type": schema.Enum("Only backups of this guest type.", "qemu", "lxc").Opt(),
		"vmid": schema.VMID().Desc("Only backups of this guest.").Opt(),
	})
}
