// Package cli is the engine behind every command-line tool of Hearth
// (pvesh, pvenode, pvecm, pveum, qm, pveversion, …): none of their
// commands is written by hand. It reads the API declarations, turns
// command words, positional arguments and --options into a call of the
// declared endpoint, checks the parameters against the schema before
// sending them to the node daemon (over its root-only unix socket or over
// HTTPS with a ticket or an API token), and prints the answer as a table,
// JSON or YAML the way Proxmox VE's tools do; it follows tasks to their
// end and generates usage texts, bash completion and man pages from the
// same declarations.
package cli
