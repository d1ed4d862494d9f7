// Package tfa keeps users' second factors: the priv/tfa.cfg file in the
// JSON shape Proxmox VE 7 and later write, TOTP apps, single-use recovery
// keys and WebAuthn authenticators, the challenge a user answers at login,
// and the failure counters that lock a user out of second factors after too
// many wrong answers. Every operation works on a parsed *File with the
// clock passed in; the caller reads the file, calls one method and writes
// the whole file back, so the cluster file system stays the only state that
// matters. WebAuthn ceremonies span two requests, so their short-lived
// session data goes to a pluggable ChallengeStore instead of the file.
package tfa
