package vm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// errNeedsRestart marks a change a running VM cannot take.
var errNeedsRestart = errors.New("the change needs a restart of the VM")

// hotInput is the command-line input of a running VM with one key set to
// a new value, for building the objects of a hot-plugged device the same
// way a start would.
func (s *Service) hotInput(ctx context.Context, cf *conf, key, value string) (cmdline.Input, error) {
	in, err := s.cmdlineInput(ctx, cf, "")
	if err != nil {
		return in, err
	}
	in.Config[key] = value
	if vmconf.IsDriveKey(key) {
		d, err := vmconf.ParseDrive(key, value)
		if err != nil {
			return in, err
		}
		if !d.IsNone() && d.File != "cdrom" {
			a, err := s.attachFile(ctx, d.File, "")
			if err != nil {
				return in, err
			}
			in.Volumes[key] = cmdline.Volume{Blockdev: a.Blockdev, Format: a.Format, Path: a.Path, ReadOnly: d.IsCDROM()}
		}
	}
	return in, nil
}

// hotplugNIC adds a NIC to a running VM, or re-plugs one whose host side
// (bridge, VLAN, rate, link) changed.
func (s *Service) hotplugNIC(ctx context.Context, cf *conf, key, old, now string) error {
	nn, err := vmconf.ParseNet(key, now)
	if err != nil {
		return err
	}
	p, err := s.watch(ctx, cf.VMID)
	if err != nil || p == nil {
		return errNotRunning(cf.VMID)
	}
	if old != "" {
		on, err := vmconf.ParseNet(key, old)
		if err != nil {
			return err
		}
		if on.Model == nn.Model && on.MACAddr == nn.MACAddr && on.Queues == nn.Queues && (on.Bridge == "") == (nn.Bridge == "") {
			// Only the host side changed: move the tap.
			s.unplug(ctx, tapName(cf.VMID, nn.Index))
			if err := s.plug(ctx, cf.VMID, nn); err != nil {
				return err
			}
			return p.qmp.Execute(ctx, "set_link", map[string]any{"name": key, "up": !nn.LinkDown.Or(false)}, nil)
		}
		if err := s.unplugNIC(ctx, cf, key); err != nil {
			return err
		}
	}
	in, err := s.hotInput(ctx, cf, key, now)
	if err != nil {
		return err
	}
	netdev, device, err := cmdline.NetObjects(in, key)
	if err != nil {
		return err
	}
	if err := p.qmp.NetdevAdd(ctx, netdev); err != nil {
		return fmt.Errorf("adding the network backend: %w", err)
	}
	if err := s.plug(ctx, cf.VMID, nn); err != nil {
		_ = p.qmp.NetdevDel(ctx, key)
		return err
	}
	if err := deviceAdd(ctx, p, device); err != nil {
		_ = p.qmp.NetdevDel(ctx, key)
		s.unplug(ctx, tapName(cf.VMID, nn.Index))
		return err
	}
	return nil
}

// unplugNIC removes a NIC from a running VM.
func (s *Service) unplugNIC(ctx context.Context, cf *conf, key string) error {
	p, err := s.watch(ctx, cf.VMID)
	if err != nil || p == nil {
		return errNotRunning(cf.VMID)
	}
	if err := p.qmp.DeviceDel(ctx, key); err != nil {
		return fmt.Errorf("removing the device: %w", err)
	}
	if err := p.qmp.NetdevDel(ctx, key); err != nil {
		return fmt.Errorf("removing the network backend: %w", err)
	}
	if n, err := vmconf.ParseNet(key, cf.Main().Value(key)); err == nil {
		s.unplug(ctx, tapName(cf.VMID, n.Index))
	}
	return nil
}

