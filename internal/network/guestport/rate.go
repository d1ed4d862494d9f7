package guestport

import (
	"errors"
	"fmt"
	"math"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The rate limit is Proxmox VE's, built with netlink instead of the tc
// command:
//
//	egress  (host to guest):  qdisc htb 1: default 1, class 1:1 htb rate R burst 1MiB
//	ingress (guest to host):  qdisc ingress ffff:, filter u32 match-all prio 50
//	                          police rate R burst 1MiB mtu 64KiB drop
//
// R is the rate in bytes per second (rate= is in MiB/s). A port's own
// egress is what the guest receives, and its ingress what the guest sends.
const (
	rateBurst  = 1 << 20 // bytes, as Proxmox VE
	policeMTU  = 64 << 10
	policePrio = 50
	mib        = 1 << 20
)

// tc handles, major:minor in the upper and lower 16 bits.
const (
	rootHandle  = 0x0001_0000 // 1:
	classHandle = 0x0001_0001 // 1:1
	ingHandle   = 0xffff_0000 // ffff:
	flowID      = 0x0000_0001 // :1
)

// setRate replaces the port's limits with the given rate; 0 removes them.
func setRate(h Netlink, port netlink.Link, rateMBps float64) error {
	if err := clearRate(h, port); err != nil {
		return err
	}
	if rateMBps == 0 {
		return nil
	}
	name := port.Attrs().Name
	bps := rateMBps * mib
	// The policer takes 32 bits of bytes per second.
	if bps > math.MaxUint32 {
		return fmt.Errorf("rate %v MB/s is above the %d MB/s a tc policer can express", rateMBps, math.MaxUint32/mib)
	}
	rate := uint64(bps)
	if rate == 0 {
		return fmt.Errorf("rate %v MB/s is below one byte per second", rateMBps)
	}
	idx := port.Attrs().Index

	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: rootHandle, Parent: netlink.HANDLE_ROOT})
	htb.Defcls = 1
	if err := h.QdiscAdd(htb); err != nil {
		return fmt.Errorf("add htb qdisc to %s: %w", name, err)
	}
	class := netlink.NewHtbClass(
		netlink.ClassAttrs{LinkIndex: idx, Handle: classHandle, Parent: rootHandle},
		netlink.HtbClassAttrs{Rate: rate * 8, Buffer: rateBurst}, // Rate in bits per second
	)
	if err := h.ClassAdd(class); err != nil {
		return fmt.Errorf("add htb class to %s: %w", name, err)
	}

	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: ingHandle, Parent: netlink.HANDLE_INGRESS}}
	if err := h.QdiscAdd(ingress); err != nil {
		return fmt.Errorf("add ingress qdisc to %s: %w", name, err)
	}
	police := netlink.NewPoliceAction()
	police.Rate = uint32(rate)
	police.Burst = rateBurst
	police.Mtu = policeMTU
	police.ExceedAction = netlink.TC_POLICE_SHOT
	filter := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: ingHandle, Priority: policePrio, Protocol: unix.ETH_P_ALL},
		ClassId:     flowID,
		// One key matching every packet: u32 match u32 0 0.
		Sel:    &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{}}},
		Police: police,
	}
	if err := h.FilterAdd(filter); err != nil {
		// Kernels without act_police (CONFIG_NET_ACT_POLICE) refuse the
		// filter with ENOENT after failing to load the module.
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("add ingress policer to %s: the kernel has no tc police action (act_police): %w", name, err)
		}
		return fmt.Errorf("add ingress policer to %s: %w", name, err)
	}
	return nil
}

// clearRate removes the qdiscs a rate limit installs: any root qdisc with
// a handle (the kernel's defaults have none and cannot be deleted) and the
// ingress qdisc; classes and filters go with them.
func clearRate(h Netlink, port netlink.Link) error {
	qdiscs, err := retryDump(func() ([]netlink.Qdisc, error) { return h.QdiscList(port) })
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", port.Attrs().Name, err)
	}
	for _, q := range qdiscs {
		a := q.Attrs()
		if a.LinkIndex != port.Attrs().Index {
			continue
		}
		root := a.Parent == netlink.HANDLE_ROOT && a.Handle != 0
		if !root && a.Parent != netlink.HANDLE_INGRESS {
			continue
		}
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete %s qdisc of %s: %w", q.Type(), port.Attrs().Name, err)
		}
	}
	return nil
}
