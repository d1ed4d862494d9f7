package ct

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Snapshots of containers. A snapshot is a section of the container's
// configuration file holding the settings of the moment, plus a
// snapshot of every storage volume under the same name, taken by the
// storage (btrfs, ZFS, LVM-thin, …); a container has no memory state to
// keep. Bind mounts and devices belong to the host and are left out.
// Taking, rolling back and deleting run as tasks holding a lock: value
// in the configuration (snapshot, rollback, snapshot-delete), as on
// Proxmox VE and as for VMs.

// Lock values of the snapshot operations, as Proxmox VE names them.
const (
	lockSnapshot       = "snapshot"
	lockSnapshotDelete = "snapshot-delete"
	lockRollback       = "rollback"
)

// snapshotOnlyKeys describe a snapshot rather than the container (and
// lock and description of the main section do not belong in one).
var snapshotOnlyKeys = []string{"lock", guestconf.DescriptionKey, "snaptime", "snapstate"}

// copySettings copies the container settings of a section into another,
// raw lxc.* keys included, leaving out the snapshot-only keys and unused
// volumes, which are not part of any state.
func copySettings(from, to *guestconf.Section) error {
	for _, k := range from.Keys() {
		if strings.HasPrefix(k, "unused") || slices.Contains(snapshotOnlyKeys, k) {
			continue
		}
		if err := to.Set(k, from.Value(k)); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	for _, r := range from.Raw() {
		if err := to.AppendRaw(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

// errNoSnapshot is Proxmox VE's error for a snapshot name the guest lacks.
func errNoSnapshot(name string) error {
	return api.Errorf(http.StatusInternalServerError, "snapshot '%s' does not exist", name)
}

// checkSnapshotName refuses names the API cannot give a new snapshot.
func checkSnapshotName(name string) error {
	switch {
	case name == "current" || strings.EqualFold(name, "pending"):
		return api.ParamError("snapname", "unable to use snapshot name '%s' (reserved name)", name)
	case len(name) > api.SnapshotNameMax:
		return api.ParamError("snapname", "snapshot name '%s' is longer than %d characters", name, api.SnapshotNameMax)
	}
	if err := guestconf.CheckSnapshotName(name); err != nil {
		return api.ParamError("snapname", "%v", err)
	}
	return nil
}

// snapVol is a volume a snapshot covers, with its storage's snapshots.
type snapVol struct {
	*ctVolume
	snap storage.Snapshotter
}

// snapVolumes finds the storage volumes of a section and how each keeps
// snapshots. Every volume that cannot is one entry of problems, naming
// the mount point, the volume, its format and the storage: the caller
// refuses (create, rollback) or, when forced, warns and goes on (delete).
func (s *Service) snapVolumes(ctx context.Context, sec *guestconf.Section) (vols []snapVol, problems []error) {
	for _, mp := range storageMounts(sec) {
		v, err := s.openVolume(ctx, mp.Key, mp.Volume)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		v.mp = mp
		sv, err := s.snapVolOf(v)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		vols = append(vols, sv)
	}
	return vols, problems
}

// snapVolOf decides whether a volume can have snapshots: its storage
// type must snapshot its format (Info.Snapshots).
func (s *Service) snapVolOf(v *ctVolume) (snapVol, error) {
	formats := s.info(v.cfg).Snapshots
	sn, ok := v.st.(storage.Snapshotter)
	fail := func(why string) error {
		return fmt.Errorf("snapshot feature is not available: %s (%s) is a %s volume on storage '%s' of type %s, %s",
			v.Key, v.ID, v.format(), v.Storage, v.cfg.Type, why)
	}
	switch {
	case v.vol.IsBase:
		return snapVol{}, fail("a template's base volume, which never changes")
	case !ok || len(formats) == 0:
		return snapVol{}, fail("which has no snapshots")
	case !slices.Contains(formats, v.format()):
		list := formats[len(formats)-1]
		if len(formats) > 1 {
			list = strings.Join(formats[:len(formats)-1], ", ") + " or " + list
		}
		return snapVol{}, fail("which keeps snapshots only of " + list + " volumes")
	}
	return snapVol{ctVolume: v, snap: sn}, nil
}

func joinProblems(problems []error) error {
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Error()
	}
	return api.Errorf(http.StatusInternalServerError, "%s", strings.Join(msgs, "\n"))
}

// snapshotList lists the snapshots oldest first, then the current state,
// whose parent is the snapshot it grew from.
func (s *Service) snapshotList(_ context.Context, _ *api.Call, in *api.CTParam) ([]api.SnapshotInfo, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return nil, err
	}
	out := []api.SnapshotInfo{}
	for _, name := range c.File.SnapshotNames() {
		sec := c.File.Snapshot(name)
		info := api.SnapshotInfo{Name: name, Description: sec.Value(guestconf.DescriptionKey), Parent: sec.Value("parent")}
		info.SnapTime, _ = strconv.ParseInt(sec.Value("snaptime"), 10, 64)
		out = append(out, info)
	}
	slices.SortStableFunc(out, func(a, b api.SnapshotInfo) int {
		if a.SnapTime != b.SnapTime {
			return int(a.SnapTime - b.SnapTime)
		}
		return strings.Compare(a.Name, b.Name)
	})
	running := 0
	if _, ok := s.running(in.VMID); ok {
		running = 1
	}
	return append(out, api.SnapshotInfo{Name: "current", Description: "You are here!", Parent: c.Main().Value("parent"),
		Running: &running, Digest: c.Digest}), nil
}

func (s *Service) snapshotConfig(_ context.Context, _ *api.Call, in *api.SnapshotParams) (map[string]any, error) {
	c, err := s.repo.Load(in.VMID)
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
	if raw := sec.Raw(); len(raw) > 0 {
		pairs := make([][2]string, len(raw))
		for i, r := range raw {
			pairs[i] = [2]string{r.Key, r.Value}
		}
		out["lxc"] = pairs
	}
	return out, nil
}

// snapshotConfigUpdate changes a snapshot's description, the one thing of
// a snapshot that is not a recorded fact.
func (s *Service) snapshotConfigUpdate(ctx context.Context, _ *api.Call, in *api.SnapshotUpdateParams) (any, error) {
	_, err := s.repo.Edit(ctx, in.VMID, func(c *guestconf.Config) error {
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

// checkSnapshotCreate checks that a container can take a snapshot named
// name now: not locked, not a template, the name free, every volume able.
func (s *Service) checkSnapshotCreate(ctx context.Context, c *guestconf.Config, name string) ([]snapVol, error) {
	if err := s.repo.CheckLock(c, false); err != nil {
		return nil, err
	}
	if c.Main().Value("template") == "1" {
		return nil, api.Errorf(http.StatusInternalServerError, "you can't take a snapshot if it's a template")
	}
	if c.File.Snapshot(name) != nil {
		return nil, api.Errorf(http.StatusInternalServerError, "snapshot name '%s' already used", name)
	}
	vols, problems := s.snapVolumes(ctx, c.Main())
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}
	return vols, nil
}

func (s *Service) snapshotCreateTask(ctx context.Context, _ *api.Call, in *api.CTSnapshotCreateParams) (api.Task, error) {
	if err := checkSnapshotName(in.SnapName); err != nil {
		return api.Task{}, err
	}
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.checkSnapshotCreate(ctx, c, in.SnapName); err != nil {
		return api.Task{}, err
	}
	return ctTask("vzsnapshot", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.snapshotCreate(ctx, in.VMID, in.SnapName, in.Description, log)
	}), nil
}

// snapshotCreate takes a snapshot. The snapshot section is written first,
// marked snapstate: prepare, with the container locked; then the volumes
// are snapshotted; then the mark and the lock go and the current state's
// parent becomes the new snapshot. A failure removes what was made.
func (s *Service) snapshotCreate(ctx context.Context, vmid int, name, description string, log api.TaskLog) (err error) {
	var vols []snapVol
	_, err = s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		var err error
		if vols, err = s.checkSnapshotCreate(ctx, c, name); err != nil {
			return err
		}
		sec := guestconf.NewSection()
		if err := copySettings(c.Main(), sec); err != nil {
			return err
		}
		_ = sec.Set("snapstate", "prepare")
		_ = sec.Set("snaptime", strconv.FormatInt(time.Now().Unix(), 10))
		if strings.TrimSpace(description) != "" {
			_ = sec.Set(guestconf.DescriptionKey, description)
		}
		if err := c.File.SetSnapshot(name, sec); err != nil {
			return api.ParamError("snapname", "%v", err)
		}
		return c.Main().Set("lock", lockSnapshot)
	})
	if err != nil {
		return err
	}
	log.Printf("snapshot '%s' of CT %d: %d volume(s)", name, vmid, len(vols))
	defer func() {
		if err != nil {
			s.abandonSnapshot(context.WithoutCancel(ctx), vmid, name, log)
		}
	}()
	if err := s.snapshotVolumes(ctx, vmid, vols, name, log); err != nil {
		return err
	}
	_, err = s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		if l := c.Main().Value("lock"); l != lockSnapshot {
			return fmt.Errorf("CT %d: expected lock '%s', found '%s'", vmid, lockSnapshot, l)
		}
		sec := c.File.Snapshot(name)
		if sec == nil {
			return fmt.Errorf("snapshot '%s' vanished from the configuration", name)
		}
		sec.Delete("snapstate")
		c.Main().Delete("lock")
		return c.Main().Set("parent", name)
	})
	if err != nil {
		// The volumes have their snapshots but the configuration does not
		// say so; dropping them as well keeps the two in agreement.
		s.undoSnapshots(context.WithoutCancel(ctx), vols, name, log)
		return err
	}
	log.Printf("snapshot '%s' taken", name)
	return nil
}

