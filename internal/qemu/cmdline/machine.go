package cmdline

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// machine is the resolved machine of a start.
type machine struct {
	typ          string // QEMU's name, such as pc-i440fx-7.2
	q35          bool
	major, minor int // the machine version, which gates hardware changes
	conf         *vmconf.Machine
}

// atLeast reports whether the machine version is major.minor or newer.
// Features that change the guest's hardware are gated on it, so that a
// VM pinned to an old version keeps the hardware it was installed on.
func (m machine) atLeast(major, minor int) bool {
	return m.major > major || m.major == major && m.minor >= minor
}

// versionRE reads the version of a machine type name; pveSuffixRE finds
// Proxmox VE's downstream revision and the old iPXE variant suffix, which
// Debian's QEMU does not know.
var (
	versionRE   = regexp.MustCompile(`-(\d+)\.(\d+)`)
	pveSuffixRE = regexp.MustCompile(`\+pve\d+|\.pxe$`)
)

// MachineType returns the versioned machine a VM gets on this host: an
// unversioned type (pc, q35 or none) gets the host's newest version, as
// pc-i440fx-7.2 or pc-q35-7.2; a pinned version stays as it is, without
// Proxmox VE's +pveN revision (the same hardware for QEMU). The VM
// service pins the result into the configuration on the first start.
func MachineType(config map[string]string, host Host) string {
	typ := ""
	if m, err := vmconf.ParseMachine(config["machine"]); err == nil {
		typ = m.Type
	}
	return versionedType(typ, host)
}

func versionedType(typ string, host Host) string {
	typ = pveSuffixRE.ReplaceAllString(typ, "")
	v := host.MachineVersion
	switch typ {
	case "", "pc":
		if v == "" {
			return "pc"
		}
		return "pc-i440fx-" + v
	case "q35":
		if v == "" {
			return "q35"
		}
		return "pc-q35-" + v
	}
	return typ
}

// resolveMachine reads the machine (or the start's override) and checks
// that this QEMU has its version.
func resolveMachine(conf map[string]string, override string, host Host) (machine, error) {
	mc, err := vmconf.ParseMachine(conf["machine"])
	if err != nil {
		return machine{}, fmt.Errorf("machine: %w", err)
	}
	if override != "" {
		o, err := vmconf.ParseMachine(override)
		if err != nil {
			return machine{}, fmt.Errorf("machine (start parameter): %w", err)
		}
		mc.Type = o.Type
		if o.Viommu != "" {
			mc.Viommu = o.Viommu
		}
	}
	if strings.HasPrefix(mc.Type, "virt") {
		return machine{}, fmt.Errorf("machine %s: that is an aarch64 machine; only x86_64 guests can be started", mc.Type)
	}
	m := machine{typ: versionedType(mc.Type, host), q35: mc.IsQ35(), conf: mc}
	hostMajor, hostMinor, hostKnown := parseVersion(host.MachineVersion)
	if mm := versionRE.FindStringSubmatch(m.typ); mm != nil {
		m.major, _ = strconv.Atoi(mm[1])
		m.minor, _ = strconv.Atoi(mm[2])
		if hostKnown && (m.major > hostMajor || m.major == hostMajor && m.minor > hostMinor) {
			return machine{}, fmt.Errorf("machine %s is newer than this host's QEMU %s, which goes up to %s",
				m.typ, host.QEMUVersion, host.MachineVersion)
		}
	} else {
		// An unversioned machine with an unknown QEMU: assume a current one.
		m.major, m.minor = 99, 0
	}
	if mc.Viommu == "intel" && !m.q35 {
		return machine{}, fmt.Errorf("machine: viommu=intel needs a q35 machine")
	}
	return m, nil
}

// parseVersion reads "7.2" or "7.2.22".
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(parts[0])
	c, err2 := strconv.Atoi(parts[1])
	return a, c, err1 == nil && err2 == nil
}

// machineArg is the -machine value.
func (b *builder) machineArg() string {
	o := opts{{"type", b.m.typ}}
	if b.m.conf.Viommu == "intel" {
		o = append(o, opt{"kernel-irqchip", "split"})
	}
	if !boolOpt(b.conf, "acpi", true) {
		o = append(o, opt{"acpi", false})
	}
	if b.win >= 6 {
		// Windows calibrates badly against the HPET under load.
		o = append(o, opt{"hpet", false})
	}
	if !boolOpt(b.conf, "allow-ksm", true) {
		o = append(o, opt{"mem-merge", false})
	}
	if b.pflash1 != "" {
		o = append(o, opt{"pflash0", "pflash0"}, opt{"pflash1", b.pflash1})
	}
	return o.String()
}

