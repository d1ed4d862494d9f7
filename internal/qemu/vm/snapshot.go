package vm

import (
	"context"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Snapshots of VMs. A snapshot is a section of the VM's configuration
// file holding the settings of the moment, plus a snapshot of every disk
// under the same name, plus optionally the memory (see vmstateInternal).
// Taking, rolling back and deleting run as tasks holding a lock: value in
// the configuration (snapshot, rollback, snapshot-delete); the work is in
// snapshot_create.go and snapshot_rollback.go, the per-disk rules in
// snapshot_disks.go.

// snapshotRoutes binds the snapshot endpoints.
func (s *Service) snapshotRoutes() []api.Route {
	return []api.Route{
		api.SnapshotList.Handle(s.snapshotList),
		api.SnapshotCreate.Handle(s.snapshotCreateTask),
		api.SnapshotIndex.Handle(func(context.Context, *api.Call, *api.SnapshotParams) ([]api.SnapshotCmd, error) {
			return []api.SnapshotCmd{{Cmd: "rollback"}, {Cmd: "config"}}, nil
		}),
		api.SnapshotDelete.Handle(s.snapshotDeleteTask),
		api.SnapshotConfigGet.Handle(s.snapshotConfig),
		api.SnapshotConfigUpdate.Handle(s.snapshotConfigUpdate),
		api.SnapshotRollback.Handle(s.snapshotRollbackTask),
		api.VMFeature.Handle(s.feature),
	}
}

// snapshotList lists the snapshots oldest first, then the current state,
// whose parent is the snapshot it grew from.
func (s *Service) snapshotList(_ context.Context, _ *api.Call, in *api.VMParam) ([]api.SnapshotInfo, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return nil, err
	}
	out := []api.SnapshotInfo{}
	for _, name := range c.File.SnapshotNames() {
		sec := c.File.Snapshot(name)
		info := api.SnapshotInfo{Name: name, Description: sec.Value(guestconf.DescriptionKey), Parent: sec.Value("parent")}
		info.SnapTime, _ = strconv.ParseInt(sec.Value("snaptime"), 10, 64)
		if sec.Value("vmstate") != "" {
			info.VMState = 1
		}
		out = append(out, info)
	}
	slices.SortStableFunc(out, func(a, b api.SnapshotInfo) int {
		if a.SnapTime != b.SnapTime {
			return int(a.SnapTime - b.SnapTime)
		}
		return strings.Compare(a.Name, b.Name)
	})
	running := 0
	if _, ok := s.paths(in.VMID).running(); ok {
		running = 1
	}
	return append(out, api.SnapshotInfo{Name: "current", Description: "You are here!", Parent: c.Main().Value("parent"),
		Running: &running, Digest: c.Digest}), nil
}

func (s *Service) snapshotConfig(_ context.Context, _ *api.Call, in *api.SnapshotParams) (map[string]any, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return nil, err
	}
	sec := c.File.Snapshot(in.SnapName)
	if sec == nil {
		return nil, errNoSnapshot(in.SnapName)
	}
	out := map[string]any{}
	for _, k := range sec.Keys() {
		out[k] = typedValue(k, sec.Value(k))
	}
	if _, ok := out["cipassword"]; ok {
		out["cipassword"] = "**********"
	}
	return out, nil
}

// snapshotConfigUpdate changes a snapshot's description, the one thing of
// a snapshot that is not a recorded fact.
func (s *Service) snapshotConfigUpdate(ctx context.Context, _ *api.Call, in *api.SnapshotUpdateParams) (any, error) {
	_, err := s.edit(ctx, in.VMID, func(c *conf) error {
		sec := c.File.Snapshot(in.SnapName)
		if sec == nil {
			return errNoSnapshot(in.SnapName)
		}
		if in.Description == nil {
			return nil
		}
		if strings.TrimSpace(*in.Description) == "" {
			sec.Delete(guestconf.DescriptionKey)
			return nil
		}
		return sec.Set(guestconf.DescriptionKey, *in.Description)
	})
	return nil, err
}

// feature tells whether every disk of the VM (or of a snapshot) allows a
// feature, and where the VM's volumes are all reachable, which is where
// the result of a clone or copy could run.
func (s *Service) feature(ctx context.Context, _ *api.Call, in *api.FeatureParams) (api.FeatureInfo, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return api.FeatureInfo{}, err
	}
	sec := c.Main()
	if in.SnapName != "" {
		if sec = c.File.Snapshot(in.SnapName); sec == nil {
			return api.FeatureInfo{}, errNoSnapshot(in.SnapName)
		}
	}
	has := true
	for _, d := range drivesOf(sec) {
		if !snapshotsDisk(d) {
			continue
		}
		if isPath(d.File) {
			has = false
			break
		}
		v, err := s.openVolume(ctx, d.File)
		if err != nil || !s.featureOK(in.Feature, d.Key, d, v, in.SnapName != "") {
			has = false
			break
		}
	}
	nodes, err := s.volumeNodes(sec)
	if err != nil {
		return api.FeatureInfo{}, err
	}
	return api.FeatureInfo{HasFeature: has, Nodes: nodes}, nil
}

// volumeNodes lists the cluster nodes that reach every volume a section
// names, from the storage definitions: a disabled storage reaches none,
// one limited to nodes reaches those, and one that is not shared only
// this node.
func (s *Service) volumeNodes(sec *guestconf.Section) ([]string, error) {
	entries, err := s.o.Store.List("nodes")
	if err != nil {
		return nil, err
	}
	nodes := map[string]bool{}
	for _, e := range entries {
		if e.Dir {
			nodes[path.Base(e.Path)] = true
		}
	}
	nodes[s.o.Node] = true
	cfgs, err := s.o.Storage.Configs()
	if err != nil {
		return nil, err
	}
	byID := map[string]storage.Config{}
	for _, cfg := range cfgs {
		byID[cfg.ID] = cfg
	}
	for _, key := range sec.Keys() {
		if !vmconf.IsDriveKey(key) {
			continue
		}
		d, err := vmconf.ParseDrive(key, sec.Value(key))
		if err != nil || !d.IsVolume() {
			continue
		}
		sid, _, err := storage.ParseVolumeID(d.File)
		if err != nil {
			continue
		}
		cfg, ok := byID[sid]
		for n := range nodes {
			if !ok || cfg.Disable || len(cfg.Nodes) > 0 && !slices.Contains(cfg.Nodes, n) || !cfg.Shared && len(cfg.Nodes) == 0 && n != s.o.Node {
				delete(nodes, n)
			}
		}
	}
	out := make([]string, 0, len(nodes))
	for n := range nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
