package api

import (
	"strconv"

	"github.com/hearth-virt/hearth/api/schema"
)

// How many keys of each indexed family a container configuration may
// have (mp0 to mp255 and so on).
const (
	LXCMaxMountPoints = 256
	// LXCMaxNets is the count the container manual gives: net0 to net9.
	LXCMaxNets    = 10
	LXCMaxUnused  = 256
	LXCMaxDevices = 256
)

// LXCOSTypes are the values of ostype. Each names the distribution whose
// setup code adjusts the container's files at start (network, host name,
// consoles); unmanaged skips that setup.
//
// busybox is Hearth's addition: a system built from busybox alone, such
// as the root file system the project's own tests build from Debian's
// busybox-static, follows none of the distributions' layouts, so no
// setup written for one of them fits it. unmanaged would start it, but
// means "the owner keeps the files untouched"; naming the kind lets the
// start-up code treat such a system on purpose (its init reads few files,
// in places of its own). Proxmox VE refuses the value, so a container
// using it does not move to a Proxmox VE host as it is.
func LXCOSTypes() []string {
	return []string{"alpine", "archlinux", "centos", "debian", "devuan", "fedora", "gentoo", "nixos", "opensuse",
		"ubuntu", "unmanaged", "busybox"}
}

// LXCMountOptions are the mount options a mount point may ask for.
func LXCMountOptions() []string {
	return []string{"discard", "lazytime", "noatime", "nodev", "noexec", "nosuid"}
}

// The patterns of container paths and volumes. Proxmox VE checks them
// with formats (pve-lxc-mp-string, pve-lxc-dev-string) that api/schema
// does not register. A path may not hold "." or ".." elements, which
// would let it point somewhere else than it reads; Go's regexp has no
// look-ahead, so an element that is neither is written out case by case.
const (
	lxcSegChar    = `[^/\x00-\x1f]`
	lxcSegNotDots = `(?:[^/.\x00-\x1f]` + lxcSegChar + `*|\.[^/.\x00-\x1f]` + lxcSegChar + `*|\.\.` + lxcSegChar + `+)`
	// LXCPathPattern matches an absolute path without "." or ".."
	// elements; empty elements ("//", a trailing '/') are harmless and
	// allowed.
	LXCPathPattern = `(?:/(?:` + lxcSegNotDots + `)?)+`
	// LXCVolumePattern matches what a mount point may mount: an absolute
	// host path (a directory to bind-mount, or a block device below
	// /dev), a volume id, or, when creating, <storage>:<size in GiB> or
	// a bare size for the storage the create call names.
	LXCVolumePattern = LXCPathPattern + `|` + qemuVolumeIDPattern + `|\d+(?:\.\d+)?`
	// LXCDevicePathPattern matches a device node below /dev.
	LXCDevicePathPattern = `/dev/(?:(?:` + lxcSegNotDots + `)?/)*` + lxcSegNotDots
	lxcMountOptionWord   = `(?:discard|lazytime|noatime|nodev|noexec|nosuid)`
	lxcIfaceNamePattern  = `[-_.a-zA-Z0-9]+`
	// A nameserver is an IP address; an IPv6 link-local one needs the
	// interface after '%'. internal/lxc/ctconf checks each exactly.
	lxcNameserver = `[0-9a-fA-F.:]+(?:%[-_.a-zA-Z0-9]+)?`
	// An env entry is NAME=value; entries are separated by NUL bytes.
	lxcEnvEntry = `\w+=[^\x00-\x08\x0a-\x1f\x7f]*`
)

