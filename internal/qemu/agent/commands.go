package agent

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"
)

// Ping checks that the agent answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.Call(ctx, "guest-ping", nil, nil)
}

// CommandInfo is one command the agent knows.
type CommandInfo struct {
	Name            string `json:"name"`
	Enabled         bool   `json:"enabled"`
	SuccessResponse bool   `json:"success-response"`
}

// Info is guest-info's answer: the agent's version and commands.
type Info struct {
	Version           string        `json:"version"`
	SupportedCommands []CommandInfo `json:"supported_commands"`
}

// Info reports the agent's version and which commands it supports.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	err := c.Call(ctx, "guest-info", nil, &i)
	return i, err
}

// OSInfo describes the guest operating system (os-release fields on
// Linux, their equivalents on Windows).
type OSInfo struct {
	ID            string `json:"id,omitempty"`
	Name          string `json:"name,omitempty"`
	PrettyName    string `json:"pretty-name,omitempty"`
	Version       string `json:"version,omitempty"`
	VersionID     string `json:"version-id,omitempty"`
	Variant       string `json:"variant,omitempty"`
	VariantID     string `json:"variant-id,omitempty"`
	KernelRelease string `json:"kernel-release,omitempty"`
	KernelVersion string `json:"kernel-version,omitempty"`
	Machine       string `json:"machine,omitempty"`
}

// OSInfo asks the guest which operating system it runs.
func (c *Client) OSInfo(ctx context.Context) (OSInfo, error) {
	var o OSInfo
	err := c.Call(ctx, "guest-get-osinfo", nil, &o)
	return o, err
}

// IPAddress is one address of a guest interface.
type IPAddress struct {
	Type    string `json:"ip-address-type"` // ipv4 or ipv6
	Address string `json:"ip-address"`
	Prefix  int    `json:"prefix"`
}

// InterfaceStats are a guest interface's counters.
type InterfaceStats struct {
	RxBytes   uint64 `json:"rx-bytes"`
	RxPackets uint64 `json:"rx-packets"`
	RxErrs    uint64 `json:"rx-errs"`
	RxDropped uint64 `json:"rx-dropped"`
	TxBytes   uint64 `json:"tx-bytes"`
	TxPackets uint64 `json:"tx-packets"`
	TxErrs    uint64 `json:"tx-errs"`
	TxDropped uint64 `json:"tx-dropped"`
}

// Interface is one network interface inside the guest.
type Interface struct {
	Name            string          `json:"name"`
	HardwareAddress string          `json:"hardware-address,omitempty"`
	IPAddresses     []IPAddress     `json:"ip-addresses,omitempty"`
	Statistics      *InterfaceStats `json:"statistics,omitempty"`
}

// NetworkInterfaces lists the guest's interfaces and addresses.
func (c *Client) NetworkInterfaces(ctx context.Context) ([]Interface, error) {
	var is []Interface
	err := c.Call(ctx, "guest-network-get-interfaces", nil, &is)
	return is, err
}

// PCIAddress locates a disk's controller.
type PCIAddress struct {
	Domain   int `json:"domain"`
	Bus      int `json:"bus"`
	Slot     int `json:"slot"`
	Function int `json:"function"`
}

// FSDisk is a disk a guest file system lives on.
type FSDisk struct {
	PCIController PCIAddress `json:"pci-controller"`
	BusType       string     `json:"bus-type"`
	Bus           int        `json:"bus"`
	Target        int        `json:"target"`
	Unit          int        `json:"unit"`
	Serial        string     `json:"serial,omitempty"`
	Dev           string     `json:"dev,omitempty"`
}

// FileSystem is one mounted guest file system.
type FileSystem struct {
	Name       string   `json:"name"`
	Mountpoint string   `json:"mountpoint"`
	Type       string   `json:"type"`
	UsedBytes  *uint64  `json:"used-bytes,omitempty"`
	TotalBytes *uint64  `json:"total-bytes,omitempty"`
	Disk       []FSDisk `json:"disk"`
}

// FSInfo lists the guest's mounted file systems.
func (c *Client) FSInfo(ctx context.Context) ([]FileSystem, error) {
	var fs []FileSystem
	err := c.Call(ctx, "guest-get-fsinfo", nil, &fs)
	return fs, err
}

// HostName returns the guest's host name.
func (c *Client) HostName(ctx context.Context) (string, error) {
	var h struct {
		HostName string `json:"host-name"`
	}
	err := c.Call(ctx, "guest-get-host-name", nil, &h)
	return h.HostName, err
}

// Time returns the guest's clock.
func (c *Client) Time(ctx context.Context) (time.Time, error) {
	var ns int64
	if err := c.Call(ctx, "guest-get-time", nil, &ns); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, ns), nil
}

