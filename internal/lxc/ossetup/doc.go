// Package ossetup adapts the distribution inside a container's root file
// system to the container's settings: host name, /etc/hosts, network
// configuration, DNS, time zone, the root password and SSH keys. It is
// Hearth's counterpart of Proxmox VE's per-distribution setup code and
// keeps its conventions that users depend on: managed text sits between
// "# --- BEGIN PVE ---" and "# --- END PVE ---" markers, and a file
// "<dir>/.pve-ignore.<name>" leaves <dir>/<name> alone.
//
// The caller is a hook running as root on the host, while the tree it
// edits belongs to the container and may be hostile; every access goes
// through RootFS, which confines path resolution to the container root.
package ossetup

import (
	"fmt"
	"slices"
	"strings"
)

// OSTypes lists the ostype values ossetup knows: Proxmox VE's set plus
// Hearth's own busybox template.
func OSTypes() []string {
	return []string{
		"debian", "devuan", "ubuntu", "centos", "fedora", "opensuse",
		"archlinux", "alpine", "gentoo", "nixos", "unmanaged", "busybox",
	}
}

// Unsupported reports that an operation has no implementation for an
// ostype. Callers may treat it as a warning rather than a failure.
type Unsupported struct {
	OSType string
	What   string // the operation asked for, e.g. "network configuration"
}

func (e *Unsupported) Error() string {
	return fmt.Sprintf("ostype %s: %s is not supported; set ostype to unmanaged to skip setup", e.OSType, e.What)
}

func checkOSType(ostype string) error {
	if all := OSTypes(); !slices.Contains(all, ostype) {
		return fmt.Errorf("unknown ostype %q (allowed: %s)", ostype, strings.Join(all, ", "))
	}
	return nil
}
