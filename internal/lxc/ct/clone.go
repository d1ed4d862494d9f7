package ct

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Templates and clones of containers. A template is a stopped container
// whose volumes became base volumes (vm-… → base-…, subvol-… →
// basevol-…, made read-only by the storage) and which can no longer
// start. A linked clone shares those base volumes copy-on-write; a full
// clone copies every volume (see copyVolume in move.go). The new
// container gets new MAC addresses and starts out locked "create",
// which is lifted once it is complete; a failed clone leaves nothing
// behind.

// cloneKind is how a clone gets one of its volumes.
type cloneKind int

const (
	// cloneLink: a copy-on-write child of the template's base volume.
	cloneLink cloneKind = iota
	// cloneCopy: a new volume with the source's data copied in.
	cloneCopy
)

// cloneVol is what a clone does for one mount point.
type cloneVol struct {
	src  *ctVolume
	kind cloneKind
	// target is the storage of a copy and size its size in bytes (0: a
	// subvolume without size).
	target string
	size   int64
}

// clonePlan is the whole clone, decided from one read of the source.
type clonePlan struct {
	src, dst int
	snap     string
	full     bool
	// values and raw are the new configuration without the mount points
	// that get new volumes; those are added as they are made.
	values map[string]string
	raw    []guestconf.RawKey
	vols   []cloneVol
	uid    int
	gid    int
	kibps  float64
}

// cloneSkipKeys are keys a clone never takes over: the template mark,
// locks, and what only describes the source's snapshots.
var cloneSkipKeys = []string{"template", "lock", "parent", "snaptime", "snapstate"}

// cloneValues is the configuration of a new clone, from the source's
// section (its current settings or a snapshot), without the storage
// volumes that get new ones. Every NIC gets a new MAC address, so that
// the two containers can run side by side; bind mounts and devices stay
// as they are, naming the same host paths. hostname replaces the
// source's when given.
func cloneValues(sec *guestconf.Section, hostname, macPrefix string, rnd io.Reader) map[string]string {
	out := map[string]string{}
	for _, k := range sec.Keys() {
		v := sec.Value(k)
		switch {
		case slices.Contains(cloneSkipKeys, k), strings.HasPrefix(k, "unused"):
			continue
		case ctconf.IsMountPointKey(k):
			if mp, err := ctconf.ParseMountPoint(k, v); err == nil && (mp.IsBind() || mp.IsDevice()) {
				out[k] = v
			}
			continue
		case ctconf.IsNetKey(k):
			if n, err := ctconf.ParseNet(k, v); err == nil {
				n.HWAddr = vmconf.GenerateMAC(macPrefix, rnd)
				v = n.String()
			}
		}
		out[k] = v
	}
	if hostname != "" {
		out["hostname"] = hostname
	}
	return out
}

func (s *Service) cloneTask(ctx context.Context, c *api.Call, in *api.CTCloneParams) (api.Task, error) {
	if in.Target != "" && in.Target != s.o.Node {
		return api.Task{}, api.ParamError("target", "cloning onto another node (%s) is not possible yet: clone on %s, then migrate the new container", in.Target, s.o.Node)
	}
	if in.NewID == in.VMID {
		return api.Task{}, api.ParamError("newid", "the clone needs an id of its own; %d is the source's", in.VMID)
	}
	// The pool alternative of the declared rule only counts with a pool.
	newPath := "/vms/" + strconv.Itoa(in.NewID)
	if in.Pool == "" && c != nil && c.Perm != nil && !c.Perm.Has(newPath, "VM.Allocate") {
		return api.Task{}, &api.Denied{Path: newPath, Priv: "VM.Allocate"}
	}
	if node, exists := s.repo.GuestNode(in.NewID); exists {
		return api.Task{}, api.ParamError("newid", "unable to create CT %d: a guest with that id already exists on node '%s'", in.NewID, node)
	}
	// Read under the source's mutex, where its lock and the count of
	// running clones change together.
	unlock := s.repo.Lock(in.VMID)
	cf, err := s.repo.Load(in.VMID)
	if err == nil {
		err = s.checkSourceLock(cf)
	}
	unlock()
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.planClone(ctx, c, cf, in); err != nil {
		return api.Task{}, err
	}
	return ctTask("vzclone", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.clone(ctx, c, in, log)
	}), nil
}

