// Package guestport is the one place that plugs a guest's network card into
// a bridge: the tap device of a VM (tap<vmid>i<n>, created by QEMU or by
// Hearth) or the host end of a container's veth pair (veth<vmid>i<n>).
//
// Plug does what Proxmox VE does when a guest starts or a NIC is
// hot-plugged: it sets the MTU (the bridge's unless the NIC has its own),
// installs the rate limit, connects the port to the bridge with its VLAN
// tag and trunks, and brings the link up or keeps it down. Unplug undoes
// the bridge-side state; it never deletes the guest's device, which
// belongs to QEMU or LXC.
//
// VLANs follow the two Linux-bridge modes of Proxmox VE:
//
//   - On a VLAN-aware bridge (vlan_filtering=1) the port itself carries the
//     tag: its VLANs are replaced by the tag as PVID and untagged, plus the
//     trunks as tagged VLANs. A port without tag and trunks gets VLAN 1
//     untagged and 2-4094 tagged, so such a guest sees every VLAN, as in
//     Proxmox VE.
//   - On a traditional bridge, a tagged port goes into a helper bridge
//     <bridge>v<tag> (vmbr0v5) whose only uplink is the VLAN device
//     <port>.<tag> (eno1.5) on the bridge's physical port. Proxmox VE
//     leaves these helpers until reboot; Hearth marks the ones it creates
//     (interface alias) and deletes them when their last guest port
//     leaves, and never touches helpers it did not create, such as a
//     vmbr0v5 from /etc/network/interfaces.
//
// Everything goes through netlink (the Netlink interface, which
// *netlink.Handle satisfies), including tc: one interface to fake in unit
// tests, no dependency on the tc binary and its output format, and a
// handle bound to a network namespace works without switching threads.
// The rate limit is Proxmox VE's: an htb shaper on the port's egress
// (what the guest receives) and a u32 policer on its ingress (what the
// guest sends). The policer needs the kernel's tc police action
// (act_police); without it Plug fails, naming it, before the port reaches
// the bridge, rather than run a guest half limited.
//
// Plug and Unplug on one host must be serialized by the caller (one
// network lock per node, as Proxmox VE's lock_network): deciding that a
// helper bridge is unused and deleting it is not atomic against another
// guest being plugged into it.
package guestport
