package vmconf

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// CPU is the value of cpu: the model the guest sees and its adjustments.
type CPU struct {
	Type          string   // empty means kvm64
	Flags         []string // "+aes", "-pcid", ...
	Hidden        Opt[bool]
	HVVendorID    string
	PhysBits      string // 8 to 64, or "host"
	GuestPhysBits Opt[int]
	// ReportedModel only appears in custom model definitions; ParseCPU
	// refuses it.
	ReportedModel string
}

// DefaultCPUType is the model of a VM whose configuration names none.
const DefaultCPUType = "kvm64"

func (c *CPU) fields() []field {
	return []field{
		strField("cputype", &c.Type), listField("flags", ";", &c.Flags), optField("hidden", &c.Hidden),
		strField("hv-vendor-id", &c.HVVendorID), strField("phys-bits", &c.PhysBits),
		optField("guest-phys-bits", &c.GuestPhysBits), strField("reported-model", &c.ReportedModel),
	}
}

// ParseCPU parses the cpu value of a VM configuration.
func ParseCPU(v string) (*CPU, error) {
	c := &CPU{}
	if err := parseProp(propOf("cpu"), v, c); err != nil {
		return nil, err
	}
	if c.ReportedModel != "" {
		return nil, errors.New("reported-model: only custom CPU models (cpu-models.conf) may set it, not a VM")
	}
	return c, nil
}

func (c *CPU) String() string { return printProp(propOf("cpu"), c) }

// Model returns the CPU model, the default when none is set.
func (c *CPU) Model() string {
	if c.Type == "" {
		return DefaultCPUType
	}
	return c.Type
}

// CustomName returns the name of a custom model (custom-<name>), or "".
func (c *CPU) CustomName() string {
	name, _ := strings.CutPrefix(c.Type, "custom-")
	if name == c.Type {
		return ""
	}
	return name
}

// Boot is the value of boot: an explicit device order, or the legacy
// order by device class.
type Boot struct {
	Legacy string   // letters of a (floppy), c (disk), d (CD-ROM), n (network)
	Order  []string // device keys, such as scsi0, ide2, net0
}

func (b *Boot) fields() []field {
	return []field{strField("legacy", &b.Legacy), listField("order", ";", &b.Order)}
}

