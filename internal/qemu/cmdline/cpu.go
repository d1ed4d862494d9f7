package cmdline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// builtinModel returns the flags of Proxmox VE's x86-64
// micro-architecture levels, which are QEMU's qemu64 with these flags.
func builtinModel(name string) (flags []string, ok bool) {
	v2 := []string{"+popcnt", "+pni", "+sse4.1", "+sse4.2", "+ssse3"}
	aes := append([]string{"+aes"}, v2...)
	v3 := append(slices.Clone(aes), "+avx", "+avx2", "+bmi1", "+bmi2", "+f16c", "+fma", "+abm", "+movbe", "+xsave")
	switch name {
	case "x86-64-v2":
		return v2, true
	case "x86-64-v2-AES":
		return aes, true
	case "x86-64-v3":
		return v3, true
	case "x86-64-v4":
		return append(v3, "+avx512f", "+avx512bw", "+avx512cd", "+avx512dq", "+avx512vl"), true
	}
	return nil, false
}

// cpuFlag is one entry of the -cpu list: +flag, -flag, flag or flag=value.
type cpuFlag struct{ op, value string }

// cpuModel resolves the QEMU model and its flags.
//
// cpu: host needs KVM. Under TCG it becomes QEMU's max model (every
// feature the emulator has) with a warning, rather than refusing to start:
// configurations from KVM hosts use host a lot, and a slow guest that
// boots is more useful on a host without KVM than none.
func (b *builder) cpuModel() (model string, flags map[string]cpuFlag, c *vmconf.CPU, err error) {
	raw := b.conf["cpu"]
	if b.in.ForceCPU != "" {
		raw = b.in.ForceCPU
	}
	c, err = vmconf.ParseCPU(raw)
	if err != nil {
		return "", nil, nil, fmt.Errorf("cpu: %w", err)
	}
	model = c.Type
	if model == "" {
		// Proxmox VE's default: kvm64 with KVM, qemu64 when the
		// configuration turns KVM off.
		model = "kvm64"
		if !b.kvmConf {
			model = "qemu64"
		}
	}
	if name := c.CustomName(); name != "" {
		return "", nil, nil, fmt.Errorf("cpu: custom model %s: custom CPU models (cpu-models.conf) are not supported yet", name)
	}
	flags = map[string]cpuFlag{}
	setFlags := func(list []string) {
		for _, f := range list {
			if f == "" {
				continue
			}
			flags[f[1:]] = cpuFlag{op: f[:1]}
		}
	}
	if extra, ok := builtinModel(model); ok {
		model = "qemu64"
		setFlags(extra)
	}
	if model == "host" && !b.kvm {
		b.warn("cpu host needs KVM; using QEMU's max model (all features the emulator has) instead")
		model = "max"
	}
	if model == "kvm64" {
		flags["lahf_lm"] = cpuFlag{op: "+"}
		flags["sep"] = cpuFlag{op: "+"}
	}
	if b.kvm {
		flags["kvm_pv_unhalt"] = cpuFlag{op: "+"}
		flags["kvm_pv_eoi"] = cpuFlag{op: "+"}
		if model != "host" {
			// Refuse to start rather than give the guest less than its
			// model promises (it would break on migration).
			flags["enforce"] = cpuFlag{}
		}
		b.hypervFlags(flags, c)
	}
	if c.Hidden.Or(false) {
		flags["kvm"] = cpuFlag{value: "off"}
	}
	for _, f := range c.Flags {
		if f == "" {
			continue
		}
		name := f[1:]
		if name == "nested-virt" {
			// The virtualization extension has a vendor's name.
			switch b.in.Host.CPUVendor {
			case "GenuineIntel":
				name = "vmx"
			case "AuthenticAMD":
				name = "svm"
			default:
				b.warn("cpu: flag %s is left out: the host CPU's vendor is not known", f)
				continue
			}
		}
		flags[name] = cpuFlag{op: f[:1]}
	}
	return model, flags, c, nil
}

// hypervFlags adds the Hyper-V enlightenments Windows guests run faster
// with, by Windows generation and machine version, as Proxmox VE does.
func (b *builder) hypervFlags(flags map[string]cpuFlag, c *vmconf.CPU) {
	if b.win < 6 || (b.conf["bios"] == "ovmf" && b.win < 8) {
		return
	}
	on := func(names ...string) {
		for _, n := range names {
			flags[n] = cpuFlag{}
		}
	}
	if c.HVVendorID != "" {
		flags["hv_vendor_id"] = cpuFlag{value: c.HVVendorID}
	}
	flags["hv_spinlocks"] = cpuFlag{value: "0x1fff"}
	on("hv_vapic", "hv_time", "hv_reset", "hv_vpindex", "hv_runtime")
	if b.win >= 7 {
		on("hv_relaxed", "hv_synic", "hv_stimer")
		if b.m.atLeast(3, 1) {
			on("hv_ipi")
		}
	}
}