// hotplugDrive adds a disk to a running VM or changes the medium of a
// CD-ROM drive. Changing an attached disk's options needs a restart.
func (s *Service) hotplugDrive(ctx context.Context, cf *conf, key, old, now string) error {
	nd, err := vmconf.ParseDrive(key, now)
	if err != nil {
		return err
	}
	p, err := s.watch(ctx, cf.VMID)
	if err != nil || p == nil {
		return errNotRunning(cf.VMID)
	}
	if old != "" {
		od, err := vmconf.ParseDrive(key, old)
		if err != nil {
			return err
		}
		if od.IsCDROM() && nd.IsCDROM() {
			return s.changeMedium(ctx, p, key, nd)
		}
		return errNeedsRestart
	}
	if nd.Bus != "scsi" && nd.Bus != "virtio" {
		return fmt.Errorf("%s: only SCSI and VirtIO disks can be added to a running VM", key)
	}
	in, err := s.hotInput(ctx, cf, key, now)
	if err != nil {
		return err
	}
	att, err := cmdline.DriveAttachment(in, key)
	if err != nil {
		return err
	}
	var objects, added []string
	undo := func() {
		for _, n := range slices.Backward(added) {
			_ = p.qmp.BlockdevDel(ctx, n)
		}
		for _, id := range slices.Backward(objects) {
			_ = p.qmp.ObjectDel(ctx, id)
		}
	}
	for _, o := range att.Objects {
		id, _ := o["id"].(string)
		typ, _ := o["qom-type"].(string)
		props := map[string]any{}
		for k, v := range o {
			if k != "id" && k != "qom-type" {
				props[k] = v
			}
		}
		if err := p.qmp.ObjectAdd(ctx, typ, id, props); err != nil {
			undo()
			return fmt.Errorf("adding %s: %w", id, err)
		}
		objects = append(objects, id)
	}
	if att.Controller != nil {
		// A shared controller (scsihw0) may be there already; a
		// controller of the disk's own (virtio-scsi-single) is not.
		if id, _ := att.Controller["id"].(string); !s.hasDevice(ctx, p, id) {
			if err := deviceAdd(ctx, p, att.Controller); err != nil {
				undo()
				return err
			}
		}
	}
	for _, b := range att.Blockdevs {
		if err := p.qmp.BlockdevAdd(ctx, b); err != nil {
			undo()
			return fmt.Errorf("opening the volume: %w", err)
		}
		if n, ok := b["node-name"].(string); ok {
			added = append(added, n)
		}
	}
	if err := deviceAdd(ctx, p, att.Device); err != nil {
		undo()
		return err
	}
	return nil
}

// hasDevice reports whether a device with this id exists in the VM.
func (s *Service) hasDevice(ctx context.Context, p *proc, id string) bool {
	var out any
	return id != "" && p.qmp.Execute(ctx, "qom-get", map[string]any{"path": id, "property": "type"}, &out) == nil
}

// changeMedium swaps or ejects the medium of a CD-ROM drive.
func (s *Service) changeMedium(ctx context.Context, p *proc, key string, nd *vmconf.Drive) error {
	if nd.IsNone() || nd.File == "cdrom" {
		return p.qmp.Execute(ctx, "eject", map[string]any{"id": key, "force": true}, nil)
	}
	a, err := s.attachFile(ctx, nd.File, "")
	if err != nil {
		return err
	}
	if a.Path == "" {
		return fmt.Errorf("%s: %s has no local path to load as a medium", key, nd.File)
	}
	return p.qmp.Execute(ctx, "blockdev-change-medium",
		map[string]any{"id": key, "filename": a.Path, "format": "raw", "read-only-mode": "read-only"}, nil)
}

// unplugDrive removes a disk from a running VM.
func (s *Service) unplugDrive(ctx context.Context, cf *conf, key string) error {
	d, err := vmconf.ParseDrive(key, cf.Main().Value(key))
	if err != nil {
		return err
	}
	if d.IsCDROM() || (d.Bus != "scsi" && d.Bus != "virtio") {
		return errNeedsRestart
	}
	p, err := s.watch(ctx, cf.VMID)
	if err != nil || p == nil {
		return errNotRunning(cf.VMID)
	}
	in, err := s.hotInput(ctx, cf, key, cf.Main().Value(key))
	if err != nil {
		return err
	}
	att, err := cmdline.DriveAttachment(in, key)
	if err != nil {
		return err
	}
	// The nodes a start made, and those the drive has now (a live move
	// renames them); dropNodes skips names QEMU does not have.
	var nodes []string
	if live, err := findLiveDrive(ctx, p.qmp, key); err == nil {
		nodes = append(nodes, live.top)
		if live.drv != "throttle" {
			nodes = append(nodes, protocolNodeOf(live.top))
		}
	}
	for _, b := range slices.Backward(att.Blockdevs) {
		if n, ok := b["node-name"].(string); ok {
			nodes = append(nodes, n)
		}
	}
	if err := p.qmp.DeviceDel(ctx, key); err != nil {
		return fmt.Errorf("removing the device: %w", err)
	}
	if err := dropNodes(ctx, p.qmp, nodes...); err != nil {
		return fmt.Errorf("closing the volume: %w", err)
	}
	for _, o := range att.Objects {
		if id, _ := o["id"].(string); id != "" {
			// A disk's own I/O thread or throttle group; a shared one is
			// still in use and refuses to go, which is fine.
			_ = p.qmp.ObjectDel(ctx, id)
		}
	}
	return nil
}

// deviceAdd adds a device described as device_add arguments.
func deviceAdd(ctx context.Context, p *proc, device map[string]any) error {
	props := map[string]any{}
	var driver, id string
	for k, v := range device {
		switch k {
		case "driver":
			driver, _ = v.(string)
		case "id":
			id, _ = v.(string)
		default:
			props[k] = v
		}
	}
	if err := p.qmp.DeviceAdd(ctx, driver, id, props); err != nil {
		return fmt.Errorf("adding the device: %w", err)
	}
	return nil
}
