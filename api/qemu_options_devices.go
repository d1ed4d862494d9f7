package api

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// QemuNetModels are the emulated network cards a NIC may use.
func QemuNetModels() []string {
	return []string{"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551", "i82557b", "i82559er",
		"ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "virtio", "vmxnet3"}
}

// QemuNetProp returns the property string of netN. Each model name is also
// a key whose value is the MAC address: "virtio=BC:24:11:00:00:01" stands
// for model=virtio,macaddr=BC:24:11:00:00:01.
func QemuNetProp() *schema.PropString {
	keys := schema.Props{
		"model": &schema.Schema{Type: schema.String, Enum: QemuNetModels(), DefaultKey: true,
			Description: "Emulated network card. virtio is the fastest and lightest on the host; e1000 suits guests without virtio drivers."},
		"macaddr": &schema.Schema{Type: schema.String, Format: "mac-addr", FormatDescription: "XX:XX:XX:XX:XX:XX", Optional: true,
			Description: "MAC address of the card, a unicast address. One is generated when the card is created without it."},
		"bridge": &schema.Schema{Type: schema.String, Format: "pve-bridge-id", FormatDescription: "bridge", Optional: true,
			Description: "Host bridge the card is plugged into, such as vmbr0. Without it the card gets QEMU's user-mode network " +
				"(NAT with its own DHCP and DNS)."},
		"firewall":  schema.Bool("Filter the card's traffic with the guest firewall.").Opt(),
		"link_down": schema.Bool("Start with the cable unplugged: the guest sees no link.").Opt(),
		"mtu":       schema.IntRange("MTU of the card (virtio only); 1 means take the bridge's MTU.", 1, 65520).Opt(),
		"queues":    schema.IntRange("Number of packet queue pairs of the card (multiqueue).", 0, 64).Opt(),
		"rate": schema.Schema{Type: schema.Number, Minimum: schema.F(0),
			Description: "Bandwidth cap of the card in MB/s (megabytes); fractions are allowed."}.Opt(),
		"tag": schema.IntRange("VLAN tag put on the card's packets.", 1, 4094).Opt(),
		"trunks": qemuFD(schema.Pat("VLANs the card may carry tagged, as ids or ranges separated by ';', such as 10;20-30.",
			qemuIDRangeList), "vlanid[;vlanid...]"),
	}
	for _, m := range QemuNetModels() {
		keys[m] = &schema.Schema{Type: schema.String, Optional: true, Alias: "macaddr", KeyAlias: "model",
			Description: "Shorthand for model=" + m + " with this MAC address."}
	}
	return schema.NewPropString(keys)
}

// qemuIDRangeList is a ';'-separated list of ids or id ranges.
const qemuIDRangeList = `\d+(?:-\d+)?(?:;\d+(?:-\d+)?)*`

// QemuCPUModels are the CPU models QEMU/KVM offers that a VM may name
// directly (custom models are named custom-<name> in addition).
func QemuCPUModels() []string {
	return []string{"486", "Broadwell", "Broadwell-IBRS", "Broadwell-noTSX", "Broadwell-noTSX-IBRS",
		"Cascadelake-Server", "Cascadelake-Server-noTSX", "Cascadelake-Server-v2", "Cascadelake-Server-v4", "Cascadelake-Server-v5",
		"ClearwaterForest", "Conroe", "Cooperlake", "Cooperlake-v2", "EPYC", "EPYC-Genoa", "EPYC-Genoa-v2", "EPYC-IBPB",
		"EPYC-Milan", "EPYC-Milan-v2", "EPYC-Milan-v3", "EPYC-Rome", "EPYC-Rome-v2", "EPYC-Rome-v3", "EPYC-Rome-v4", "EPYC-Rome-v5",
		"EPYC-Turin", "EPYC-v3", "EPYC-v4", "EPYC-v5", "GraniteRapids", "GraniteRapids-v2", "GraniteRapids-v3",
		"Haswell", "Haswell-IBRS", "Haswell-noTSX", "Haswell-noTSX-IBRS", "Icelake-Client", "Icelake-Client-noTSX",
		"Icelake-Server", "Icelake-Server-noTSX", "Icelake-Server-v3", "Icelake-Server-v4", "Icelake-Server-v5",
		"Icelake-Server-v6", "Icelake-Server-v7", "IvyBridge", "IvyBridge-IBRS", "KnightsMill", "Nehalem", "Nehalem-IBRS",
		"Opteron_G1", "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5", "Penryn", "SandyBridge", "SandyBridge-IBRS",
		"SapphireRapids", "SapphireRapids-v2", "SapphireRapids-v3", "SapphireRapids-v4", "SierraForest", "SierraForest-v2",
		"SierraForest-v3", "Skylake-Client", "Skylake-Client-IBRS", "Skylake-Client-noTSX-IBRS", "Skylake-Client-v4",
		"Skylake-Server", "Skylake-Server-IBRS", "Skylake-Server-noTSX-IBRS", "Skylake-Server-v4", "Skylake-Server-v5",
		"Westmere", "Westmere-IBRS", "a64fx", "athlon", "core2duo", "coreduo", "cortex-a35", "cortex-a53", "cortex-a55",
		"cortex-a57", "cortex-a710", "cortex-a72", "cortex-a76", "host", "kvm32", "kvm64", "max", "neoverse-n1", "neoverse-n2",
		"neoverse-v1", "pentium", "pentium2", "pentium3", "phenom", "qemu32", "qemu64"}
}

// QemuCPUBaselineModels are the x86-64 micro-architecture levels Proxmox VE
// defines on top of qemu64; a VM may use them but a custom model cannot
// report them.
func QemuCPUBaselineModels() []string {
	return []string{"x86-64-v2", "x86-64-v2-AES", "x86-64-v3", "x86-64-v4"}
}

// QemuCPUVMFlags are the CPU flags a VM may switch on or off itself; any
// other flag needs a custom CPU model, which only administrators define.
func QemuCPUVMFlags() []string {
	return []string{"aes", "amd-no-ssb", "amd-ssbd", "hv-evmcs", "hv-tlbflush", "ibpb", "md-clear", "nested-virt",
		"pcid", "pdpe1gb", "spec-ctrl", "ssbd", "virt-ssbd"}
}

// qemuAlternation joins literal words into one regexp alternation.
func qemuAlternation(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = regexp.QuoteMeta(w)
	}
	return strings.Join(q, "|")
}

