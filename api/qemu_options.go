package api

import (
	"strconv"

	"github.com/hearth-virt/hearth/api/schema"
)

// How many keys of each indexed family a VM configuration may have
// (net0 to net31 and so on). The disk buses are in QemuDriveMaxIndex.
const (
	QemuMaxNets     = 32
	QemuMaxIPConfig = 32 // one per NIC
	QemuMaxNUMA     = 8
	QemuMaxHostPCI  = 16
	// QemuMaxUSB is 15 (usb0 to usb14): old machine types or guests take
	// only usb0 to usb4, which is for the start of a VM to check.
	QemuMaxUSB      = 15
	QemuMaxSerial   = 4
	QemuMaxParallel = 3
	QemuMaxUnused   = 256
	QemuMaxVirtioFS = 10
)

// QemuOptions returns the schema of every key of a VM configuration
// (qemu-server/<vmid>.conf), indexed keys expanded to their concrete
// names; the keys are also the parameters of creating or changing a VM.
// Keys that only snapshots and the system write are in
// QemuSnapshotOptions. Each call builds fresh values, so callers may
// adjust their copy.
func QemuOptions() schema.Props {
	p := qemuPlainOptions()
	prop := func(desc string, ps *schema.PropString) *schema.Schema {
		return &schema.Schema{Type: schema.String, Optional: true, Description: desc, Prop: ps}
	}

	p["agent"] = prop("The QEMU guest agent: whether the VM has one, and how it is used.", QemuAgentProp())
	p["amd-sev"] = prop("Memory encryption with AMD SEV, SEV-ES or SEV-SNP (needs a host CPU that has it).", QemuAMDSEVProp())
	p["audio0"] = prop("A sound card, mostly useful with a SPICE display.", QemuAudioProp())
	p["boot"] = prop("Boot order. Write it as order=<dev>;<dev>...; a bare value is the old legacy form.", QemuBootProp())
	p["cicustom"] = prop("cloud-init: snippet files that replace the generated configuration at each start.", QemuCICustomProp())
	p["cpu"] = prop("The CPU model the guest sees, and its adjustments.", QemuCPUProp())
	p["efidisk0"] = prop("Volume holding the UEFI variables of an OVMF guest.", QemuEFIDiskProp())
	p["intel-tdx"] = prop("Confidential computing with Intel TDX (needs a host CPU that has it).", QemuIntelTDXProp())
	p["ivshmem"] = prop("Shared memory between VMs, or between a VM and the host (inter-VM shared memory device).", QemuIvshmemProp())
	p["machine"] = prop("The QEMU machine: type and version, virtual IOMMU, sleep states.", QemuMachineProp())
	p["memory"] = prop("Memory of the VM.", QemuMemoryProp())
	p["rng0"] = prop("A virtio random number generator fed from a host source.", QemuRNGProp())
	p["smbios1"] = prop("Fields of the SMBIOS system table (type 1): UUID, manufacturer, product and so on.", QemuSMBIOS1Prop())
	p["smbios1"].MaxLength = 512
	p["spice_enhancements"] = prop("Extra SPICE features.", QemuSpiceEnhancementsProp())
	p["startup"] = prop("Start and stop order at host boot and shutdown, and the delays after each guest: "+
		"[order=]<n>,up=<seconds>,down=<seconds>. Guests stop in the reverse order.", QemuStartupProp())
	p["tpmstate0"] = prop("Volume holding the state of an emulated TPM.", QemuTPMStateProp())
	p["vga"] = prop("The graphics card and its settings.", QemuVGAProp())
	p["watchdog"] = prop("A hardware watchdog; once the guest arms it, it must keep feeding it or the action is taken.", QemuWatchdogProp())
	p["cdrom"] = prop("Shorthand for ide2 as a CD-ROM drive.", QemuDriveProp("ide"))

	for _, bus := range QemuDriveBuses {
		ps := QemuDriveProp(bus)
		desc := "A disk or CD-ROM drive on the " + qemuBusTitle(bus) + " bus."
		for i := 0; i <= QemuDriveMaxIndex(bus); i++ {
			p[bus+strconv.Itoa(i)] = prop(desc, ps)
		}
	}
	indexed := func(prefix string, n int, s *schema.Schema) {
		for i := 0; i < n; i++ {
			c := *s
			p[prefix+strconv.Itoa(i)] = &c
		}
	}
	indexed("net", QemuMaxNets, prop("A network card.", QemuNetProp()))
	indexed("ipconfig", QemuMaxIPConfig, prop("cloud-init: addresses and gateways of the NIC with the same number. An address "+
		"is in CIDR form, dhcp, or for IPv6 also auto; a gateway needs an address of its family. Without any, cloud-init "+
		"uses DHCP for IPv4.", QemuIPConfigProp()))
	indexed("numa", QemuMaxNUMA, prop("One guest NUMA node: its CPUs, its memory, and the host nodes backing it.", QemuNUMAProp()))
	indexed("hostpci", QemuMaxHostPCI, prop("A host PCI device passed through to the guest. The VM cannot migrate "+
		"while it has one.", QemuHostPCIProp()))
	indexed("usb", QemuMaxUSB, prop("A USB device: passed through from the host, or a SPICE redirection channel. "+
		"Only usb0 to usb4 exist for old machine types and guests.", QemuUSBProp()))
	indexed("unused", QemuMaxUnused, prop("A volume of the VM that is attached to nothing; kept until it is removed or attached again.",
		QemuUnusedProp()))
	indexed("virtiofs", QemuMaxVirtioFS, prop("A host directory shared with the guest over virtiofs.", QemuVirtioFSProp()))
	indexed("serial", QemuMaxSerial, qemuOpt(schema.Pat("A serial port: socket for a host socket (reached with qm terminal), "+
		"or a host serial device such as /dev/ttyS0, which keeps the VM from migrating.", `/dev/.+|socket`)))
	indexed("parallel", QemuMaxParallel, qemuOpt(schema.Pat("A host parallel port passed through, such as /dev/parport0. "+
		"The VM cannot migrate while it has one.", `/dev/parport\d+|/dev/usb/lp\d+`)))
	return p
}

