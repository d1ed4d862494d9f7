package guestport

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
)

// helperAlias marks the devices this package creates for traditional
// VLANs, so that they, and only they, are deleted once unused. The mark is
// kept by the kernel (IFLA_IFALIAS), so it survives a daemon restart.
const helperAlias = "hearth:guestport:vlan-helper"

// setBridgeVlans gives a port of a VLAN-aware bridge its VLANs, as Proxmox
// VE does: drop whatever it had (the bridge's default PVID, usually 1,
// comes with every new port), add the trunks as tagged VLANs, or every
// VLAN when the port has neither tag nor trunks, then the tag (1 when
// none) as PVID and untagged.
func setBridgeVlans(h Netlink, l netlink.Link, p Port) error {
	name := l.Attrs().Name
	if err := h.BridgeVlanDelRange(l, 1, 4094, false, false, false, true); err != nil {
		return fmt.Errorf("remove the VLANs of %s: %w", name, err)
	}
	switch {
	case len(p.Trunks) > 0:
		for _, vid := range p.Trunks {
			if err := h.BridgeVlanAdd(l, uint16(vid), false, false, false, true); err != nil {
				return fmt.Errorf("add trunk VLAN %d to %s: %w", vid, name, err)
			}
		}
	case p.Tag == 0:
		if err := h.BridgeVlanAddRange(l, 2, 4094, false, false, false, true); err != nil {
			return fmt.Errorf("add VLANs 2-4094 to %s: %w", name, err)
		}
	}
	tag := p.Tag
	if tag == 0 {
		tag = 1
	}
	if err := h.BridgeVlanAdd(l, uint16(tag), true, true, false, true); err != nil {
		return fmt.Errorf("set VLAN %d as untagged PVID of %s: %w", tag, name, err)
	}
	return nil
}

// ensureHelper returns the traditional VLAN bridge <bridge>v<tag>, creating
// it with a VLAN device <port>.<tag> on every physical port of br. An
// existing helper is used as it is (it may be the administrator's, as in
// Proxmox VE's own example of a management VLAN), only brought up.
func ensureHelper(h Netlink, br *netlink.Bridge, tag int) (netlink.Link, error) {
	name := br.Attrs().Name + "v" + strconv.Itoa(tag)
	if len(name) > maxIfName {
		return nil, fmt.Errorf("VLAN bridge name %s is longer than %d characters", name, maxIfName)
	}
	existing, err := h.LinkByName(name)
	switch {
	case err == nil:
		if _, ok := existing.(*netlink.Bridge); !ok {
			return nil, fmt.Errorf("%s exists as a %s device, not as the VLAN %d bridge of %s", name, existing.Type(), tag, br.Attrs().Name)
		}
		if err := h.LinkSetUp(existing); err != nil {
			return nil, fmt.Errorf("set VLAN bridge %s up: %w", name, err)
		}
		return existing, nil
	case !isNotFound(err):
		return nil, fmt.Errorf("look for VLAN bridge %s: %w", name, err)
	}

	uplinks, err := physicalPorts(h, br)
	if err != nil {
		return nil, err
	}
	if len(uplinks) == 0 {
		return nil, fmt.Errorf("bridge %s has no physical port to carry VLAN %d", br.Attrs().Name, tag)
	}
	// Check every name before creating anything.
	for _, up := range uplinks {
		if vname := up.Attrs().Name + "." + strconv.Itoa(tag); len(vname) > maxIfName {
			return nil, fmt.Errorf("VLAN device name %s is longer than %d characters", vname, maxIfName)
		}
	}

	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: br.Attrs().MTU}}); err != nil {
		return nil, fmt.Errorf("create VLAN bridge %s: %w", name, err)
	}
	helper, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find the new VLAN bridge %s: %w", name, err)
	}
	if err := h.LinkSetAlias(helper, helperAlias); err != nil {
		return nil, fmt.Errorf("mark VLAN bridge %s: %w", name, err)
	}
	for _, up := range uplinks {
		if err := attachVlanDevice(h, up, tag, helper); err != nil {
			return nil, err
		}
	}
	if err := h.LinkSetUp(helper); err != nil {
		return nil, fmt.Errorf("set VLAN bridge %s up: %w", name, err)
	}
	return helper, nil
}

