// Package cloudinit builds the contents of a VM's cloud-init drive from its
// configuration (ciuser, cipassword, sshkeys, ipconfigN, nameserver, ...)
// in the three layouts Proxmox VE can write: NoCloud, OpenStack
// ConfigDrive2 and OpenNebula. The file names, keys and value shapes follow
// what Proxmox VE generates, because the guests' cloud-init (or
// cloudbase-init on Windows) was built against exactly that. Generation is
// pure; WriteISO is the one step that touches the disk, packing the files
// into an ISO image with genisoimage. PendingChanges and Rows compare the
// configuration a drive was built from ([special:cloudinit]) with the
// current one, for the API's view of pending cloud-init values.
package cloudinit
