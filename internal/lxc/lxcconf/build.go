package lxcconf

import (
	"bytes"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
)

// DefaultConfigDir is where LXC installs its shipped includes; Build uses
// it when Spec.LXCConfigDir is empty.
const DefaultConfigDir = "/usr/share/lxc/config"

const (
	// cfsPeriod is the scheduler period, in microseconds, a CPU limit is
	// a share of.
	cfsPeriod = 100000
	// minCFSQuota is the smallest quota the kernel accepts (1 ms); a tiny
	// cpulimit is raised to it rather than failing the start.
	minCFSQuota = 1000
	mib         = 1 << 20
)

// Build returns the LXC configuration of the container described by s, in
// a fixed order modelled on what Proxmox VE writes: identity and includes,
// security, features, resource limits, root file system and hooks,
// network, devices, init, and last the CT config's own lxc.* keys so that
// they override everything generated before them.
func Build(s *Spec) ([]byte, error) {
	if err := validate(s); err != nil {
		return nil, err
	}
	w := &writer{}
	writeBase(w, s)
	writeSecurity(w, s)
	writeFeatures(w, s)
	writeLimits(w, s)
	writeRootfs(w, s)
	writeNICs(w, s)
	writeDevices(w, s)
	writeInit(w, s)
	for _, r := range s.Raw {
		w.set(r.Key, r.Value)
	}
	return w.buf.Bytes(), nil
}

// writer collects "key = value" lines.
type writer struct{ buf bytes.Buffer }

func (w *writer) set(key, value string) {
	if value == "" {
		// An empty value resets a list key; LXC reads "key =" as that.
		fmt.Fprintf(&w.buf, "%s =\n", key)
		return
	}
	fmt.Fprintf(&w.buf, "%s = %s\n", key, value)
}

func (w *writer) setf(key, format string, args ...any) {
	w.set(key, fmt.Sprintf(format, args...))
}

// comment writes a note for whoever reads the generated file.
func (w *writer) comment(text string) {
	fmt.Fprintf(&w.buf, "# %s\n", text)
}

// userns says the container runs in a user namespace: unprivileged, or
// privileged with an id map of its own, which amounts to the same.
func userns(s *Spec) bool { return s.Unprivileged || len(s.IDMap) > 0 }

// cgroupKey is the prefix of the settings of the host's cgroup version.
func cgroupKey(s *Spec) string {
	if s.Cgroup == 2 {
		return "lxc.cgroup2."
	}
	return "lxc.cgroup."
}

// ostypeFiles reports whether LXC 5 ships <ostype>.common.conf and
// <ostype>.userns.conf for an OS type, and whether the type is known.
func ostypeFiles(ostype string) (hasFiles, known bool) {
	switch ostype {
	case "debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo":
		return true, true
	case "nixos", "busybox", "unmanaged":
		return false, true
	}
	return false, false
}

func configDir(s *Spec) string {
	if s.LXCConfigDir == "" {
		return DefaultConfigDir
	}
	return s.LXCConfigDir
}

func writeBase(w *writer, s *Spec) {
	w.set("lxc.arch", s.Arch)
	dir := configDir(s)
	common, uns := "common.conf", "userns.conf"
	if has, _ := ostypeFiles(s.OSType); has {
		common, uns = s.OSType+".common.conf", s.OSType+".userns.conf"
	}
	w.set("lxc.include", path.Join(dir, common))
	if userns(s) {
		w.set("lxc.include", path.Join(dir, uns))
	}
	// The pre-start hook mounts volumes; unsharing the monitor's mount
	// namespace keeps those mounts out of the host's, so they go away with
	// the container instead of pinning loop devices and files.
	w.set("lxc.monitor.unshare", "1")
	if userns(s) {
		idmap := s.IDMap
		if len(idmap) == 0 {
			idmap = []IDMap{{'u', 0, 100000, 65536}, {'g', 0, 100000, 65536}}
		}
		for _, m := range idmap {
			w.setf("lxc.idmap", "%c %d %d %d", m.Kind, m.Inside, m.Host, m.N)
		}
	}
	if !s.Console {
		w.set("lxc.console.path", "none")
		// Without LXC's console a node 5:1 in the container would reach
		// the host's own console.
		w.set(cgroupKey(s)+"devices.deny", "c 5:1 rwm")
	}
	// CMode changes nothing here: it only picks how the console command
	// attaches (a tty, /dev/console or a shell through lxc-attach).
	w.set("lxc.tty.max", strconv.Itoa(s.TTY))
	hostname := s.Hostname
	if hostname == "" {
		hostname = fmt.Sprintf("CT%d", s.VMID)
	}
	w.set("lxc.uts.name", hostname)
}

