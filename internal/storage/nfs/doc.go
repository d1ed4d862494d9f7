// Package nfs is the "nfs" storage type of Proxmox VE: an NFS export
// mounted under /mnt/pve/<storage> (or the storage's path) and used as a
// directory storage with the same layout and volume names. On a node
// whose kernel has no NFS client it runs in userspace mode instead: disk
// images are reached through QEMU's nfs:// driver and libnfs, and the
// directory operations through a small NFSv3 client (package nfs3), with
// the storage.cfg section unchanged.
package nfs