// abandonSnapshot removes the section of a snapshot that failed and the
// lock it held.
func (s *Service) abandonSnapshot(ctx context.Context, vmid int, name string, log api.TaskLog) {
	_, err := s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		if sec := c.File.Snapshot(name); sec != nil && sec.Value("snapstate") == "prepare" {
			c.File.DeleteSnapshot(name)
		}
		if c.Main().Value("lock") == lockSnapshot {
			c.Main().Delete("lock")
		}
		return nil
	})
	if err != nil {
		log.Warnf("cleaning up the configuration after the failed snapshot: %v", err)
	}
}

// snapshotVolumes snapshots the volumes one by one and undoes the ones
// made when one fails. A running container is frozen meanwhile, so that
// all its volumes show the same instant.
func (s *Service) snapshotVolumes(ctx context.Context, vmid int, vols []snapVol, name string, log api.TaskLog) error {
	if _, running := s.running(vmid); running && len(vols) > 0 {
		thaw, err := s.freeze(ctx, vmid, log)
		if err != nil {
			return err
		}
		defer thaw()
	}
	for i, v := range vols {
		if err := v.snap.Snapshot(ctx, v.Name, name); err != nil {
			s.undoSnapshots(context.WithoutCancel(ctx), vols[:i], name, log)
			return fmt.Errorf("%s: %w", v.Key, err)
		}
		log.Printf("%s: snapshot of %s taken", v.Key, v.ID)
	}
	return nil
}

