// Package cephfs is the "cephfs" storage type of Proxmox VE: a CephFS
// file system mounted under /mnt/pve/<storage> (or the storage's path)
// with the kernel client or ceph-fuse, holding files (ISO images,
// container templates, backups, snippets, import sources) in the layout
// of a directory storage. The client's secret reaches the mount helper
// only through a file that root alone can read.
package cephfs