// clone runs a checked clone call: the source is read and held, the plan
// made again from that read, and carried out.
func (s *Service) clone(ctx context.Context, c *api.Call, in *api.CTCloneParams, log api.TaskLog) error {
	var p *clonePlan
	src, release, err := s.holdSource(ctx, in.VMID, func(cf *guestconf.Config) error {
		var err error
		p, err = s.planClone(ctx, c, cf, in)
		return err
	})
	if err != nil {
		return err
	}
	defer release()
	kind := "linked"
	if p.full {
		kind = "full"
	}
	from := fmt.Sprintf("CT %d", p.src)
	if p.snap != "" {
		from += ", snapshot " + p.snap
	}
	log.Printf("%s clone of %s to CT %d", kind, from, p.dst)
	if p.snap == "" && src.File.HasPending() {
		log.Warnf("CT %d has pending changes; the clone gets its current settings without them", p.src)
	}
	if err := s.runClone(ctx, p, in.Pool, log); err != nil {
		return fmt.Errorf("clone failed: %w", err)
	}
	log.Printf("CT %d created", p.dst)
	return nil
}

// planClone checks a clone of the source as read in cf and decides how
// each volume is made.
func (s *Service) planClone(ctx context.Context, c *api.Call, cf *guestconf.Config, in *api.CTCloneParams) (*clonePlan, error) {
	sec := cf.Main()
	if in.SnapName != "" {
		if sec = cf.File.Snapshot(in.SnapName); sec == nil {
			return nil, errNoSnapshot(in.SnapName)
		}
		if st := sec.Value("snapstate"); st != "" {
			return nil, api.Errorf(http.StatusInternalServerError, "snapshot '%s' is incomplete (snapstate = %s)", in.SnapName, st)
		}
	}
	if hm := hostMounts(sec); len(hm) > 0 && c != nil && c.Perm != nil && (c.User != api.RootUser || c.Token != "") {
		return nil, api.Errorf(http.StatusForbidden, "%s mounts the host path %s; only root@pam may clone a container with bind mounts or devices",
			hm[0].Key, hm[0].Volume)
	}
	template := cf.Main().Value("template") == "1"
	_, running := s.running(in.VMID)
	p := &clonePlan{src: in.VMID, dst: in.NewID, snap: in.SnapName,
		values: cloneValues(sec, in.Hostname, s.o.MACPrefix(), nil), raw: sec.Raw()}
	p.uid, p.gid = rootOwner(sec)
	// A snapshot's description is the snapshot's; the clone gets the
	// container's unless the call gives one.
	delete(p.values, guestconf.DescriptionKey)
	if d := cf.Main().Value(guestconf.DescriptionKey); d != "" {
		p.values[guestconf.DescriptionKey] = d
	}
	if in.Description != "" {
		p.values[guestconf.DescriptionKey] = in.Description
	}
	linkable, whyKey, why := true, "", ""
	for _, mp := range storageMounts(sec) {
		v, err := s.openVolume(ctx, mp.Key, mp.Volume)
		if err != nil {
			return nil, err
		}
		v.mp = mp
		if r := s.linkProblem(v); r != "" && linkable {
			linkable, whyKey, why = false, mp.Key, r
		}
		p.vols = append(p.vols, cloneVol{src: v})
	}
	p.full = !template || !linkable
	if in.Full != nil {
		p.full = *in.Full
	}
	if !p.full {
		switch {
		case in.Storage != "":
			return nil, api.ParamError("storage", "a linked clone stays on its template's storages; choose a storage only with full=1")
		case !template:
			return nil, api.Errorf(http.StatusInternalServerError, "CT %d is not a template: linked clones are made from templates only "+
				"(turn it into one with pct template, or clone with full=1)", in.VMID)
		case !linkable:
			return nil, api.Errorf(http.StatusInternalServerError, "linked clone feature is not available for '%s': %s", whyKey, why)
		}
	}
	if p.full && running && p.snap == "" {
		return nil, api.Errorf(http.StatusInternalServerError, "CT %d is running: its volumes change while they would be copied; "+
			"stop it, or take a snapshot and clone that (snapname)", in.VMID)
	}
	allocates := map[string]bool{}
	storages := []string{}
	for i := range p.vols {
		cv := &p.vols[i]
		storages = append(storages, cv.src.Storage)
		if !p.full {
			cv.kind = cloneLink
			allocates[cv.src.Storage] = true
			continue
		}
		cv.kind, cv.target = cloneCopy, cv.src.Storage
		if in.Storage != "" {
			cv.target = in.Storage
		}
		cfg, _, err := s.o.Storage.Open(ctx, cv.target)
		if err != nil {
			return nil, api.ParamError("storage", "%v", err)
		}
		if !cfg.Holds(storage.Rootdir) {
			return nil, api.ParamError("storage", "storage '%s' does not hold container volumes (content rootdir)", cv.target)
		}
		if cv.size, err = s.volumeSize(ctx, cv.src, p.snap); err != nil {
			return nil, err
		}
		if _, err := s.copyFormat(cfg, cv.src.format(), cv.size); err != nil {
			return nil, fmt.Errorf("%s: %w", cv.src.Key, err)
		}
		allocates[cv.target] = true
		storages = append(storages, cv.target)
	}
	for sid := range allocates {
		if err := checkSpace(c, sid); err != nil {
			return nil, err
		}
	}
	p.kibps = s.bandwidthLimit(ctx, c, "clone", in.BWLimit, storages...)
	return p, nil
}