// QemuCPUProp returns the property string of cpu. reported-model belongs to
// custom model definitions; it is declared so the key set matches Proxmox
// VE's, and internal/qemu/vmconf refuses it in a VM's own configuration.
func QemuCPUProp() *schema.PropString {
	models := append(QemuCPUModels(), QemuCPUBaselineModels()...)
	flag := `[+-](?:` + qemuAlternation(QemuCPUVMFlags()) + `)`
	return schema.NewPropString(schema.Props{
		"cputype": func() *schema.Schema {
			s := schema.Pat("CPU model shown to the guest: a QEMU model, an x86-64-v* level, host (the host CPU as it is), "+
				"or custom-<name> for a model defined in cpu-models.conf.",
				`custom-[a-zA-Z0-9_.\-]+|`+qemuAlternation(models)).Def("kvm64")
			s.FormatDescription = "string"
			s.DefaultKey = true
			return &s
		}(),
		"flags": qemuFD(schema.Pat("CPU flags to add (+flag) or remove (-flag), separated by ';'. nested-virt stands for the "+
			"host's virtualization flag (vmx or svm). A VM may only use: "+strings.Join(QemuCPUVMFlags(), ", ")+".",
			flag+`(?:;`+flag+`)*`), "+FLAG[;-FLAG...]"),
		"guest-phys-bits": schema.IntRange("Physical address bits the guest may use (a hint to the guest's IOMMU and EPT sizing).", 32, 64).Opt(),
		"hidden":          schema.Bool("Hide from the guest that it runs under KVM (x86 only).").Def(false).Ptr(),
		"hv-vendor-id": qemuFD(schema.Pat("Hyper-V vendor id announced to Windows guests, up to 12 letters or digits; some drivers check it.",
			`[a-zA-Z0-9]{1,12}`), "vendor-id"),
		"phys-bits": qemuFD(schema.Pat("Physical address bits the guest is told about, 8 to 64, or host to copy the host's "+
			"(which ties live migration to hosts with the same value). Should not exceed the host's.", `host|[89]|[1-5][0-9]|6[0-4]`), "8-64|host"),
		"reported-model": schema.Enum("Model a custom CPU model reports to the guest; not allowed in a VM's own cpu setting.",
			QemuCPUModels()...).Def("kvm64").Ptr(),
	})
}

