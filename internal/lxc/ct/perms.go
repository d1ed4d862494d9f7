package ct

import (
	"regexp"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// Which privilege changing a container key takes, as Proxmox VE splits
// VM.Config.* by kind of setting.
var (
	cpuKeys      = []string{"cores", "cpulimit", "cpuunits"}
	memoryKeys   = []string{"memory", "swap"}
	netKeys      = []string{"nameserver", "searchdomain", "hostname"}
	rootOnlyKeys = []string{"hookscript", "lock", "template", "unprivileged", "entrypoint", "env", "debug"}
	numberedRE   = regexp.MustCompile(`^([a-z]+)(\d+)$`)
)

// privilegeOf returns the privilege that changing key needs on
// /vms/<vmid>; "root" means only root@pam may change it.
func privilegeOf(key, value string) string {
	switch {
	case slices.Contains(rootOnlyKeys, key):
		return "root"
	case slices.Contains(cpuKeys, key):
		return "VM.Config.CPU"
	case slices.Contains(memoryKeys, key):
		return "VM.Config.Memory"
	case slices.Contains(netKeys, key):
		return "VM.Config.Network"
	case key == "rootfs":
		return "VM.Config.Disk"
	case key == "features":
		// Nesting is the one feature an administrator may grant; the
		// others open host interfaces (fuse, mknod, mounts).
		if value == "" || value == "nesting=1" || value == "nesting=0" {
			return "VM.Config.Options"
		}
		return "root"
	}
	if m := numberedRE.FindStringSubmatch(key); m != nil {
		switch m[1] {
		case "net":
			return "VM.Config.Network"
		case "mp", "unused":
			// A bind mount or device is a piece of the host.
			if strings.HasPrefix(value, "/") {
				return "root"
			}
			return "VM.Config.Disk"
		case "dev":
			return "root"
		}
	}
	return "VM.Config.Options"
}

// checkKeys checks the caller may set (or delete) each key.
func checkKeys(c *api.Call, vmid int, values map[string]string, deletes []string) error {
	return api.CheckConfigKeys(c, vmid, values, deletes, privilegeOf)
}
