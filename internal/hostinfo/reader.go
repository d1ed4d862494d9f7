package hostinfo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Reader reads host facts from files under Root. Its zero value reads the
// live host.
type Reader struct {
	// Root is the directory that holds proc/ and sys/; "" means "/". Tests
	// point it at a fake tree. With a Root other than "/", kernel facts come
	// from proc/sys/kernel files instead of uname(2), which a fake tree
	// cannot answer.
	Root string
	// RootFSPath is the path whose filesystem is reported as rootfs; ""
	// means "/". It is not joined with Root: statfs needs a real mount.
	RootFSPath string
}

// secureBootVar is the efivarfs file of the global SecureBoot variable
// (name plus the EFI global variable GUID).
const secureBootVar = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

func (r Reader) path(rel string) string {
	root := r.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, rel)
}

func (r Reader) fake() bool {
	return r.Root != "" && filepath.Clean(r.Root) != "/"
}

func (r Reader) read(rel string) ([]byte, error) {
	return os.ReadFile(r.path(rel))
}

// Static reads the facts that stay fixed while the host is up: CPU model
// and topology, the running kernel and the boot firmware.
func (r Reader) Static() (Static, error) {
	data, err := r.read("proc/cpuinfo")
	if err != nil {
		return Static{}, fmt.Errorf("read cpuinfo: %w", err)
	}
	cpu, err := parseCPUInfo(data)
	if err != nil {
		return Static{}, err
	}
	k, err := r.kernel()
	if err != nil {
		return Static{}, err
	}
	boot, err := r.bootInfo()
	if err != nil {
		return Static{}, err
	}
	return Static{CPUInfo: cpu, Kernel: k, Boot: boot}, nil
}

func (r Reader) kernel() (Kernel, error) {
	if !r.fake() {
		return uname()
	}
	// The same strings uname(2) returns, as the kernel exposes them in
	// procfs; "arch" exists since Linux 6.1.
	var k Kernel
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"ostype", &k.Sysname}, {"osrelease", &k.Release},
		{"version", &k.Version}, {"arch", &k.Machine},
	} {
		b, err := r.read("proc/sys/kernel/" + f.name)
		if err != nil {
			return Kernel{}, fmt.Errorf("read kernel %s: %w", f.name, err)
		}
		*f.dst = strings.TrimSpace(string(b))
	}
	return k, nil
}

// bootInfo decides the firmware the way PVE does: the kernel creates
// /sys/firmware/efi only when it was started by EFI firmware.
func (r Reader) bootInfo() (BootInfo, error) {
	st, err := os.Stat(r.path("sys/firmware/efi"))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return BootInfo{Mode: BootLegacyBIOS}, nil
	}
	if err != nil {
		return BootInfo{}, fmt.Errorf("detect boot mode: %w", err)
	}
	sb := 0
	// A missing or unreadable variable (efivarfs not mounted, firmware
	// without secure boot) means secure boot is not in force.
	if data, err := r.read(secureBootVar); err == nil && secureBootEnabled(data) {
		sb = 1
	}
	return BootInfo{Mode: BootEFI, SecureBoot: &sb}, nil
}

// Memory reads physical memory and swap from /proc/meminfo.
func (r Reader) Memory() (Memory, Swap, error) {
	data, err := r.read("proc/meminfo")
	if err != nil {
		return Memory{}, Swap{}, fmt.Errorf("read meminfo: %w", err)
	}
	return parseMeminfo(data)
}

// LoadAvg reads the 1, 5 and 15 minute load averages as the kernel prints
// them.
func (r Reader) LoadAvg() ([3]string, error) {
	data, err := r.read("proc/loadavg")
	if err != nil {
		return [3]string{}, fmt.Errorf("read loadavg: %w", err)
	}
	return parseLoadAvg(data)
}

// Uptime reads whole seconds since boot.
func (r Reader) Uptime() (int64, error) {
	data, err := r.read("proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	return parseUptime(data)
}

// RootFS reports the size of the filesystem holding RootFSPath.
func (r Reader) RootFS() (FS, error) {
	p := r.RootFSPath
	if p == "" {
		p = "/"
	}
	fsys, err := statfs(p)
	if err != nil {
		return FS{}, fmt.Errorf("statfs %s: %w", p, err)
	}
	return fsys, nil
}

// KSMShared reads how many bytes kernel same-page merging saves. A kernel
// built without KSM has no sysfs directory; that is reported as 0, as PVE
// does, rather than as an error.
func (r Reader) KSMShared() (int64, error) {
	data, err := r.read("sys/kernel/mm/ksm/pages_sharing")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read ksm pages_sharing: %w", err)
	}
	pages, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || pages < 0 {
		return 0, fmt.Errorf("parse ksm pages_sharing %q: invalid", strings.TrimSpace(string(data)))
	}
	// pages_sharing counts pages, whose size depends on the architecture
	// (4 KiB on x86, up to 64 KiB on arm64 and ppc64).
	return pages * int64(os.Getpagesize()), nil
}

// CPUTimes reads the cumulative counters of all CPUs from /proc/stat.
func (r Reader) CPUTimes() (CPUTimes, error) {
	data, err := r.read("proc/stat")
	if err != nil {
		return CPUTimes{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	return parseProcStat(data)
}