// undoSnapshots deletes the storage snapshots of a failed attempt.
func (s *Service) undoSnapshots(ctx context.Context, vols []snapVol, name string, log api.TaskLog) {
	for _, v := range vols {
		if err := v.snap.DeleteSnapshot(ctx, v.Name, name); err != nil {
			log.Warnf("%s: removing the partial snapshot: %v", v.Key, err)
		}
	}
}

// freeze stops every process of a running container (the cgroup
// freezer) and flushes its file systems, and returns the thaw. A
// host-wide sync runs first, while the container still runs, so that
// the frozen moment is short; once nothing inside can write any more,
// the container's own file systems are flushed again. Only those: a
// FUSE file system inside the frozen container would never answer a
// host-wide sync. A container that was frozen already (pct suspend)
// stays frozen.
func (s *Service) freeze(ctx context.Context, vmid int, log api.TaskLog) (func(), error) {
	if _, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "sync"}); err != nil {
		log.Warnf("sync: %v", err)
	}
	if st, _ := s.state(ctx, vmid); st == "FROZEN" {
		s.syncMounts(vmid, log)
		return func() {}, nil
	}
	if _, err := s.lxc(ctx, "lxc-freeze", vmid); err != nil {
		return nil, fmt.Errorf("freezing CT %d for the snapshot: %w", vmid, err)
	}
	log.Printf("CT %d frozen while its volumes are snapshotted", vmid)
	s.syncMounts(vmid, log)
	return func() {
		if _, err := s.lxc(context.WithoutCancel(ctx), "lxc-unfreeze", vmid); err != nil {
			log.Warnf("CT %d stays frozen: thawing it failed: %v (pct resume %d thaws it)", vmid, err, vmid)
		}
	}, nil
}