// LXCOptions returns the schema of every key of a container configuration
// (lxc/<vmid>.conf), indexed keys expanded to their concrete names; the
// keys are also the parameters of creating or changing a container. Keys
// only snapshots and the system write are in LXCSnapshotOptions; raw
// lxc.* keys are not part of the schema. Each call builds fresh values,
// so callers may adjust their copy.
func LXCOptions() schema.Props {
	p := lxcPlainOptions()
	prop := func(desc string, ps *schema.PropString) *schema.Schema {
		return &schema.Schema{Type: schema.String, Optional: true, Description: desc, Prop: ps}
	}
	p["rootfs"] = prop("The container's root file system: a volume, or a host directory or block device. When creating, "+
		"<storage>:<size in GiB> allocates a new volume.", LXCRootFSProp())
	p["features"] = prop("Extra abilities the container gets, each of which weakens its isolation somewhat.", LXCFeaturesProp())
	p["startup"] = prop("Start and stop order at host boot and shutdown, and the delays after each guest: "+
		"[order=]<n>,up=<seconds>,down=<seconds>. Guests stop in the reverse order.", QemuStartupProp())

	indexed := func(prefix string, n int, s *schema.Schema) {
		for i := 0; i < n; i++ {
			c := *s
			p[prefix+strconv.Itoa(i)] = &c
		}
	}
	indexed("mp", LXCMaxMountPoints, prop("A further file system mounted in the container at mp: a volume, a host "+
		"directory (bind mount) or a host block device. When creating, <storage>:<size in GiB> allocates a new volume.",
		LXCMountPointProp()))
	indexed("net", LXCMaxNets, prop("A network interface of the container: a veth pair whose host end is plugged into a bridge.",
		LXCNetProp()))
	indexed("dev", LXCMaxDevices, prop("A host device node made available inside the container.", LXCDeviceProp()))
	indexed("unused", LXCMaxUnused, prop("A volume of the container that is mounted nowhere; kept until it is removed or "+
		"mounted again.", LXCUnusedProp()))
	return p
}

