// Package pve implements the password store of the built-in "pve" realm:
// the priv/shadow.cfg file in which Proxmox VE keeps one crypt(3) hash per
// realm user. It parses the file from bytes, tolerating and reporting
// damaged lines instead of failing on them, checks and changes passwords,
// and renders a canonical, sorted file again, so that a file written by a
// PVE node keeps working here and vice versa. Reading and writing the file,
// locking it across the cluster and logging the warnings are left to the
// caller; this package holds no state beyond the Shadow value itself.
package pve
