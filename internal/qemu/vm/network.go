package vm

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// tapName is the host device of a VM's NIC, as Proxmox VE names it.
func tapName(vmid, index int) string { return fmt.Sprintf("tap%di%d", vmid, index) }

// portOf describes how a NIC is plugged into its bridge.
func portOf(vmid int, n *vmconf.Net) (guestport.Port, error) {
	p := guestport.Port{
		Name:     tapName(vmid, n.Index),
		Bridge:   n.Bridge,
		MTU:      n.MTU.Or(0),
		Tag:      n.Tag.Or(0),
		LinkDown: n.LinkDown.Or(false),
		RateMBps: n.Rate.Or(0),
		Firewall: n.Firewall.Or(false),
	}
	if p.MTU == 1 {
		// mtu=1 means "the bridge's MTU", which is what 0 means to Plug.
		p.MTU = 0
	}
	for _, t := range strings.FieldsFunc(n.Trunks, func(r rune) bool { return r == ';' }) {
		lo, hi, isRange := strings.Cut(t, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return p, fmt.Errorf("%s: bad trunk %q", n.Key, t)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return p, fmt.Errorf("%s: bad trunk range %q", n.Key, t)
			}
		}
		for v := a; v <= b; v++ {
			p.Trunks = append(p.Trunks, v)
		}
	}
	return p, nil
}

// plug connects one NIC's tap (created by QEMU) to its bridge. A NIC
// without a bridge uses QEMU's user-mode networking and has no tap.
func (s *Service) plug(ctx context.Context, vmid int, n *vmconf.Net) error {
	if n.Bridge == "" {
		return nil
	}
	if s.o.Netlink == nil {
		return fmt.Errorf("net%d: this node cannot plug guest ports (no network access)", n.Index)
	}
	port, err := portOf(vmid, n)
	if err != nil {
		return err
	}
	if s.o.NetLock != nil {
		unlock, err := s.o.NetLock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	if err := guestport.Plug(ctx, s.o.Netlink, port, nil); err != nil {
		return fmt.Errorf("net%d: %w", n.Index, err)
	}
	return nil
}

// unplug undoes plug for one tap; a tap that is already gone is fine.
func (s *Service) unplug(ctx context.Context, name string) {
	if s.o.Netlink == nil {
		return
	}
	if s.o.NetLock != nil {
		unlock, err := s.o.NetLock(ctx)
		if err != nil {
			return
		}
		defer unlock()
	}
	if err := guestport.Unplug(ctx, s.o.Netlink, name, nil); err != nil {
		s.o.Log.Debug("unplugging a guest port", "port", name, "err", err)
	}
}

// unplugAll unplugs every tap a VM may have had: QEMU deletes its taps
// when it exits, but helper bridges of tagged ports on a traditional
// bridge outlive them and are removed through Unplug.
func (s *Service) unplugAll(ctx context.Context, vmid int) {
	for i := range 32 {
		s.unplug(ctx, tapName(vmid, i))
	}
}

// nets returns the NICs of a configuration section.
func nets(get func(string) (string, bool)) ([]*vmconf.Net, error) {
	var out []*vmconf.Net
	for i := range 32 {
		key := "net" + strconv.Itoa(i)
		v, ok := get(key)
		if !ok {
			continue
		}
		n, err := vmconf.ParseNet(key, v)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
