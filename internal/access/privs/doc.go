// Package privs names every privilege Hearth knows, using the Proxmox VE
// spelling so that role definitions and API permission rules carry over
// unchanged, and defines the built-in roles that bundle them. A privilege
// set is a small bitset (Set), cheap to copy, compare and combine, which is
// what the permission evaluator hands around. The package holds only
// constant tables; it reads no files.
package privs
