package daemon

import (
	"context"
	"path/filepath"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cluster"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/btrfs"
	"github.com/hearth-virt/hearth/internal/storage/cephfs"
	"github.com/hearth-virt/hearth/internal/storage/cifs"
	"github.com/hearth-virt/hearth/internal/storage/dir"
	"github.com/hearth-virt/hearth/internal/storage/glusterfs"
	"github.com/hearth-virt/hearth/internal/storage/iscsi"
	"github.com/hearth-virt/hearth/internal/storage/iscsidirect"
	"github.com/hearth-virt/hearth/internal/storage/lvm"
	"github.com/hearth-virt/hearth/internal/storage/lvmthin"
	"github.com/hearth-virt/hearth/internal/storage/nfs"
	"github.com/hearth-virt/hearth/internal/storage/rbd"
	"github.com/hearth-virt/hearth/internal/storage/zfs"
	"github.com/hearth-virt/hearth/internal/storage/zfspool"
)

// storageTypes is the table of storage types this build knows: adding a
// type means adding its package here.
func (d *Daemon) storageTypes() []storage.Plugin {
	// ZFS over iSCSI logs in to its portal with a key kept where Proxmox
	// VE keeps it: priv/zfs/<portal>_id_rsa in the cluster file system.
	zfsType := zfs.Plugin()
	if d.cfg.CFSMount != "" {
		zfsType = zfs.NewPlugin(filepath.Join(d.cfg.CFSMount, "priv", "zfs"))
	}
	return []storage.Plugin{
		dir.Plugin{}, btrfs.Plugin{}, nfs.Plugin{}, cifs.Plugin{}, cephfs.Plugin{}, glusterfs.Plugin{},
		lvm.Plugin(), lvmthin.Plugin(), zfspool.Plugin(), zfsType,
		iscsi.Plugin{}, iscsidirect.Plugin{}, rbd.Plugin{},
	}
}

// openStorage builds the storage service of this node.
func (d *Daemon) openStorage(ctx context.Context) error {
	d.storage = storage.New(storage.Options{
		Store:   d.store,
		Plugins: d.storageTypes(),
		Env: storage.Env{
			Node:      d.cfg.Node,
			Runner:    runner.Exec{},
			Log:       d.log.With("component", "storage"),
			MountRoot: d.cfg.MountRoot,
			StateDir:  filepath.Join(d.cfg.StateDir, "storage"),
		},
		LocalPath: d.cfg.LocalStorage,
	})
	if d.store.Quorate() {
		return d.storage.EnsureConfig(ctx)
	}
	return nil
}

// storageResources lists each storage on each node it is defined for,
// with the space the node last reported.
func (d *Daemon) storageResources(c *api.Call) []api.Resource {
	cfgs, err := d.storage.Configs()
	if err != nil {
		return nil
	}
	var out []api.Resource
	for _, node := range d.nodeNames() {
		usage := map[string]cluster.StorageUsage{}
		if st, ok := d.nodeUsage(node); ok && (node == d.cfg.Node || d.cluster.Online(node)) {
			for _, u := range st.Storages {
				usage[u.ID] = u
			}
		}
		for _, cfg := range cfgs {
			if !cfg.OnNode(node) || cfg.Disable || !c.Perm.HasAny("/storage/"+cfg.ID, "Datastore.Audit", "Datastore.AllocateSpace") {
				continue
			}
			r := api.Resource{ID: "storage/" + node + "/" + cfg.ID, Type: "storage", Node: node, Storage: cfg.ID,
				Status: "unknown", PluginType: cfg.Type, Content: storage.ContentList(cfg.Content), Shared: ptr(boolInt(cfg.Shared))}
			if u, ok := usage[cfg.ID]; ok {
				r.Status, r.Disk, r.MaxDisk = "available", u.Used, u.Total
			}
			out = append(out, r)
		}
	}
	return out
}
