package cmdline

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// Node names. A drive's top node is always drive-<key>, which the guest
// device points at and block_resize and mirror name. Below it sit the
// format node (fmt-<key> when a throttle filter is the top, else the top
// itself) and the protocol node file-<key>.

// NodeName returns the node-name of a drive's top blockdev, such as
// drive-scsi0.
func NodeName(key string) string { return "drive-" + key }

func protocolNode(key string) string  { return "file-" + key }
func throttleGroup(key string) string { return "throttle-drive-" + key }

// DriveAttach is what hot-plugging a drive takes, in this order: the
// objects (object-add), the controller when the VM does not have it yet
// (device_add), the block nodes (blockdev-add, protocol node first), and
// the guest device (device_add).
type DriveAttach struct {
	// Objects are object-add arguments: the I/O thread of the disk or of
	// its own controller, and the throttle group of its limits.
	Objects []map[string]any
	// Controller is the device_add of the SCSI or SATA controller the
	// drive sits on, nil for IDE and VirtIO block. A shared controller
	// (scsihw0, ahci0) may exist already: add it only when it is missing.
	Controller map[string]any
	// Blockdevs are blockdev-add arguments, each node naming the one
	// below it by node-name; nil for an empty CD-ROM drive.
	Blockdevs []map[string]any
	// Device is the device_add of the guest-visible disk or CD-ROM drive.
	Device map[string]any
}

// drivePlan is one drive as both a start and a hot-plug see it.
type drivePlan struct {
	key        string
	d          *vmconf.Drive
	objects    []map[string]any
	controller opts
	ctrlObject map[string]any // the controller's I/O thread, emitted with it
	nodes      []map[string]any
	device     opts
}

// DriveAttachment plans the drive key of the configuration for hot-plug,
// with the same ids, addresses and nodes Build gives it.
func DriveAttachment(in Input, key string) (*DriveAttach, error) {
	b, err := newBuilder(in)
	if err != nil {
		return nil, err
	}
	p, err := b.planDrive(key)
	if err != nil {
		return nil, fmt.Errorf("VM %d: %w", in.VMID, err)
	}
	a := &DriveAttach{Objects: p.objects, Blockdevs: p.nodes, Device: p.device.Map()}
	if p.ctrlObject != nil {
		a.Objects = append([]map[string]any{p.ctrlObject}, a.Objects...)
	}
	if p.controller != nil {
		a.Controller = p.controller.Map()
	}
	return a, nil
}

// DriveObjects returns the blockdev-add arguments (protocol node first)
// and the device_add arguments of a drive, as Build creates it. Objects
// and controllers the drive needs come with DriveAttachment.
func DriveObjects(in Input, key string) (blockdevs []map[string]any, device map[string]any, err error) {
	a, err := DriveAttachment(in, key)
	if err != nil {
		return nil, nil, err
	}
	return a.Blockdevs, a.Device, nil
}

// addDrives adds every disk and CD-ROM drive in Proxmox VE's order, each
// after the controller it needs.
func (b *builder) addDrives() error {
	seen := map[string]bool{}
	for _, key := range vmconf.DriveKeys() {
		if key == "efidisk0" || key == "tpmstate0" {
			continue
		}
		if _, ok := b.conf[key]; !ok {
			continue
		}
		p, err := b.planDrive(key)
		if err != nil {
			return err
		}
		if p.controller != nil {
			id := p.controller.get("id").(string)
			if !seen[id] {
				seen[id] = true
				if p.ctrlObject != nil {
					b.addDev("-object", objectArg(p.ctrlObject))
				}
				b.device(p.controller)
			}
		}
		for _, o := range p.objects {
			b.addDev("-object", objectArg(o))
		}
		if len(p.nodes) > 0 {
			b.addDev("-blockdev", encodeJSON(nest(p.nodes)))
		}
		b.device(p.device)
	}
	return nil
}

// objectArg writes an -object: an I/O thread plainly, anything with
// nested values as JSON.
func objectArg(o map[string]any) string {
	if o["qom-type"] == "iothread" {
		return "iothread,id=" + o["id"].(string)
	}
	return encodeJSON(o)
}

// nest turns a chain of nodes that name their child into one -blockdev
// value with the children inline.
func nest(nodes []map[string]any) map[string]any {
	top := cloneMap(nodes[len(nodes)-1])
	cur := top
	for i := len(nodes) - 2; i >= 0; i-- {
		child := cloneMap(nodes[i])
		cur["file"] = child
		cur = child
	}
	return top
}