// linkProblem says why a volume cannot have linked clones; "" if it can.
// Besides a base volume on a storage with linked clones, a container
// needs a clone of the base's own format: a storage that makes clones by
// snapshots (btrfs, ZFS, LVM-thin, RBD) does, while a directory storage
// makes qcow2 images over a raw base, which a container cannot mount.
func (s *Service) linkProblem(v *ctVolume) string {
	if !v.vol.IsBase {
		return "volume " + v.ID + " is not a template's base volume"
	}
	info := s.info(v.cfg)
	if _, cloner := v.st.(storage.Cloner); !cloner || !info.LinkedClones {
		return fmt.Sprintf("storage '%s' of type %s has no linked clones", v.Storage, v.cfg.Type)
	}
	if !slices.Contains(info.Snapshots, v.format()) {
		return fmt.Sprintf("linked clones of %s volumes on storage '%s' of type %s are images a container cannot mount", v.format(), v.Storage, v.cfg.Type)
	}
	return ""
}

// volumeSize is the size of a volume as a copy of it needs it: the size
// recorded in a snapshot for a snapshot's state, else what the storage
// says, else the recorded size. 0 is a subvolume without size.
func (s *Service) volumeSize(ctx context.Context, v *ctVolume, snap string) (int64, error) {
	recorded := int64(0)
	if v.mp != nil && v.mp.Size.Set {
		recorded = v.mp.Size.V
	}
	if snap != "" && recorded > 0 {
		return recorded, nil
	}
	info, err := v.st.Volume(ctx, v.Name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", v.Key, err)
	}
	size := info.Size
	if size <= 0 {
		size = recorded
	}
	if size <= 0 && v.format() != "subvol" {
		return 0, fmt.Errorf("%s: cannot read the size of %s", v.Key, v.ID)
	}
	return size, nil
}