// QemuAgentProp returns the property string of agent (the QEMU guest agent).
func QemuAgentProp() *schema.PropString {
	enabled := schema.Bool("Talk to a QEMU guest agent inside the VM.").Def(false)
	enabled.Optional = false // required although it has a default, as Proxmox VE declares it
	enabled.DefaultKey = true
	return schema.NewPropString(schema.Props{
		"enabled": &enabled,
		"freeze-fs": schema.Bool("Ask the agent to freeze and thaw the guest's file systems around backups, snapshots without " +
			"memory, clones and replication, so their copies are consistent.").Def(true).Ptr(),
		"freeze-fs-on-backup": qemuAlias("freeze-fs"),
		"guest-fsfreeze":      qemuAlias("freeze-fs"),
		"fstrim_cloned_disks": schema.Bool("Ask the agent to trim the file systems after a disk was moved or the VM migrated.").Def(false).Ptr(),
		"type":                schema.Enum("Channel to the agent: a virtio serial port or an ISA serial port.", "virtio", "isa").Def("virtio").Ptr(),
	})
}

// qemuBootDevicePattern matches a device that may appear in a boot order:
// a disk (not efidisk0 or tpmstate0), a NIC, a passed-through PCI device or
// a USB device.
func qemuBootDevicePattern() string {
	fam := func(prefix string, n int) string { return prefix + `(?:` + qemuIndexPattern(n) + `)` }
	return fam("ide", 4) + "|" + fam("sata", 6) + "|" + fam("scsi", 31) + "|" + fam("virtio", 16) + "|" +
		fam("net", QemuMaxNets) + "|" + fam("usb", QemuMaxUSB) + "|" + fam("hostpci", QemuMaxHostPCI)
}

// qemuIndexPattern matches the decimal numbers 0 to n-1, without leading zeroes.
func qemuIndexPattern(n int) string {
	alts := make([]string, n)
	for i := range alts {
		alts[i] = strconv.Itoa(i)
	}
	// Longest first, so the alternation never stops at a prefix.
	for i, j := 0, len(alts)-1; i < j; i, j = i+1, j-1 {
		alts[i], alts[j] = alts[j], alts[i]
	}
	return strings.Join(alts, "|")
}

// QemuBootProp returns the property string of boot.
func QemuBootProp() *schema.PropString {
	dev := `(?:` + qemuBootDevicePattern() + `)`
	return schema.NewPropString(schema.Props{
		"legacy": func() *schema.Schema {
			s := schema.Pat("Old boot order by device class: a floppy, c the disk named by bootdisk, d CD-ROMs, n network cards. "+
				"Superseded by order.", `[acdn]{1,4}`).Def("cdn")
			s.FormatDescription = "[acdn]{1,4}"
			s.DefaultKey = true
			return &s
		}(),
		"order": qemuFD(schema.Pat("Devices the firmware tries, in this order, separated by ';': disks and CD-ROMs boot directly, "+
			"NICs boot over the network, PCI devices boot like disks or through their option ROM. Devices not listed are not "+
			"bootable at all, so list every disk a boot needs (such as the members of a software RAID). Wins over legacy.",
			dev+`(?:[;\s]+`+dev+`)*`), "device[;device...]"),
	})
}

// QemuVGAProp returns the property string of vga.
func QemuVGAProp() *schema.PropString {
	t := schema.Enum("Emulated graphics card. std, virtio and qxl suit most guests; qxl variants add heads for SPICE; "+
		"serialN uses that serial port as the console and no card; none has no display at all.",
		"cirrus", "qxl", "qxl2", "qxl3", "qxl4", "none", "serial0", "serial1", "serial2", "serial3", "std", "virtio", "virtio-gl", "vmware").Def("std")
	t.DefaultKey = true
	return schema.NewPropString(schema.Props{
		"type":      &t,
		"clipboard": qemuOpt(schema.Enum("Share the clipboard through VNC (needs the guest agent's vdagent); SPICE shares it anyway.", "vnc")),
		"memory":    schema.IntRange("Video memory in MiB (qxl, virtio and similar cards).", 4, 512).Opt(),
	})
}

