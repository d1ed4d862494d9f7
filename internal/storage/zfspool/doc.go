// Package zfspool is the "zfspool" storage type: VM disks as zvols and
// container volumes as file systems (subvol-…) in a local ZFS pool or
// dataset, with zfs snapshots, template bases frozen in @__base__ and
// linked clones of them, and zfs send/receive streams, using the zfs
// commands and names of Proxmox VE's ZFS pool plugin. Its zfs list
// parsing, volume names and argument builders are shared with the ZFS
// over iSCSI type.
package zfspool
