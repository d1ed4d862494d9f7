// Package pwhash creates and checks crypt(3)-style password hashes of the
// SHA-crypt family ("$5$" SHA-256-crypt and "$6$" SHA-512-crypt, with or
// without an explicit "rounds=" cost), implemented in pure Go from Ulrich
// Drepper's published specification. Proxmox VE stores the passwords of its
// built-in realm in that form, so hashes written by a PVE node verify here
// and hashes written here verify on a PVE node. New hashes are SHA-512-crypt
// with an explicit cost (DefaultRounds) and a random salt; Verify compares in
// constant time and reports malformed or unsupported hash strings as errors
// that describe the problem without ever quoting the password.
package pwhash
