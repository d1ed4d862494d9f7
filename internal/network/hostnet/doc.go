// Package hostnet is the node's network configuration service: it serves
// the /nodes/{node}/network API over the interfaces file named by the
// daemon, applies that file to the running kernel, and runs the node's
// NAT network for guests.
//
// Edits never touch the host. They are made to a copy of the file,
// <file>.new, written atomically, which is what Proxmox VE calls the
// pending changes; GET shows them as a diff, DELETE throws them away.
// Applying is a task: it validates the pending file, reads the kernel's
// state with package netapply, plans the changes against what the last
// applied file managed, runs them, and rolls every step back when one
// fails, so a bad configuration leaves the host as it was. Only a
// successful apply renames <file>.new over the file.
//
// Everything that changes the host's network holds one lock, the
// service's network lock (Proxmox VE's lock_network): applying, edits of
// the pending file, and, through Lock, guest ports plugged by other
// packages.
//
// The service works in one network namespace, given by path; empty means
// the daemon's own. Tests give it a namespace they created, so they never
// touch the host's interfaces.
package hostnet
