// Package zfs is the "zfs" (ZFS over iSCSI) storage type of Proxmox VE:
// zvols in a pool of a remote storage host, created with zfs over ssh
// and exported as LUNs of an iSCSI target on that host, driven with the
// target's own tools: COMSTAR (stmfadm, sbdadm), Linux LIO (targetcli),
// istgt and IET (their configuration files, plus ietadm). Guests reach
// the LUNs with QEMU's iSCSI initiator. Volume names, zfs arguments and
// the snapshot and linked-clone scheme are those of the zfspool type.
package zfs
