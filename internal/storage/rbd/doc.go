// Package rbd is the "rbd" storage type of Proxmox VE: disk images of
// guests as RADOS block devices in a Ceph pool (optionally a namespace of
// it, with the data in another pool), driven with the rbd and ceph
// command-line tools under the volume names and commands of Proxmox VE's
// RBD plugin. Template bases are frozen in a protected snapshot
// "__base__" that linked clones are cloned from. Guests reach images
// through QEMU's rbd driver, or through the kernel client (rbd map) when
// the storage sets krbd. The client key is handed to the tools only as a
// keyring file that root alone can read, never on a command line.
package rbd
