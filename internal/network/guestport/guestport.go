package guestport

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Port describes one guest NIC as it should be plugged.
type Port struct {
	Name     string  // the guest's device on the host: tap<vmid>i<n> or veth<vmid>i<n>
	Bridge   string  // the bridge from the NIC's bridge= option, e.g. vmbr0
	MTU      int     // 0 = the bridge's MTU
	Tag      int     // VLAN tag, 1-4094; 0 = none
	Trunks   []int   // tagged VLANs; only on a VLAN-aware bridge
	LinkDown bool    // link_down=1: plug but keep the link down
	RateMBps float64 // Proxmox VE's rate= in MB/s (MiB/s); 0 = unlimited
	Firewall bool    // firewall=1: route the port through the FirewallHook
}

// Netlink is the part of netlink that plugging needs. *netlink.Handle
// implements it; tests pass a recording fake.
type Netlink interface {
	LinkByName(name string) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
	LinkAdd(link netlink.Link) error
	LinkDel(link netlink.Link) error
	LinkSetUp(link netlink.Link) error
	LinkSetDown(link netlink.Link) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkSetMaster(link, master netlink.Link) error
	LinkSetNoMaster(link netlink.Link) error
	LinkSetAlias(link netlink.Link, alias string) error

	BridgeVlanAdd(link netlink.Link, vid uint16, pvid, untagged, self, master bool) error
	BridgeVlanAddRange(link netlink.Link, vid, vidEnd uint16, pvid, untagged, self, master bool) error
	BridgeVlanDelRange(link netlink.Link, vid, vidEnd uint16, pvid, untagged, self, master bool) error

	QdiscList(link netlink.Link) ([]netlink.Qdisc, error)
	QdiscAdd(qdisc netlink.Qdisc) error
	QdiscDel(qdisc netlink.Qdisc) error
	ClassAdd(class netlink.Class) error
	FilterAdd(filter netlink.Filter) error
}

var _ Netlink = (*netlink.Handle)(nil)

// FirewallHook is where per-guest filtering plugs in. When a Port has
// Firewall set, Plug calls Attach after the port's own settings (MTU,
// rate) and before anything is connected to the bridge. Attach returns the
// device that Plug must connect to the bridge, with the port's VLAN
// settings, in place of the port: either the port itself (filtering on the
// port, e.g. an nftables bridge-family rule set) or the bridge side of
// something the hook built around it, as Proxmox VE's fwbr<vmid>i<n>
// bridge with its fwpr<vmid>p<n>/fwln<vmid>i<n> veth pair. An empty name
// means the port itself.
//
// Detach undoes Attach. Unplug calls it for every port, and Plug calls it
// for a port without Firewall (the firewall may have been switched off
// since the last plug), so it must succeed when nothing is attached.
//
// A nil hook plugs every port directly, Firewall or not.
type FirewallHook interface {
	Attach(ctx context.Context, port Port) (attachTo string, err error)
	Detach(ctx context.Context, name string) error
}

// maxIfName is the longest interface name Linux accepts (IFNAMSIZ - 1).
const maxIfName = 15

func (p Port) validate() error {
	switch {
	case p.Name == "":
		return errors.New("guest port has no name")
	case len(p.Name) > maxIfName:
		return fmt.Errorf("guest port name %s is longer than %d characters", p.Name, maxIfName)
	case p.Bridge == "":
		return fmt.Errorf("guest port %s has no bridge", p.Name)
	case p.MTU < 0 || p.MTU > 65535:
		return fmt.Errorf("guest port %s: MTU %d is out of range", p.Name, p.MTU)
	case p.Tag < 0 || p.Tag > 4094:
		return fmt.Errorf("guest port %s: VLAN tag %d is out of range 1-4094", p.Name, p.Tag)
	case math.IsNaN(p.RateMBps) || p.RateMBps < 0:
		return fmt.Errorf("guest port %s: rate %v MB/s is not a positive number", p.Name, p.RateMBps)
	}
	for _, vid := range p.Trunks {
		if vid < 1 || vid > 4094 {
			return fmt.Errorf("guest port %s: trunk VLAN %d is out of range 1-4094", p.Name, vid)
		}
	}
	return nil
}

