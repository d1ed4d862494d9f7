package cmdline

import (
	"fmt"
	"strconv"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// bootIndexes gives each boot device its bootindex, numbered as Proxmox
// VE numbers them: an explicit order counts up from 100 in list order
// (devices the VM lacks still take their number); the legacy letter form
// (also the default, cdn) gives each class a hundred: the boot disk
// first, CD-ROM drives next, NICs last, counting up within the class.
// With strict boot, devices without an index are never booted from.
func bootIndexes(conf map[string]string) (map[string]int, error) {
	out := map[string]int{}
	b := &vmconf.Boot{}
	if v := conf["boot"]; v != "" {
		var err error
		if b, err = vmconf.ParseBoot(v); err != nil {
			return nil, fmt.Errorf("boot: %w", err)
		}
	}
	if len(b.Order) > 0 {
		for i, dev := range b.Order {
			out[dev] = 100 + i
		}
		return out, nil
	}
	letters := b.Legacy
	if letters == "" {
		letters = "cdn"
	}
	next := map[rune]int{}
	for i, c := range letters {
		next[c] = (i + 1) * 100
	}
	driveKeys := vmconf.DriveKeys()
	driveKeys = driveKeys[:len(driveKeys)-2] // efidisk0 and tpmstate0 do not boot
	if n, ok := next['c']; ok {
		disk := conf["bootdisk"]
		if disk == "" {
			for _, k := range driveKeys {
				if d, err := vmconf.ParseDrive(k, conf[k]); conf[k] != "" && err == nil && !d.IsCDROM() {
					disk = k
					break
				}
			}
		}
		if disk != "" {
			out[disk] = n
		}
	}
	if _, ok := next['d']; ok {
		for _, k := range driveKeys {
			if d, err := vmconf.ParseDrive(k, conf[k]); conf[k] != "" && err == nil && d.IsCDROM() {
				out[k] = next['d']
				next['d']++
			}
		}
	}
	if _, ok := next['n']; ok {
		for i := 0; i < 32; i++ {
			if k := "net" + strconv.Itoa(i); conf[k] != "" {
				out[k] = next['n']
				next['n']++
			}
		}
	}
	return out, nil
}
