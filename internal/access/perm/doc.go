// Package perm answers "may this user or API token do that here?": it
// computes the privileges a subject holds on an ACL path from a parsed
// user.cfg, following Proxmox VE's rules (inheritance down the path tree,
// user grants over group grants, NoAccess, resource pools, privilege
// separated tokens, the all-powerful root@pam), and decides whether a user
// may hand out roles. An Evaluator is built once per configuration
// version, never changes afterwards, and may be queried from many
// goroutines at once; it does no I/O.
package perm