// QemuMemoryProp returns the property string of memory.
func QemuMemoryProp() *schema.PropString {
	current := schema.Schema{Type: schema.Integer, Minimum: schema.F(16), Default: int64(512), DefaultKey: true,
		Description: "Memory of the VM in MiB; with a balloon device, the most it can get."}
	return schema.NewPropString(schema.Props{"current": &current})
}

// QemuNUMAProp returns the property string of numaN, one guest NUMA node.
func QemuNUMAProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"cpus": func() *schema.Schema {
			s := schema.Pat("Guest CPUs of the node, as ids or ranges separated by ';'.", qemuIDRangeList)
			s.FormatDescription = "id[-id];..."
			return &s
		}(),
		"hostnodes": qemuFD(schema.Pat("Host NUMA nodes the node's memory comes from, as ids or ranges separated by ';'.",
			qemuIDRangeList), "id[-id];..."),
		"memory": schema.Num("Memory of the node in MiB.").Opt(),
		"policy": qemuOpt(schema.Enum("How memory is placed on the host nodes.", "preferred", "bind", "interleave")),
	})
}

// QemuRNGProp returns the property string of rng0.
func QemuRNGProp() *schema.PropString {
	src := schema.Enum("Host file the entropy comes from. /dev/urandom is as good as /dev/random for this and never blocks; "+
		"/dev/hwrng passes a hardware generator through.", "/dev/urandom", "/dev/random", "/dev/hwrng")
	src.DefaultKey = true
	return schema.NewPropString(schema.Props{
		"source":    &src,
		"max_bytes": schema.Int("Most bytes of entropy the guest gets per period; 0 lifts the limit, which lets a guest drain the host.").Def(int64(1024)).Ptr(),
		"period":    schema.Int("Length of the period in milliseconds after which max_bytes starts over.").Def(int64(1000)).Ptr(),
	})
}

// QemuWatchdogProp returns the property string of watchdog.
func QemuWatchdogProp() *schema.PropString {
	m := schema.Enum("Watchdog hardware to emulate.", "i6300esb", "ib700").Def("i6300esb")
	m.DefaultKey = true
	return schema.NewPropString(schema.Props{
		"model": &m,
		"action": qemuOpt(schema.Enum("What happens when the guest, once it armed the watchdog, stops feeding it in time.",
			"reset", "shutdown", "poweroff", "pause", "debug", "none")),
	})
}

// qemuUUIDPattern matches a UUID in its usual 8-4-4-4-12 hex form.
const qemuUUIDPattern = `[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}`

// QemuSMBIOS1Prop returns the property string of smbios1 (the system
// information table). Text fields are base64 when base64 is set, which
// lets them hold any characters.
func QemuSMBIOS1Prop() *schema.PropString {
	text := func(what string) *schema.Schema {
		return qemuFD(schema.Pat(what+" in the SMBIOS system table (base64-encoded when base64 is set).", `[A-Za-z0-9+/]+={0,2}`),
			"Base64 encoded string")
	}
	return schema.NewPropString(schema.Props{
		"base64":       schema.Bool("The text fields are base64-encoded.").Opt(),
		"family":       text("Product family"),
		"manufacturer": text("Manufacturer"),
		"product":      text("Product name"),
		"serial":       text("Serial number"),
		"sku":          text("SKU number"),
		"version":      text("Version"),
		"uuid":         qemuFD(schema.Pat("UUID of the machine as the guest sees it.", qemuUUIDPattern), "UUID"),
	})
}

// QemuStartupProp returns the property string of startup (the order and
// delays of starting guests at boot and stopping them at shutdown).
func QemuStartupProp() *schema.PropString {
	order := schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Optional: true, DefaultKey: true,
		Description: "Position in the start sequence: lower starts first, and stops last."}
	return schema.NewPropString(schema.Props{
		"order": &order,
		"up":    schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait after this guest started before the next one starts."}.Opt(),
		"down":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Seconds to wait for this guest to stop before the next one is stopped."}.Opt(),
	})
}