// lxcPlainOptions are the keys whose values are single values rather than
// property strings.
func lxcPlainOptions() schema.Props {
	b := func(desc string, def bool) *schema.Schema { return schema.Bool(desc).Def(def).Ptr() }
	return schema.Props{
		"arch": schema.Enum("CPU architecture of the container's programs; it must be one the host can run.",
			"amd64", "i386", "arm64", "armhf", "riscv32", "riscv64").Def("amd64").Ptr(),
		"cmode": schema.Enum("What the console connects to: tty, one of the container's terminals (the first free one); "+
			"console, /dev/console; shell, a root shell started in the container without a login.",
			"shell", "console", "tty").Def("tty").Ptr(),
		"console": b("Give the container a /dev/console device.", true),
		"cores":   schema.IntRange("Host CPUs the container may use; all of them when not set.", 1, 8192).Opt(),
		"cpulimit": schema.Schema{Type: schema.Number, Minimum: schema.F(0), Maximum: schema.F(8192),
			Description: "Cap on the host CPU time the container uses, in CPUs (1.5 is one and a half CPUs); 0 means no cap."}.Def(0.0).Ptr(),
		// Proxmox VE's default depends on the cgroup version (1024 on v1, 100 on v2), so none is declared.
		"cpuunits": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Maximum: schema.F(500000),
			Description: "Relative CPU weight against other guests when the host is busy; 100 when not set (cgroup v2, " +
				"which takes 1 to 10000)."}.Opt(),
		"debug": b("Start the container with LXC's debug logging.", false),
		"description": schema.Schema{Type: schema.String, MaxLength: 8192,
			Description: "Notes about the container, shown in its summary; the file keeps them as comment lines."}.Opt(),
		"entrypoint": func() *schema.Schema {
			s := schema.Pat("Program the container starts as its init, with optional arguments: an absolute path, a path "+
				"relative to /, or a program found in PATH.", `[^\x00-\x08\x0a-\x1f\x7f]+`).Def("/sbin/init")
			s.FormatDescription = "command"
			return &s
		}(),
		"env": func() *schema.Schema {
			s := schema.Pat("Environment of the init: NAME=value entries separated by NUL bytes. Replaces any "+
				"lxc.environment.runtime keys.", lxcEnvEntry+`(?:\x00`+lxcEnvEntry+`)*`)
			s.FormatDescription = "NAME=value[\\0NAME=value...]"
			return s.Opt()
		}(),
		"hookscript": &schema.Schema{Type: schema.String, Format: "pve-volume-id", Optional: true,
			Description: "Snippet volume run at each step of the container's life (pre-start, post-start, pre-stop, post-stop)."},
		"hostname": &schema.Schema{Type: schema.String, Format: "dns-name", MaxLength: 255, Optional: true,
			Description: "Host name set inside the container."},
		"lock": qemuOpt(schema.Enum("An operation in progress that keeps others away from the container.",
			"backup", "create", "destroyed", "disk", "fstrim", "migrate", "mounted", "rollback", "snapshot", "snapshot-delete")),
		"memory": schema.Schema{Type: schema.Integer, Minimum: schema.F(16),
			Description: "Memory limit of the container in MiB."}.Def(int64(512)).Ptr(),
		"nameserver": qemuFD(schema.Pat("DNS servers written into the container's resolv.conf, separated by spaces, commas "+
			"or ';'; an IPv6 link-local address names its interface after '%'. Creating a container with neither this nor "+
			"searchdomain copies the host's settings.", lxcNameserver+`(?:[,;\s]+`+lxcNameserver+`)*`), "address list"),
		"onboot": b("Start the container when the host boots.", false),
		"ostype": qemuOpt(schema.Enum("Distribution in the container, which picks the setup done at each start and "+
			"LXC's matching include file. unmanaged skips the setup; busybox is a plain busybox system.", LXCOSTypes()...)),
		"protection": b("Protect the container and its volumes from being removed or changed.", false),
		"searchdomain": &schema.Schema{Type: schema.String, Format: "dns-name-list", Optional: true,
			Description: "DNS search domains written into the container's resolv.conf. Creating a container with neither " +
				"this nor nameserver copies the host's settings."},
		"swap": schema.Schema{Type: schema.Integer, Minimum: schema.F(0),
			Description: "Swap the container may use in MiB, on top of its memory."}.Def(int64(512)).Ptr(),
		"tags":     &schema.Schema{Type: schema.String, Format: "pve-tag-list", Optional: true, Description: "Tags of the container, separated by ';'."},
		"template": b("The container is a template to clone from; it cannot be started.", false),
		"timezone": qemuFD(schema.Pat("Time zone set inside the container: host copies the host's, or a zone name such as "+
			"Europe/Vienna. Nothing is changed when not set.", `host|[A-Za-z][-+_A-Za-z0-9]*(?:/[-+_A-Za-z0-9]+)*`), "zone"),
		"tty": schema.IntRange("Number of terminals (/dev/tty1 and on) the container gets.", 0, 6).Def(int64(2)).Ptr(),
		"unprivileged": b("Run the container in a user namespace, so that its root is an ordinary user on the host. "+
			"Set when the container is created; changing it later breaks the ownership of its files.", false),
	}
}

// LXCSnapshotOptions returns the keys Hearth and Proxmox VE write
// themselves and that never come from a user: the facts kept in snapshot
// sections (parent, snaptime, snapstate). Container snapshots hold no
// memory, so there is no vmstate. A configuration reader must accept
// them next to LXCOptions.
func LXCSnapshotOptions() schema.Props {
	return schema.Props{
		"parent": &schema.Schema{Type: schema.String, Format: "pve-configid", MaxLength: 40, Optional: true,
			Description: "Snapshot this state derives from."},
		"snaptime": schema.Schema{Type: schema.Integer, Minimum: schema.F(0),
			Description: "When the snapshot was taken, in seconds since the epoch."}.Opt(),
		"snapstate": qemuOpt(schema.Enum("A snapshot being taken or removed.", "prepare", "delete")),
	}
}