// runClone makes the new container. Its configuration is written first,
// with lock: create, so the id is taken at once and the half-made
// container cannot be started; every new volume is recorded as soon as
// it exists, so that even a crash leaves a configuration naming what to
// clean up. On failure the new volumes and the configuration go again.
func (s *Service) runClone(ctx context.Context, p *clonePlan, pool string, log api.TaskLog) (err error) {
	f, err := guestconf.New(guestconf.KindLXC)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(p.values) {
		if err := f.Main.Set(k, p.values[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	for _, r := range p.raw {
		if err := f.Main.AppendRaw(r.Key, r.Value); err != nil {
			return err
		}
	}
	if err := f.Main.Set("lock", "create"); err != nil {
		return err
	}
	if _, err := s.repo.Create(ctx, p.dst, f); err != nil {
		return err
	}
	var created []string
	firewall := false
	defer func() {
		if err != nil {
			cleanup := context.WithoutCancel(ctx)
			if firewall {
				if _, ferr := s.o.Store.Apply(cleanup, cfs.Delete(firewallPath(p.dst))); ferr != nil {
					log.Warnf("removing the firewall rules of CT %d: %v", p.dst, ferr)
				}
			}
			s.undoClone(cleanup, p.dst, created, log)
		}
	}()
	if firewall, err = s.cloneFirewall(ctx, p.src, p.dst); err != nil {
		return err
	}
	for _, cv := range p.vols {
		volid, err := s.cloneVolume(ctx, p, cv, log)
		if err != nil {
			return fmt.Errorf("%s: %w", cv.src.Key, err)
		}
		created = append(created, volid)
		mp := *cv.src.mp
		mp.Volume = volid
		if cv.kind == cloneCopy && cv.size > 0 {
			mp.Size = ctconf.Some(cv.size)
		}
		if _, err := s.repo.Edit(ctx, p.dst, func(c *guestconf.Config) error {
			return c.Main().Set(mp.Key, mp.String())
		}); err != nil {
			return err
		}
	}
	if pool != "" && s.o.Pools != nil {
		if err := s.o.Pools.AddGuestToPool(ctx, pool, p.dst); err != nil {
			return fmt.Errorf("adding CT %d to pool %s: %w", p.dst, pool, err)
		}
	}
	return s.repo.ClearLock(ctx, p.dst, "create")
}

// cloneVolume makes one volume of a clone and returns its id.
func (s *Service) cloneVolume(ctx context.Context, p *clonePlan, cv cloneVol, log api.TaskLog) (string, error) {
	if cv.kind == cloneLink {
		cl, ok := cv.src.st.(storage.Cloner)
		if !ok {
			return "", fmt.Errorf("storage '%s' has no linked clones", cv.src.Storage)
		}
		name, err := cl.Clone(ctx, cv.src.Name, p.dst, p.snap)
		if err != nil {
			return "", err
		}
		volid := cv.src.Storage + ":" + name
		log.Printf("%s: linked clone of %s is %s", cv.src.Key, cv.src.ID, volid)
		return volid, nil
	}
	log.Printf("%s: copying %s to storage '%s'", cv.src.Key, cv.src.ID, cv.target)
	volid, err := s.copyVolume(ctx, copyJob{src: cv.src, snap: p.snap, vmid: p.dst, target: cv.target, size: cv.size,
		uid: p.uid, gid: p.gid, kibps: p.kibps}, log)
	if err != nil {
		return "", err
	}
	log.Printf("%s: copied %s to %s", cv.src.Key, cv.src.ID, volid)
	return volid, nil
}

func firewallPath(vmid int) string { return "firewall/" + strconv.Itoa(vmid) + ".fw" }

// cloneFirewall gives the clone a copy of the source's firewall rules,
// if it has any; it reports whether it made one.
func (s *Service) cloneFirewall(ctx context.Context, src, dst int) (bool, error) {
	e, err := s.o.Store.Get(firewallPath(src))
	if errors.Is(err, cfs.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := s.o.Store.Apply(ctx, cfs.Write(firewallPath(dst), e.Data).If(cfs.Cond{MustNotExist: true})); err != nil {
		return false, fmt.Errorf("copying the firewall rules: %w", err)
	}
	return true, nil
}

// undoClone removes what a failed clone made: its volumes, newest
// first, then its configuration.
func (s *Service) undoClone(ctx context.Context, vmid int, created []string, log api.TaskLog) {
	for i := len(created) - 1; i >= 0; i-- {
		if err := s.freeVolume(ctx, created[i]); err != nil {
			log.Warnf("removing %s after the failed clone: %v", created[i], err)
		} else {
			log.Printf("removed %s", created[i])
		}
	}
	c, err := s.repo.Load(vmid)
	if err == nil {
		err = s.repo.Remove(ctx, c)
	}
	if err != nil {
		log.Warnf("removing the configuration of CT %d after the failed clone: %v", vmid, err)
	}
}

// A container being cloned must not change under the clone: no start
// (which would write to volumes being copied), no destroy or template
// conversion, no configuration change halfway through. Proxmox VE locks
// the source with "disk" for that. Here the source carries lock: disk
// while at least one clone of it runs, and a count says how many do:
// the first clone sets the lock, the last one clears it, so that
// several clones of one template run side by side. Every other call
// refuses the container with "CT is locked (disk)" without waiting. A
// daemon that dies during a clone leaves the lock, to be lifted with
// pct unlock like any stale lock.
const lockClone = "disk"

type holdKey struct {
	s    *Service
	vmid int
}

// cloneHolds counts the running clones of each source container. It is
// only changed under the source's mutex; its own mutex guards the map.
var cloneHolds = struct {
	sync.Mutex
	n map[holdKey]int
}{n: map[holdKey]int{}}

func (s *Service) holds(vmid int) int {
	cloneHolds.Lock()
	defer cloneHolds.Unlock()
	return cloneHolds.n[holdKey{s, vmid}]
}

func (s *Service) addHold(vmid, d int) {
	cloneHolds.Lock()
	defer cloneHolds.Unlock()
	k := holdKey{s, vmid}
	cloneHolds.n[k] += d
	if cloneHolds.n[k] <= 0 {
		delete(cloneHolds.n, k)
	}
}

// checkSourceLock is CheckLock for a clone's source: the lock of the
// clones already running is no obstacle.
func (s *Service) checkSourceLock(c *guestconf.Config) error {
	if c.Main().Value("lock") == lockClone && s.holds(c.VMID) > 0 {
		return nil
	}
	return s.repo.CheckLock(c, false)
}

// holdSource reads the source of a clone under its mutex, checks it with
// check and takes the clone hold. The returned release gives it back.
func (s *Service) holdSource(ctx context.Context, vmid int, check func(c *guestconf.Config) error) (*guestconf.Config, func(), error) {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkSourceLock(c); err != nil {
		return nil, nil, err
	}
	if err := check(c); err != nil {
		return nil, nil, err
	}
	if s.holds(vmid) == 0 {
		if err := c.Main().Set("lock", lockClone); err != nil {
			return nil, nil, err
		}
		if err := s.repo.Save(ctx, c); err != nil {
			return nil, nil, err
		}
		c.Main().Delete("lock")
	}
	s.addHold(vmid, 1)
	return c, func() { s.releaseSource(context.WithoutCancel(ctx), vmid) }, nil
}

// releaseSource gives a clone hold back; the last one lifts the lock.
func (s *Service) releaseSource(ctx context.Context, vmid int) {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	s.addHold(vmid, -1)
	if s.holds(vmid) > 0 {
		return
	}
	c, err := s.repo.Load(vmid)
	if err != nil {
		s.o.Log.Warn("releasing the clone lock", "vmid", vmid, "error", err)
		return
	}
	if c.Main().Value("lock") != lockClone {
		return // lifted by hand (pct unlock) meanwhile
	}
	c.Main().Delete("lock")
	if err := s.repo.Save(ctx, c); err != nil {
		s.o.Log.Warn("releasing the clone lock", "vmid", vmid, "error", err)
	}
}

// baseConversion is one volume a template conversion turns into a base.
type baseConversion struct {
	v  *ctVolume
	cl storage.Cloner
}

// templateCT turns a stopped container into a template. It runs under
// the container's mutex: renaming is quick, and nothing may start or
// clone the container meanwhile. Pending changes are applied first, as a
// start would, so that the template is the container as it would start.
func (s *Service) templateCT(ctx context.Context, _ *api.Call, in *api.CTParam) (any, error) {
	unlock := s.repo.Lock(in.VMID)
	defer unlock()
	cf, err := s.repo.Load(in.VMID)
	if err != nil {
		return nil, err
	}
	if _, err := s.planTemplate(ctx, cf); err != nil {
		return nil, err
	}
	changed, err := cf.File.ApplyPending(
		func(key, old, now string) {
			if mpVolume(old) != mpVolume(now) {
				s.detachVolume(cf, key, old)
			}
		},
		func(key, old string, _ bool) { s.detachVolume(cf, key, old) })
	if err != nil {
		return nil, err
	}
	convs, err := s.planTemplate(ctx, cf)
	if err != nil {
		return nil, err
	}
	var failed error
	done := 0
	for _, cv := range convs {
		name, err := cv.cl.CreateBase(ctx, cv.v.Name)
		if err != nil {
			failed = fmt.Errorf("%s: %w", cv.v.Key, err)
			break
		}
		mp := *cv.v.mp
		mp.Volume = cv.v.Storage + ":" + name
		if err := cf.Main().Set(cv.v.Key, mp.String()); err != nil {
			failed = err
			break
		}
		done++
	}
	// Renamed volumes exist only under their new names: record them
	// even when a later volume failed.
	if failed == nil || done > 0 {
		if err := cf.Main().Set("template", "1"); err != nil {
			return nil, err
		}
		changed = true
	}
	if changed {
		if err := s.repo.Save(ctx, cf); err != nil {
			return nil, err
		}
	}
	return nil, failed
}

// planTemplate checks that the container as read in cf can become a
// template and lists the volumes to turn into base volumes. Volumes on a
// storage without linked clones cannot; the conversion is then refused
// before anything is renamed, so a refused container stays as it was.
func (s *Service) planTemplate(ctx context.Context, cf *guestconf.Config) ([]baseConversion, error) {
	vmid := cf.VMID
	if err := s.repo.CheckLock(cf, false); err != nil {
		return nil, err
	}
	if cf.Main().Value("template") == "1" {
		return nil, api.Errorf(http.StatusInternalServerError, "CT %d is already a template", vmid)
	}
	if _, running := s.running(vmid); running {
		return nil, api.Errorf(http.StatusInternalServerError, "CT %d is running: stop it before turning it into a template", vmid)
	}
	if len(cf.File.SnapshotNames()) > 0 {
		return nil, api.Errorf(http.StatusInternalServerError, "unable to create a template of CT %d: it has snapshots; delete them first", vmid)
	}
	if hm := hostMounts(cf.Main()); len(hm) > 0 {
		return nil, api.Errorf(http.StatusInternalServerError, "%s mounts the host path %s, which cannot become part of a template; remove it first",
			hm[0].Key, hm[0].Volume)
	}
	var out []baseConversion
	for _, mp := range storageMounts(cf.Main()) {
		v, err := s.openVolume(ctx, mp.Key, mp.Volume)
		if err != nil {
			return nil, err
		}
		v.mp = mp
		if v.vol.IsBase {
			continue // converted before
		}
		if v.vol.VMID != vmid {
			return nil, api.Errorf(http.StatusInternalServerError, "%s: volume %s belongs to guest %d; only the container's own volumes can become base volumes",
				mp.Key, v.ID, v.vol.VMID)
		}
		cl, ok := v.st.(storage.Cloner)
		if !ok || !s.info(v.cfg).LinkedClones {
			return nil, api.Errorf(http.StatusInternalServerError, "%s: storage '%s' of type %s cannot hold template base volumes "+
				"(it has no linked clones); move the volume to a storage that has them first", mp.Key, v.Storage, v.cfg.Type)
		}
		out = append(out, baseConversion{v: v, cl: cl})
	}
	return out, nil
}
