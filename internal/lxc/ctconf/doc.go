// Package ctconf gives typed access to the values of a container
// configuration (lxc/<vmid>.conf): mount points, network interfaces,
// features, device passthroughs and raw lxc.idmap lines become structs
// with ints and bools, parsed and checked against the schemas of
// api.LXCOptions and printed back in their canonical form (default key
// first, the rest sorted) so that a parse and a print round-trip.
// Validate checks a whole set of keys, strictly for API writes and
// leniently for files read from disk. It is the container twin of
// internal/qemu/vmconf and shares its Opt and Error types. The package
// does no I/O.
package ctconf