// ParseBoot parses the boot value.
func ParseBoot(v string) (*Boot, error) {
	b := &Boot{}
	if err := parseProp(propOf("boot"), v, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Boot) String() string { return printProp(propOf("boot"), b) }

// BootOrder returns the devices a VM boots from, in order, as the firmware
// is to be told: the explicit order when there is one, else the legacy
// letters expanded (c: the bootdisk key or the first disk, d: every CD-ROM
// drive, n: every NIC). Devices the configuration does not have are left
// out. No boot key gives nil: the firmware's own order.
func BootOrder(conf map[string]string) ([]string, error) {
	v, ok := conf["boot"]
	if !ok {
		return nil, nil
	}
	b, err := ParseBoot(v)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	var out []string
	add := func(dev string) {
		if _, present := conf[dev]; present && !slices.Contains(out, dev) {
			out = append(out, dev)
		}
	}
	if len(b.Order) > 0 {
		for _, dev := range b.Order {
			add(dev)
		}
		return out, nil
	}
	legacy := b.Legacy
	if legacy == "" {
		legacy = "cdn"
	}
	for _, c := range legacy {
		switch c {
		case 'c':
			if disk := conf["bootdisk"]; disk != "" {
				add(disk)
			} else if disk := firstDisk(conf, false); disk != "" {
				add(disk)
			}
		case 'd':
			for _, k := range bootableDriveKeys() {
				if d, err := ParseDrive(k, conf[k]); conf[k] != "" && err == nil && d.IsCDROM() {
					add(k)
				}
			}
		case 'n':
			for i := 0; i < api.QemuMaxNets; i++ {
				add("net" + strconv.Itoa(i))
			}
		}
	}
	return out, nil
}

// DefaultBootOrder is the order a new VM gets: its first disk, its first
// CD-ROM drive and its first NIC, those it has.
func DefaultBootOrder(conf map[string]string) []string {
	var out []string
	for _, cdrom := range []bool{false, true} {
		if k := firstDisk(conf, cdrom); k != "" {
			out = append(out, k)
		}
	}
	for i := 0; i < api.QemuMaxNets; i++ {
		if k := "net" + strconv.Itoa(i); conf[k] != "" {
			out = append(out, k)
			break
		}
	}
	return out
}

// bootableDriveKeys are the drive keys a boot order may name.
func bootableDriveKeys() []string {
	keys := DriveKeys()
	return keys[:len(keys)-2] // without efidisk0 and tpmstate0
}

// firstDisk returns the first drive that is (or is not) a CD-ROM drive.
func firstDisk(conf map[string]string, cdrom bool) string {
	for _, k := range bootableDriveKeys() {
		if conf[k] == "" {
			continue
		}
		if d, err := ParseDrive(k, conf[k]); err == nil && d.IsCDROM() == cdrom {
			return k
		}
	}
	return ""
}

// Agent is the value of agent: the QEMU guest agent.
type Agent struct {
	Enabled           bool
	FreezeFS          Opt[bool]
	FstrimClonedDisks Opt[bool]
	Type              string // virtio (the default) or isa
}

func (a *Agent) fields() []field {
	return []field{
		reqField("enabled", &a.Enabled), optField("freeze-fs", &a.FreezeFS),
		optField("fstrim_cloned_disks", &a.FstrimClonedDisks), strField("type", &a.Type),
	}
}

// ParseAgent parses the agent value.
func ParseAgent(v string) (*Agent, error) {
	a := &Agent{}
	if err := parseProp(propOf("agent"), v, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Agent) String() string { return printProp(propOf("agent"), a) }

// Memory is the value of memory.
type Memory struct {
	Current int // MiB
}

// DefaultMemoryMiB is the memory of a VM whose configuration names none.
const DefaultMemoryMiB = 512

func (m *Memory) fields() []field { return []field{reqField("current", &m.Current)} }

// ParseMemory parses the memory value, such as "4096" or "current=4096".
func ParseMemory(v string) (*Memory, error) {
	m := &Memory{}
	if err := parseProp(propOf("memory"), v, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Memory) String() string { return printProp(propOf("memory"), m) }

// Startup is the value of startup: the position in the start sequence at
// host boot and the delays after starting and stopping.
type Startup struct {
	Order, Up, Down Opt[int]
}

func (s *Startup) fields() []field {
	return []field{optField("order", &s.Order), optField("up", &s.Up), optField("down", &s.Down)}
}

// ParseStartup parses the startup value.
func ParseStartup(v string) (*Startup, error) {
	s := &Startup{}
	if err := parseProp(propOf("startup"), v, s); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Startup) String() string { return printProp(propOf("startup"), s) }

// NUMA is the value of numa0 to numa7, one guest NUMA node.
type NUMA struct {
	CPUs      string // ids and ranges separated by ';'
	HostNodes string
	Memory    Opt[float64] // MiB
	Policy    string
}

func (n *NUMA) fields() []field {
	return []field{
		reqStrField("cpus", &n.CPUs), strField("hostnodes", &n.HostNodes),
		optField("memory", &n.Memory), strField("policy", &n.Policy),
	}
}

// ParseNUMA parses the value of a numaN key.
func ParseNUMA(v string) (*NUMA, error) {
	n := &NUMA{}
	if err := parseProp(propOf("numa0"), v, n); err != nil {
		return nil, err
	}
	for _, r := range []struct{ key, v string }{{"cpus", n.CPUs}, {"hostnodes", n.HostNodes}} {
		if _, err := ParseIDRanges(r.v); err != nil {
			return nil, fmt.Errorf("%s: %w", r.key, err)
		}
	}
	return n, nil
}

func (n *NUMA) String() string { return printProp(propOf("numa0"), n) }

// CPURanges returns the node's guest CPUs as inclusive ranges.
func (n *NUMA) CPURanges() [][2]int { r, _ := ParseIDRanges(n.CPUs); return r }

// HostNodeRanges returns the node's host NUMA nodes as inclusive ranges.
func (n *NUMA) HostNodeRanges() [][2]int { r, _ := ParseIDRanges(n.HostNodes); return r }

// Hotplug is the value of hotplug: which device kinds may be added or
// removed while the VM runs.
type Hotplug struct {
	Network, Disk, CPU, Memory, USB, CloudInit bool
}

// DefaultHotplug is what a VM without a hotplug key (or with "1") gets.
func DefaultHotplug() Hotplug { return Hotplug{Network: true, Disk: true, USB: true} }

// ParseHotplug parses a hotplug value: a list of network, disk, cpu,
// memory, usb and cloudinit; "0" for none; "1" for the default.
func ParseHotplug(v string) (Hotplug, error) {
	switch v {
	case "0":
		return Hotplug{}, nil
	case "1":
		return DefaultHotplug(), nil
	}
	var h Hotplug
	items := splitItems(v, ",;")
	if len(items) == 0 {
		return h, errors.New("empty hotplug list; use 0 to turn hotplug off")
	}
	for _, f := range items {
		p := h.flag(f)
		if p == nil {
			return Hotplug{}, fmt.Errorf("unknown hotplug feature %q; allowed: network, disk, cpu, memory, usb, cloudinit (or 0, 1)", f)
		}
		*p = true
	}
	return h, nil
}

func (h *Hotplug) flag(name string) *bool {
	switch name {
	case "network":
		return &h.Network
	case "disk":
		return &h.Disk
	case "cpu":
		return &h.CPU
	case "memory":
		return &h.Memory
	case "usb":
		return &h.USB
	case "cloudinit":
		return &h.CloudInit
	}
	return nil
}

// String lists the features in a fixed order, or "0" for none.
func (h Hotplug) String() string {
	var on []string
	for _, name := range []string{"network", "disk", "cpu", "memory", "usb", "cloudinit"} {
		if *h.flag(name) {
			on = append(on, name)
		}
	}
	if len(on) == 0 {
		return "0"
	}
	return strings.Join(on, ",")
}

// Machine is the value of machine.
type Machine struct {
	Type     string // q35, pc, pc-i440fx-9.0, pc-q35-8.1+pve0, virt, ...; empty means the default
	Viommu   string // intel or virtio
	AWBits   Opt[float64]
	EnableS3 Opt[bool]
	EnableS4 Opt[bool]
}

func (m *Machine) fields() []field {
	return []field{
		strField("type", &m.Type), strField("viommu", &m.Viommu), optField("aw-bits", &m.AWBits),
		optField("enable-s3", &m.EnableS3), optField("enable-s4", &m.EnableS4),
	}
}

// ParseMachine parses the machine value.
func ParseMachine(v string) (*Machine, error) {
	m := &Machine{}
	if err := parseProp(propOf("machine"), v, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Machine) String() string { return printProp(propOf("machine"), m) }

// IsQ35 reports whether the machine is a q35 (PCI Express) machine.
func (m *Machine) IsQ35() bool { return m.Type == "q35" || strings.HasPrefix(m.Type, "pc-q35-") }

var machineVersionRE = regexp.MustCompile(`-(\d+)\.(\d+)(?:\.\d+)*(?:\+pve(\d+))?`)

// Version returns the pinned QEMU machine version (8.1 in pc-q35-8.1+pve0)
// and the Proxmox VE revision (0 here, -1 without +pve); ok is false when
// the type pins no version.
func (m *Machine) Version() (major, minor, pve int, ok bool) {
	s := machineVersionRE.FindStringSubmatch(m.Type)
	if s == nil {
		return 0, 0, -1, false
	}
	major, _ = strconv.Atoi(s[1])
	minor, _ = strconv.Atoi(s[2])
	pve = -1
	if s[3] != "" {
		pve, _ = strconv.Atoi(s[3])
	}
	return major, minor, pve, true
}
