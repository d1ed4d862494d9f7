package cmdline

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// Host is what the command line needs to know about the node.
type Host struct {
	// KVM: /dev/kvm is usable. Without it a VM runs under TCG, with a
	// warning (and without one when its configuration says kvm: 0).
	KVM            bool
	QEMUVersion    string // such as "7.2.22"
	MachineVersion string // newest machine version of the binary, such as "7.2"
	CPUs           int    // logical CPUs; 0 skips the check against the VM's vCPUs

	// OVMF firmware code for efitype 4m and 2m; empty means Debian's
	// /usr/share/OVMF/OVMF_CODE_4M.fd and /usr/share/OVMF/OVMF_CODE.fd.
	OVMFCode   string
	OVMFCode2M string
	// Variable store templates, used read-only by a VM with bios ovmf but
	// no efidisk0 when Paths.EFIVars is empty; empty means Debian's.
	OVMFVars   string
	OVMFVars2M string
	// Sizes in bytes of the variable stores: a raw efidisk0 is cut to
	// this size, since storages hand out volumes rounded up. 0 means the
	// size of Debian's templates (540672 and 131072).
	OVMFVarsSize   int64
	OVMFVars2MSize int64

	// CPUVendor is the host CPU's vendor id (GenuineIntel, AuthenticAMD),
	// which names the nested-virt flag (vmx or svm).
	CPUVendor string
	// PhysBits is the host CPU's physical address width, which bounds
	// hot-pluggable memory for cpu phys-bits=host; 0 when unknown.
	PhysBits int
	// HugePageSizes are the huge page sizes in MiB the host offers (2,
	// 1024); hugepages "any" chooses among them. Empty means 2 only.
	HugePageSizes []int
}

// Volume is how storage says a volume is reached (see
// internal/storage/plugin.go Attachment).
type Volume struct {
	// Blockdev is QEMU's protocol-layer -blockdev node: file,
	// host_device, nfs, iscsi, rbd; the format layer goes on top.
	Blockdev map[string]any
	Format   string // raw, qcow2, vmdk; empty means raw
	Path     string // local path, when there is one; the command line itself only uses Blockdev
	ReadOnly bool   // template base volumes, ISO images
	// NoCacheDirect: the storage cannot take O_DIRECT (btrfs with data
	// checksums, tmpfs), so a disk without a cache setting uses the host
	// page cache instead of cache=none.
	NoCacheDirect bool
}

// Paths are the sockets and files the VM service chose for a VM.
type Paths struct {
	QMP, PID, VNC, QGA string
	Serial             [4]string
	TPM                string // swtpm's control socket
	// EFIVars is a writable copy of the OVMF variable template for a VM
	// with bios ovmf but no efidisk0; empty means the template is used
	// read-only, so the guest cannot keep EFI variables.
	EFIVars string
}

// Input is everything Build turns into a command line.
type Input struct {
	VMID int
	// Config holds the main-section values of the VM configuration with
	// pending changes applied, as written in the file.
	Config map[string]string
	// Volumes holds the resolved volume of each drive key (scsi0, ide2,
	// efidisk0, tpmstate0) that has one; CD-ROM drives with none or
	// cdrom have no entry.
	Volumes map[string]Volume
	Host    Host
	Paths   Paths
	// Machine overrides the configuration's machine type (the machine
	// parameter of a start); "" keeps the configuration's.
	Machine string
	// ForceCPU overrides the configuration's cpu (a start parameter).
	ForceCPU string
	// Incoming is a migration URI to resume from, such as
	// "exec:cat /path/state", or "".
	Incoming string
	// BridgeMTU holds the MTU of host bridges, for NICs with mtu=1 (the
	// bridge's MTU) and to refuse a NIC MTU above the bridge's. A
	// missing bridge skips both.
	BridgeMTU map[string]int
}

// builder holds the state of one Build: what was resolved from the
// configuration and the argv sections being filled.
type builder struct {
	in   Input
	conf map[string]string

	m        machine
	kvm      bool // KVM acceleration in use
	kvmConf  bool // the configuration asks for KVM
	win      int  // Windows version from ostype, 0 for other systems
	hotplug  vmconf.Hotplug
	cpu      *vmconf.CPU    // set by addCPU
	pflash1  string         // node of the EFI variable store, set by addFirmware
	boot     map[string]int // bootindex by device key
	buses    map[int]bool   // PCI bridges (pci.N) devices were placed on
	warnings []string

	head    []string // identity, monitor, CPU, memory
	devices []string // -device and what belongs to each device
	tail    []string // clock, globals, machine, accelerator
}