func qemuBusTitle(bus string) string {
	switch bus {
	case "ide":
		return "IDE"
	case "sata":
		return "SATA"
	case "scsi":
		return "SCSI"
	}
	return "VirtIO block"
}

// qemuPlainOptions are the keys whose values are single values rather than
// property strings.
func qemuPlainOptions() schema.Props {
	b := func(desc string, def bool) *schema.Schema { return schema.Bool(desc).Def(def).Ptr() }
	bo := func(desc string) *schema.Schema { return schema.Bool(desc).Opt() }
	storage := func(desc string) *schema.Schema {
		s := schema.StorageID().Desc(desc)
		s.FormatDescription = "storage ID"
		return s.Opt()
	}
	hotplug := schema.Pat("Which device kinds can be added or removed while the VM runs: a list of network, disk, cpu, "+
		"memory, usb and cloudinit; 0 turns hotplug off and 1 means the default. USB hotplug needs machine 7.1 or later "+
		"and a Linux or Windows 8+ guest.", qemuHotplugPattern).Def("network,disk,usb")
	return schema.Props{
		"acpi": b("Give the guest ACPI.", true),
		"affinity": qemuFD(schema.Pat("Host CPUs the VM's processes may run on, such as 0,5,8-11.",
			`\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*`), "string"),
		"allow-ksm": b("Let kernel samepage merging deduplicate the VM's memory pages.", true),
		"arch":      qemuOpt(schema.Enum("CPU architecture of the guest; the host's when not set.", "x86_64", "aarch64")),
		"args":      schema.Str("Extra arguments appended to the QEMU command line, for experts; root only.").Opt(),
		"autostart": b("Restart the VM after it crashed (not acted on yet).", false),
		"balloon": schema.Schema{Type: schema.Integer, Minimum: schema.F(0),
			Description: "Memory in MiB the balloon driver aims for; 0 removes the balloon device."}.Opt(),
		"bios": schema.Enum("Firmware: SeaBIOS (legacy BIOS) or OVMF (UEFI).", "seabios", "ovmf").Def("seabios").Ptr(),
		"bootdisk": qemuOpt(schema.Pat("Disk to boot from, for the legacy boot order; superseded by boot's order.",
			`ide(?:`+qemuIndexPattern(4)+`)|sata(?:`+qemuIndexPattern(6)+`)|scsi(?:`+qemuIndexPattern(31)+`)|virtio(?:`+qemuIndexPattern(16)+`)`)),
		"cipassword": func() *schema.Schema {
			s := schema.Str("cloud-init: password for the user; prefer SSH keys. Old cloud-init releases cannot take a hashed password.")
			s.Sensitive = true
			return s.Opt()
		}(),
		"citype":    qemuOpt(schema.Enum("cloud-init: data source format; nocloud for Linux and configdrive2 for Windows when not set.", "configdrive2", "nocloud", "opennebula")),
		"ciupgrade": b("cloud-init: upgrade the guest's packages on its first boot.", true),
		"ciuser":    schema.Str("cloud-init: user whose password and SSH keys are set, instead of the image's default user.").Opt(),
		"cores":     schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "CPU cores per socket."}.Def(int64(1)).Ptr(),
		"cpulimit": schema.Schema{Type: schema.Number, Minimum: schema.F(0), Maximum: schema.F(128),
			Description: "Cap on the host CPU time the VM uses, in CPUs (1.5 is one and a half CPUs); 0 means no cap."}.Def(0.0).Ptr(),
		// Proxmox VE's default depends on the cgroup version (1024 on v1, 100 on v2), so none is declared.
		"cpuunits": schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Maximum: schema.F(262144),
			Description: "Relative CPU weight against other VMs when the host is busy; 100 when not set (cgroup v2)."}.Opt(),
		"description": schema.Schema{Type: schema.String, MaxLength: 8192,
			Description: "Notes about the VM, shown in its summary; the file keeps them as comment lines."}.Opt(),
		"freeze": bo("Start with the CPUs stopped; the monitor command c starts them."),
		"hookscript": &schema.Schema{Type: schema.String, Format: "pve-volume-id", Optional: true,
			Description: "Snippet volume run at each step of the VM's life (pre-start, post-start, pre-stop, post-stop)."},
		"hotplug":       &hotplug,
		"hugepages":     qemuOpt(schema.Enum("Back the memory with huge pages of this size in MiB; any picks 1 GiB pages when possible, else 2 MiB.", "any", "2", "1024")),
		"keephugepages": b("Keep the huge pages after the VM stops, for its next start (with hugepages).", false),
		"keyboard": qemuOpt(schema.Enum("Keyboard layout of the VNC server; usually better left to the guest.",
			"de", "de-ch", "da", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is", "it",
			"ja", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "sv", "sl", "tr")),
		"kvm":       b("Use KVM hardware virtualization; without it QEMU emulates the CPU (much slower).", true),
		"localtime": bo("Run the guest's real-time clock in local time instead of UTC; on by default for Windows guests."),
		"lock": qemuOpt(schema.Enum("An operation in progress that keeps others away from the VM.",
			"backup", "clone", "create", "migrate", "rollback", "snapshot", "snapshot-delete", "suspending", "suspended")),
		"migrate_downtime": schema.Schema{Type: schema.Number, Minimum: schema.F(0),
			Description: "Longest pause in seconds a live migration may cause at its end; raised step by step when the migration " +
				"cannot finish within it, up to QEMU's limit of 2000."}.Def(0.1).Ptr(),
		"migrate_speed": schema.Schema{Type: schema.Integer, Minimum: schema.F(0),
			Description: "Speed cap of migrations in MB/s; 0 means no cap."}.Def(int64(0)).Ptr(),
		"name": &schema.Schema{Type: schema.String, Format: "dns-name", Optional: true,
			Description: "Name of the VM, a DNS name; used for display and as the guest's host name by cloud-init."},
		"nameserver": &schema.Schema{Type: schema.String, Format: "address-list", Optional: true,
			Description: "cloud-init: DNS servers of the guest; the host's are used when neither this nor searchdomain is set."},
		"numa":   b("Give the guest a NUMA topology (from numaN, or one node per socket).", false),
		"onboot": b("Start the VM when the host boots.", false),
		"ostype": schema.Enum("Guest operating system, for OS-specific tuning: other, wxp, w2k, w2k3, w2k8, wvista, win7, "+
			"win8 (also 2012), win10 (also 2016 and 2019), win11 (also 2022 and 2025), l24 (Linux 2.4), l26 (Linux 2.6 and later), solaris.",
			"other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris").Def("other").Ptr(),
		"protection": b("Protect the VM and its disks from being removed.", false),
		"reboot":     b("Let the guest reboot; when off, a reboot stops the VM.", true),
		"scsihw": schema.Enum("SCSI controller model. virtio-scsi-single gives each disk a controller of its own (needed for "+
			"per-disk I/O threads).", "lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi").Def("lsi").Ptr(),
		"searchdomain": schema.Str("cloud-init: DNS search domains of the guest; the host's are used when neither this nor nameserver is set.").Opt(),
		"shares": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(50000),
			Description: "Weight of the VM when automatic ballooning shares out host memory; 0 exempts it."}.Def(int64(1000)).Ptr(),
		"smp":     schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Old name for sockets."}.Def(int64(1)).Ptr(),
		"sockets": schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "CPU sockets."}.Def(int64(1)).Ptr(),
		"sshkeys": &schema.Schema{Type: schema.String, Format: "urlencoded", Optional: true,
			Description: "cloud-init: SSH public keys for the user, one per line, URL-encoded."},
		"startdate": func() *schema.Schema {
			s := schema.Pat("Initial date of the real-time clock: now, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.",
				`now|\d{4}-\d{1,2}-\d{1,2}(?:T\d{1,2}:\d{1,2}:\d{1,2})?`).Def("now")
			s.TypeHint = "(now | YYYY-MM-DD | YYYY-MM-DDTHH:MM:SS)"
			return &s
		}(),
		"tablet":   b("Add a USB tablet so the pointer follows the VNC client exactly.", true),
		"tags":     &schema.Schema{Type: schema.String, Format: "pve-tag-list", Optional: true, Description: "Tags of the VM, separated by ';'."},
		"tdf":      b("Time drift fix (no longer used).", false),
		"template": b("The VM is a template to clone from; it cannot be started.", false),
		// Proxmox VE declares a default of 0 outside the range; the effective default is all vCPUs.
		"vcpus": schema.Schema{Type: schema.Integer, Minimum: schema.F(1),
			Description: "vCPUs plugged in at start; the rest of sockets x cores can be hot-plugged. All when not set."}.Opt(),
		"vmgenid": qemuFD(schema.Pat("VM generation id, a UUID the guest can watch to notice it was cloned or rolled back "+
			"(Windows uses it). 1 asks for a new one, 0 removes it.", qemuUUIDPattern+`|[01]`), "UUID"),
		"vmstatestorage": storage("Storage for the saved memory of snapshots and hibernation."),
	}
}

