// Package cfsfuse shows the replicated configuration tree of package cfs as
// a FUSE file system, the counterpart of /etc/pve on Proxmox VE, so that
// administrators can read and edit configuration with ordinary tools. Every
// lookup, stat and directory listing asks the tree again (the kernel is told
// to cache nothing), so a change committed on any node is visible at the next
// access; an open file keeps its content in memory and is stored as one
// atomic write when it is closed or synced, so the tree never holds a
// half-written file. Without quorum the mount refuses changes with EROFS and
// stays readable; ownership and modes are a fixed policy (root only, secrets
// under priv/ unreadable for others, enforced by the kernel) rather than
// stored metadata; and the per-node symbolic links of pmxcfs (local,
// qemu-server, lxc, openvz) are provided as virtual entries at the root.
package cfsfuse
