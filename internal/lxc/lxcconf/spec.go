// Package lxcconf turns a container's settings into the configuration
// file lxc-start reads. It is pure: the service resolves volumes, picks
// CPUs and knows the host, and hands the result over as a Spec, so that
// golden files pin every line a container starts with.
package lxcconf

// Spec is everything the LXC configuration of one container depends on.
type Spec struct {
	VMID int
	Arch string // amd64, i386, arm64, armhf, riscv32, riscv64
	// OSType picks the distribution's common include
	// (/usr/share/lxc/config/<ostype>.common.conf); "unmanaged",
	// "busybox" and types LXC has no file for use common.conf.
	OSType   string
	Hostname string
	// LXCPath is the lxcpath directory (lxc-start -P); the container's
	// root file system is mounted at <LXCPath>/<vmid>/rootfs by the
	// pre-start hook.
	LXCPath string
	// Hook is the absolute path of the hearth binary; hooks run as
	// "<Hook> lxc-hook <event>".
	Hook string
	// LXCConfigDir is where LXC's shipped includes live
	// (/usr/share/lxc/config).
	LXCConfigDir string

	Unprivileged bool
	// IDMap overrides the default map of an unprivileged container
	// (u and g 0 100000 65536). Raw lxc.idmap keys of the CT config end
	// up here.
	IDMap []IDMap

	Features Features

	// Cgroup is the version of the host's hierarchy the limits are
	// written for: 1 (v1 or hybrid) or 2 (unified only).
	Cgroup int
	// CPUSet lists the host CPUs the container may use ("0-1,3"); empty
	// means all. It is the result of the cores setting.
	CPUSet    string
	CPULimit  float64 // 0 means unlimited
	CPUUnits  int     // 0 means the host default
	MemoryMiB int
	SwapMiB   int
	// Memsw says the v1 host accounts swap (memory.memsw.* exists).
	Memsw bool

	TTY     int
	Console bool
	CMode   string // tty, console or shell
	// AppArmor says the host has AppArmor enabled.
	AppArmor bool

	NICs    []NIC
	Devices []Device
	// Raw are the lxc.* keys of the CT configuration, in file order; they
	// come last so that they win over generated ones.
	Raw []RawKey

	Entrypoint string   // /sbin/init when empty
	Env        []string // NAME=value, passed to the init
	Debug      bool     // lxc.log.level debug
}

// IDMap is one line of a user namespace map.
type IDMap struct {
	Kind            byte // 'u' or 'g'
	Inside, Host, N int
}

// Features are the settings of the CT's features key.
type Features struct {
	Nesting, Keyctl, Fuse, MKNod, ForceRWSys bool
	// Mount lists file system types the container may mount.
	Mount []string
}

// NIC is one veth interface; the host end is named veth<vmid>i<index>
// and plugged into its bridge by the net-up hook. Addresses are set up
// by the distribution's own network configuration, not by LXC.
type NIC struct {
	Index  int
	Name   string // inside the container (eth0)
	HWAddr string
	MTU    int // 0: the bridge's
}

// Device is a host device node passed into the container (devN).
type Device struct {
	Path     string // /dev/…
	Major    uint32
	Minor    uint32
	Block    bool // block device; else character
	Mode     uint32
	UID, GID int
	// DenyWrite is dev[n]'s deny-write: the container may only read the
	// device. Added by the builder's author because the devices cgroup
	// rule is the only place that setting can be enforced.
	DenyWrite bool
}

// RawKey is one lxc.* line kept verbatim from the CT configuration.
type RawKey struct{ Key, Value string }