// syncMounts flushes each file system the start plan mounted for the
// container (syncfs), which writes what a loop-mounted image holds in
// the page cache down into the image file the storage snapshots. The
// mounts live in the container's mount namespace: they are reached
// through its init's root.
func (s *Service) syncMounts(vmid int, log api.TaskLog) {
	pid, ok := s.running(vmid)
	if !ok {
		return
	}
	plan, err := hook.Read(filepath.Join(s.dir(vmid), "config"))
	if err != nil {
		log.Warnf("CT %d: %v; its file systems are snapshotted as they are", vmid, err)
		return
	}
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	for _, m := range plan.Mounts {
		dir := filepath.Join(root, path.Clean("/"+m.Target))
		// O_DIRECTORY never opens a device or a FIFO the container may
		// have put where a mount point was.
		f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			log.Warnf("%s: flushing %s: %v", m.Key, m.Target, err)
			continue
		}
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			log.Warnf("%s: flushing %s: %v", m.Key, m.Target, err)
		}
		f.Close()
	}
}

// checkRollback checks that a container can go back to snapshot name. A
// container still locked by a rollback that failed half way may try
// again: that is how it gets out of the mixed state.
func (s *Service) checkRollback(ctx context.Context, c *guestconf.Config, name string) (*guestconf.Section, []snapVol, error) {
	if l := c.Main().Value("lock"); l != lockRollback {
		if err := s.repo.CheckLock(c, false); err != nil {
			return nil, nil, err
		}
	}
	if c.Main().Value("template") == "1" {
		return nil, nil, api.Errorf(http.StatusInternalServerError, "you can't rollback if the container is a template")
	}
	snap := c.File.Snapshot(name)
	if snap == nil {
		return nil, nil, errNoSnapshot(name)
	}
	if st := snap.Value("snapstate"); st != "" {
		return nil, nil, api.Errorf(http.StatusInternalServerError, "unable to rollback to incomplete snapshot (snapstate = %s)", st)
	}
	vols, problems := s.snapVolumes(ctx, snap)
	if len(problems) > 0 {
		return nil, nil, joinProblems(problems)
	}
	return snap, vols, nil
}

func (s *Service) snapshotRollbackTask(ctx context.Context, _ *api.Call, in *api.SnapshotRollbackParams) (api.Task, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, _, err := s.checkRollback(ctx, c, in.SnapName); err != nil {
		return api.Task{}, err
	}
	return ctTask("vzrollback", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.snapshotRollback(ctx, in.VMID, in.SnapName, in.Start, log)
	}), nil
}

