// Package apidoc renders the endpoint declarations of package api as
// documents for other programs: PVESchema builds the tree that Proxmox VE
// ships as apidata.js (what `pvesh` and the API viewer read), and OpenAPI
// builds an OpenAPI 3.1 document for generic HTTP clients and code
// generators. Both are derived from the declarations alone, never from
// handlers, so they cannot drift from what the server checks; the package
// is pure (no I/O) so the daemon, the CLI and tests can all call it.
package apidoc
