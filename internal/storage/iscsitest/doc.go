// Package iscsitest starts a real userspace iSCSI target (tgtd from the
// Debian package tgt) on a loopback port for tests, with a target and
// logical units backed by sparse files in the test's temporary directory,
// so the iSCSI storage types can be tested against a real server without
// a kernel initiator. Each target runs its own tgtd with a control
// channel of its own, so parallel test packages and a host tgtd never
// share one.
package iscsitest
