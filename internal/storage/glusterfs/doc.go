// Package glusterfs is the "glusterfs" storage type that Proxmox VE had
// until version 8: a GlusterFS volume mounted under /mnt/pve/<storage>
// (or the storage's path) and used as a directory storage, while QEMU
// reaches disk images directly through its gluster driver, as Proxmox VE
// passed gluster:// paths to it.
package glusterfs