// globals are the -global settings: sleep states and the Windows timer
// policy.
func (b *builder) globals() []string {
	var g []string
	pm := "PIIX4_PM"
	if b.m.q35 {
		pm = "ICH9-LPC"
	}
	// Windows hangs on resume from S3/S4 on this hardware, so they are off
	// for it unless the machine turns them on explicitly.
	for _, s := range []struct {
		name string
		on   vmconf.Opt[bool]
	}{{"s3", b.m.conf.EnableS3}, {"s4", b.m.conf.EnableS4}} {
		off := b.win >= 6
		if s.on.Set {
			off = !s.on.V
		}
		if off {
			g = append(g, fmt.Sprintf("%s.disable_%s=1", pm, s.name))
		}
	}
	if b.win >= 6 && b.kvm {
		g = append(g, "kvm-pit.lost_tick_policy=discard")
	}
	return g
}

// rtc is the -rtc value, or "": the guest clock in local time (the
// default for Windows), a fixed start date, and the time drift fix.
func (b *builder) rtc() string {
	var parts []string
	if boolOpt(b.conf, "tdf", false) {
		parts = append(parts, "driftfix=slew")
	}
	if d := b.conf["startdate"]; d != "" && d != "now" {
		parts = append(parts, "base="+d)
	} else if boolOpt(b.conf, "localtime", b.win >= 5) {
		parts = append(parts, "base=localtime")
	}
	return strings.Join(parts, ",")
}