// lxcMountKeys are the keys rootfs and mpN share.
func lxcMountKeys() schema.Props {
	volume := schema.Pat("What is mounted: a volume id, a host directory (bind mount) or a host block device below /dev. "+
		"When creating, <storage>:<size in GiB> allocates a new volume (size 0 makes a plain directory on storages "+
		"that can hold one).", LXCVolumePattern)
	volume.FormatDescription = "volume"
	volume.DefaultKey = true
	return schema.Props{
		"volume": &volume,
		"acl":    schema.Bool("Turn POSIX ACLs on or off for the file system; its own default when not set.").Opt(),
		"mountoptions": qemuFD(schema.Pat("Extra mount options separated by ';', from: discard, lazytime, noatime, nodev, "+
			"noexec, nosuid.", lxcMountOptionWord+`(?:;`+lxcMountOptionWord+`)*`), "opt[;opt...]"),
		"quota": schema.Bool("Turn on user and group quotas inside the container (ext4 images in privileged " +
			"containers only).").Opt(),
		"replicate": schema.Bool("Copy the volume along when the container is replicated to other nodes.").Def(true).Ptr(),
		"ro":        schema.Bool("Mount the file system read-only.").Opt(),
		"shared": schema.Bool("Tell Hearth a mount that is not a volume is reachable on every node, so the container " +
			"may migrate with it; nothing is shared by this setting itself.").Def(false).Ptr(),
		"size": &schema.Schema{Type: schema.String, Format: "disk-size", FormatDescription: "DiskSize", Optional: true,
			Description: "Size of the volume, as recorded; changing it does not resize anything (use the resize call)."},
	}
}

// LXCRootFSProp returns the property string of rootfs.
func LXCRootFSProp() *schema.PropString { return schema.NewPropString(lxcMountKeys()) }

// LXCMountPointProp returns the property string of mpN: the keys of rootfs,
// the path inside the container, and the keys only further mount points
// have.
func LXCMountPointProp() *schema.PropString {
	keys := lxcMountKeys()
	keys["mp"] = func() *schema.Schema {
		s := schema.Pat("Where the file system appears inside the container, an absolute path. None of its "+
			"directories may be a symbolic link.", LXCPathPattern)
		s.FormatDescription = "Path"
		return &s
	}()
	keys["backup"] = schema.Bool("Include the mount point in backups (volumes only; bind and device mounts are never " +
		"backed up).").Opt()
	keys["keepattrs"] = schema.Bool("When the directory at mp already exists, give the root of the mounted file system " +
		"its owner, group and mode.").Def(false).Ptr()
	return schema.NewPropString(keys)
}

// LXCUnusedProp returns the property string of unusedN.
func LXCUnusedProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"volume": &schema.Schema{Type: schema.String, Format: "pve-volume-id", FormatDescription: "volume", DefaultKey: true,
			Description: "The volume no mount point uses."},
	})
}

