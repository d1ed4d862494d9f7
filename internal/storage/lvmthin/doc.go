// Package lvmthin is the "lvmthin" storage type: disk images and
// container volumes as thin volumes of an LVM thin pool, with thin
// snapshots (snap_<volume>_<snapshot>) and linked clones of template
// bases, using the same lvm2 commands and names as Proxmox VE's LVM-thin
// plugin.
package lvmthin