// QemuUSBDevicePattern matches a host USB device: vendor:product in hex
// (each optionally 0x-prefixed), bus-port[.port...] in decimal, or spice.
const QemuUSBDevicePattern = `(?:0x)?[0-9A-Fa-f]{4}:(?:0x)?[0-9A-Fa-f]{4}|\d+-\d+(?:\.\d+)*|[Ss][Pp][Ii][Cc][Ee]`

// QemuUSBProp returns the property string of usbN.
func QemuUSBProp() *schema.PropString {
	host := schema.Pat("Host device to pass through: vendor:product in hex (see lsusb), bus-port[.port...] in decimal for "+
		"whatever is plugged into that port, or spice for a SPICE redirection channel. Set this or mapping. "+
		"A passed-through device keeps the VM from migrating.", QemuUSBDevicePattern)
	host.FormatDescription = "HOSTUSBDEVICE|spice"
	host.DefaultKey = true
	host.Optional = true
	return schema.NewPropString(schema.Props{
		"host":    &host,
		"mapping": &schema.Schema{Type: schema.String, Format: "pve-configid", FormatDescription: "mapping-id", Optional: true, Description: "Cluster-wide USB mapping to use instead of host."},
		"usb3":    schema.Bool("Attach to a USB 3 controller. Modern guests (machine 7.1 or later, Linux or Windows 8 and later) always get one.").Def(false).Ptr(),
	})
}

// QemuPCIIDPattern matches one host PCI address: [domain:]bus:device[.function].
const QemuPCIIDPattern = `(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?`

// QemuHostPCIProp returns the property string of hostpciN.
func QemuHostPCIProp() *schema.PropString {
	host := schema.Pat("Host PCI device to pass through, as [domain:]bus:device[.function] in hex (see lspci); several "+
		"functions (such as virtual functions) separated by ';'. Set this or mapping.", QemuPCIIDPattern+`(?:;`+QemuPCIIDPattern+`)*`)
	host.FormatDescription = "HOSTPCIID[;HOSTPCIID2...]"
	host.DefaultKey = true
	host.Optional = true
	hexID := func(what string) *schema.Schema {
		return qemuFD(schema.Pat(what+" the guest sees instead of the real one, as 0x and 4 hex digits.", `0x[0-9a-fA-F]{4}`), "hex id")
	}
	return schema.NewPropString(schema.Props{
		"host":          &host,
		"mapping":       &schema.Schema{Type: schema.String, Format: "pve-configid", FormatDescription: "mapping-id", Optional: true, Description: "Cluster-wide PCI mapping to use instead of host."},
		"device-id":     hexID("PCI device id"),
		"vendor-id":     hexID("PCI vendor id"),
		"sub-device-id": hexID("PCI subsystem device id"),
		"sub-vendor-id": hexID("PCI subsystem vendor id"),
		"driver": schema.Enum("keep leaves the device with the host driver it has, neither reset nor bound to vfio-pci; "+
			"vfio rebinds it to vfio-pci.", "keep", "vfio").Def("vfio").Ptr(),
		"legacy-igd": schema.Bool("Pass an Intel integrated GPU in legacy mode as the guest's only display " +
			"(needs an i440fx machine and vga none).").Def(false).Ptr(),
		"mdev": qemuFD(schema.Pat("Mediated device type to create from the device at start; it is removed when the VM stops.",
			`[^/.:]+`), "string"),
		"pcie":    schema.Bool("Plug the device into a PCI Express port (q35 machines only).").Def(false).Ptr(),
		"rombar":  schema.Bool("Map the device's option ROM into the guest's memory.").Def(true).Ptr(),
		"romfile": schema.Str("File to use as the device's option ROM, relative to /usr/share/kvm/.").Opt(),
		"x-vga":   schema.Bool("Make the device the guest's primary VGA display (vfio-vga).").Def(false).Ptr(),
	})
}

