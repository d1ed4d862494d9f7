// Package iscsidirect is the "iscsidirect" storage type: the logical
// units of one iSCSI target used as raw disks by QEMU's userspace
// libiscsi driver, with no kernel initiator on the node, as Proxmox VE's
// user mode iSCSI storage does. LUNs are listed and sized with the
// libiscsi tools (iscsi-ls, iscsi-readcapacity16); they are created and
// removed on the target, never by Hearth.
package iscsidirect
