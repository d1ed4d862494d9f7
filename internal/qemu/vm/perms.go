package vm

import (
	"regexp"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// Which privilege changing a configuration key takes, as Proxmox VE
// splits VM.Config.* by kind of setting.
var (
	cpuKeys      = []string{"affinity", "cores", "cpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus"}
	memoryKeys   = []string{"balloon", "memory", "shares"}
	hwKeys       = []string{"acpi", "audio0", "bios", "hotplug", "hugepages", "keephugepages", "kvm", "machine", "reboot", "rng0", "scsihw", "smbios1", "tablet", "tdf", "vga", "watchdog", "vmgenid", "amd-sev", "intel-tdx", "spice_enhancements", "ivshmem", "allow-ksm"}
	cloudKeys    = []string{"cicustom", "cipassword", "citype", "ciupgrade", "ciuser", "nameserver", "searchdomain", "sshkeys"}
	powerKeys    = []string{"freeze"}
	rootOnlyKeys = []string{"args", "hookscript", "lock", "template", "runningmachine", "runningcpu", "meta", "vmstate"}
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
	case slices.Contains(hwKeys, key):
		return "VM.Config.HWType"
	case slices.Contains(cloudKeys, key):
		return "VM.Config.Cloudinit"
	case slices.Contains(powerKeys, key):
		return "VM.PowerMgmt"
	case key == "cdrom":
		return "VM.Config.CDROM"
	}
	if m := numberedRE.FindStringSubmatch(key); m != nil {
		switch m[1] {
		case "net":
			return "VM.Config.Network"
		case "ipconfig":
			return "VM.Config.Cloudinit"
		case "unused":
			return "VM.Config.Disk"
		case "usb", "numa":
			return "VM.Config.HWType"
		case "serial", "parallel":
			// A socket is harmless; a host device is the host's.
			if m[1] == "serial" && strings.HasPrefix(value, "socket") {
				return "VM.Config.HWType"
			}
			return "root"
		case "hostpci", "virtiofs":
			return "root"
		}
	}
	if vmconf.IsDriveKey(key) {
		if d, err := vmconf.ParseDrive(key, value); err == nil && d.IsCDROM() {
			return "VM.Config.CDROM"
		}
		return "VM.Config.Disk"
	}
	return "VM.Config.Options"
}

// checkKeys checks the caller may set (or delete) each key.
func checkKeys(c *api.Call, vmid int, values map[string]string, deletes []string) error {
	return api.CheckConfigKeys(c, vmid, values, deletes, privilegeOf)
}
