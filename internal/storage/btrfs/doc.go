// Package btrfs is the "btrfs" storage type, as Proxmox VE's BTRFSPlugin:
// a directory storage on a btrfs file system where every raw disk image
// sits alone in a subvolume (images/<vmid>/vm-<vmid>-disk-<n>/disk.raw)
// and every container volume is a subvolume, so that snapshots
// (read-only <subvolume>@<name> siblings), rollbacks, clones and
// send/receive streams are btrfs operations. ISO images, templates,
// backups and snippets are plain files handled by the dir package's Store.
package btrfs
