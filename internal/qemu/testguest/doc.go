// Package testguest builds the tiny Linux guest that Hearth's system
// tests boot under QEMU: the Debian kernel and an initramfs with static
// busybox, the virtio, ACPI button and evdev modules, and qemu-ga. Every
// input is a Debian package fetched with apt-get download and unpacked
// with dpkg-deb -x, never installed on the host. A build is cached under
// a key made of the exact package versions and the guest's own scripts,
// so later test runs boot in seconds without touching the network.
package testguest