// snapshotRollback returns a container to a snapshot: it is stopped if
// it runs, each volume goes back through its storage, and the main
// section is rebuilt from the snapshot section; start starts it again.
func (s *Service) snapshotRollback(ctx context.Context, vmid int, name string, start bool, log api.TaskLog) (err error) {
	var vols []snapVol
	_, err = s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		var err error
		if _, vols, err = s.checkRollback(ctx, c, name); err != nil {
			return err
		}
		return c.Main().Set("lock", lockRollback)
	})
	if err != nil {
		return err
	}
	var rolled []string
	defer func() {
		// Once a volume went back, the volumes may disagree with each
		// other and with the configuration: the lock stays, so that the
		// container does not start so, and the rollback can run again.
		if err != nil && len(rolled) == 0 {
			if cerr := s.repo.ClearLock(context.WithoutCancel(ctx), vmid, lockRollback); cerr != nil {
				log.Warnf("%v", cerr)
			}
		}
	}()
	if _, running := s.running(vmid); running {
		log.Printf("stopping CT %d for the rollback", vmid)
		if err := s.stop(ctx, vmid, true, log); err != nil {
			return err
		}
	}
	for _, v := range vols {
		if err := v.snap.Rollback(ctx, v.Name, name); err != nil {
			err = fmt.Errorf("%s: %w", v.Key, err)
			if len(rolled) > 0 {
				err = fmt.Errorf("%w; %s already went back, so CT %d stays locked (%s): run the rollback again, or unlock it with pct unlock",
					err, strings.Join(rolled, ", "), vmid, lockRollback)
			}
			return err
		}
		rolled = append(rolled, v.Key)
		log.Printf("%s: %s rolled back to '%s'", v.Key, v.ID, name)
	}
	_, err = s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		if l := c.Main().Value("lock"); l != lockRollback {
			return fmt.Errorf("CT %d: expected lock '%s', found '%s'", vmid, lockRollback, l)
		}
		return applySnapshot(c, name)
	})
	if err != nil {
		return err
	}
	log.Printf("configuration of CT %d restored from snapshot '%s'", vmid, name)
	if start {
		return s.start(ctx, vmid, startOptions{}, log)
	}
	return nil
}

// applySnapshot makes the main section the snapshot's settings. The
// container's description and its unused volumes stay, as they are not
// part of a state; volumes of the container that the snapshot does not
// mount become unused rather than forgotten; pending changes, made on
// top of the state being left, are dropped.
func applySnapshot(c *guestconf.Config, name string) error {
	snap := c.File.Snapshot(name)
	if snap == nil {
		return errNoSnapshot(name)
	}
	old := c.Main()
	main := guestconf.NewSection()
	if err := copySettings(snap, main); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, mp := range storageMounts(snap) {
		used[mp.Volume] = true
	}
	for _, k := range old.Keys() {
		switch {
		case k == guestconf.DescriptionKey:
			_ = main.Set(k, old.Value(k))
		case strings.HasPrefix(k, "unused") && !used[old.Value(k)]:
			_ = main.Set(k, old.Value(k))
		}
	}
	for _, mp := range storageMounts(old) {
		if !used[mp.Volume] && ownedBy(mp.Volume, c.VMID) {
			addUnused(main, mp.Volume)
		}
	}
	if err := main.Set("parent", name); err != nil {
		return err
	}
	c.File.Main = main
	for _, k := range c.File.Pending.Keys() {
		c.File.ClearPending(k)
	}
	for _, d := range c.File.PendingDeletes() {
		c.File.ClearPending(d.Key)
	}
	return nil
}

func (s *Service) checkSnapshotDelete(c *guestconf.Config, name string) error {
	if err := s.repo.CheckLock(c, false); err != nil {
		return err
	}
	if c.File.Snapshot(name) == nil {
		return errNoSnapshot(name)
	}
	return nil
}

func (s *Service) snapshotDeleteTask(_ context.Context, _ *api.Call, in *api.SnapshotDeleteParams) (api.Task, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if err := s.checkSnapshotDelete(c, in.SnapName); err != nil {
		return api.Task{}, err
	}
	return ctTask("vzdelsnapshot", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.snapshotDelete(ctx, in.VMID, in.SnapName, in.Force, log)
	}), nil
}

