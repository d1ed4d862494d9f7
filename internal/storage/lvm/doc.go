// Package lvm is the "lvm" storage type: disk images as thick logical
// volumes in an LVM volume group, possibly on a shared LUN, managed with
// the lvm2 tools exactly as Proxmox VE's LVM plugin does (volume names,
// tags, saferemove wiping). It also holds the lvm2 tool layer (vgs, lvs
// and pvs parsing, volume group creation) that the lvmthin type shares.
package lvm
