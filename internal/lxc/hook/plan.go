// Package hook is what runs when LXC calls the hooks of a Hearth
// container: `hearth lxc-hook pre-start` mounts the root file system and
// the mount points under <lxcpath>/<vmid>/rootfs and adapts the system
// inside, `net-up` plugs the host end of a veth into its bridge, and
// `post-stop` unmounts everything again. The service writes a plan next
// to the LXC configuration before it starts the container, so a hook
// needs neither the cluster tree nor the daemon: a container keeps
// working (and stops cleanly) while the daemon restarts.
package hook

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/network/guestport"
)

// PlanFile is the plan's name in the container's lxcpath directory.
const PlanFile = "hearth.json"

// Plan is what the hooks of one start do.
type Plan struct {
	VMID int `json:"vmid"`
	// Root is the directory the root file system is mounted on,
	// <lxcpath>/<vmid>/rootfs, which is LXC's lxc.rootfs.path.
	Root string `json:"root"`
	// Mounts come in mount order: the root file system first, then mount
	// points, parents before children.
	Mounts []Mount `json:"mounts"`
	// NICs are plugged by net-up, found by their host device name.
	NICs []guestport.Port `json:"nics,omitempty"`
	// Setup adapts the system inside at every start; nil leaves it alone
	// (ostype unmanaged).
	Setup *Setup `json:"setup,omitempty"`
	// UIDBase and GIDBase are the host ids of root inside an
	// unprivileged container (0 for a privileged one): directories the
	// hooks create inside belong to them.
	UIDBase int `json:"uidbase,omitempty"`
	GIDBase int `json:"gidbase,omitempty"`
}

// Mount is one file system of the container.
type Mount struct {
	Key string `json:"key"` // rootfs, mp0, …
	// Source is a directory (Bind), an image file (Loop), or a device.
	Source string `json:"source"`
	// Target is the path inside the container; "/" for the root.
	Target   string   `json:"target"`
	FSType   string   `json:"fstype,omitempty"` // "" lets the kernel probe (ext4, xfs, …)
	Bind     bool     `json:"bind,omitempty"`
	Loop     bool     `json:"loop,omitempty"`
	ReadOnly bool     `json:"ro,omitempty"`
	Options  []string `json:"options,omitempty"` // noatime, nodev, nosuid, noexec, discard, lazytime
}

// Setup is what the distribution inside is told at every start.
type Setup struct {
	OSType       string   `json:"ostype"`
	Hostname     string   `json:"hostname"`
	Nets         []Net    `json:"nets,omitempty"`
	Nameservers  []string `json:"nameservers,omitempty"`
	SearchDomain string   `json:"searchdomain,omitempty"`
	Timezone     string   `json:"timezone,omitempty"`
}

// Net is the address configuration of one NIC.
type Net struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	IP    string `json:"ip,omitempty"`
	GW    string `json:"gw,omitempty"`
	IP6   string `json:"ip6,omitempty"`
	GW6   string `json:"gw6,omitempty"`
	MTU   int    `json:"mtu,omitempty"`
}

// Write stores the plan in dir (the container's lxcpath directory).
func Write(dir string, p *Plan) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, PlanFile), append(data, '\n'), 0o600)
}

// Read loads the plan of the container whose LXC configuration is
// config (LXC passes it to hooks as LXC_CONFIG_FILE).
func Read(config string) (*Plan, error) {
	data, err := os.ReadFile(filepath.Join(filepath.Dir(config), PlanFile))
	if err != nil {
		return nil, fmt.Errorf("read the container's start plan: %w", err)
	}
	p := &Plan{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("read the container's start plan: %w", err)
	}
	if p.Root == "" || !filepath.IsAbs(p.Root) {
		return nil, fmt.Errorf("the container's start plan has no absolute root directory")
	}
	return p, nil
}
