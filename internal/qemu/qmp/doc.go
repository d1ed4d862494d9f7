// Package qmp is Hearth's client for the QEMU Machine Protocol: one unix
// socket connection per running VM that carries commands (from any number
// of goroutines, matched to their replies by id) and the events QEMU
// emits. Subscriptions are registered before the command that causes an
// event is sent, so job completions and device removals cannot be missed;
// typed helpers cover the commands the VM service uses, and everything else
// goes through Execute.
package qmp
