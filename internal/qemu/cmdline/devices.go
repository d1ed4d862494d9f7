package cmdline

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// addDevices adds the devices other than disks and NICs, in an order
// that keeps ISA devices (serial ports) numbered as Proxmox VE numbers
// them.
func (b *builder) addDevices() error {
	for _, step := range []func() error{
		b.addVMGenID, b.addTPM, b.addUSB, b.addHostPCI, b.addVGA, b.addSerials, b.addAgent, b.addRNG,
		b.addBalloon, b.addWatchdog, b.addAudio, b.addIvshmem, b.checkUnsupported,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// smbiosArg is the -smbios value of smbios1. Base64 fields are decoded;
// QEMU takes any bytes but needs commas doubled.
func smbiosArg(v string) (string, error) {
	s, err := vmconf.ParseSMBIOS1(v)
	if err != nil {
		return "", err
	}
	text, err := s.Text()
	if err != nil {
		return "", err
	}
	o := opts{{"type", "1"}}
	if s.UUID != "" {
		o = append(o, opt{"uuid", s.UUID})
	}
	for _, k := range []string{"manufacturer", "product", "version", "serial", "sku", "family"} {
		if t := text[k]; t != "" {
			o = append(o, opt{k, t})
		}
	}
	return o.String(), nil
}

func (b *builder) addVMGenID() error {
	switch v := b.conf["vmgenid"]; v {
	case "", "0":
	case "1":
		// 1 asks for a new id when the configuration is written; it
		// should never reach a start.
		b.warn("vmgenid: 1 is a request for a new generation id, not an id; the VM starts without one")
	default:
		b.device(opts{{"driver", "vmgenid"}, {"guid", v}})
	}
	return nil
}

// addTPM connects the TPM to the swtpm the VM service runs on the state
// volume. The interface is tpm-tis on both machine types, as Proxmox VE
// uses it, so a guest's sealed secrets survive a move between the two.
func (b *builder) addTPM() error {
	v, ok := b.conf["tpmstate0"]
	if !ok {
		return nil
	}
	if _, err := vmconf.ParseDrive("tpmstate0", v); err != nil {
		return fmt.Errorf("tpmstate0: %w", err)
	}
	if b.in.Paths.TPM == "" {
		return fmt.Errorf("tpmstate0: the TPM emulator's socket path is required")
	}
	b.addDev("-chardev", opts{{"driver", "socket"}, {"id", "tpmchar"}, {"path", b.in.Paths.TPM}}.String())
	b.addDev("-tpmdev", "emulator,id=tpmdev,chardev=tpmchar")
	b.device(opts{{"driver", "tpm-tis"}, {"tpmdev", "tpmdev"}})
	return nil
}

// vgaDriver maps a vga type to its QEMU device.
func vgaDriver(typ string) (string, bool) {
	switch typ {
	case "std":
		return "VGA", true
	case "cirrus":
		return "cirrus-vga", true
	case "vmware":
		return "vmware-svga", true
	case "virtio":
		return "virtio-vga", true
	case "virtio-gl":
		return "virtio-vga-gl", true
	}
	return "", false
}

var qxlRE = regexp.MustCompile(`^qxl([2-4]?)$`)

// vgaType returns the configured display type with its defaults filled:
// std, but cirrus for Windows before Vista, and none when a passed
// through GPU is the primary display.
func (b *builder) vgaType() (*vmconf.VGA, error) {
	g := &vmconf.VGA{}
	if v := b.conf["vga"]; v != "" {
		var err error
		if g, err = vmconf.ParseVGA(v); err != nil {
			return nil, fmt.Errorf("vga: %w", err)
		}
	}
	if g.Type == "" {
		g.Type = "std"
		if b.win > 0 && b.win < 6 {
			g.Type = "cirrus"
		}
		for i := 0; i < 16; i++ {
			if h, err := vmconf.ParseHostPCI(b.conf["hostpci"+strconv.Itoa(i)]); err == nil && h.XVGA.Or(false) {
				g.Type = "none"
			}
		}
	}
	return g, nil
}

func (b *builder) addVGA() error {
	g, err := b.vgaType()
	if err != nil {
		return err
	}
	if g.Clipboard == "vnc" {
		// The clipboard travels over a SPICE agent port that QEMU's own
		// vdagent serves to the VNC server.
		addr, err := b.pciAddr("spice")
		if err != nil {
			return err
		}
		b.addDev("-chardev", "qemu-vdagent,id=vdagent,name=vdagent,clipboard=on")
		b.device(append(opts{{"driver", "virtio-serial"}, {"id", "spice"}}, addr...))
		b.device(opts{{"driver", "virtserialport"}, {"chardev", "vdagent"}, {"name", "com.redhat.spice.0"}})
	}
	if port, ok := strings.CutPrefix(g.Type, "serial"); ok {
		if _, has := b.conf["serial"+port]; !has {
			b.warn("vga serial%s: serial%s is not configured, so the VM has no console", port, port)
		}
		return nil
	}
	if g.Type == "none" {
		return nil
	}
	heads := 0
	if m := qxlRE.FindStringSubmatch(g.Type); m != nil {
		heads = 1
		if m[1] != "" {
			heads, _ = strconv.Atoi(m[1])
		}
	}
	first, err := b.vgaDevice(g, 0, heads)
	if err != nil {
		return err
	}
	b.device(first)
	if g.Type == "virtio-gl" {
		b.addDev("-display", "egl-headless,gl=core")
	}
	if heads > 1 {
		if b.win > 0 {
			// Windows drives one head per QXL device.
			for i := 1; i < heads; i++ {
				d, err := b.vgaDevice(g, i, heads)
				if err != nil {
					return err
				}
				b.device(d)
			}
		} else {
			ram, vram := 134217728, 67108864
			if mem, ok := g.Memory.Get(); ok {
				ram, vram = heads*4*mem<<20, heads*2*mem<<20
			}
			b.tail = append(b.tail, "-global", fmt.Sprintf("qxl-vga.ram_size=%d", ram), "-global", fmt.Sprintf("qxl-vga.vram_size=%d", vram))
		}
	}
	return nil
}

// vgaDevice is display device n (0 is the primary, vga; further QXL
// heads are vga1 to vga3).
func (b *builder) vgaDevice(g *vmconf.VGA, n, heads int) (opts, error) {
	id := "vga"
	if n > 0 {
		id += strconv.Itoa(n)
	}
	driver, ok := vgaDriver(g.Type)
	if heads > 0 {
		driver, ok = "qxl-vga", true
		if n > 0 {
			driver = "qxl"
		}
	}
	if !ok {
		return nil, fmt.Errorf("vga: unknown type %q", g.Type)
	}
	o := opts{{"driver", driver}, {"id", id}}
	if mem, ok := g.Memory.Get(); ok {
		switch {
		case strings.HasPrefix(g.Type, "virtio"):
			o = append(o, opt{"max_hostmem", int64(mem) << 20})
		case heads > 0:
			o = append(o, opt{"vgamem_mb", mem}, opt{"ram_size", mem * 4 << 20}, opt{"vram_size", mem * 2 << 20})
		default:
			o = append(o, opt{"vgamem_mb", mem})
		}
	} else if heads > 0 && n > 0 {
		o = append(o, opt{"ram_size", 67108864}, opt{"vram_size", 33554432})
	}
	if heads > 0 && n == 0 && b.win == 0 && b.m.atLeast(4, 1) {
		// Linux drives up to four heads from one QXL device.
		o = append(o, opt{"max_outputs", 4})
	}
	if b.m.q35 && n == 0 {
		// The primary display sits on the root complex of q35.
		o = append(o, opt{"bus", "pcie.0"}, opt{"addr", "0x1"})
	} else {
		addr, err := b.pciAddr(id)
		if err != nil {
			return nil, err
		}
		o = append(o, addr...)
	}
	if driver == "VGA" && b.win > 0 && b.conf["bios"] != "ovmf" {
		// Windows under SeaBIOS misreads the EDID of the std card.
		o = append(o, opt{"edid", false})
	}
	return o, nil
}

// addSerials adds serial0-3 (a socket for qm terminal, or a host device)
// and the parallel ports. The ports get COM numbers in creation order,
// as on Proxmox VE.
func (b *builder) addSerials() error {
	for i := 0; i < 4; i++ {
		key := "serial" + strconv.Itoa(i)
		v, ok := b.conf[key]
		if !ok {
			continue
		}
		s, err := vmconf.ParseSerial(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if s.IsSocket() {
			path := b.in.Paths.Serial[i]
			if path == "" {
				return fmt.Errorf("%s: the socket path is required", key)
			}
			b.addDev("-chardev", opts{{"driver", "socket"}, {"id", key}, {"path", path}, {"server", true}, {"wait", false}}.String())
		} else {
			b.addDev("-chardev", opts{{"driver", "serial"}, {"id", key}, {"path", s.Device}}.String())
		}
		b.device(opts{{"driver", "isa-serial"}, {"chardev", key}})
	}
	for i := 0; i < 3; i++ {
		key := "parallel" + strconv.Itoa(i)
		v, ok := b.conf[key]
		if !ok {
			continue
		}
		path, err := vmconf.ParseParallel(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		b.addDev("-chardev", opts{{"driver", "parallel"}, {"id", key}, {"path", path}}.String())
		b.device(opts{{"driver", "isa-parallel"}, {"chardev", key}})
	}
	return nil
}

// addAgent adds the guest agent's port: a virtio serial port named as
// the agent expects, or an ISA serial port for guests without virtio.
func (b *builder) addAgent() error {
	v := b.conf["agent"]
	if v == "" {
		return nil
	}
	a, err := vmconf.ParseAgent(v)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if !a.Enabled {
		return nil
	}
	if b.in.Paths.QGA == "" {
		return fmt.Errorf("agent: the guest agent socket path is required")
	}
	b.addDev("-chardev", opts{{"driver", "socket"}, {"path", b.in.Paths.QGA}, {"server", true}, {"wait", false}, {"id", "qga0"}}.String())
	if a.Type == "isa" {
		b.device(opts{{"driver", "isa-serial"}, {"chardev", "qga0"}})
		return nil
	}
	addr, err := b.pciAddr("qga0")
	if err != nil {
		return err
	}
	b.device(append(opts{{"driver", "virtio-serial"}, {"id", "qga0"}}, addr...))
	b.device(opts{{"driver", "virtserialport"}, {"chardev", "qga0"}, {"name", "org.qemu.guest_agent.0"}})
	return nil
}

// addRNG adds the virtio RNG with its rate limit (1024 bytes a second
// unless set otherwise; max_bytes 0 lifts it).
func (b *builder) addRNG() error {
	v := b.conf["rng0"]
	if v == "" {
		return nil
	}
	r, err := vmconf.ParseRNG(v)
	if err != nil {
		return fmt.Errorf("rng0: %w", err)
	}
	b.addDev("-object", opts{{"driver", "rng-random"}, {"filename", r.Source}, {"id", "rng0"}}.String())
	o := opts{{"driver", "virtio-rng-pci"}, {"rng", "rng0"}}
	if max := r.MaxBytes.Or(1024); max > 0 {
		o = append(o, opt{"max-bytes", max}, opt{"period", r.Period.Or(1000)})
	}
	addr, err := b.pciAddr("rng0")
	if err != nil {
		return err
	}
	b.device(append(o, addr...))
	return nil
}

// addBalloon adds the balloon device unless balloon is 0. Its target is
// set over QMP; shares only matter to automatic ballooning.
func (b *builder) addBalloon() error {
	if n, err := intOpt(b.conf, "balloon", 1); err != nil || n == 0 {
		return err
	}
	addr, err := b.pciAddr("balloon0")
	if err != nil {
		return err
	}
	o := append(opts{{"driver", "virtio-balloon-pci"}, {"id", "balloon0"}}, addr...)
	if b.m.atLeast(6, 2) {
		// Lets the guest hand freed pages back to the host at once.
		o = append(o, opt{"free-page-reporting", true})
	}
	b.device(o)
	return nil
}

func (b *builder) addWatchdog() error {
	v := b.conf["watchdog"]
	if v == "" {
		return nil
	}
	w, err := vmconf.ParseWatchdog(v)
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	if w.Model == "ib700" {
		b.device(opts{{"driver", "ib700"}, {"id", "watchdog"}})
	} else {
		addr, err := b.pciAddr("watchdog")
		if err != nil {
			return err
		}
		b.device(append(opts{{"driver", "i6300esb"}, {"id", "watchdog"}}, addr...))
	}
	if w.Action != "" {
		b.addDev("-watchdog-action", w.Action)
	}
	return nil
}

// addAudio adds the sound card. Hearth's display is VNC, which carries no
// sound, so the SPICE driver becomes none: the guest keeps its card.
func (b *builder) addAudio() error {
	v := b.conf["audio0"]
	if v == "" {
		return nil
	}
	a, err := vmconf.ParseAudio(v)
	if err != nil {
		return fmt.Errorf("audio0: %w", err)
	}
	if a.Driver == "" || a.Driver == "spice" {
		b.warn("audio0: the spice audio driver needs a SPICE display, which Hearth does not offer; the sound card stays silent")
	}
	addr, err := b.pciAddr("audio0")
	if err != nil {
		return err
	}
	switch a.Device {
	case "AC97":
		b.device(append(append(opts{{"driver", "AC97"}, {"id", "audio0"}}, addr...), opt{"audiodev", "audiodev0"}))
	case "ich9-intel-hda", "intel-hda":
		b.device(append(opts{{"driver", a.Device}, {"id", "audio0"}}, addr...))
		b.device(opts{{"driver", "hda-micro"}, {"id", "audio0-codec0"}, {"bus", "audio0.0"}, {"cad", 0}, {"audiodev", "audiodev0"}})
		b.device(opts{{"driver", "hda-duplex"}, {"id", "audio0-codec1"}, {"bus", "audio0.0"}, {"cad", 1}, {"audiodev", "audiodev0"}})
	default:
		return fmt.Errorf("audio0: unknown device %q", a.Device)
	}
	b.addDev("-audiodev", "none,id=audiodev0")
	return nil
}

// addIvshmem adds the shared memory device, backed by a file in /dev/shm
// named after the ivshmem name (the VM id by default).
func (b *builder) addIvshmem() error {
	v := b.conf["ivshmem"]
	if v == "" {
		return nil
	}
	s, err := vmconf.ParseIvshmem(v)
	if err != nil {
		return fmt.Errorf("ivshmem: %w", err)
	}
	name := s.Name
	if name == "" {
		name = strconv.Itoa(b.in.VMID)
	}
	addr, err := b.pciAddr("ivshmem")
	if err != nil {
		return err
	}
	b.device(append(opts{{"driver", "ivshmem-plain"}, {"memdev", "ivshmem"}}, addr...))
	b.addDev("-object", opts{{"driver", "memory-backend-file"}, {"id", "ivshmem"}, {"share", true},
		{"mem-path", "/dev/shm/pve-shm-" + name}, {"size", strconv.Itoa(s.Size) + "M"}}.String())
	return nil
}

// checkUnsupported refuses or reports options Hearth cannot honour yet.
func (b *builder) checkUnsupported() error {
	for _, k := range []string{"amd-sev", "intel-tdx"} {
		if b.conf[k] != "" {
			return fmt.Errorf("%s: confidential computing is not supported yet", k)
		}
	}
	for i := 0; i < 10; i++ {
		if k := "virtiofs" + strconv.Itoa(i); b.conf[k] != "" {
			b.warn("%s: virtiofs is not supported yet; the directory is not shared", k)
		}
	}
	return nil
}