// snapshotDelete removes a snapshot from every volume and then from the
// configuration, where what pointed at it is re-attached to its parent.
// The snapshot is marked snapstate: delete meanwhile. When a volume
// fails, the volumes done so far leave the snapshot section, so that
// running the delete again only retries the rest; force goes on past
// failing volumes and removes the section anyway.
func (s *Service) snapshotDelete(ctx context.Context, vmid int, name string, force bool, log api.TaskLog) (err error) {
	var vols []snapVol
	_, err = s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		if err := s.checkSnapshotDelete(c, name); err != nil {
			return err
		}
		sec := c.File.Snapshot(name)
		var problems []error
		vols, problems = s.snapVolumes(ctx, sec)
		if len(problems) > 0 && !force {
			return joinProblems(problems)
		}
		for _, p := range problems {
			log.Warnf("%v; left as it is", p)
		}
		_ = sec.Set("snapstate", "delete")
		return c.Main().Set("lock", lockSnapshotDelete)
	})
	if err != nil {
		return err
	}
	var done []string
	defer func() {
		if err == nil {
			return
		}
		_, cerr := s.repo.Edit(context.WithoutCancel(ctx), vmid, func(c *guestconf.Config) error {
			if sec := c.File.Snapshot(name); sec != nil {
				for _, k := range done {
					sec.Delete(k)
				}
			}
			if c.Main().Value("lock") == lockSnapshotDelete {
				c.Main().Delete("lock")
			}
			return nil
		})
		if cerr != nil {
			log.Warnf("cleaning up the configuration: %v", cerr)
		}
	}()
	for _, v := range vols {
		if derr := v.snap.DeleteSnapshot(ctx, v.Name, name); derr != nil {
			if !force {
				return fmt.Errorf("%s: %w", v.Key, derr)
			}
			log.Warnf("%s: %v; the snapshot is removed from the configuration anyway", v.Key, derr)
		} else {
			log.Printf("%s: snapshot '%s' of %s deleted", v.Key, name, v.ID)
		}
		done = append(done, v.Key)
	}
	_, err = s.repo.Edit(ctx, vmid, func(c *guestconf.Config) error {
		c.File.DeleteSnapshot(name)
		if c.Main().Value("lock") == lockSnapshotDelete {
			c.Main().Delete("lock")
		}
		return nil
	})
	if err == nil {
		log.Printf("snapshot '%s' deleted", name)
	}
	return err
}

// feature tells whether every storage volume of the container (or of a
// snapshot) allows a feature, and on which nodes its volumes are all
// reachable, which is where the result of a clone or copy could run.
func (s *Service) feature(ctx context.Context, _ *api.Call, in *api.FeatureParams) (api.FeatureInfo, error) {
	c, err := s.repo.Load(in.VMID)
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
	for _, mp := range storageMounts(sec) {
		v, err := s.openVolume(ctx, mp.Key, mp.Volume)
		if err != nil || !s.featureOK(in.Feature, v, in.SnapName != "") {
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

// featureOK answers the feature check for one volume: snapshot needs a
// format the storage snapshots; clone (a linked clone) a template's base
// volume whose storage makes clones a container can mount; copy works
// on every current volume, and from a snapshot where snapshots exist.
func (s *Service) featureOK(feature string, v *ctVolume, fromSnap bool) bool {
	_, snapErr := s.snapVolOf(v)
	switch feature {
	case "snapshot":
		return snapErr == nil
	case "clone":
		return !fromSnap && s.linkProblem(v) == ""
	case "copy":
		return !fromSnap || snapErr == nil
	}
	return false
}

// volumeNodes lists the cluster nodes that reach every storage volume a
// section mounts, from the storage definitions: a disabled storage
// reaches none, one limited to nodes reaches those, and one that is not
// shared only this node.
func (s *Service) volumeNodes(sec *guestconf.Section) ([]string, error) {
	entries, err := s.o.Store.List("nodes")
	if err != nil {
		return nil, err
	}
	nodes := map[string]bool{s.o.Node: true}
	for _, e := range entries {
		if e.Dir {
			nodes[path.Base(e.Path)] = true
		}
	}
	cfgs, err := s.o.Storage.Configs()
	if err != nil {
		return nil, err
	}
	byID := map[string]storage.Config{}
	for _, cfg := range cfgs {
		byID[cfg.ID] = cfg
	}
	for _, mp := range storageMounts(sec) {
		sid, _, _ := mp.StorageVolume()
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
