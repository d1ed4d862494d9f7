package qmp

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Status is the run state from query-status.
type Status struct {
	// Status is QEMU's RunState: running, paused, prelaunch, suspended,
	// inmigrate, postmigrate, shutdown, guest-panicked, ...
	Status  string `json:"status"`
	Running bool   `json:"running"`
}

// QueryStatus reports whether the guest's CPUs run and why not.
func (c *Client) QueryStatus(ctx context.Context) (Status, error) {
	var s Status
	err := c.Execute(ctx, "query-status", nil, &s)
	return s, err
}

// Version is a QEMU version as query-version and the greeting give it.
type Version struct {
	QEMU struct {
		Major int `json:"major"`
		Minor int `json:"minor"`
		Micro int `json:"micro"`
	} `json:"qemu"`
	Package string `json:"package"`
}

// String is the dotted version, e.g. "7.2.22".
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.QEMU.Major, v.QEMU.Minor, v.QEMU.Micro)
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.QEMU.Major > major || v.QEMU.Major == major && v.QEMU.Minor >= minor
}

// QueryVersion asks the running QEMU for its version.
func (c *Client) QueryVersion(ctx context.Context) (Version, error) {
	var v Version
	err := c.Execute(ctx, "query-version", nil, &v)
	return v, err
}

// Machine is one machine type from query-machines.
type Machine struct {
	Name             string `json:"name"`
	Alias            string `json:"alias,omitempty"`
	IsDefault        bool   `json:"is-default,omitempty"`
	IsCurrent        bool   `json:"is-current,omitempty"`
	CPUMax           int    `json:"cpu-max"`
	HotpluggableCPUs bool   `json:"hotpluggable-cpus"`
	Deprecated       bool   `json:"deprecated"`
}

// QueryMachines lists the machine types this QEMU binary supports.
func (c *Client) QueryMachines(ctx context.Context) ([]Machine, error) {
	var ms []Machine
	err := c.Execute(ctx, "query-machines", nil, &ms)
	return ms, err
}

// CurrentMachine returns the versioned machine type the VM runs (for
// example pc-q35-7.2 when it was started as q35), which is what a VM's
// config must pin for live migration and snapshots with RAM. Proxmox VE's
// QEMU marks it in query-machines; upstream QEMU only names it as the QOM
// type of /machine, which is the fallback.
func (c *Client) CurrentMachine(ctx context.Context) (string, error) {
	ms, err := c.QueryMachines(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.IsCurrent {
			return m.Name, nil
		}
	}
	var qomType string
	if err := c.QOMGet(ctx, "/machine", "type", &qomType); err != nil {
		return "", fmt.Errorf("find the running machine type: %w", err)
	}
	name, ok := strings.CutSuffix(qomType, "-machine")
	if !ok || name == "" {
		return "", fmt.Errorf("unexpected QOM type %q for /machine", qomType)
	}
	return name, nil
}

// CurrentMachineInfo is query-current-machine's answer.
type CurrentMachineInfo struct {
	WakeupSuspendSupport bool `json:"wakeup-suspend-support"`
}

// QueryCurrentMachine reports properties of the running machine.
func (c *Client) QueryCurrentMachine(ctx context.Context) (CurrentMachineInfo, error) {
	var m CurrentMachineInfo
	err := c.Execute(ctx, "query-current-machine", nil, &m)
	return m, err
}

// CPUProps locate a vCPU in the topology; absent members are nil.
type CPUProps struct {
	NodeID   *int `json:"node-id,omitempty"`
	SocketID *int `json:"socket-id,omitempty"`
	DieID    *int `json:"die-id,omitempty"`
	CoreID   *int `json:"core-id,omitempty"`
	ThreadID *int `json:"thread-id,omitempty"`
}

// CPU is one vCPU from query-cpus-fast.
type CPU struct {
	CPUIndex int      `json:"cpu-index"`
	QOMPath  string   `json:"qom-path"`
	ThreadID int      `json:"thread-id"` // host thread running the vCPU
	Target   string   `json:"target"`
	Props    CPUProps `json:"props"`
}

// QueryCPUsFast lists the vCPUs and their host threads without stopping
// the guest.
func (c *Client) QueryCPUsFast(ctx context.Context) ([]CPU, error) {
	var cpus []CPU
	err := c.Execute(ctx, "query-cpus-fast", nil, &cpus)
	return cpus, err
}

// HotpluggableCPU is one vCPU slot from query-hotpluggable-cpus; QOMPath is
// empty while the slot is free.
type HotpluggableCPU struct {
	Type       string   `json:"type"`
	VCPUsCount int      `json:"vcpus-count"`
	QOMPath    string   `json:"qom-path,omitempty"`
	Props      CPUProps `json:"props"`
}

// QueryHotpluggableCPUs lists vCPU slots, plugged or not.
func (c *Client) QueryHotpluggableCPUs(ctx context.Context) ([]HotpluggableCPU, error) {
	var cpus []HotpluggableCPU
	err := c.Execute(ctx, "query-hotpluggable-cpus", nil, &cpus)
	return cpus, err
}