// planDrive works out the nodes, the controller and the device of a drive.
func (b *builder) planDrive(key string) (*drivePlan, error) {
	v, ok := b.conf[key]
	if !ok {
		return nil, fmt.Errorf("%s: the VM has no such drive", key)
	}
	if key == "efidisk0" || key == "tpmstate0" {
		return nil, fmt.Errorf("%s: is not a guest disk and cannot be plugged", key)
	}
	d, err := vmconf.ParseDrive(key, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	p := &drivePlan{key: key, d: d}
	if !d.IsCDROM() && (d.IsNone() || d.File == "cdrom") {
		return nil, fmt.Errorf("%s: %s only works for a CD-ROM drive (media=cdrom)", key, d.File)
	}
	if d.Snapshot.Or(false) {
		return nil, fmt.Errorf("%s: snapshot=1 (a throw-away overlay) is not supported yet", key)
	}
	if !d.IsNone() {
		vol := Volume{Blockdev: map[string]any{"driver": "host_cdrom", "filename": "/dev/cdrom"}, Format: "raw", ReadOnly: true}
		if d.File != "cdrom" {
			if vol, ok = b.in.Volumes[key]; !ok || vol.Blockdev == nil {
				return nil, fmt.Errorf("%s: volume %s was not resolved to a block device", key, d.File)
			}
		}
		if err := b.blockNodes(p, vol); err != nil {
			return nil, err
		}
	}
	if err := b.driveDevice(p); err != nil {
		return nil, err
	}
	return p, nil
}

// blockNodes builds the node chain of a drive's medium: protocol, format
// and, when the drive has I/O limits, a throttle filter on top. Disks
// default to cache=none (O_DIRECT, no host page cache) and, on local
// files, io_uring; CD-ROMs use the host page cache.
func (b *builder) blockNodes(p *drivePlan, vol Volume) error {
	d, key := p.d, p.key
	cdrom := d.IsCDROM()
	ro := vol.ReadOnly || cdrom || d.ReadOnly.Or(false)
	cache := d.Cache
	if cache == "" && !cdrom && !vol.NoCacheDirect {
		cache = "none"
	}
	direct := cache == "none" || cache == "directsync"

	proto := cloneMap(vol.Blockdev)
	proto["node-name"] = protocolNode(key)
	driver, _ := proto["driver"].(string)
	local := driver == "file" || driver == "host_device" || driver == "host_cdrom"
	aio := d.AIO
	switch {
	case aio != "" && !local:
		b.warn("%s: aio=%s is ignored: the %s storage driver does its own I/O", key, aio, driver)
		aio = ""
	case aio == "native" && !direct:
		return fmt.Errorf("%s: aio=native needs cache=none or cache=directsync (O_DIRECT)", key)
	case aio == "" && driver == "file":
		aio = "io_uring"
	case aio == "" && local && direct:
		aio = "native"
	case aio == "" && local:
		// io_uring on block devices without O_DIRECT can hang (LVM,
		// krbd), so they keep the thread pool.
		aio = "threads"
	}
	if aio != "" {
		proto["aio"] = aio
	}
	discard := d.Discard == "on" && !ro
	common := func(n map[string]any) {
		if ro {
			n["read-only"] = true
		}
		if cache != "" {
			n["cache"] = map[string]any{"direct": direct, "no-flush": cache == "unsafe"}
		}
		if discard {
			n["discard"] = "unmap"
		}
	}
	common(proto)
	format := vol.Format
	if format == "" {
		format = "raw"
	}
	fmtNode := map[string]any{"driver": format, "node-name": NodeName(key), "file": protocolNode(key)}
	common(fmtNode)
	if !ro {
		dz := "on"
		if discard {
			dz = "unmap"
		}
		if !d.DetectZeroes.Or(true) {
			dz = "off"
		}
		fmtNode["detect-zeroes"] = dz
	}
	limits := d.Throttle.QEMU()
	if len(limits) == 0 {
		p.nodes = []map[string]any{proto, fmtNode}
		return nil
	}
	fmtNode["node-name"] = "fmt-" + key
	lim := map[string]any{}
	for _, s := range limits {
		lim[s.Name] = s.Value
	}
	p.objects = append(p.objects, map[string]any{"qom-type": "throttle-group", "id": throttleGroup(key), "limits": lim})
	top := map[string]any{"driver": "throttle", "node-name": NodeName(key), "throttle-group": throttleGroup(key), "file": "fmt-" + key}
	if ro {
		top["read-only"] = true
	}
	p.nodes = []map[string]any{proto, fmtNode, top}
	return nil
}

// scsiLayout says how many disks share a controller of a SCSI model and
// how its controllers are named.
func scsiLayout(scsihw string) (perController int, prefix, driver string) {
	switch scsihw {
	case "lsi", "lsi53c810":
		return 7, "scsihw", scsihw
	case "virtio-scsi-single":
		return 1, "virtioscsi", "virtio-scsi-pci"
	}
	return 256, "scsihw", scsihw
}

// driveDevice builds the guest device of a drive and the controller it
// sits on.
func (b *builder) driveDevice(p *drivePlan) error {
	d, key := p.d, p.key
	kind := "hd"
	if d.IsCDROM() {
		kind = "cd"
	}
	var o, tail opts
	switch d.Bus {
	case "ide":
		bus, unit := d.Index/2, d.Index%2
		if b.m.q35 {
			// q35's IDE ports take one unit each; unit 1 moves to ports 2
			// and 3 so that ide0 and ide2 stay where they always were.
			bus, unit = bus+2*unit, 0
		}
		o = opts{{"driver", "ide-" + kind}, {"bus", fmt.Sprintf("ide.%d", bus)}, {"unit", unit}}
	case "sata":
		addr, err := b.pciAddr("ahci0")
		if err != nil {
			return err
		}
		p.controller = append(opts{{"driver", "ahci"}, {"id", "ahci0"}, {"multifunction", true}}, addr...)
		o = opts{{"driver", "ide-" + kind}, {"bus", fmt.Sprintf("ahci0.%d", d.Index)}}
	case "scsi":
		scsihw := b.conf["scsihw"]
		if scsihw == "" {
			scsihw = "lsi"
		}
		per, prefix, driver := scsiLayout(scsihw)
		ctrl := prefix + strconv.Itoa(d.Index/per)
		addr, err := b.pciAddr(ctrl)
		if err != nil {
			return err
		}
		p.controller = append(opts{{"driver", driver}, {"id", ctrl}}, addr...)
		single := scsihw == "virtio-scsi-single"
		if d.IOThread.Or(false) {
			if single {
				p.ctrlObject = map[string]any{"qom-type": "iothread", "id": "iothread-" + ctrl}
				p.controller = append(p.controller, opt{"iothread", "iothread-" + ctrl})
			} else {
				b.warn("%s: iothread only works with scsihw virtio-scsi-single; ignored", key)
			}
		}
		if q, ok := d.Queues.Get(); ok {
			if single {
				p.controller = append(p.controller, opt{"num_queues", q})
			} else {
				b.warn("%s: queues only works with scsihw virtio-scsi-single; ignored", key)
			}
		}
		devType := "scsi-" + kind
		if d.ScsiBlock.Or(false) && kind == "hd" {
			devType = "scsi-block"
		}
		o = opts{{"driver", devType}, {"bus", ctrl + ".0"}}
		if strings.HasPrefix(scsihw, "lsi") || scsihw == "pvscsi" {
			// Parallel-SCSI style: one LUN per target.
			o = append(o, opt{"scsi-id", d.Index % per})
		} else {
			o = append(o, opt{"channel", 0}, opt{"scsi-id", 0}, opt{"lun", d.Index})
		}
	case "virtio":
		addr, err := b.pciAddr(key)
		if err != nil {
			return err
		}
		o = opts{{"driver", "virtio-blk-pci"}}
		tail = addr
		if d.IOThread.Or(false) {
			p.objects = append([]map[string]any{{"qom-type": "iothread", "id": "iothread-" + key}}, p.objects...)
			tail = append(tail, opt{"iothread", "iothread-" + key})
		}
	default:
		return fmt.Errorf("%s: bus %s has no guest device", key, d.Bus)
	}
	if len(p.nodes) > 0 {
		o = append(o, opt{"drive", NodeName(key)})
	}
	o = append(o, opt{"id", key})
	o = append(o, tail...)
	extra, err := b.driveExtras(p, o.get("driver").(string))
	if err != nil {
		return err
	}
	p.device = append(o, extra...)
	return nil
}

// driveExtras are the device options that describe the disk to the
// guest (SSD, serial, WWN, SCSI inquiry data, IDE model), its boot
// index, its write cache and its error policy.
func (b *builder) driveExtras(p *drivePlan, driver string) (opts, error) {
	d, key := p.d, p.key
	var o opts
	hd := driver == "scsi-hd" || driver == "ide-hd"
	if d.SSD.Or(false) && hd {
		o = append(o, opt{"rotation_rate", 1})
	}
	if d.WWN != "" && driver != "scsi-block" {
		w, err := strconv.ParseUint(strings.TrimPrefix(d.WWN, "0x"), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: wwn %q is not a 64-bit hex number", key, d.WWN)
		}
		o = append(o, opt{"wwn", w})
	}
	if driver == "scsi-hd" || driver == "scsi-cd" {
		if d.Vendor != "" {
			o = append(o, opt{"vendor", d.Vendor})
		}
		if d.Product != "" {
			o = append(o, opt{"product", d.Product})
		}
	}
	for _, t := range []struct{ name, v string }{{"model", d.Model}, {"serial", d.Serial}} {
		if t.v == "" || driver == "scsi-block" {
			continue
		}
		text, err := url.PathUnescape(t.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %q is not URL-encoded text", key, t.name, t.v)
		}
		o = append(o, opt{t.name, text})
	}
	if n := b.boot[key]; n > 0 {
		o = append(o, opt{"bootindex", n})
	}
	if len(p.nodes) > 0 && !d.IsCDROM() && driver != "scsi-block" {
		wc := "on"
		if d.Cache == "writethrough" || d.Cache == "directsync" {
			wc = "off"
		}
		o = append(o, opt{"write-cache", wc})
	}
	if d.RError != "" {
		o = append(o, opt{"rerror", d.RError})
	}
	if d.WError != "" {
		o = append(o, opt{"werror", d.WError})
	}
	return o, nil
}

// addFirmware adds OVMF: its code as the read-only pflash0 and the EFI
// variable store (efidisk0) as the writable pflash1. efitype picks the
// 4 MiB or the old 2 MiB layout (the default, for old guests).
func (b *builder) addFirmware() error {
	if b.conf["bios"] != "ovmf" {
		return nil
	}
	h := b.in.Host
	code, vars, size := h.OVMFCode, h.OVMFVars, h.OVMFVarsSize
	defCode, defVars, defSize := "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd", int64(540672)
	var d *vmconf.Drive
	if v, ok := b.conf["efidisk0"]; ok {
		var err error
		if d, err = vmconf.ParseDrive("efidisk0", v); err != nil {
			return fmt.Errorf("efidisk0: %w", err)
		}
	}
	if d == nil || d.EFIType != "4m" {
		code, vars, size = h.OVMFCode2M, h.OVMFVars2M, h.OVMFVars2MSize
		defCode, defVars, defSize = "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd", 131072
	}
	code, vars = cmp.Or(code, defCode), cmp.Or(vars, defVars)
	if size == 0 {
		size = defSize
	}
	b.add("-blockdev", encodeJSON(nest([]map[string]any{
		{"driver": "file", "filename": code, "node-name": "file-pflash0", "read-only": true},
		{"driver": "raw", "node-name": "pflash0", "read-only": true, "file": "file-pflash0"},
	})))
	if d == nil {
		path, ro := b.in.Paths.EFIVars, false
		if path == "" {
			path, ro = vars, true
			b.warn("bios ovmf without efidisk0: the EFI variables are read-only, so boot entries and settings cannot be saved; add an EFI disk")
		} else {
			b.warn("bios ovmf without efidisk0: EFI variables live in a temporary file and are lost when the VM stops; add an EFI disk")
		}
		b.pflash1 = "efivars"
		proto := map[string]any{"driver": "file", "filename": path, "node-name": "file-efivars"}
		top := map[string]any{"driver": "raw", "node-name": "efivars", "file": "file-efivars", "size": size}
		if ro {
			proto["read-only"], top["read-only"] = true, true
		}
		b.add("-blockdev", encodeJSON(nest([]map[string]any{proto, top})))
		return nil
	}
	vol, ok := b.in.Volumes["efidisk0"]
	if !ok || vol.Blockdev == nil {
		return fmt.Errorf("efidisk0: volume %s was not resolved to a block device", d.File)
	}
	proto := cloneMap(vol.Blockdev)
	proto["node-name"] = protocolNode("efidisk0")
	format := cmp.Or(vol.Format, "raw")
	top := map[string]any{"driver": format, "node-name": NodeName("efidisk0"), "file": protocolNode("efidisk0")}
	if format == "raw" {
		// Storages round volumes up; the flash must be exactly the store.
		top["size"] = size
	}
	if vol.ReadOnly {
		proto["read-only"], top["read-only"] = true, true
	}
	b.pflash1 = NodeName("efidisk0")
	b.add("-blockdev", encodeJSON(nest([]map[string]any{proto, top})))
	return nil
}
