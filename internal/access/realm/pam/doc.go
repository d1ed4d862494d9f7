// Package pam implements the "pam" realm: it checks the password of a
// local system account through the host's PAM stack, the way a Proxmox VE
// node lets root@pam and other Linux users log in.
//
// Talking to libpam needs cgo, and Hearth is built with CGO_ENABLED=0 by
// default so that the binary stays static. The real implementation is
// therefore behind the "pam" build tag: build with
//
//	CGO_ENABLED=1 go build -tags pam ./cmd/hearth
//
// on a machine with the libpam headers (Debian: libpam0g-dev). Without the
// tag or without cgo the same Realm type is compiled from a stub whose
// Available reports false and whose Authenticate returns a configuration
// error instead of ErrAuth, so that a missing build option shows up in the
// log rather than looking like a wrong password.
package pam
