package api

import "github.com/hearth-virt/hearth/api/schema"

// Child is one entry of a directory index (GET on a path that has
// sub-paths). Proxmox VE names the key "name" in some indexes and "subdir"
// in others; each index declares which.
type Child struct {
	Name   string `json:"name,omitempty"`
	Subdir string `json:"subdir,omitempty"`
}

func childIndex(key string) schema.Schema {
	return schema.ArrayOf("The sub-paths below this path.",
		schema.Obj("", schema.Props{key: schema.Str("Name of the sub-path.").Ptr()}))
}

// NodeListItem is one row of GET /nodes.
type NodeListItem struct {
	Node           string  `json:"node"`
	Status         string  `json:"status"`
	ID             string  `json:"id"`
	Type           string  `json:"type"`
	CPU            float64 `json:"cpu,omitempty"`
	MaxCPU         int     `json:"maxcpu,omitempty"`
	Mem            int64   `json:"mem,omitempty"`
	MaxMem         int64   `json:"maxmem,omitempty"`
	Disk           int64   `json:"disk,omitempty"`
	MaxDisk        int64   `json:"maxdisk,omitempty"`
	Uptime         int64   `json:"uptime,omitempty"`
	Level          string  `json:"level"`
	SSLFingerprint string  `json:"ssl_fingerprint,omitempty"`
}

// NodeStatus is the answer of GET /nodes/{node}/status.
type NodeStatus struct {
	CPU           float64    `json:"cpu"`
	Wait          float64    `json:"wait"`
	Idle          int        `json:"idle"`
	Uptime        int64      `json:"uptime"`
	LoadAvg       [3]string  `json:"loadavg"`
	KVersion      string     `json:"kversion"`
	PVEVersion    string     `json:"pveversion"`
	CPUInfo       CPUInfo    `json:"cpuinfo"`
	Memory        MemInfo    `json:"memory"`
	Swap          SwapInfo   `json:"swap"`
	RootFS        FSInfo     `json:"rootfs"`
	KSM           KSMInfo    `json:"ksm"`
	CurrentKernel KernelInfo `json:"current-kernel"`
	BootInfo      BootInfo   `json:"boot-info"`
}

// CPUInfo describes the host's processors.
type CPUInfo struct {
	Model   string `json:"model"`
	CPUs    int    `json:"cpus"`
	Cores   int    `json:"cores"`
	Sockets int    `json:"sockets"`
	MHz     string `json:"mhz"`
	Flags   string `json:"flags"`
	HVM     string `json:"hvm"`
	UserHZ  int    `json:"user_hz"`
}

// MemInfo is the host's memory in bytes.
type MemInfo struct {
	Total     int64 `json:"total"`
	Used      int64 `json:"used"`
	Free      int64 `json:"free"`
	Available int64 `json:"available"`
}

// SwapInfo is the host's swap space in bytes.
type SwapInfo struct {
	Total int64 `json:"total"`
	Used  int64 `json:"used"`
	Free  int64 `json:"free"`
}

// FSInfo is the usage of a file system in bytes.
type FSInfo struct {
	Total int64 `json:"total"`
	Used  int64 `json:"used"`
	Free  int64 `json:"free"`
	Avail int64 `json:"avail"`
}

// KSMInfo is the memory shared by kernel same-page merging, in bytes.
type KSMInfo struct {
	Shared int64 `json:"shared"`
}