// addCPU adds -cpu and the topology (-smp, and with CPU hotplug a device
// per vCPU beyond the first).
func (b *builder) addCPU() error {
	model, flags, c, err := b.cpuModel()
	if err != nil {
		return err
	}
	b.cpu = c
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, n)
	}
	slices.Sort(names)
	arg := []string{model}
	for _, n := range names {
		f := flags[n]
		s := f.op + n
		if f.value != "" {
			s += "=" + f.value
		}
		arg = append(arg, s)
	}
	switch pb := c.PhysBits; pb {
	case "":
	case "host":
		arg = append(arg, "host-phys-bits=true")
	default:
		arg = append(arg, "phys-bits="+pb)
	}
	if gpb, ok := c.GuestPhysBits.Get(); ok {
		if major, _, known := parseVersion(b.in.Host.QEMUVersion); known && major < 9 {
			b.warn("cpu: guest-phys-bits needs QEMU 9.0 or later; QEMU %s ignores it", b.in.Host.QEMUVersion)
		} else {
			arg = append(arg, fmt.Sprintf("guest-phys-bits=%d", gpb))
		}
	}

	sockets, cores, vcpus, err := b.topology()
	if err != nil {
		return err
	}
	maxcpus := sockets * cores
	if b.hotplug.CPU {
		b.add("-smp", fmt.Sprintf("1,sockets=%d,cores=%d,maxcpus=%d", sockets, cores, maxcpus))
		for i := 2; i <= vcpus; i++ {
			b.add("-device", cpuDevice(model, i, cores).String())
		}
	} else {
		b.add("-smp", fmt.Sprintf("%d,sockets=%d,cores=%d,maxcpus=%d", vcpus, sockets, cores, maxcpus))
	}
	b.add("-nodefaults")
	b.add("-boot", "menu=on,strict=on,reboot-timeout=1000")
	b.add("-vnc", "unix:"+b.in.Paths.VNC)
	b.add("-cpu", strings.Join(arg, ","))
	if a := b.conf["affinity"]; a != "" {
		b.warn("affinity %s is not applied: the VM's threads may run on any host CPU", a)
	}
	return nil
}

// topology reads sockets (or the old smp), cores and vcpus and checks
// them against the host.
func (b *builder) topology() (sockets, cores, vcpus int, err error) {
	if sockets, err = intOpt(b.conf, "sockets", 1); err != nil {
		return
	}
	if _, old := b.conf["smp"]; old {
		if sockets, err = intOpt(b.conf, "smp", 1); err != nil {
			return
		}
	}
	if cores, err = intOpt(b.conf, "cores", 1); err != nil {
		return
	}
	if sockets < 1 || cores < 1 {
		return 0, 0, 0, fmt.Errorf("sockets and cores must be at least 1")
	}
	max := sockets * cores
	if vcpus, err = intOpt(b.conf, "vcpus", max); err != nil {
		return
	}
	if vcpus == 0 {
		vcpus = max
	}
	switch {
	case max > maxVCPUs:
		return 0, 0, 0, fmt.Errorf("sockets × cores is %d; QEMU gives a VM at most %d vCPUs", max, maxVCPUs)
	case vcpus < 1 || vcpus > max:
		return 0, 0, 0, fmt.Errorf("vcpus: %d is outside 1 to %d (sockets × cores)", vcpus, max)
	case b.in.Host.CPUs > 0 && max > b.in.Host.CPUs:
		return 0, 0, 0, fmt.Errorf("the VM has %d vCPUs (sockets × cores) but this host has only %d CPUs", max, b.in.Host.CPUs)
	}
	return sockets, cores, vcpus, nil
}

// maxVCPUs bounds the topology before anything is generated from it;
// QEMU's own limit depends on the machine and is lower.
const maxVCPUs = 1024

// cpuDevice is the hot-pluggable vCPU number n (from 1), placed by socket
// and core; ids run cpu2, cpu3, ... as Proxmox VE names them.
func cpuDevice(model string, n, cores int) opts {
	return opts{{"driver", model + "-x86_64-cpu"}, {"id", fmt.Sprintf("cpu%d", n)},
		{"socket-id", (n - 1) / cores}, {"core-id", (n - 1) % cores}, {"thread-id", 0}}
}
