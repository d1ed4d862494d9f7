package daemon

import (
	"path/filepath"

	"github.com/hearth-virt/hearth/internal/datacenter"
	"github.com/hearth-virt/hearth/internal/lxc/ct"
	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/hearth-virt/hearth/internal/runner"
)

// openCTs builds the container service of this node. It shares the
// netlink handle of the VM service (opened by openVMs).
func (d *Daemon) openCTs() {
	h, _ := d.guestNet.(guestport.Netlink)
	d.cts = ct.New(ct.Options{
		Store: d.store, Node: d.cfg.Node, Storage: d.storage, Runner: runner.Exec{},
		Log:     d.log.With("component", "lxc"),
		LXCPath: filepath.Join(d.cfg.RunDir, "lxc"),
		NetNS:   d.cfg.NetworkNamespace, Netlink: h, NetLock: d.network.Lock,
		Pools: d.access,
		MACPrefix: func() string {
			if dc, _, err := datacenter.Read(d.store); err == nil {
				return dc.MACPrefix()
			}
			return datacenter.DefaultMACPrefix
		},
	})
}