// The address patterns of ipconfigN. Proxmox VE checks them with formats
// (pve-ipv4-config, pve-ipv6-config) that api/schema does not register;
// these patterns are looser for IPv6, and internal/qemu/vmconf checks the
// addresses exactly.
const (
	qemuIPv4Octet   = `(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`
	qemuIPv4Pattern = qemuIPv4Octet + `(?:\.` + qemuIPv4Octet + `){3}`
	qemuIPv6Pattern = `[0-9a-fA-F:]*:[0-9a-fA-F:.]*`
)

// QemuIPConfigProp returns the property string of ipconfigN, the
// cloud-init network settings of the guest's Nth NIC.
func QemuIPConfigProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"ip": func() *schema.Schema {
			s := schema.Pat("IPv4 address with prefix length, dhcp, or manual (leave it to the guest).",
				`dhcp|manual|`+qemuIPv4Pattern+`/(?:3[0-2]|[12][0-9]|[0-9])`).Def("dhcp")
			s.FormatDescription = "IPv4Format/CIDR"
			return &s
		}(),
		"gw": &schema.Schema{Type: schema.String, Format: "ipv4", FormatDescription: "GatewayIPv4", Optional: true,
			Description: "IPv4 default gateway; needs ip."},
		"ip6": func() *schema.Schema {
			s := schema.Pat("IPv6 address with prefix length, dhcp, auto (stateless autoconfiguration, cloud-init 19.4 or later), "+
				"or manual.", `dhcp|auto|manual|`+qemuIPv6Pattern+`/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])`).Def("dhcp")
			s.FormatDescription = "IPv6Format/CIDR"
			return &s
		}(),
		"gw6": &schema.Schema{Type: schema.String, Format: "ipv6", FormatDescription: "GatewayIPv6", Optional: true,
			Description: "IPv6 default gateway; needs ip6."},
	})
}

// QemuAudioProp returns the property string of audio0.
func QemuAudioProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"device": schema.Enum("Emulated sound card.", "ich9-intel-hda", "intel-hda", "AC97").Ptr(),
		"driver": schema.Enum("Where the sound goes: to the SPICE client, or nowhere.", "spice", "none").Def("spice").Ptr(),
	})
}

// QemuSpiceEnhancementsProp returns the property string of spice_enhancements.
func QemuSpiceEnhancementsProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"foldersharing": schema.Bool("Let the SPICE client share a folder with the guest (needs spice-webdavd in the guest).").Def(false).Ptr(),
		"videostreaming": schema.Enum("Detect video in the display and send it as a stream: for all changing regions, "+
			"only for those that look like video, or never.", "off", "all", "filter").Def("off").Ptr(),
	})
}

// QemuMachineTypePattern matches a QEMU machine type as Proxmox VE allows
// it: pc and q35 with an optional version, +pveN revision and .pxe suffix,
// or virt for ARM.
const QemuMachineTypePattern = `pc|pc(?:-i440fx)?-\d+(?:\.\d+)+(?:\+pve\d+)?(?:\.pxe)?|q35|pc-q35-\d+(?:\.\d+)+(?:\+pve\d+)?(?:\.pxe)?|virt(?:-\d+(?:\.\d+)+)?(?:\+pve\d+)?`

// QemuMachineProp returns the property string of machine.
func QemuMachineProp() *schema.PropString {
	t := schema.Pat("QEMU machine type, such as q35 or pc-i440fx-9.0; a version pins the virtual hardware, and the "+
		"newest is used without one.", QemuMachineTypePattern)
	t.FormatDescription = "machine type"
	t.MaxLength = 40
	t.DefaultKey = true
	t.Optional = true
	return schema.NewPropString(schema.Props{
		"type":      &t,
		"aw-bits":   schema.Schema{Type: schema.Number, Minimum: schema.F(32), Maximum: schema.F(64), Description: "Address width of the virtual IOMMU in bits: 39 or 48 for intel, 32 to 64 for virtio."}.Opt(),
		"enable-s3": schema.Bool("Offer the S3 sleep state (suspend to RAM); off by default from machine 9.2+pve1 on.").Opt(),
		"enable-s4": schema.Bool("Offer the S4 sleep state (suspend to disk); off by default from machine 9.2+pve1 on.").Opt(),
		"viommu":    qemuOpt(schema.Enum("Give the guest a virtual IOMMU of this kind (intel needs q35).", "intel", "virtio")),
	})
}