func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

func (b *builder) add(args ...string)    { b.head = append(b.head, args...) }
func (b *builder) addDev(args ...string) { b.devices = append(b.devices, args...) }
func (b *builder) device(o opts)         { b.addDev("-device", o.String()) }

// Build turns a VM configuration into the argv of its QEMU process. It
// does no I/O: everything it needs about the host and the storage comes
// in Input. The warnings are for the start task's log.
func Build(in Input) (argv []string, warnings []string, err error) {
	b, err := newBuilder(in)
	if err != nil {
		return nil, nil, err
	}
	for _, step := range []func() error{
		b.identity, b.addCPU, b.addMemory, b.addFirmware, b.addDevices, b.addDrives, b.addNets, b.addIOMMU, b.addTail,
	} {
		if err := step(); err != nil {
			return nil, b.warnings, fmt.Errorf("VM %d: %w", in.VMID, err)
		}
	}
	argv = append([]string{"qemu-system-x86_64"}, b.head...)
	argv = append(argv, b.baseDevices()...)
	argv = append(argv, b.devices...)
	argv = append(argv, b.tail...)
	if a := b.conf["args"]; a != "" {
		extra, err := splitArgs(a)
		if err != nil {
			return nil, b.warnings, fmt.Errorf("VM %d: args: %w", in.VMID, err)
		}
		argv = append(argv, extra...)
	}
	return argv, b.warnings, nil
}

// newBuilder resolves what every part of the command line depends on:
// the machine, the accelerator, the guest OS, hotplug and boot order.
func newBuilder(in Input) (*builder, error) {
	b := &builder{in: in, conf: maps.Clone(in.Config), buses: map[int]bool{}}
	if b.conf == nil {
		b.conf = map[string]string{}
	}
	if v, ok := b.conf["cdrom"]; ok {
		// The old shorthand for ide2 as a CD-ROM drive.
		d, err := vmconf.ParseDrive("cdrom", v)
		if err != nil {
			return nil, fmt.Errorf("VM %d: cdrom: %w", in.VMID, err)
		}
		if _, dup := b.conf["ide2"]; !dup {
			b.conf["ide2"] = d.String()
			if vol, ok := in.Volumes["cdrom"]; ok {
				b.in.Volumes = maps.Clone(in.Volumes)
				b.in.Volumes["ide2"] = vol
			}
		}
		delete(b.conf, "cdrom")
	}
	if err := checkIndexedKeys(b.conf); err != nil {
		return nil, fmt.Errorf("VM %d: %w", in.VMID, err)
	}
	if err := b.checkValues(); err != nil {
		return nil, fmt.Errorf("VM %d: %w", in.VMID, err)
	}
	if arch := b.conf["arch"]; arch != "" && arch != "x86_64" {
		return nil, fmt.Errorf("VM %d: arch %s: only x86_64 guests can be started", in.VMID, arch)
	}
	var err error
	if b.m, err = resolveMachine(b.conf, in.Machine, in.Host); err != nil {
		return nil, fmt.Errorf("VM %d: %w", in.VMID, err)
	}
	b.kvmConf = boolOpt(b.conf, "kvm", true)
	b.kvm = b.kvmConf && in.Host.KVM
	if b.kvmConf && !in.Host.KVM {
		b.warn("KVM virtualisation is not available on this host; running VM %d under software emulation (TCG), which is slow", in.VMID)
	}
	b.win = windowsVersion(b.conf["ostype"])
	b.hotplug = vmconf.DefaultHotplug()
	if v, ok := b.conf["hotplug"]; ok {
		if b.hotplug, err = vmconf.ParseHotplug(v); err != nil {
			return nil, fmt.Errorf("VM %d: hotplug: %w", in.VMID, err)
		}
	}
	if b.boot, err = bootIndexes(b.conf); err != nil {
		return nil, fmt.Errorf("VM %d: %w", in.VMID, err)
	}
	return b, nil
}

// checkValues checks every value against its schema, so that nothing
// malformed reaches QEMU's command line. A key Hearth does not know (a
// newer Proxmox VE's, say) is left out with a warning, as Proxmox VE
// does with keys it does not know.
func (b *builder) checkValues() error {
	keys := make([]string, 0, len(b.conf))
	for k := range b.conf {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "description" {
			continue // free text over several lines, never on the command line
		}
		if _, err := vmconf.Decode(k, b.conf[k]); err != nil {
			if strings.HasPrefix(err.Error(), "unknown setting") {
				b.warn("unknown setting '%s' is ignored", k)
				delete(b.conf, k)
				continue
			}
			return err
		}
	}
	return nil
}