// qemuHotplugFeature and qemuHotplugPattern describe the hotplug list.
const (
	qemuHotplugFeature = `(?:network|disk|cpu|memory|usb|cloudinit)`
	qemuHotplugPattern = `0|1|` + qemuHotplugFeature + `(?:[,;\s]+` + qemuHotplugFeature + `)*`
)

// QemuSnapshotOptions returns the keys Hearth and Proxmox VE write
// themselves and that never come from a user: facts kept in snapshot
// sections (parent, snaptime, vmstate, runningmachine, runningcpu,
// snapstate) and creation facts (meta). A configuration reader must accept
// them next to QemuOptions.
func QemuSnapshotOptions() schema.Props {
	return schema.Props{
		"parent": &schema.Schema{Type: schema.String, Format: "pve-configid", MaxLength: 40, Optional: true,
			Description: "Snapshot this state derives from."},
		"snaptime": schema.Schema{Type: schema.Integer, Minimum: schema.F(0),
			Description: "When the snapshot was taken, in seconds since the epoch."}.Opt(),
		"vmstate": &schema.Schema{Type: schema.String, Format: "pve-volume-id", Optional: true,
			Description: "Volume holding the saved memory of a snapshot or a hibernated VM."},
		"runningmachine": func() *schema.Schema {
			s := schema.Pat("Machine type the VM ran with when its memory was saved.", QemuMachineTypePattern)
			s.MaxLength = 40
			return s.Opt()
		}(),
		"runningcpu": schema.Str("QEMU -cpu argument the VM ran with when its memory was saved.").Opt(),
		"snapstate":  qemuOpt(schema.Enum("A snapshot being taken or removed.", "prepare", "delete")),
		"meta":       &schema.Schema{Type: schema.String, Optional: true, Description: "Facts recorded when the VM was created.", Prop: QemuMetaProp()},
	}
}