// writeSecurity writes the AppArmor profile and the seccomp policy.
func writeSecurity(w *writer, s *Spec) {
	// Without AppArmor on the host LXC ignores profiles anyway; leaving
	// them out keeps the file honest about what confines the container.
	if s.AppArmor {
		// LXC's generated profile is the default confinement plus whatever
		// the lines below add; lxc.apparmor.raw only works with it.
		w.set("lxc.apparmor.profile", "generated")
		if s.Features.Nesting {
			// Also makes LXC mount unmasked proc and sys at
			// /dev/.lxc/{proc,sys}, which nested LXC needs.
			w.set("lxc.apparmor.allow_nesting", "1")
		}
		if s.Features.Fuse {
			w.set("lxc.apparmor.raw", "mount fstype=fuse,")
		}
		for _, t := range s.Features.Mount {
			w.set("lxc.apparmor.raw", "mount fstype="+t+",")
		}
	}
	if p, policy := seccomp(s); policy != nil {
		w.set("lxc.seccomp.profile", p)
	}
}

func writeFeatures(w *writer, s *Spec) {
	f := s.Features
	if userns(s) {
		// userns.conf mounts /sys read-write; systemd-networkd (>= 245)
		// then tries to manage it and fails, so sys stays mixed unless
		// force_rw_sys asks otherwise. Privileged containers already get
		// sys:mixed from common.conf and ignore force_rw_sys.
		if f.ForceRWSys {
			w.set("lxc.mount.auto", "sys:rw")
		} else {
			w.set("lxc.mount.auto", "sys:mixed")
		}
	}
	if f.Nesting && !s.AppArmor {
		// allow_nesting adds these mounts only when AppArmor is in use;
		// without it they are written out, as LXC's nesting.conf does.
		w.set("lxc.mount.entry", "proc dev/.lxc/proc proc create=dir,optional 0 0")
		w.set("lxc.mount.entry", "sys dev/.lxc/sys sysfs create=dir,optional 0 0")
	}
	if f.Fuse {
		w.set("lxc.mount.entry", "/dev/fuse dev/fuse none bind,create=file 0 0")
		// common.conf allows /dev/fuse already, but userns.conf clears
		// that list.
		w.set(cgroupKey(s)+"devices.allow", "c 10:229 rwm")
	}
	if f.MKNod {
		// Letting a container create device nodes safely needs a seccomp
		// notify proxy that checks each mknod call (PVE's lxc-syscalld);
		// Hearth has none, so the feature is accepted and left off.
		w.comment("features: mknod is not supported (it needs a seccomp notify proxy); the container cannot create device nodes")
	}
	// keyctl is handled by the seccomp policy (see SeccompPolicy).
}

