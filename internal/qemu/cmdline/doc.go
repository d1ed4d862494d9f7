// Package cmdline turns a VM configuration into the command line of its
// QEMU process, the way Proxmox VE's qemu-server lays out the virtual
// hardware: the same device ids (net0, scsi0, virtioscsi0, ide2), the same
// fixed PCI addresses and the same defaults, so that a guest sees the same
// machine on Hearth as on Proxmox VE, across restarts and hot-plugs.
//
// Disks use -blockdev (a protocol node from storage, a format node, and a
// throttle filter when the disk has limits), so every storage kind is
// attached the same way. Build is pure: facts about the host, the
// resolved volumes and the socket paths come in with the Input. The same
// planning serves hot-plug (DriveAttachment, NetObjects), so a device
// added to a running VM is the one the next start creates.
package cmdline