// MemorySizeSummary is query-memory-size-summary's answer, in bytes.
type MemorySizeSummary struct {
	BaseMemory    int64 `json:"base-memory"`
	PluggedMemory int64 `json:"plugged-memory"`
}

// QueryMemorySizeSummary reports boot and hotplugged memory.
func (c *Client) QueryMemorySizeSummary(ctx context.Context) (MemorySizeSummary, error) {
	var m MemorySizeSummary
	err := c.Execute(ctx, "query-memory-size-summary", nil, &m)
	return m, err
}

// QueryBalloon returns the guest's current memory size in bytes as the
// balloon driver sees it. It fails with class DeviceNotActive when the VM
// has no balloon device.
func (c *Client) QueryBalloon(ctx context.Context) (int64, error) {
	var b struct {
		Actual int64 `json:"actual"`
	}
	err := c.Execute(ctx, "query-balloon", nil, &b)
	return b.Actual, err
}

// Balloon asks the guest to shrink or grow to bytes of memory.
func (c *Client) Balloon(ctx context.Context, bytes int64) error {
	return c.Execute(ctx, "balloon", map[string]int64{"value": bytes}, nil)
}

// SystemPowerdown presses the ACPI power button.
func (c *Client) SystemPowerdown(ctx context.Context) error {
	return c.Execute(ctx, "system_powerdown", nil, nil)
}

// SystemReset resets the machine, like the reset button.
func (c *Client) SystemReset(ctx context.Context) error {
	return c.Execute(ctx, "system_reset", nil, nil)
}

// SystemWakeup wakes a guest suspended to RAM.
func (c *Client) SystemWakeup(ctx context.Context) error {
	return c.Execute(ctx, "system_wakeup", nil, nil)
}

// Stop pauses the guest's CPUs (QEMU then emits STOP).
func (c *Client) Stop(ctx context.Context) error {
	return c.Execute(ctx, "stop", nil, nil)
}

// Cont resumes the guest's CPUs (QEMU then emits RESUME).
func (c *Client) Cont(ctx context.Context) error {
	return c.Execute(ctx, "cont", nil, nil)
}

// Quit makes QEMU exit at once. QEMU may drop the connection before its
// reply arrives, which counts as success; wait on Done for the exit.
func (c *Client) Quit(ctx context.Context) error {
	err := c.Execute(ctx, "quit", nil, nil)
	if errors.Is(err, ErrDisconnected) {
		return nil
	}
	return err
}

// HumanMonitorCommand runs a human monitor (HMP) command line and returns
// its printed output.
func (c *Client) HumanMonitorCommand(ctx context.Context, cmdline string) (string, error) {
	var out string
	err := c.Execute(ctx, "human-monitor-command", map[string]string{"command-line": cmdline}, &out)
	return out, err
}

// VNCClient is one viewer connected to the VNC server.
type VNCClient struct {
	Host      string `json:"host"`
	Service   string `json:"service"`
	Family    string `json:"family"`
	WebSocket bool   `json:"websocket"`
}

// VNCInfo is query-vnc's answer.
type VNCInfo struct {
	Enabled bool        `json:"enabled"`
	Host    string      `json:"host,omitempty"`
	Service string      `json:"service,omitempty"` // port, or socket path for family unix
	Family  string      `json:"family,omitempty"`
	Auth    string      `json:"auth,omitempty"`
	Clients []VNCClient `json:"clients,omitempty"`
}

// QueryVNC describes the VNC server and its clients.
func (c *Client) QueryVNC(ctx context.Context) (VNCInfo, error) {
	var v VNCInfo
	err := c.Execute(ctx, "query-vnc", nil, &v)
	return v, err
}

// SetPassword sets the password of a display protocol ("vnc" or "spice").
func (c *Client) SetPassword(ctx context.Context, protocol, password string) error {
	return c.Execute(ctx, "set_password", map[string]string{"protocol": protocol, "password": password}, nil)
}

// ExpirePassword sets when a display password stops working: "now",
// "never", "+seconds" from now, or an absolute UNIX time in seconds.
func (c *Client) ExpirePassword(ctx context.Context, protocol, when string) error {
	return c.Execute(ctx, "expire_password", map[string]string{"protocol": protocol, "time": when}, nil)
}

// Chardev is one character device from query-chardev.
type Chardev struct {
	Label        string `json:"label"`
	Filename     string `json:"filename"`
	FrontendOpen bool   `json:"frontend-open"`
}

// QueryChardev lists the character devices (serial ports, monitors,
// guest agent channel).
func (c *Client) QueryChardev(ctx context.Context) ([]Chardev, error) {
	var cs []Chardev
	err := c.Execute(ctx, "query-chardev", nil, &cs)
	return cs, err
}

// QOMGet reads a QOM property (for example the balloon's guest-stats)
// into result.
func (c *Client) QOMGet(ctx context.Context, path, property string, result any) error {
	return c.Execute(ctx, "qom-get", map[string]string{"path": path, "property": property}, result)
}

// QOMSet writes a QOM property.
func (c *Client) QOMSet(ctx context.Context, path, property string, value any) error {
	return c.Execute(ctx, "qom-set", map[string]any{"path": path, "property": property, "value": value}, nil)
}
