package lxcconf

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// The limits below are the ranges of the matching CT config keys; Build
// refuses values outside them so that a bad Spec fails here, with the key
// named, rather than halfway through lxc-start.
const (
	maxTTY      = 6
	maxCPULimit = 8192
	maxCPUUnits = 500000
	minMemory   = 16
	// maxIfName is IFNAMSIZ less the terminating NUL.
	maxIfName = 15
	// maxUTSName is the kernel's limit on a host name.
	maxUTSName = 64
)

var (
	// hookPathRe keeps the hook path to characters a shell passes through
	// unchanged: LXC runs hooks through "sh -c", so a space or a quote in
	// the path would change the command.
	hookPathRe = regexp.MustCompile(`^/[A-Za-z0-9/._+-]*$`)
	hostnameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	macRe      = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`)
	// ifNameRe is stricter than the kernel (which takes anything but '/',
	// ':' and white space) because the name also lands in scripts' argv.
	ifNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	cpuSetRe = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
	// fsTypeRe guards the AppArmor rule a mount type is pasted into: a
	// comma or a space there would add rules of its own.
	fsTypeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	rawKeyRe = regexp.MustCompile(`^lxc\.[A-Za-z0-9._-]+$`)
	envRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	// devPathRe keeps device paths free of white space, which would split
	// the fstab-style mount entry they are written into.
	devPathRe = regexp.MustCompile(`^/dev/[^\s]+$`)
)

// validate checks every field Build writes and names the first bad one.
func validate(s *Spec) error {
	if s == nil {
		return fmt.Errorf("no container settings given")
	}
	if err := checkText(s); err != nil {
		return err
	}
	if s.VMID <= 0 {
		return fmt.Errorf("vmid %d: must be a positive number", s.VMID)
	}
	switch s.Arch {
	case "amd64", "i386", "arm64", "armhf", "riscv32", "riscv64":
	default:
		return fmt.Errorf("arch %q: allowed are amd64, i386, arm64, armhf, riscv32 and riscv64", s.Arch)
	}
	if _, ok := ostypeFiles(s.OSType); !ok {
		return fmt.Errorf("ostype %q: allowed are debian, devuan, ubuntu, centos, fedora, opensuse, archlinux, alpine, gentoo, nixos, busybox and unmanaged", s.OSType)
	}
	if s.Hostname != "" && (len(s.Hostname) > maxUTSName || !hostnameRe.MatchString(s.Hostname)) {
		return fmt.Errorf("hostname %q: must be a DNS name of at most %d characters (letters, digits, '-' and '.')", s.Hostname, maxUTSName)
	}
	if err := checkAbs("lxcpath", s.LXCPath); err != nil {
		return err
	}
	if !hookPathRe.MatchString(s.Hook) {
		return fmt.Errorf("hook %q: must be an absolute path made of letters, digits and / . _ + - (LXC runs it through a shell)", s.Hook)
	}
	if s.LXCConfigDir != "" {
		if err := checkAbs("lxc config dir", s.LXCConfigDir); err != nil {
			return err
		}
	}
	for i, m := range s.IDMap {
		if err := checkIDMap(m); err != nil {
			return fmt.Errorf("idmap entry %d: %w", i, err)
		}
	}
	for _, t := range s.Features.Mount {
		if !fsTypeRe.MatchString(t) {
			return fmt.Errorf("features mount type %q: must be a file system type name (lower-case letters, digits, '.', '_' and '-')", t)
		}
	}
	if err := checkLimits(s); err != nil {
		return err
	}
	if s.TTY < 0 || s.TTY > maxTTY {
		return fmt.Errorf("tty %d: must be between 0 and %d", s.TTY, maxTTY)
	}
	switch s.CMode {
	case "", "tty", "console", "shell":
	default:
		return fmt.Errorf("cmode %q: allowed are tty, console and shell", s.CMode)
	}
	if err := checkNICs(s); err != nil {
		return err
	}
	for i, d := range s.Devices {
		if err := checkDevice(d); err != nil {
			return fmt.Errorf("device %d: %w", i, err)
		}
	}
	for _, e := range s.Env {
		// Without '=' LXC would copy the variable from lxc-start's own
		// environment, leaking the host's into the container.
		if !envRe.MatchString(e) {
			return fmt.Errorf("env entry %q: must be NAME=value with NAME made of letters, digits and '_'", e)
		}
	}
	for _, r := range s.Raw {
		if !rawKeyRe.MatchString(r.Key) {
			return fmt.Errorf("raw key %q: must start with \"lxc.\" followed by letters, digits, '.', '_' or '-'", r.Key)
		}
		if r.Key == "lxc.idmap" {
			return fmt.Errorf("raw key lxc.idmap: pass it as an IDMap entry, so that the default map is not written beside it")
		}
	}
	return nil
}

// namedValue is one string of the Spec and how an error names it.
type namedValue struct{ name, value string }

// checkText refuses line breaks and NUL in every string of the Spec: the
// file is one setting per line, so a newline in a value would smuggle in
// settings of its own.
func checkText(s *Spec) error {
	fields := []namedValue{
		{"arch", s.Arch}, {"ostype", s.OSType}, {"hostname", s.Hostname},
		{"lxcpath", s.LXCPath}, {"hook", s.Hook}, {"lxc config dir", s.LXCConfigDir},
		{"cpuset", s.CPUSet}, {"cmode", s.CMode}, {"entrypoint", s.Entrypoint},
	}
	for _, t := range s.Features.Mount {
		fields = append(fields, namedValue{"features mount type", t})
	}
	for _, n := range s.NICs {
		fields = append(fields,
			namedValue{fmt.Sprintf("net%d name", n.Index), n.Name},
			namedValue{fmt.Sprintf("net%d hwaddr", n.Index), n.HWAddr})
	}
	for i, d := range s.Devices {
		fields = append(fields, namedValue{fmt.Sprintf("device %d path", i), d.Path})
	}
	for _, e := range s.Env {
		fields = append(fields, namedValue{"env entry", e})
	}
	for _, r := range s.Raw {
		fields = append(fields,
			namedValue{"raw key", r.Key},
			namedValue{"raw key " + r.Key + " value", r.Value})
	}
	for _, f := range fields {
		if strings.ContainsAny(f.value, "\n\r\x00") {
			return fmt.Errorf("%s %q: line breaks and NUL are not allowed, the LXC configuration is one setting per line", f.name, f.value)
		}
	}
	return nil
}

func checkAbs(name, p string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("%s %q: must be an absolute path", name, p)
	}
	return nil
}

func checkIDMap(m IDMap) error {
	if m.Kind != 'u' && m.Kind != 'g' {
		return fmt.Errorf("kind %q: allowed are u (user ids) and g (group ids)", m.Kind)
	}
	if m.Inside < 0 || m.Host < 0 {
		return fmt.Errorf("ids %d and %d: must not be negative", m.Inside, m.Host)
	}
	if m.N <= 0 {
		return fmt.Errorf("range of %d ids: must be positive", m.N)
	}
	// Ids are 32 bits; a range past the last one cannot be mapped.
	const idSpace = 1 << 32
	if int64(m.Inside)+int64(m.N) > idSpace || int64(m.Host)+int64(m.N) > idSpace {
		return fmt.Errorf("range %d %d %d: runs past the last user id %d", m.Inside, m.Host, m.N, idSpace-1)
	}
	return nil
}

func checkLimits(s *Spec) error {
	if s.Cgroup != 1 && s.Cgroup != 2 {
		return fmt.Errorf("cgroup version %d: must be 1 (v1 or hybrid host) or 2 (unified host)", s.Cgroup)
	}
	if s.CPUSet != "" && !cpuSetRe.MatchString(s.CPUSet) {
		return fmt.Errorf("cpuset %q: must be a list of CPU numbers and ranges like 0-1,3", s.CPUSet)
	}
	if s.CPULimit < 0 || s.CPULimit > maxCPULimit {
		return fmt.Errorf("cpulimit %g: must be between 0 (no limit) and %d", s.CPULimit, maxCPULimit)
	}
	if s.CPUUnits < 0 || s.CPUUnits > maxCPUUnits {
		return fmt.Errorf("cpuunits %d: must be between 0 (host default) and %d", s.CPUUnits, maxCPUUnits)
	}
	if s.MemoryMiB < minMemory {
		return fmt.Errorf("memory %d MiB: must be at least %d MiB (the CT config's default is 512)", s.MemoryMiB, minMemory)
	}
	if s.SwapMiB < 0 {
		return fmt.Errorf("swap %d MiB: must not be negative", s.SwapMiB)
	}
	return nil
}

func checkNICs(s *Spec) error {
	seen := map[int]bool{}
	for _, n := range s.NICs {
		key := fmt.Sprintf("net%d", n.Index)
		if n.Index < 0 {
			return fmt.Errorf("%s: the index must not be negative", key)
		}
		if seen[n.Index] {
			return fmt.Errorf("%s: given twice", key)
		}
		seen[n.Index] = true
		if len(n.Name) > maxIfName || !ifNameRe.MatchString(n.Name) {
			return fmt.Errorf("%s: name %q must be 1 to %d letters, digits, '_', '.' or '-'", key, n.Name, maxIfName)
		}
		if n.HWAddr != "" && !macRe.MatchString(n.HWAddr) {
			return fmt.Errorf("%s: hwaddr %q is not a MAC address like BC:24:11:2A:3B:4C", key, n.HWAddr)
		}
		if n.MTU < 0 || n.MTU > 65535 {
			return fmt.Errorf("%s: mtu %d must be between 0 (the bridge's) and 65535", key, n.MTU)
		}
		if pair := vethName(s.VMID, n.Index); len(pair) > maxIfName {
			return fmt.Errorf("%s: the host side interface %s would be longer than %d characters", key, pair, maxIfName)
		}
	}
	return nil
}

func checkDevice(d Device) error {
	if !devPathRe.MatchString(d.Path) || path.Clean(d.Path) != d.Path {
		return fmt.Errorf("path %q: must be a clean path under /dev/ without white space", d.Path)
	}
	return nil
}
