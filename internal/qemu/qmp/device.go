package qmp

import (
	"context"
	"fmt"
	"os"
)

// DeviceAdd plugs a device: driver and id plus its properties (bus, addr,
// drive, netdev, ...).
func (c *Client) DeviceAdd(ctx context.Context, driver, id string, props map[string]any) error {
	if driver == "" || id == "" {
		return fmt.Errorf("device_add: driver and id are required")
	}
	args := make(map[string]any, len(props)+2)
	for k, v := range props {
		args[k] = v
	}
	args["driver"] = driver
	args["id"] = id
	return c.Execute(ctx, "device_add", args, nil)
}

// DeviceDel asks for device id to be unplugged and waits for QEMU's
// DEVICE_DELETED. PCI unplug needs the guest's cooperation, so bound the
// wait with ctx; the unplug request stays pending in QEMU either way.
func (c *Client) DeviceDel(ctx context.Context, id string) error {
	sub, cancel := c.Subscribe(func(e Event) bool {
		if e.Name != "DEVICE_DELETED" {
			return false
		}
		var d struct {
			Device string `json:"device"`
		}
		return e.Decode(&d) == nil && d.Device == id
	})
	defer cancel()
	if err := c.Execute(ctx, "device_del", map[string]string{"id": id}, nil); err != nil {
		return err
	}
	if _, err := WaitEvent(ctx, sub, "DEVICE_DELETED"); err != nil {
		return fmt.Errorf("unplug device %s: %w", id, err)
	}
	return nil
}

// NetdevAdd creates a network backend from a netdev_add argument object
// (type, id, ifname, fd, ...).
func (c *Client) NetdevAdd(ctx context.Context, args map[string]any) error {
	return c.Execute(ctx, "netdev_add", args, nil)
}

// NetdevDel removes network backend id.
func (c *Client) NetdevDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "netdev_del", map[string]string{"id": id}, nil)
}

// ObjectAdd creates a QOM object (secret, iothread, memory backend, rng
// backend, ...) of qomType with id and properties.
func (c *Client) ObjectAdd(ctx context.Context, qomType, id string, props map[string]any) error {
	args := make(map[string]any, len(props)+2)
	for k, v := range props {
		args[k] = v
	}
	args["qom-type"] = qomType
	args["id"] = id
	return c.Execute(ctx, "object-add", args, nil)
}

// ObjectDel removes QOM object id.
func (c *Client) ObjectDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "object-del", map[string]string{"id": id}, nil)
}

// GetFD hands f's descriptor to QEMU under name, for commands that take an
// fd by name (netdev_add with fd=name, migrate to fd:name). QEMU holds its
// own copy; the caller may close f afterwards.
func (c *Client) GetFD(ctx context.Context, name string, f *os.File) error {
	return c.execute(ctx, "getfd", map[string]string{"fdname": name}, nil, f)
}

// CloseFD releases a descriptor passed with GetFD.
func (c *Client) CloseFD(ctx context.Context, name string) error {
	return c.Execute(ctx, "closefd", map[string]string{"fdname": name}, nil)
}

// FDInfo says where add-fd put a descriptor; open it in QEMU as
// /dev/fdset/<FDSetID>.
type FDInfo struct {
	FDSetID int `json:"fdset-id"`
	FD      int `json:"fd"`
}

// AddFD adds f's descriptor to fd set fdsetID (a negative id lets QEMU
// pick a new set), so block drivers can open /dev/fdset/N.
func (c *Client) AddFD(ctx context.Context, fdsetID int, opaque string, f *os.File) (FDInfo, error) {
	args := map[string]any{}
	if fdsetID >= 0 {
		args["fdset-id"] = fdsetID
	}
	if opaque != "" {
		args["opaque"] = opaque
	}
	var info FDInfo
	err := c.execute(ctx, "add-fd", args, &info, f)
	return info, err
}

// RemoveFD removes descriptor fd from fd set fdsetID.
func (c *Client) RemoveFD(ctx context.Context, fdsetID, fd int) error {
	return c.Execute(ctx, "remove-fd", map[string]int{"fdset-id": fdsetID, "fd": fd}, nil)
}