func writeLimits(w *writer, s *Spec) {
	memory := int64(s.MemoryMiB) * mib
	swap := int64(s.SwapMiB) * mib
	quota := cfsQuota(s.CPULimit)
	if s.Cgroup == 1 {
		w.setf("lxc.cgroup.memory.limit_in_bytes", "%d", memory)
		// v1 limits memory and swap only as a sum, and only when the
		// kernel accounts swap; without it swap stays unlimited.
		if s.Memsw {
			w.setf("lxc.cgroup.memory.memsw.limit_in_bytes", "%d", memory+swap)
		}
		if quota > 0 {
			w.setf("lxc.cgroup.cpu.cfs_period_us", "%d", cfsPeriod)
			w.setf("lxc.cgroup.cpu.cfs_quota_us", "%d", quota)
		}
		if s.CPUUnits > 0 {
			w.setf("lxc.cgroup.cpu.shares", "%d", clamp(s.CPUUnits, 2, 262144))
		}
		if s.CPUSet != "" {
			w.set("lxc.cgroup.cpuset.cpus", s.CPUSet)
		}
		return
	}
	w.setf("lxc.cgroup2.memory.max", "%d", memory)
	w.setf("lxc.cgroup2.memory.swap.max", "%d", swap)
	if quota > 0 {
		w.setf("lxc.cgroup2.cpu.max", "%d %d", quota, cfsPeriod)
	}
	if s.CPUUnits > 0 {
		w.setf("lxc.cgroup2.cpu.weight", "%d", clamp(s.CPUUnits, 1, 10000))
	}
	if s.CPUSet != "" {
		w.set("lxc.cgroup2.cpuset.cpus", s.CPUSet)
	}
}

// cfsQuota turns a cpulimit (CPUs) into microseconds per cfsPeriod; 0
// means no limit. Rounding, not truncating, keeps 0.29 at 29000.
func cfsQuota(limit float64) int64 {
	if limit <= 0 {
		return 0
	}
	return max(int64(math.Round(limit*cfsPeriod)), minCFSQuota)
}

// clamp keeps cpuunits inside what the kernel's shares (v1) or weight (v2)
// file accepts; the CT config's range is wider than either.
func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

func writeRootfs(w *writer, s *Spec) {
	w.set("lxc.rootfs.path", path.Join(s.LXCPath, strconv.Itoa(s.VMID), "rootfs"))
	w.set("lxc.hook.pre-start", s.Hook+" lxc-hook pre-start")
	w.set("lxc.hook.post-stop", s.Hook+" lxc-hook post-stop")
}

func vethName(vmid, index int) string { return fmt.Sprintf("veth%di%d", vmid, index) }

func writeNICs(w *writer, s *Spec) {
	nics := append([]NIC(nil), s.NICs...)
	sort.Slice(nics, func(i, j int) bool { return nics[i].Index < nics[j].Index })
	for _, n := range nics {
		k := fmt.Sprintf("lxc.net.%d.", n.Index)
		w.set(k+"type", "veth")
		w.set(k+"veth.pair", vethName(s.VMID, n.Index))
		if n.HWAddr != "" {
			w.set(k+"hwaddr", n.HWAddr)
		}
		w.set(k+"name", n.Name)
		if n.MTU > 0 {
			w.setf(k+"mtu", "%d", n.MTU)
		}
		w.set(k+"flags", "up")
		// No lxc.net.N.link: the hook plugs the host end into the bridge,
		// so that firewall bridges and VLAN tags are handled in one place.
		w.set(k+"script.up", s.Hook+" lxc-hook net-up")
	}
}

// writeDevices passes host device nodes in by bind mount. The node is the
// host's own, so it needs no mknod right in the container; the cgroup rule
// is what grants (or, with deny-write, limits) access. A missing node
// fails the start, as it should. The node keeps the host's owner and
// mode: Device.Mode, UID and GID are not applied by this file.
func writeDevices(w *writer, s *Spec) {
	for _, d := range s.Devices {
		kind, access := "c", "rw"
		if d.Block {
			kind = "b"
		}
		if d.DenyWrite {
			access = "r"
		}
		w.setf(cgroupKey(s)+"devices.allow", "%s %d:%d %s", kind, d.Major, d.Minor, access)
		rel := strings.TrimPrefix(d.Path, "/")
		w.setf("lxc.mount.entry", "%s %s none bind,create=file 0 0", d.Path, rel)
	}
}

func writeInit(w *writer, s *Spec) {
	if s.Entrypoint != "" && s.Entrypoint != "/sbin/init" {
		w.set("lxc.init.cmd", s.Entrypoint)
	}
	// Some init scripts expect a Linux console terminal; Env may override.
	w.set("lxc.environment", "TERM=linux")
	for _, e := range s.Env {
		w.set("lxc.environment", e)
	}
	if s.Debug {
		w.set("lxc.log.level", "DEBUG")
	}
}