// Plug connects the guest port p to its bridge as described in the package
// documentation. It is idempotent: plugging a port again applies the new
// description (another bridge, tag, rate, MTU or link state) over the old
// one. hook may be nil.
func Plug(ctx context.Context, h Netlink, p Port, hook FirewallHook) error {
	if err := p.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("plug %s: %w", p.Name, err)
	}
	port, err := h.LinkByName(p.Name)
	if err != nil {
		return fmt.Errorf("plug %s: find the guest port: %w", p.Name, err)
	}
	br, err := bridgeByName(h, p.Bridge)
	if err != nil {
		return fmt.Errorf("plug %s: %w", p.Name, err)
	}
	previousMaster := port.Attrs().MasterIndex

	// The target is where the port (or the hook's device) is enslaved: the
	// bridge itself, or the traditional VLAN helper bridge.
	target := netlink.Link(br)
	vlanAware := br.VlanFiltering != nil && *br.VlanFiltering
	if !vlanAware {
		if len(p.Trunks) > 0 {
			return fmt.Errorf("plug %s: trunks need a VLAN-aware bridge, and %s is not VLAN-aware", p.Name, p.Bridge)
		}
		if p.Tag > 0 {
			if target, err = ensureHelper(h, br, p.Tag); err != nil {
				return fmt.Errorf("plug %s: %w", p.Name, err)
			}
		}
	}

	// Down first when asked, so that no frame passes before the port is
	// complete; the MTU and the limits are set before the port reaches the
	// bridge for the same reason.
	if p.LinkDown {
		if err := h.LinkSetDown(port); err != nil {
			return fmt.Errorf("plug %s: set link down: %w", p.Name, err)
		}
	}
	mtu := p.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	if mtu != 0 && port.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(port, mtu); err != nil {
			return fmt.Errorf("plug %s: set MTU %d: %w", p.Name, mtu, err)
		}
	}
	if err := setRate(h, port, p.RateMBps); err != nil {
		return fmt.Errorf("plug %s: %w", p.Name, err)
	}

	attach := port
	if hook != nil {
		if p.Firewall {
			name, err := hook.Attach(ctx, p)
			if err != nil {
				return fmt.Errorf("plug %s: attach the firewall: %w", p.Name, err)
			}
			if name != "" && name != p.Name {
				if attach, err = h.LinkByName(name); err != nil {
					return fmt.Errorf("plug %s: find the firewall's device %s: %w", p.Name, name, err)
				}
			}
		} else if err := hook.Detach(ctx, p.Name); err != nil {
			return fmt.Errorf("plug %s: detach a previous firewall: %w", p.Name, err)
		}
	}

	if attach.Attrs().MasterIndex != target.Attrs().Index {
		if err := h.LinkSetMaster(attach, target); err != nil {
			return fmt.Errorf("plug %s: add %s to bridge %s: %w", p.Name, attach.Attrs().Name, target.Attrs().Name, err)
		}
	}
	if vlanAware {
		if err := setBridgeVlans(h, attach, p); err != nil {
			return fmt.Errorf("plug %s: %w", p.Name, err)
		}
	}
	if !p.LinkDown {
		if err := h.LinkSetUp(port); err != nil {
			return fmt.Errorf("plug %s: set link up: %w", p.Name, err)
		}
	}

	// A port moved away from a helper bridge may have left it empty.
	if previousMaster != 0 && previousMaster != target.Attrs().Index {
		if err := removeUnusedHelpers(h, previousMaster); err != nil {
			return fmt.Errorf("plug %s: %w", p.Name, err)
		}
	}
	return nil
}

// Unplug takes the guest port name out of its bridge: it removes the rate
// limit, releases the port from its bridge, detaches the firewall (when
// hook is not nil) and deletes helper VLAN bridges this package created
// that no guest port uses any more. A port that no longer exists (QEMU
// removes its taps when it exits) is not an error: the rest of the cleanup
// still runs.
func Unplug(ctx context.Context, h Netlink, name string, hook FirewallHook) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("unplug %s: %w", name, err)
	}
	port, err := h.LinkByName(name)
	switch {
	case isNotFound(err):
		port = nil
	case err != nil:
		return fmt.Errorf("unplug %s: find the guest port: %w", name, err)
	}
	if port != nil {
		if err := clearRate(h, port); err != nil {
			return fmt.Errorf("unplug %s: %w", name, err)
		}
		if port.Attrs().MasterIndex != 0 {
			if err := h.LinkSetNoMaster(port); err != nil {
				return fmt.Errorf("unplug %s: release it from its bridge: %w", name, err)
			}
		}
	}
	if hook != nil {
		if err := hook.Detach(ctx, name); err != nil {
			return fmt.Errorf("unplug %s: detach the firewall: %w", name, err)
		}
	}
	// Every unused helper, not only the port's former master: with a
	// firewall the port's master was the firewall's bridge, and a vanished
	// tap no longer tells which bridge it was in.
	if err := removeUnusedHelpers(h, 0); err != nil {
		return fmt.Errorf("unplug %s: %w", name, err)
	}
	return nil
}

func bridgeByName(h Netlink, name string) (*netlink.Bridge, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find bridge %s: %w", name, err)
	}
	br, ok := l.(*netlink.Bridge)
	if !ok {
		return nil, fmt.Errorf("%s is a %s device, not a bridge", name, l.Type())
	}
	return br, nil
}

// isNotFound tells whether a device is missing: LinkByName reports it as
// netlink.LinkNotFoundError, other calls (LinkDel) as the kernel's ENODEV.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// list changed meanwhile (netlink.ErrDumpInterrupted): its result may miss
// or repeat entries, and acting on it could delete the wrong device.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var (
		out []T
		err error
	)
	for range 5 {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}