// KernelInfo is the running kernel as uname reports it.
type KernelInfo struct {
	Sysname string `json:"sysname"`
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// BootInfo says how the host booted.
type BootInfo struct {
	Mode       string `json:"mode"`
	SecureBoot *int   `json:"secureboot,omitempty"`
}

// VersionInfo is the answer of GET /version and GET /nodes/{node}/version.
type VersionInfo struct {
	Version string `json:"version"`
	Release string `json:"release"`
	RepoID  string `json:"repoid"`
	// Hearth is the version of Hearth itself; Version and Release give the
	// Proxmox VE API level Hearth follows, which is what clients check.
	Hearth  string `json:"hearth"`
	Console string `json:"console,omitempty"`
}

// NodeTime is the answer of GET /nodes/{node}/time.
type NodeTime struct {
	Time      int64  `json:"time"`
	LocalTime int64  `json:"localtime"`
	Timezone  string `json:"timezone"`
}

// LogLine is one numbered line of a log.
type LogLine struct {
	N int    `json:"n"`
	T string `json:"t"`
}

// NodeParam is the input of endpoints that only take the node.
type NodeParam struct {
	Node string `json:"node"`
}

// SyslogParams is the input of GET /nodes/{node}/syslog.
type SyslogParams struct {
	Node    string `json:"node"`
	Start   int    `json:"start"`
	Limit   int    `json:"limit"`
	Since   string `json:"since"`
	Until   string `json:"until"`
	Service string `json:"service"`
}

// JournalParams is the input of GET /nodes/{node}/journal.
type JournalParams struct {
	Node        string `json:"node"`
	Since       *int64 `json:"since"`
	Until       *int64 `json:"until"`
	LastEntries *int   `json:"lastentries"`
	StartCursor string `json:"startcursor"`
	EndCursor   string `json:"endcursor"`
}

var nodeProps = schema.Props{"node": schema.Node().Ptr()}

const dateTimePattern = `\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?`

func nodeStatusReturns() schema.Schema {
	bytes := func(d string) *schema.Schema { s := schema.Int(d); s.Renderer = "bytes"; return &s }
	return schema.Obj("", schema.Props{
		"cpu":        schema.Num("CPU usage as a fraction of all CPUs (0 to 1).").Ptr(),
		"wait":       schema.Num("Share of CPU time spent waiting for I/O (0 to 1).").Ptr(),
		"uptime":     schema.Int("Seconds since the host booted.").Ptr(),
		"loadavg":    schema.ArrayOf("Load average over 1, 5 and 15 minutes.", schema.Str("")).Ptr(),
		"kversion":   schema.Str("Kernel name, release and build.").Ptr(),
		"pveversion": schema.Str("Management stack version, in Proxmox VE's form.").Ptr(),
		"cpuinfo": schema.Obj("The host's processors.", schema.Props{
			"model":   schema.Str("CPU model name.").Ptr(),
			"cpus":    schema.Int("Logical CPUs (threads).").Ptr(),
			"cores":   schema.Int("Physical cores.").Ptr(),
			"sockets": schema.Int("CPU sockets.").Ptr(),
		}).Ptr(),
		"memory": schema.Obj("Memory in bytes.", schema.Props{
			"total": bytes("Total memory."), "used": bytes("Memory in use."),
			"free": bytes("Unused memory."), "available": bytes("Memory available for new work."),
		}).Ptr(),
		"swap": schema.Obj("Swap in bytes.", schema.Props{
			"total": bytes("Total swap."), "used": bytes("Swap in use."), "free": bytes("Unused swap."),
		}).Ptr(),
		"rootfs": schema.Obj("The root file system in bytes.", schema.Props{
			"total": bytes("Size."), "used": bytes("Used."), "free": bytes("Free."), "avail": bytes("Available to unprivileged users."),
		}).Ptr(),
		"current-kernel": schema.Obj("The running kernel.", schema.Props{
			"sysname": schema.Str("Kernel name.").Ptr(), "release": schema.Str("Kernel release.").Ptr(),
			"version": schema.Str("Kernel build.").Ptr(), "machine": schema.Str("Hardware architecture.").Ptr(),
		}).Ptr(),
		"boot-info": schema.Obj("How the host booted.", schema.Props{
			"mode":       schema.Enum("Firmware that booted the host.", "efi", "legacy-bios").Ptr(),
			"secureboot": schema.Bool("Secure boot is on (EFI only).").Opt(),
		}).Ptr(),
	})
}

func versionReturns() schema.Schema {
	return schema.Obj("", schema.Props{
		"version": schema.Str("The Proxmox VE API version this server follows.").Ptr(),
		"release": schema.Str("The Proxmox VE release this server follows.").Ptr(),
		"repoid":  schema.Str("Build identifier.").Ptr(),
		"hearth":  schema.Str("Hearth's own version.").Ptr(),
		"console": schema.Enum("Default console viewer.", "applet", "vv", "html5", "xtermjs").Opt(),
	})
}

// Node endpoints.
var (
	NodeList = Declare[NoParams, []NodeListItem](Endpoint{
		Path: "/nodes", Method: "GET", Name: "index",
		Description: "List the nodes of the cluster with their state and usage.",
		Perm:        AnyUser("Usage figures need Sys.Audit on the node."),
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"node":            schema.Node().Ptr(),
			"status":          schema.Enum("Whether the node is reachable.", "unknown", "online", "offline").Ptr(),
			"cpu":             schema.Schema{Type: schema.Number, Optional: true, Renderer: "fraction_as_percentage", Description: "CPU usage."}.Ptr(),
			"maxcpu":          schema.Int("Number of CPUs.").Opt(),
			"mem":             schema.Schema{Type: schema.Integer, Optional: true, Renderer: "bytes", Description: "Memory in use."}.Ptr(),
			"maxmem":          schema.Schema{Type: schema.Integer, Optional: true, Renderer: "bytes", Description: "Total memory."}.Ptr(),
			"uptime":          schema.Schema{Type: schema.Integer, Optional: true, Renderer: "duration", Description: "Uptime in seconds."}.Ptr(),
			"level":           schema.Str("Support level (always empty).").Opt(),
			"ssl_fingerprint": schema.Str("SHA-256 fingerprint of the node's certificate.").Opt(),
		})),
		CLI: []Command{{Tool: "pvenode", Cmd: "list", Columns: []string{"node", "status", "cpu", "maxcpu", "mem", "maxmem", "uptime"}, SortBy: "node"}},
	})

	NodeIndex = Declare[NodeParam, []Child](Endpoint{
		Path: "/nodes/{node}", Method: "GET", Name: "index",
		Description: "List what can be found below a node.",
		Params:      nodeProps, Perm: AnyUser(""), Returns: childIndex("name"),
	})

	NodeStatusGet = Declare[NodeParam, NodeStatus](Endpoint{
		Path: "/nodes/{node}/status", Method: "GET", Name: "status",
		Description: "Read the node's live state: CPU, load, memory, swap, root file system, kernel and versions.",
		Params:      nodeProps, Perm: Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node",
		Returns: nodeStatusReturns(),
		CLI:     []Command{{Tool: "pvenode", Cmd: "status", Fixed: map[string]string{"node": LocalNode}}},
	})

	NodeVersion = Declare[NodeParam, VersionInfo](Endpoint{
		Path: "/nodes/{node}/version", Method: "GET", Name: "version",
		Description: "Read the software version running on the node.",
		Params:      nodeProps, Perm: AnyUser(""), ProxyTo: "node", Returns: versionReturns(),
	})

	NodeTimeGet = Declare[NodeParam, NodeTime](Endpoint{
		Path: "/nodes/{node}/time", Method: "GET", Name: "time",
		Description: "Read the node's clock and time zone.",
		Params:      nodeProps, Perm: Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node",
		Returns: schema.Obj("", schema.Props{
			"time":      schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "Seconds since the epoch (UTC)."}.Ptr(),
			"localtime": schema.Schema{Type: schema.Integer, Renderer: "timestamp_gmt", Description: "Seconds since the epoch, shifted into the node's time zone."}.Ptr(),
			"timezone":  schema.Str("The node's time zone name.").Ptr(),
		}),
	})

	NodeSyslog = Declare[SyslogParams, Paged[LogLine]](Endpoint{
		Path: "/nodes/{node}/syslog", Method: "GET", Name: "syslog",
		Description: "Read the node daemon's log, oldest first, as numbered lines.",
		Params: schema.Props{
			"node":    schema.Node().Ptr(),
			"start":   schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Skip this many lines."}.Def(int64(0)).Ptr(),
			"limit":   schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Return at most this many lines."}.Def(int64(50)).Ptr(),
			"since":   schema.Pat("Only lines logged at or after this local time (YYYY-MM-DD[ HH:MM[:SS]]).", dateTimePattern).Opt(),
			"until":   schema.Pat("Only lines logged before this local time (YYYY-MM-DD[ HH:MM[:SS]]).", dateTimePattern).Opt(),
			"service": schema.Schema{Type: schema.String, MaxLength: 128, Description: "Only lines of this service (the daemon logs as 'hearth')."}.Opt(),
		},
		Perm: Perm("/nodes/{node}", "Sys.Syslog"), ProxyTo: "node", Protected: true,
		Returns: logLines(),
		CLI:     []Command{{Tool: "pvenode", Cmd: "syslog", Fixed: map[string]string{"node": LocalNode}, Output: "log"}},
	})

	NodeJournal = Declare[JournalParams, []string](Endpoint{
		Path: "/nodes/{node}/journal", Method: "GET", Name: "journal",
		Description: "Read the node daemon's log as plain lines, optionally by time range or the last N entries.",
		Params: schema.Props{
			"node":        schema.Node().Ptr(),
			"since":       schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Only entries at or after this time (seconds since the epoch)."}.Opt(),
			"until":       schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Only entries before this time (seconds since the epoch)."}.Opt(),
			"lastentries": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Only the newest N entries."}.Opt(),
			"startcursor": schema.Schema{Type: schema.String, MaxLength: 64, Description: "Start after this cursor (as printed in the first and last lines)."}.Opt(),
			"endcursor":   schema.Schema{Type: schema.String, MaxLength: 64, Description: "Stop at this cursor."}.Opt(),
		},
		Perm: Perm("/nodes/{node}", "Sys.Syslog"), ProxyTo: "node", Protected: true,
		Returns: schema.ArrayOf("Log lines; the first and last are cursors for paging.", schema.Str("")),
		CLI:     []Command{{Tool: "pvenode", Cmd: "journal", Fixed: map[string]string{"node": LocalNode}, Output: "raw"}},
	})
)

func logLines() schema.Schema {
	return schema.ArrayOf("Numbered lines.", schema.Obj("", schema.Props{
		"n": schema.Int("Line number, from 1.").Ptr(),
		"t": schema.Str("Line text.").Ptr(),
	}))
}

// The Proxmox VE API level Hearth follows. Clients compare it to decide
// which calls and fields exist.
const (
	PVEVersion = "9.0.0"
	PVERelease = "9.0"
)

// HearthVersion is the version of this build; the build may override it.
var HearthVersion = "0.1.0"