// attachVlanDevice puts <uplink>.<tag> into helper, creating it when
// missing. An existing VLAN device (from the host's configuration) is used
// but not marked, so it is released rather than deleted later.
func attachVlanDevice(h Netlink, uplink netlink.Link, tag int, helper netlink.Link) error {
	vname := uplink.Attrs().Name + "." + strconv.Itoa(tag)
	vdev, err := h.LinkByName(vname)
	switch {
	case isNotFound(err):
		v := &netlink.Vlan{
			LinkAttrs: netlink.LinkAttrs{Name: vname, ParentIndex: uplink.Attrs().Index, MTU: uplink.Attrs().MTU},
			VlanId:    tag,
		}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("create VLAN device %s: %w", vname, err)
		}
		if vdev, err = h.LinkByName(vname); err != nil {
			return fmt.Errorf("find the new VLAN device %s: %w", vname, err)
		}
		if err := h.LinkSetAlias(vdev, helperAlias); err != nil {
			return fmt.Errorf("mark VLAN device %s: %w", vname, err)
		}
	case err != nil:
		return fmt.Errorf("look for VLAN device %s: %w", vname, err)
	default:
		if m := vdev.Attrs().MasterIndex; m != 0 && m != helper.Attrs().Index {
			return fmt.Errorf("VLAN device %s already belongs to another bridge", vname)
		}
	}
	if err := h.LinkSetMaster(vdev, helper); err != nil {
		return fmt.Errorf("add VLAN device %s to %s: %w", vname, helper.Attrs().Name, err)
	}
	if err := h.LinkSetUp(vdev); err != nil {
		return fmt.Errorf("set VLAN device %s up: %w", vname, err)
	}
	return nil
}

// physicalPorts lists the ports of br that lead off the host: NICs
// ("device") and bonds. Guest ports, firewall veths and VLAN devices are
// not uplinks.
func physicalPorts(h Netlink, br netlink.Link) ([]netlink.Link, error) {
	links, err := retryDump(h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netlink.Link
	for _, l := range links {
		if l.Attrs().MasterIndex != br.Attrs().Index {
			continue
		}
		if t := l.Type(); t == "device" || t == "bond" {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b netlink.Link) int { return a.Attrs().Index - b.Attrs().Index })
	return out, nil
}

// removeUnusedHelpers deletes the helper bridges this package created
// whose only ports are VLAN devices, i.e. that no guest uses. With only
// set, it looks at that one interface index; otherwise at all of them.
// The VLAN devices this package created go with their bridge; others are
// only released.
func removeUnusedHelpers(h Netlink, only int) error {
	links, err := retryDump(h.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, br := range links {
		if _, ok := br.(*netlink.Bridge); !ok || br.Attrs().Alias != helperAlias {
			continue
		}
		if only != 0 && br.Attrs().Index != only {
			continue
		}
		var vlans []netlink.Link
		used := false
		for _, l := range links {
			if l.Attrs().MasterIndex != br.Attrs().Index {
				continue
			}
			if _, ok := l.(*netlink.Vlan); ok {
				vlans = append(vlans, l)
			} else {
				used = true
			}
		}
		if used {
			continue
		}
		for _, v := range vlans {
			if v.Attrs().Alias == helperAlias {
				if err := h.LinkDel(v); err != nil && !isNotFound(err) {
					return fmt.Errorf("delete VLAN device %s: %w", v.Attrs().Name, err)
				}
			} else if err := h.LinkSetNoMaster(v); err != nil {
				return fmt.Errorf("release VLAN device %s from %s: %w", v.Attrs().Name, br.Attrs().Name, err)
			}
		}
		if err := h.LinkDel(br); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete VLAN bridge %s: %w", br.Attrs().Name, err)
		}
	}
	return nil
}