// indexedKeyRE matches keys of the indexed device families.
var indexedKeyRE = regexp.MustCompile(`^(ide|sata|scsi|virtio|efidisk|tpmstate|net|usb|hostpci|serial|parallel|numa)(\d+)$`)

// checkIndexedKeys refuses device keys past the end of their family,
// such as scsi31: QEMU would have no place for them, and silently
// dropping a disk is worse than not starting.
func checkIndexedKeys(conf map[string]string) error {
	limits := map[string]int{"net": 32, "usb": 15, "hostpci": 16, "serial": 4, "parallel": 3, "numa": 8}
	for k := range conf {
		m := indexedKeyRE.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		family := m[1]
		if max, ok := limits[family]; ok {
			if n, err := strconv.Atoi(m[2]); err != nil || n >= max || m[2] != strconv.Itoa(n) {
				return fmt.Errorf("%s: there is no such device; %s takes 0 to %d", k, family, max-1)
			}
			continue
		}
		if !vmconf.IsDriveKey(k) {
			if family == "efidisk" || family == "tpmstate" {
				return fmt.Errorf("%s: there is no such drive; only %s0 exists", k, family)
			}
			return fmt.Errorf("%s: there is no such drive; %s takes indexes 0 to %d", k, family, driveMaxIndex(family))
		}
	}
	return nil
}

func driveMaxIndex(bus string) int {
	switch bus {
	case "ide":
		return 3
	case "sata":
		return 5
	case "scsi":
		return 30
	}
	return 15
}

// boolOpt reads a 0/1 option with its default.
func boolOpt(conf map[string]string, key string, def bool) bool {
	switch strings.TrimSpace(conf[key]) {
	case "1", "yes", "on", "true":
		return true
	case "0", "no", "off", "false":
		return false
	}
	return def
}

// intOpt reads an integer option with its default.
func intOpt(conf map[string]string, key string, def int) (int, error) {
	v, ok := conf[key]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", key, v)
	}
	return n, nil
}

// windowsVersion maps ostype to the Windows generation that decides
// Windows-specific tuning (clock, Hyper-V enlightenments), as Proxmox VE
// counts them; 0 for other systems.
func windowsVersion(ostype string) int {
	switch ostype {
	case "wxp", "w2k", "w2k3":
		return 5
	case "w2k8", "wvista":
		return 6
	}
	if rest, ok := strings.CutPrefix(ostype, "win"); ok {
		if n, err := strconv.Atoi(rest); err == nil {
			return n
		}
	}
	return 0
}

// identity adds the name, the monitor, the pid file and the display.
func (b *builder) identity() error {
	name := b.conf["name"]
	if name == "" {
		name = fmt.Sprintf("vm%d", b.in.VMID)
	}
	p := b.in.Paths
	if p.QMP == "" || p.PID == "" || p.VNC == "" {
		return fmt.Errorf("the QMP socket, pid file and VNC socket paths are required")
	}
	b.add("-name", strings.ReplaceAll(name, ",", ",,")+",debug-threads=on")
	b.add("-chardev", opts{{"driver", "socket"}, {"id", "qmp"}, {"path", p.QMP}, {"server", true}, {"wait", false}}.String())
	b.add("-mon", "chardev=qmp,mode=control")
	b.add("-pidfile", p.PID, "-daemonize")
	if v := b.conf["smbios1"]; v != "" {
		s, err := smbiosArg(v)
		if err != nil {
			return fmt.Errorf("smbios1: %w", err)
		}
		b.add("-smbios", s)
	}
	return nil
}

// addTail adds what comes after the devices: the clock, -global
// settings, the machine and the accelerator, and the incoming state.
func (b *builder) addTail() error {
	rtc := b.rtc()
	if rtc != "" {
		b.tail = append(b.tail, "-rtc", rtc)
	}
	for _, g := range b.globals() {
		b.tail = append(b.tail, "-global", g)
	}
	if !boolOpt(b.conf, "reboot", true) {
		b.tail = append(b.tail, "-no-reboot")
	}
	b.tail = append(b.tail, "-machine", b.machineArg())
	if b.kvm {
		b.tail = append(b.tail, "-accel", "kvm")
	} else {
		b.tail = append(b.tail, "-accel", "tcg")
	}
	if b.in.Incoming != "" {
		b.tail = append(b.tail, "-incoming", b.in.Incoming)
	}
	return nil
}