// LXCNetProp returns the property string of netN.
func LXCNetProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"name": &schema.Schema{Type: schema.String, Pattern: lxcIfaceNamePattern, MaxLength: 15, FormatDescription: "string",
			Description: "Name of the interface inside the container, such as eth0."},
		"bridge": &schema.Schema{Type: schema.String, Format: "pve-bridge-id", FormatDescription: "bridge", Optional: true,
			Description: "Host bridge the host end of the interface is plugged into, such as vmbr0."},
		"firewall": schema.Bool("Filter the interface's traffic with the guest firewall.").Opt(),
		"gw": &schema.Schema{Type: schema.String, Format: "ipv4", FormatDescription: "GatewayIPv4", Optional: true,
			Description: "IPv4 default gateway; needs ip."},
		"gw6": &schema.Schema{Type: schema.String, Format: "ipv6", FormatDescription: "GatewayIPv6", Optional: true,
			Description: "IPv6 default gateway; needs ip6."},
		"host-managed": schema.Bool("The host sets the interface's addresses up itself before the container starts, " +
			"for containers that run no network setup of their own; nothing inside should run DHCP on it.").Opt(),
		"hwaddr": &schema.Schema{Type: schema.String, Format: "mac-addr", FormatDescription: "XX:XX:XX:XX:XX:XX", Optional: true,
			Description: "MAC address of the interface, a unicast address. One is generated when the interface is created without it."},
		"ip": qemuFD(schema.Pat("IPv4 address with prefix length, dhcp, or manual (left to the container).",
			`dhcp|manual|`+qemuIPv4Pattern+`/(?:3[0-2]|[12][0-9]|[0-9])`), "(IPv4/CIDR|dhcp|manual)"),
		"ip6": qemuFD(schema.Pat("IPv6 address with prefix length, dhcp, auto (stateless autoconfiguration), or manual "+
			"(left to the container).", `dhcp|auto|manual|`+qemuIPv6Pattern+`/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])`),
			"(IPv6/CIDR|auto|dhcp|manual)"),
		"link_down": schema.Bool("Start with the link down, as if the cable were pulled.").Opt(),
		"mtu":       schema.IntRange("MTU of the interface.", 64, 65535).Opt(),
		"rate": schema.Schema{Type: schema.Number, Minimum: schema.F(0), FormatDescription: "mbps",
			Description: "Bandwidth cap of the interface in MB/s (megabytes); fractions are allowed."}.Opt(),
		"tag": schema.IntRange("VLAN tag put on the interface's packets.", 1, 4094).Opt(),
		"trunks": qemuFD(schema.Pat("VLANs the interface may carry tagged, as ids separated by ';'.", `\d+(?:;\d+)*`),
			"vlanid[;vlanid...]"),
		"type": qemuOpt(schema.Enum("Kind of interface; veth is the only one.", "veth")),
	})
}

// LXCFeaturesProp returns the property string of features.
func LXCFeaturesProp() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"force_rw_sys": schema.Bool("Mount /sys writable in an unprivileged container instead of the mixed mode " +
			"(which keeps most of it read-only); newer systemd-networkd releases fail with it.").Def(false).Ptr(),
		"fuse": schema.Bool("Let the container use FUSE file systems. Freezing a container (for snapshots and " +
			"suspend-mode backups) can hang while a FUSE request is pending.").Def(false).Ptr(),
		"keyctl": schema.Bool("Unprivileged containers only: let the keyctl() system call through instead of making it " +
			"look unimplemented. Docker needs it; some systemd-networkd releases fail when it is partly denied.").Def(false).Ptr(),
		"mknod": schema.Bool("Unprivileged containers only: let mknod() create a few harmless device nodes, by " +
			"intercepting the call on the host (needs kernel 5.3 or later; experimental).").Def(false).Ptr(),
		"mount": qemuFD(schema.Pat("File system types the container may mount itself, separated by ';'. Each weakens the "+
			"isolation: a loop device gets around device restrictions, an unreachable NFS server can hang the host.",
			`[a-zA-Z0-9_; ]+`), "fstype;fstype;..."),
		"nesting": schema.Bool("Let the container run containers of its own, which exposes more of the host's /proc and " +
			"/sys; systemd needs it to sandbox services. Best in unprivileged containers.").Def(false).Ptr(),
	})
}

// LXCDeviceProp returns the property string of devN.
func LXCDeviceProp() *schema.PropString {
	path := schema.Pat("Host device node to make available, below /dev; it appears at the same path inside.", LXCDevicePathPattern)
	path.FormatDescription = "Path"
	path.DefaultKey = true
	path.Optional = true // as Proxmox VE declares it; internal/lxc/ctconf requires it
	return schema.NewPropString(schema.Props{
		"path":       &path,
		"deny-write": schema.Bool("Let the container read the device but not write to it.").Def(false).Ptr(),
		"gid":        schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Group id owning the node inside the container."}.Opt(),
		"uid":        schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "User id owning the node inside the container."}.Opt(),
		"mode": qemuFD(schema.Pat("Access mode of the node inside the container, in octal with a leading 0, such as 0660.",
			`0[0-7]{3}`), "Octal access mode"),
	})
}
