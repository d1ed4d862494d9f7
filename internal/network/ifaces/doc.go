// Package ifaces reads, edits and writes the Debian/ifupdown2
// /etc/network/interfaces file the way Proxmox VE's network API does. A
// parsed File keeps every line of the input, so writing it back is
// byte-exact; an edit re-renders only the stanzas of the interfaces it
// changes, in the tab-indented style Proxmox VE writes, and leaves comments,
// `source` lines, `mapping` stanzas and everything it does not understand
// where they were. On top of the lines sits an Interface view (inet and
// inet6 stanzas merged, the type detected) that answers GET
// /nodes/{node}/network, editing methods that take the API's parameter
// names, validation whose errors name the offending parameter, and a
// unified diff for the "pending changes" that Proxmox VE shows between
// interfaces and interfaces.new. The package does no I/O: callers pass the
// file contents and the host's links in.
package ifaces
