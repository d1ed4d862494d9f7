package ct

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/datacenter"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/lxc/lxcconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// The volume operations of containers: snapshots (snapshot.go),
// templates and clones (clone.go), growing a volume (resize.go) and
// moving one to another storage or container (move.go). This file binds
// their endpoints and holds what they share: a mount point's volume
// opened on its storage.

// volumeRoutes binds the snapshot, clone and volume endpoints.
func (s *Service) volumeRoutes() []api.Route {
	return []api.Route{
		api.CTSnapshotList.Handle(s.snapshotList),
		api.CTSnapshotCreate.Handle(s.snapshotCreateTask),
		api.CTSnapshotIndex.Handle(func(context.Context, *api.Call, *api.SnapshotParams) ([]api.SnapshotCmd, error) {
			return []api.SnapshotCmd{{Cmd: "rollback"}, {Cmd: "config"}}, nil
		}),
		api.CTSnapshotDelete.Handle(s.snapshotDeleteTask),
		api.CTSnapshotConfigGet.Handle(s.snapshotConfig),
		api.CTSnapshotConfigUpdate.Handle(s.snapshotConfigUpdate),
		api.CTSnapshotRollback.Handle(s.snapshotRollbackTask),
		api.CTFeature.Handle(s.feature),
		api.CTClone.Handle(s.cloneTask),
		api.CTTemplate.Handle(s.templateCT),
		api.CTResize.Handle(s.resizeTask),
		api.CTMoveVolume.Handle(s.moveVolumeTask),
	}
}

// ctVolume is the storage volume of a mount point (or of an unusedN
// entry), opened on its storage.
type ctVolume struct {
	Key     string // rootfs, mpN or unusedN
	ID      string // the volume id, <storage>:<name>
	Storage string
	Name    string
	mp      *ctconf.MountPoint // nil for unusedN
	cfg     storage.Config
	st      storage.Storage
	vol     storage.Vol
}

// format is the volume's format as its name tells; raw when it says none.
func (v *ctVolume) format() string {
	if v.vol.Format == "" {
		return "raw"
	}
	return v.vol.Format
}

