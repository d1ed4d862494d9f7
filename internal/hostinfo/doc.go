// Package hostinfo reads the facts and the live usage of the host Hearth runs
// on (CPU model and topology, kernel, boot firmware, memory, swap, root
// filesystem, KSM, load and CPU utilisation) from /proc, /sys, uname(2) and
// statfs(2), and assembles them into the object served at
// GET /nodes/{node}/status, whose JSON keys and value types follow what
// Proxmox VE clients decode. Every file is read relative to Reader.Root so
// that tests can point the package at a fake tree instead of the live host,
// and a Sampler turns the cumulative CPU counters into the utilisation
// fractions the API reports.
package hostinfo
