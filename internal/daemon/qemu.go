package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/datacenter"
	"github.com/hearth-virt/hearth/internal/qemu/vm"
	"github.com/hearth-virt/hearth/internal/runner"
)

// openVMs builds the VM service of this node.
func (d *Daemon) openVMs() error {
	h, err := d.network.GuestHandle()
	if err != nil {
		return err
	}
	d.guestNet = h
	d.vms = vm.New(vm.Options{
		Store: d.store, Node: d.cfg.Node, Storage: d.storage, Runner: runner.Exec{},
		Log:    d.log.With("component", "qemu"),
		RunDir: filepath.Join(d.cfg.RunDir, "qemu"),
		NetNS:  d.cfg.NetworkNamespace, Netlink: h, NetLock: d.network.Lock,
		Pools: d.access,
		MACPrefix: func() string {
			if dc, _, err := datacenter.Read(d.store); err == nil {
				return dc.MACPrefix()
			}
			return datacenter.DefaultMACPrefix
		},
		KVM: d.cfg.KVM,
	})
	return nil
}

// startVMs takes over VMs that kept running while the daemon was down,
// and on the first start after the host booted, starts the guests marked
// onboot, as Proxmox VE does when a node boots (not when its services
// restart: a guest stopped on purpose stays stopped).
func (d *Daemon) startVMs(ctx context.Context) {
	d.vms.Attach(ctx)
	if !d.firstStartSinceBoot() || !d.vms.HasOnBoot() {
		return
	}
	_, err := d.tasks.Start("root@pam", api.Task{Type: "startall", Run: func(ctx context.Context, log api.TaskLog) error {
		d.vms.StartOnBoot(ctx, false, nil, log)
		return nil
	}})
	if err != nil {
		d.log.Warn("cannot start the onboot guests", "error", err)
	}
}

// firstStartSinceBoot compares the kernel's boot id with the one the
// daemon recorded last time.
func (d *Daemon) firstStartSinceBoot() bool {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return false
	}
	path := filepath.Join(d.cfg.RunDir, "boot_id")
	old, _ := os.ReadFile(path)
	if strings.TrimSpace(string(old)) == strings.TrimSpace(string(id)) {
		return false
	}
	_ = os.MkdirAll(d.cfg.RunDir, 0o755)
	_ = os.WriteFile(path, id, 0o644)
	return true
}