// QemuAMDSEVProp returns the property string of amd-sev.
func QemuAMDSEVProp() *schema.PropString {
	t := schema.Enum("Kind of encryption: std for SEV, es for SEV-ES, snp for SEV-SNP (the last two are experimental).", "std", "es", "snp")
	t.FormatDescription = "sev-type"
	t.MaxLength = 3
	t.DefaultKey = true
	return schema.NewPropString(schema.Props{
		"type":           &t,
		"allow-smt":      schema.Bool("Policy bit allowing simultaneous multithreading (only SEV-SNP reads it).").Def(true).Ptr(),
		"kernel-hashes":  schema.Bool("Put hashes of the kernel, initrd and command line into the firmware for measured direct boot.").Def(false).Ptr(),
		"no-debug":       schema.Bool("Policy bit forbidding debugging of the guest.").Def(false).Ptr(),
		"no-key-sharing": schema.Bool("Policy bit forbidding sharing keys with other guests (SEV-SNP ignores it).").Def(false).Ptr(),
	})
}

// QemuIntelTDXProp returns the property string of intel-tdx.
func QemuIntelTDXProp() *schema.PropString {
	t := schema.Enum("Turns on Intel TDX.", "tdx")
	t.FormatDescription = "tdx-type"
	t.DefaultKey = true
	attestation := schema.Bool("Connect the guest to the quote generation service so it can prove what it runs.").Def(true)
	attestation.Optional = false // required although it has a default, as Proxmox VE declares it
	return schema.NewPropString(schema.Props{
		"type":        &t,
		"attestation": &attestation,
		"vsock-cid":   schema.Schema{Type: schema.Integer, Minimum: schema.F(2), Description: "vsock CID of the quote generation service."}.Def(int64(2)).Ptr(),
		"vsock-port":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "vsock port of the quote generation service."}.Def(int64(4050)).Ptr(),
	})
}

// QemuCICustomProp returns the property string of cicustom.
func QemuCICustomProp() *schema.PropString {
	vol := func(what string) *schema.Schema {
		return &schema.Schema{Type: schema.String, Format: "pve-volume-id", FormatDescription: "volume", Optional: true,
			Description: "Snippet volume used as the " + what + " instead of the generated one."}
	}
	return schema.NewPropString(schema.Props{
		"meta":    vol("cloud-init meta data (its layout differs between configdrive2 and nocloud)"),
		"network": vol("cloud-init network configuration"),
		"user":    vol("cloud-init user data"),
		"vendor":  vol("cloud-init vendor data"),
	})
}

// QemuIvshmemProp returns the property string of ivshmem.
func QemuIvshmemProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"size": schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Size of the shared memory in MB."}.Ptr(),
		"name": qemuFD(schema.Pat("Name of the file below /dev/shm, after the pve-shm- prefix; the VM id by default. "+
			"The file is removed when the VM stops.", `[a-zA-Z0-9\-]+`), "string"),
	})
}

// QemuVirtioFSProp returns the property string of virtiofsN.
func QemuVirtioFSProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"dirid": &schema.Schema{Type: schema.String, Format: "pve-configid", FormatDescription: "mapping-id", DefaultKey: true,
			Description: "Cluster-wide directory mapping to share with the guest."},
		"cache": schema.Enum("Caching of file data and metadata in the guest: auto, always, metadata only, or never.",
			"auto", "always", "metadata", "never").Def("auto").Ptr(),
		"direct-io":    schema.Bool("Honour the guest's O_DIRECT opens, bypassing the host page cache.").Def(false).Ptr(),
		"expose-acl":   schema.Bool("Show POSIX ACLs to the guest (implies expose-xattr).").Def(false).Ptr(),
		"expose-xattr": schema.Bool("Show extended attributes to the guest.").Def(false).Ptr(),
	})
}

// QemuMetaProp returns the property string of meta, facts recorded when
// the VM was created.
func QemuMetaProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"creation-qemu": schema.Pat("QEMU version installed when the VM was created.", `\d+(?:\.\d+)+`).Opt(),
		"ctime":         schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Creation time, in seconds since the epoch."}.Opt(),
	})
}
