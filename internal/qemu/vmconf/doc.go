// Package vmconf gives typed access to the values of a VM configuration
// (qemu-server/<vmid>.conf): disks, NICs and the other property strings
// become structs with ints and bools, parsed and checked against the
// schemas of api.QemuOptions and printed back in their canonical form
// (default key first, the rest sorted) so that a parse and a print
// round-trip. Validate checks a whole set of keys, strictly for API
// writes and leniently for files read from disk. The package does no I/O.
package vmconf