// openVolume opens the storage of a volume id and reads the name.
func (s *Service) openVolume(ctx context.Context, key, volid string) (*ctVolume, error) {
	sid, name, err := storage.ParseVolumeID(volid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	cfg, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	v, err := storage.ParseVolname(st, name)
	if err != nil {
		return nil, fmt.Errorf("%s: volume %s: %w", key, volid, err)
	}
	return &ctVolume{Key: key, ID: volid, Storage: sid, Name: name, cfg: cfg, st: st, vol: v}, nil
}

// info is the storage type's description of what it can do.
func (s *Service) info(cfg storage.Config) storage.Info {
	if p, ok := s.o.Storage.Plugin(cfg.Type); ok {
		return p.Info()
	}
	return storage.Info{}
}

// storageMounts lists the mount points of a section that are storage
// volumes, rootfs first, then mp0 and up; bind mounts and devices belong
// to the host and are left out.
func storageMounts(sec *guestconf.Section) []*ctconf.MountPoint {
	mps := ctconf.MountPoints(sectionValues(sec))
	out := make([]*ctconf.MountPoint, 0, len(mps))
	for _, mp := range mps {
		if _, _, ok := mp.StorageVolume(); ok {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b *ctconf.MountPoint) int { return a.Index - b.Index })
	return out
}

// hostMounts lists the bind and device mount points of a section.
func hostMounts(sec *guestconf.Section) []*ctconf.MountPoint {
	var out []*ctconf.MountPoint
	for _, mp := range ctconf.MountPoints(sectionValues(sec)) {
		if mp.IsBind() || mp.IsDevice() {
			out = append(out, mp)
		}
	}
	return out
}

// subvolsHaveSize reports whether a storage type gives a subvolume a
// size (a quota group on btrfs, a refquota on ZFS). Elsewhere a
// subvolume is a plain directory that uses what the storage has free.
func subvolsHaveSize(typ string) bool { return typ == "btrfs" || typ == "zfspool" }

// rootOwner is the host uid and gid of root inside the container, which
// owns the top directory of a new volume.
func rootOwner(sec *guestconf.Section) (uid, gid int) {
	if sec.Value("unprivileged") != "1" {
		return 0, 0
	}
	var m []lxcconf.IDMap
	for _, r := range sec.Raw() {
		if r.Key == "lxc.idmap" {
			if e, err := ctconf.ParseIDMap(r.Value); err == nil {
				m = append(m, lxcconf.IDMap{Kind: e.Kind, Inside: e.Inside, Host: e.Host, N: e.N})
			}
		}
	}
	return rootIDs(m)
}

// checkSpace is the permission to allocate on a storage.
func checkSpace(c *api.Call, sid string) error {
	if c == nil || c.Perm == nil {
		return nil
	}
	if !c.Perm.Has("/storage/"+sid, "Datastore.AllocateSpace") {
		return &api.Denied{Path: "/storage/" + sid, Priv: "Datastore.AllocateSpace"}
	}
	return nil
}

// inSnapshots reports whether a snapshot of the container refers to volid.
func inSnapshots(f *guestconf.File, volid string) bool {
	for _, name := range f.SnapshotNames() {
		sec := f.Snapshot(name)
		for _, k := range sec.Keys() {
			if (ctconf.IsMountPointKey(k) || ctconf.IsUnusedKey(k)) && mpVolume(sec.Value(k)) == volid {
				return true
			}
		}
	}
	return false
}

// addUnused records a volume as the first free unusedN of a section.
func addUnused(sec *guestconf.Section, volid string) {
	for i := range api.LXCMaxUnused {
		k := "unused" + strconv.Itoa(i)
		if v, taken := sec.Get(k); taken && v == volid {
			return
		}
	}
	for i := range api.LXCMaxUnused {
		k := "unused" + strconv.Itoa(i)
		if _, taken := sec.Get(k); !taken {
			_ = sec.Set(k, volid)
			return
		}
	}
}

// errNoVolume is the error for a volume key the container lacks.
func errNoVolume(vmid int, key string) error {
	return api.Errorf(http.StatusInternalServerError, "CT %d has no volume %s", vmid, key)
}

// meter passes a copy's data through at most kibps KiB/s (0: no limit)
// and reports the progress of copies of a known size to the task log.
type meter struct {
	ctx   context.Context
	r     io.Reader
	kibps float64
	total int64
	log   api.TaskLog
	start time.Time
	done  int64
	shown int64
}

func newMeter(ctx context.Context, r io.Reader, kibps float64, total int64, log api.TaskLog) io.Reader {
	if kibps <= 0 && (total <= 0 || log == nil) {
		return r
	}
	return &meter{ctx: ctx, r: r, kibps: kibps, total: total, log: log, start: time.Now()}
}

func (m *meter) Read(p []byte) (int, error) {
	if m.kibps > 0 && len(p) > 64<<10 {
		p = p[:64<<10] // small steps keep the pace even
	}
	n, err := m.r.Read(p)
	m.done += int64(n)
	if m.total > 0 && m.log != nil && (m.done-m.shown)*100 >= m.total {
		m.shown = m.done
		m.log.Progress(min(m.done, m.total), m.total)
	}
	if m.kibps > 0 && n > 0 {
		due := time.Duration(float64(m.done) / (m.kibps * 1024) * float64(time.Second))
		if wait := due - time.Since(m.start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-m.ctx.Done():
				t.Stop()
				return n, m.ctx.Err()
			}
		}
	}
	return n, err
}

// bandwidthLimit is the limit in KiB/s (0: none) of an operation (clone,
// move) copying between storages: the lowest limit for the operation of
// the storages involved and of the datacenter. A limit given with the
// call replaces it for those who may change such limits (Sys.Modify on
// /, or Datastore.Allocate on /storage); anyone else can only lower it.
// It is the VMs' rule.
func (s *Service) bandwidthLimit(ctx context.Context, c *api.Call, op string, asked *float64, storages ...string) float64 {
	var limit float64
	lower := func(l float64) {
		if l > 0 && (limit == 0 || l < limit) {
			limit = l
		}
	}
	seen := map[string]bool{}
	for _, sid := range storages {
		if seen[sid] {
			continue
		}
		seen[sid] = true
		if cfg, _, err := s.o.Storage.Open(ctx, sid); err == nil {
			if l, ok := storageLimits(cfg.Props["bwlimit"]).For(op); ok {
				lower(l)
			}
		}
	}
	if dc, _, err := datacenter.Read(s.o.Store); err == nil {
		if l, ok := dc.BandwidthLimits().For(op); ok {
			lower(l)
		}
	}
	if asked == nil {
		return limit
	}
	free := c == nil || c.Perm == nil || (c.User == api.RootUser && c.Token == "") ||
		c.Perm.Has("/", "Sys.Modify") || c.Perm.Has("/storage", "Datastore.Allocate")
	if free || limit == 0 {
		return *asked
	}
	lower(*asked)
	return limit
}

// storageLimits reads a storage's bwlimit value (clone=<n>,default=<n>,…).
func storageLimits(v string) datacenter.BandwidthLimits {
	out := datacenter.BandwidthLimits{}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && f >= 0 {
			out[strings.TrimSpace(k)] = f
		}
	}
	return out
}
