package api

import "github.com/hearth-virt/hearth/api/schema"

// ClusterStatusItem is one row of GET /cluster/status: one "cluster" row
// (only when clustered) and one "node" row per node.
type ClusterStatusItem struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Nodes   *int   `json:"nodes,omitempty"`
	Quorate *int   `json:"quorate,omitempty"`
	Version *int   `json:"version,omitempty"`
	IP      string `json:"ip,omitempty"`
	Level   string `json:"level,omitempty"`
	Local   *int   `json:"local,omitempty"`
	NodeID  *int   `json:"nodeid,omitempty"`
	Online  *int   `json:"online,omitempty"`
	// Fingerprint of the node's certificate, which a joining node pins.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Resource is one row of GET /cluster/resources. Which fields are set
// depends on the type (node, qemu, lxc, storage, pool, sdn).
type Resource struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Node       string  `json:"node,omitempty"`
	Status     string  `json:"status,omitempty"`
	Name       string  `json:"name,omitempty"`
	VMID       int     `json:"vmid,omitempty"`
	Storage    string  `json:"storage,omitempty"`
	Pool       string  `json:"pool,omitempty"`
	CPU        float64 `json:"cpu"`
	MaxCPU     float64 `json:"maxcpu,omitempty"`
	Mem        int64   `json:"mem"`
	MaxMem     int64   `json:"maxmem,omitempty"`
	Disk       int64   `json:"disk"`
	MaxDisk    int64   `json:"maxdisk,omitempty"`
	Uptime     int64   `json:"uptime"`
	NetIn      *int64  `json:"netin,omitempty"`
	NetOut     *int64  `json:"netout,omitempty"`
	DiskRead   *int64  `json:"diskread,omitempty"`
	DiskWrite  *int64  `json:"diskwrite,omitempty"`
	Template   *int    `json:"template,omitempty"`
	Lock       string  `json:"lock,omitempty"`
	Tags       string  `json:"tags,omitempty"`
	HAState    string  `json:"hastate,omitempty"`
	Content    string  `json:"content,omitempty"`
	PluginType string  `json:"plugintype,omitempty"`
	Shared     *int    `json:"shared,omitempty"`
	Level      string  `json:"level,omitempty"`
	CGroupMode *int    `json:"cgroup-mode,omitempty"`
}

// ResourcesParams is the input of GET /cluster/resources.
type ResourcesParams struct {
	Type string `json:"type"`
}

// NextIDParams is the input of GET /cluster/nextid.
type NextIDParams struct {
	VMID *int64 `json:"vmid"`
}

// Cluster endpoints.
var (
	ClusterIndex = Declare[NoParams, []Child](Endpoint{
		Path: "/cluster", Method: "GET", Name: "index",
		Description: "List what can be found below /cluster.",
		Perm:        AnyUser(""), Returns: childIndex("name"),
	})

	ClusterStatus = Declare[NoParams, []ClusterStatusItem](Endpoint{
		Path: "/cluster/status", Method: "GET", Name: "get_status",
		Description: "Show the cluster's state: whether it is quorate, and every node with its address and whether it is online.",
		Perm:        Perm("/", "Sys.Audit"), Protected: true,
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"type":        schema.Enum("Row kind: the cluster itself or one node.", "cluster", "node").Ptr(),
			"id":          schema.Str("Row id.").Ptr(),
			"name":        schema.Str("Cluster or node name.").Ptr(),
			"nodes":       schema.Int("(cluster) Number of nodes, online or not.").Opt(),
			"quorate":     schema.Bool("(cluster) Whether a majority of voters is reachable, so the configuration can be changed.").Opt(),
			"version":     schema.Int("(cluster) Version of the cluster membership configuration.").Opt(),
			"ip":          schema.Str("(node) The node's address.").Opt(),
			"level":       schema.Str("(node) Support level (always empty).").Opt(),
			"local":       schema.Bool("(node) This is the node answering.").Opt(),
			"nodeid":      schema.Int("(node) Numeric id of the node in the cluster.").Opt(),
			"online":      schema.Bool("(node) Whether the node is reachable.").Opt(),
			"fingerprint": schema.Str("(node) SHA-256 fingerprint of the node's certificate, for 'pvecm add --fingerprint'.").Opt(),
		})),
		CLI: []Command{{Tool: "pvecm", Cmd: "status"}},
	})

	ClusterNextID = Declare[NextIDParams, string](Endpoint{
		Path: "/cluster/nextid", Method: "GET", Name: "nextid",
		Description: "Propose the lowest free guest id; with vmid, check that this id is free.",
		Params:      schema.Props{"vmid": schema.VMID().Opt()},
		Perm:        AnyUser(""),
		// Proxmox VE documents an integer but sends a string; clients parse
		// the string, so the document says what is sent.
		Returns: schema.Pat("A free guest id, as a decimal string.", `[1-9][0-9]{2,8}`),
	})

	ClusterResources = Declare[ResourcesParams, []Resource](Endpoint{
		Path: "/cluster/resources", Method: "GET", Name: "resources",
		Description: "List every resource of the cluster (nodes, guests, storages, pools) with its state and usage, limited to what the caller may see.",
		Params: schema.Props{
			"type": schema.Enum("Only resources of this kind.", "vm", "storage", "node", "sdn").Opt(),
		},
		Perm:    AnyUser("Only resources the caller has some privilege on are listed."),
		Returns: resourcesReturns(),
	})
)

