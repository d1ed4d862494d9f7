// Package natnet is the network that works on a single node out of the
// box, without touching the physical NIC: what a Proxmox VE SDN simple
// zone with SNAT and DHCP gives. Guests plugged into its bridge (through
// package guestport) get an address by DHCP, reach the outside through
// the node's own routes with their source masqueraded, and, when DNS is
// on, resolve names through the node and each other by hostname.
//
// Up builds, or adopts and repairs, three things:
//
//   - a bridge (default hearthnat0) holding the gateway address, which is
//     the first address of the subnet (default 10.213.0.0/24);
//   - an nftables table of its own, inet hearth-nat-<bridge>, replaced
//     atomically as a whole, that masquerades traffic from the subnet
//     leaving through any interface but the bridge; IPv4 forwarding is
//     switched on;
//   - one dnsmasq bound to that bridge only, with its configuration, lease
//     file and pid file in the state directory. The Network supervises it
//     and restarts it when it dies.
//
// Down takes the three away again; the lease file stays so that guests
// keep their addresses when the network comes back. Release lets go of a
// Network without stopping it, for a daemon that exits while its guests
// keep running: the next Up adopts the running dnsmasq.
//
// Everything happens in the network namespace of the thread that calls
// Up. The Network remembers that namespace and does all later work there
// (Down, restarts of dnsmasq), whichever goroutine asks. On a node that is
// the host's namespace; tests run it in namespaces of their own.
//
// The default subnet stays clear of the defaults of libvirt
// (192.168.122.0/24), Docker (172.17.0.0/16), LXC (10.0.3.0/24), Podman
// (10.88.0.0/16) and Kubernetes distributions (10.42-10.43, 10.96,
// 10.244), which may share the node.
//
// The table's forward chain accepts traffic from and to the bridge. An
// accept in one nftables table cannot override a drop in another, so a
// host firewall whose forward policy drops must allow the bridge itself.
package natnet
