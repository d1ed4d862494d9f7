package hostinfo

import "github.com/hearth-virt/hearth/api"

// The status shapes are the API's wire types, so what this package fills
// is exactly what GET /nodes/{node}/status sends. The field comments in
// package api say what each one holds; the rules used to compute them are
// documented where they are read (parse.go, reader.go).
type (
	NodeStatus = api.NodeStatus
	CPUInfo    = api.CPUInfo
	Memory     = api.MemInfo
	Swap       = api.SwapInfo
	FS         = api.FSInfo
	KSM        = api.KSMInfo
	Kernel     = api.KernelInfo
	BootInfo   = api.BootInfo
)

// Boot modes as PVE names them.
const (
	BootEFI        = "efi"
	BootLegacyBIOS = "legacy-bios"
)

// Static holds the facts that do not change while the host is up.
type Static struct {
	CPUInfo CPUInfo
	Kernel  Kernel
	Boot    BootInfo
}

// KVersion is the one-line kernel description PVE reports as "kversion".
func (s Static) KVersion() string {
	return s.Kernel.Sysname + " " + s.Kernel.Release + " " + s.Kernel.Version
}

// CPUTimes are the cumulative counters of the aggregate "cpu" line of
// /proc/stat, in USER_HZ ticks.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
	// Guest and GuestNice are already counted in User and Nice; they are
	// kept for completeness and never added to a total.
	Guest, GuestNice uint64
}