// User is a user logged in to the guest.
type User struct {
	User      string  `json:"user"`
	Domain    string  `json:"domain,omitempty"`
	LoginTime float64 `json:"login-time"` // seconds since the epoch
}

// Users lists who is logged in to the guest.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var us []User
	err := c.Call(ctx, "guest-get-users", nil, &us)
	return us, err
}

// VCPU is a guest's view of one virtual CPU.
type VCPU struct {
	LogicalID  int  `json:"logical-id"`
	Online     bool `json:"online"`
	CanOffline bool `json:"can-offline,omitempty"`
}

// VCPUs lists the guest's CPUs and whether they are online.
func (c *Client) VCPUs(ctx context.Context) ([]VCPU, error) {
	var vs []VCPU
	err := c.Call(ctx, "guest-get-vcpus", nil, &vs)
	return vs, err
}

// MemoryBlock is a guest's view of one hotpluggable memory block.
type MemoryBlock struct {
	PhysIndex  uint64 `json:"phys-index"`
	Online     bool   `json:"online"`
	CanOffline bool   `json:"can-offline,omitempty"`
}

// MemoryBlocks lists the guest's memory blocks.
func (c *Client) MemoryBlocks(ctx context.Context) ([]MemoryBlock, error) {
	var ms []MemoryBlock
	err := c.Call(ctx, "guest-get-memory-blocks", nil, &ms)
	return ms, err
}

// SetUserPassword changes a guest account's password; with crypted the
// password is already hashed as the guest's password database stores it.
func (c *Client) SetUserPassword(ctx context.Context, user, password string, crypted bool) error {
	if user == "" {
		return fmt.Errorf("guest-set-user-password: a user name is required")
	}
	return c.Call(ctx, "guest-set-user-password", map[string]any{
		"username": user,
		"password": base64.StdEncoding.EncodeToString([]byte(password)),
		"crypted":  crypted,
	}, nil)
}

// Shutdown asks the guest OS to power down, reboot or halt (mode "" means
// powerdown). The agent does not answer when it obeys.
func (c *Client) Shutdown(ctx context.Context, mode string) error {
	switch mode {
	case "":
		return c.send(ctx, "guest-shutdown", nil)
	case "powerdown", "reboot", "halt":
		return c.send(ctx, "guest-shutdown", map[string]string{"mode": mode})
	}
	return fmt.Errorf("unknown shutdown mode %q; allowed are powerdown, reboot and halt", mode)
}

// SuspendDisk hibernates the guest OS to its own disk (no reply).
func (c *Client) SuspendDisk(ctx context.Context) error {
	return c.send(ctx, "guest-suspend-disk", nil)
}

// SuspendRAM suspends the guest OS to RAM (no reply).
func (c *Client) SuspendRAM(ctx context.Context) error {
	return c.send(ctx, "guest-suspend-ram", nil)
}

// SuspendHybrid writes the guest's state to disk and then suspends it to
// RAM (no reply).
func (c *Client) SuspendHybrid(ctx context.Context) error {
	return c.send(ctx, "guest-suspend-hybrid", nil)
}

// FSFreezeStatus returns "thawed" or "frozen".
func (c *Client) FSFreezeStatus(ctx context.Context) (string, error) {
	var s string
	err := c.Call(ctx, "guest-fsfreeze-status", nil, &s)
	return s, err
}

// FSFreezeFreeze flushes and freezes the guest's file systems for a
// consistent snapshot and returns how many were frozen.
func (c *Client) FSFreezeFreeze(ctx context.Context) (int, error) {
	var n int
	err := c.Call(ctx, "guest-fsfreeze-freeze", nil, &n)
	return n, err
}

// FSFreezeThaw thaws frozen file systems and returns how many.
func (c *Client) FSFreezeThaw(ctx context.Context) (int, error) {
	var n int
	err := c.Call(ctx, "guest-fsfreeze-thaw", nil, &n)
	return n, err
}

// TrimResult is the outcome of trimming one file system.
type TrimResult struct {
	Path    string `json:"path"`
	Trimmed int64  `json:"trimmed,omitempty"`
	Minimum int64  `json:"minimum,omitempty"`
	Error   string `json:"error,omitempty"`
}

// FSTrim discards unused blocks in the guest's file systems, skipping free
// ranges shorter than minimum bytes (0: the guest's default).
func (c *Client) FSTrim(ctx context.Context, minimum int64) ([]TrimResult, error) {
	var args any
	if minimum > 0 {
		args = map[string]int64{"minimum": minimum}
	}
	var r struct {
		Paths []TrimResult `json:"paths"`
	}
	err := c.Call(ctx, "guest-fstrim", args, &r)
	return r.Paths, err
}