// pciSlot places a device in Proxmox VE's fixed PCI layout: the bridge
// (pci.N) and the slot on it. The layout never changes, so a device keeps
// its address across starts and when it is hot-plugged, and guests (above
// all Windows) keep their NIC and disk names.
func pciSlot(id string) (bus, slot int, ok bool) {
	fixed := func(b, s int) (int, int, bool) { return b, s, true }
	switch id {
	case "piix3":
		return fixed(0, 1)
	case "vga":
		return fixed(0, 2)
	case "balloon0":
		return fixed(0, 3)
	case "watchdog":
		return fixed(0, 4)
	case "scsihw0", "pci.3":
		return fixed(0, 5)
	case "scsihw1":
		return fixed(0, 6)
	case "ahci0":
		return fixed(0, 7)
	case "qga0":
		return fixed(0, 8)
	case "spice":
		return fixed(0, 9)
	case "hostpci0":
		return fixed(0, 16)
	case "hostpci1":
		return fixed(0, 17)
	case "hostpci2":
		return fixed(0, 27)
	case "hostpci3":
		return fixed(0, 28)
	case "pci.1":
		return fixed(0, 30)
	case "pci.2":
		return fixed(0, 31)
	case "xhci":
		return fixed(1, 27)
	case "pci.4":
		return fixed(1, 28)
	case "rng0":
		return fixed(1, 29)
	case "ivshmem":
		return fixed(2, 11)
	case "audio0":
		return fixed(2, 12)
	}
	families := []struct {
		prefix   string
		from, to int // index range
		bus      int
		slot0    int // slot of index from
	}{
		{"virtio", 0, 5, 0, 10},
		{"net", 0, 5, 0, 18},
		{"vga", 1, 3, 0, 24},
		{"net", 6, 31, 1, 1},
		{"virtio", 6, 15, 2, 1},
		{"hostpci", 4, 15, 2, 13},
		{"virtioscsi", 0, 30, 3, 1},
		{"scsihw", 2, 4, 4, 1},
	}
	for _, f := range families {
		rest, found := strings.CutPrefix(id, f.prefix)
		if !found {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < f.from || n > f.to {
			continue
		}
		return f.bus, f.slot0 + n - f.from, true
	}
	return 0, 0, false
}

// pciAddr returns the bus and addr options of a device in the fixed
// layout and records the bridge it needs.
func (b *builder) pciAddr(id string) (opts, error) {
	bus, slot, ok := pciSlot(id)
	if !ok {
		return nil, fmt.Errorf("internal error: device %s has no place in the PCI layout", id)
	}
	b.buses[bus] = true
	return opts{{"bus", fmt.Sprintf("pci.%d", bus)}, {"addr", fmt.Sprintf("0x%x", slot)}}, nil
}

// baseDevices are the devices everything else hangs off: the IOMMU
// (which must come first), on q35 the bridges and controllers Proxmox
// VE's pve-q35-4.0.cfg adds, and the PCI bridges in use.
func (b *builder) baseDevices() []string {
	var out []string
	dev := func(o opts) { out = append(out, "-device", o.String()) }
	if b.m.conf.Viommu == "intel" {
		o := opts{{"driver", "intel-iommu"}, {"intremap", true}, {"caching-mode", true}}
		if bits, ok := b.m.conf.AWBits.Get(); ok {
			o = append(o, opt{"aw-bits", int(bits)})
		}
		dev(o)
	}
	if b.m.q35 {
		for _, usb := range []struct {
			id, driver, addr, master string
			first                    int
		}{
			{"ehci", "ich9-usb-ehci1", "1d.7", "", 0},
			{"uhci-1", "ich9-usb-uhci1", "1d.0", "ehci.0", 0},
			{"uhci-2", "ich9-usb-uhci2", "1d.1", "ehci.0", 2},
			{"uhci-3", "ich9-usb-uhci3", "1d.2", "ehci.0", 4},
			{"ehci-2", "ich9-usb-ehci2", "1a.7", "", 0},
			{"uhci-4", "ich9-usb-uhci4", "1a.0", "ehci-2.0", 0},
			{"uhci-5", "ich9-usb-uhci5", "1a.1", "ehci-2.0", 2},
			{"uhci-6", "ich9-usb-uhci6", "1a.2", "ehci-2.0", 4},
		} {
			o := opts{{"driver", usb.driver}, {"id", usb.id}, {"multifunction", true}, {"bus", "pcie.0"}, {"addr", usb.addr}}
			if usb.master != "" {
				o = append(o, opt{"masterbus", usb.master}, opt{"firstport", usb.first})
			}
			dev(o)
		}
		for i := 1; i <= 4; i++ {
			dev(rootPort(i))
		}
		dev(opts{{"driver", "i82801b11-bridge"}, {"id", "pcidmi"}, {"bus", "pcie.0"}, {"addr", "1e.0"}})
		for i := 0; i <= 2; i++ {
			dev(opts{{"driver", "pci-bridge"}, {"id", fmt.Sprintf("pci.%d", i)}, {"chassis_nr", i + 1},
				{"bus", "pcidmi"}, {"addr", fmt.Sprintf("%d.0", i+1)}})
		}
	} else {
		// i440fx: the PIIX3's UHCI controller carries the tablet.
		dev(opts{{"driver", "piix3-usb-uhci"}, {"id", "uhci"}, {"bus", "pci.0"}, {"addr", "0x1.0x2"}})
	}
	// pci.1 and pci.2 always exist, so that hot-plugging a NIC or disk
	// that lives there works; higher bridges only when in use.
	b.buses[1], b.buses[2] = true, true
	for n := 1; n <= 4; n++ {
		if !b.buses[n] || (b.m.q35 && n <= 2) {
			continue
		}
		parent, slot, _ := pciSlot(fmt.Sprintf("pci.%d", n))
		dev(opts{{"driver", "pci-bridge"}, {"id", fmt.Sprintf("pci.%d", n)}, {"chassis_nr", n},
			{"bus", fmt.Sprintf("pci.%d", parent)}, {"addr", fmt.Sprintf("0x%x", slot)}})
	}
	return out
}

// rootPort is PCI Express root port n of a q35 machine, where PCIe
// passthrough devices go: ports 1-4 sit at 1c.0-3 like Proxmox VE's, the
// rest at 10.0 onwards.
func rootPort(n int) opts {
	addr := fmt.Sprintf("1c.%d", n-1)
	if n > 4 {
		addr = fmt.Sprintf("%x.%d", 0x10+(n-5)/8, (n-5)%8)
	}
	return opts{{"driver", "pcie-root-port"}, {"id", fmt.Sprintf("ich9-pcie-port-%d", n)}, {"x-speed", "16"}, {"x-width", "32"},
		{"multifunction", true}, {"bus", "pcie.0"}, {"addr", addr}, {"port", n}, {"chassis", n}}
}

// addIOMMU adds the virtio IOMMU last: it takes the first free PCI slot,
// which must not be one the fixed layout hands out.
func (b *builder) addIOMMU() error {
	if b.m.conf.Viommu == "virtio" {
		b.device(opts{{"driver", "virtio-iommu-pci"}})
	}
	return nil
}
