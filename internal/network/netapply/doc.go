// Package netapply makes a host's running network match a desired
// configuration, the way `ifreload -a` does on Proxmox VE, without
// depending on ifupdown2.
//
// It works in three separate stages so that each can be checked on its
// own. Observe reads the links, addresses, bridge options and default
// routes of one network namespace through the small Netlink interface.
// Plan is a pure function from the observed State, the Desired
// configuration and the names Hearth manages to an ordered list of Steps;
// every Step carries the operation that undoes it, computed from the
// state it replaces. Apply runs the Steps and, on the first failure,
// undoes the ones already done in reverse order, so a bad configuration
// leaves the host as it was rather than half-configured and unreachable.
//
// Plan is careful about what it must not touch: it only deletes bridges,
// bonds and VLAN devices whose names Hearth manages, never physical
// interfaces, and never detaches ports it does not manage (guest taps,
// container veths, firewall bridges), because those belong to running
// guests. It also orders changes around the kernel's side effects:
// deleting a primary IPv4 address drops its secondaries, a link going
// down loses its IPv6 addresses and routes, a VLAN device cannot exceed
// its parent's MTU, a bond only accepts a slave that is down. Wherever
// the kernel would silently change something, the plan makes that change
// an explicit step, so that its undo can put it back.
//
// The input types are plain data; an adapter elsewhere turns a parsed
// /etc/network/interfaces into a Desired value.
package netapply