func resourcesReturns() schema.Schema {
	opt := func(t schema.Type, renderer, desc string) *schema.Schema {
		return &schema.Schema{Type: t, Optional: true, Renderer: renderer, Description: desc}
	}
	return schema.ArrayOf("", schema.Obj("", schema.Props{
		"id":          schema.Str("Resource id, such as node/pve1, qemu/100 or storage/pve1/local.").Ptr(),
		"type":        schema.Enum("Resource kind.", "node", "storage", "pool", "qemu", "lxc", "openvz", "sdn", "network").Ptr(),
		"node":        schema.Schema{Type: schema.String, Format: "pve-node", Optional: true, Description: "The node the resource is on."}.Ptr(),
		"status":      opt(schema.String, "", "Resource state, such as running, stopped, online or available."),
		"name":        opt(schema.String, "", "Name (guests and nodes)."),
		"vmid":        schema.VMID().Opt(),
		"storage":     schema.Schema{Type: schema.String, Format: "pve-storage-id", Optional: true, Description: "Storage name."}.Ptr(),
		"pool":        opt(schema.String, "", "Pool the guest or storage belongs to."),
		"cpu":         opt(schema.Number, "fraction_as_percentage", "CPU usage (0 to the number of CPUs)."),
		"maxcpu":      opt(schema.Number, "", "Number of CPUs available."),
		"mem":         opt(schema.Integer, "bytes", "Memory in use."),
		"maxmem":      opt(schema.Integer, "bytes", "Memory available."),
		"disk":        opt(schema.Integer, "bytes", "Disk space in use."),
		"maxdisk":     opt(schema.Integer, "bytes", "Disk space available."),
		"uptime":      opt(schema.Integer, "duration", "Seconds since start."),
		"netin":       opt(schema.Integer, "bytes", "Bytes received."),
		"netout":      opt(schema.Integer, "bytes", "Bytes sent."),
		"diskread":    opt(schema.Integer, "bytes", "Bytes read from disk."),
		"diskwrite":   opt(schema.Integer, "bytes", "Bytes written to disk."),
		"template":    opt(schema.Boolean, "", "The guest is a template."),
		"lock":        opt(schema.String, "", "The guest's lock, if any."),
		"tags":        opt(schema.String, "", "Tags of the guest, separated by ';'."),
		"hastate":     opt(schema.String, "", "High availability state."),
		"content":     opt(schema.String, "", "Content types the storage holds."),
		"plugintype":  opt(schema.String, "", "Storage type."),
		"shared":      opt(schema.Boolean, "", "The storage is shared by all nodes."),
		"level":       opt(schema.String, "", "Support level (always empty)."),
		"cgroup-mode": opt(schema.Integer, "", "The node's cgroup version (1 or 2)."),
	}))
}
