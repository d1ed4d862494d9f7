package vm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// cloneRoutes binds the template and clone endpoints.
func (s *Service) cloneRoutes() []api.Route {
	return []api.Route{
		api.VMClone.Handle(s.cloneTask),
		api.VMTemplate.Handle(s.templateTask),
	}
}

// diskKind is how a clone gets one of its disks.
type diskKind int

const (
	// diskLink: a copy-on-write child of the template's base volume.
	diskLink diskKind = iota
	// diskCopy: a new volume with the source's data copied in.
	diskCopy
	// diskCloudInit: a new, empty cloud-init volume; its content is
	// generated from the new VM's configuration at its first start.
	diskCloudInit
)

// diskPlan is what a clone does for one drive.
type diskPlan struct {
	key   string
	drive *vmconf.Drive
	src   *volume
	kind  diskKind
	// target and format are the storage and image format of the new
	// volume of a copy or cloud-init drive.
	target string
	format string
	// zeroed: a new volume on the target reads as zeros (sparse and thin
	// storages), so a copy need not write the source's empty areas.
	zeroed bool
}

// clonePlan is the whole clone, decided from one read of the source.
type clonePlan struct {
	src, dst int
	snap     string
	full     bool
	running  bool
	// values is the new configuration without the drives to be made.
	values map[string]string
	disks  []diskPlan
	// bwlimit is the copy limit in KiB/s; 0 for none.
	bwlimit float64
}

// mirrors reports whether the copies come from a running VM, through
// QEMU, rather than from the images at rest.
func (p *clonePlan) mirrors() bool { return p.running && p.snap == "" }

func (s *Service) cloneTask(ctx context.Context, c *api.Call, in *api.VMCloneParams) (api.Task, error) {
	if in.Target != "" && in.Target != s.o.Node {
		return api.Task{}, api.ParamError("target", "cloning onto another node (%s) is not possible yet: clone on %s, then migrate the new VM", in.Target, s.o.Node)
	}
	if in.NewID == in.VMID {
		return api.Task{}, api.ParamError("newid", "the clone needs an id of its own; %d is the source's", in.VMID)
	}
	// The pool alternative of the declared rule only counts with a pool.
	newPath := "/vms/" + strconv.Itoa(in.NewID)
	if in.Pool == "" && c != nil && c.Perm != nil && !c.Perm.Has(newPath, "VM.Allocate") {
		return api.Task{}, &api.Denied{Path: newPath, Priv: "VM.Allocate"}
	}
	if node, exists := s.guestNode(in.NewID); exists {
		return api.Task{}, api.ParamError("newid", "unable to create VM %d: a guest with that id already exists on node '%s'", in.NewID, node)
	}
	// Read under the source's mutex: the lock and the count of running
	// clones change together there, so a clone that is just ending is
	// never seen half way (its lock still set, its count already gone).
	unlock := s.lock(in.VMID)
	cf, err := s.load(in.VMID)
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
	return vmTask("qmclone", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.clone(ctx, c, in, log)
	}), nil
}

// clone runs a checked clone call: the source is read and held, the plan
// made again from that read, and carried out.
func (s *Service) clone(ctx context.Context, c *api.Call, in *api.VMCloneParams, log api.TaskLog) error {
	var p *clonePlan
	src, release, err := s.holdSource(ctx, in.VMID, func(cf *conf) error {
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
	from := fmt.Sprintf("VM %d", p.src)
	if p.snap != "" {
		from += ", snapshot " + p.snap
	}
	log.Printf("%s clone of %s to VM %d", kind, from, p.dst)
	if p.snap == "" && src.File.HasPending() {
		log.Warnf("VM %d has pending changes; the clone gets its current settings without them", p.src)
	}
	if err := s.runClone(ctx, p, in.Pool, log); err != nil {
		return fmt.Errorf("clone failed: %w", err)
	}
	log.Printf("VM %d created", p.dst)
	return nil
}

// planClone checks a clone of the source as read in cf and decides how
// each drive is made.
func (s *Service) planClone(ctx context.Context, c *api.Call, cf *conf, in *api.VMCloneParams) (*clonePlan, error) {
	sec := cf.Main()
	if in.SnapName != "" {
		if sec = cf.File.Snapshot(in.SnapName); sec == nil {
			return nil, api.Errorf(http.StatusInternalServerError, "snapshot '%s' does not exist", in.SnapName)
		}
	}
	template := cf.Main().Value("template") == "1"
	_, running := s.paths(in.VMID).running()
	p := &clonePlan{src: in.VMID, dst: in.NewID, snap: in.SnapName, running: running,
		values: cloneValues(sec, in.VMID, in.Name, in.Description, s.o.MACPrefix(), nil)}
	linkable, whyKey, why := true, "", ""
	for _, key := range vmconf.DriveKeys() {
		v, ok := sec.Get(key)
		if !ok {
			continue
		}
		d, err := vmconf.ParseDrive(key, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if keepsDrive(d) {
			continue // cloneValues keeps it
		}
		if isPath(d.File) {
			return nil, api.Errorf(http.StatusInternalServerError, "%s: %s is a host path, which a clone cannot copy; detach it from VM %d first", key, d.File, in.VMID)
		}
		vol, err := s.openVolume(ctx, d.File)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		dp := diskPlan{key: key, drive: d, src: vol, kind: diskCopy}
		switch {
		case d.IsCloudInit():
			dp.kind = diskCloudInit
		case key == "tpmstate0":
			// swtpm reads its state as a plain file: always a copy.
		default:
			if r := s.linkProblem(vol); r != "" && linkable {
				linkable, whyKey, why = false, key, r
			}
			dp.kind = diskLink
		}
		p.disks = append(p.disks, dp)
	}
	p.full = !template || !linkable
	if in.Full != nil {
		p.full = *in.Full
	}
	if !p.full {
		switch {
		case in.Storage != "":
			return nil, api.ParamError("storage", "a linked clone stays on its template's storages; choose a storage only with full=1")
		case in.Format != "":
			return nil, api.ParamError("format", "a linked clone keeps its template's formats; choose a format only with full=1")
		case !template:
			return nil, api.Errorf(http.StatusInternalServerError, "VM %d is not a template: linked clones are made from templates only "+
				"(turn it into one with qm template, or clone with full=1)", in.VMID)
		case !linkable:
			return nil, api.Errorf(http.StatusInternalServerError, "Linked clone feature is not supported for drive '%s': %s", whyKey, why)
		}
	}
	allocates := map[string]bool{}
	for i := range p.disks {
		dp := &p.disks[i]
		if dp.kind == diskLink && p.full {
			dp.kind = diskCopy
		}
		if dp.kind == diskLink {
			allocates[dp.src.Storage] = true
			continue
		}
		if dp.kind == diskCopy && p.running && p.snap == "" && dp.key == "tpmstate0" {
			return nil, api.Errorf(http.StatusInternalServerError, "cannot clone the TPM state of VM %d while it runs: stop it, or clone a snapshot", in.VMID)
		}
		dp.target = dp.src.Storage
		if in.Storage != "" && p.full {
			dp.target = in.Storage
		}
		if err := s.planTarget(ctx, dp, in.Format); err != nil {
			return nil, err
		}
		allocates[dp.target] = true
	}
	for sid := range allocates {
		if err := checkAllocate(c, sid); err != nil {
			return nil, err
		}
	}
	storages := make([]string, 0, len(allocates))
	for _, dp := range p.disks {
		storages = append(storages, dp.src.Storage)
	}
	for sid := range allocates {
		storages = append(storages, sid)
	}
	p.bwlimit = s.bandwidthLimit(ctx, c, "clone", in.BWLimit, storages...)
	return p, nil
}

// linkProblem says why a volume cannot have linked clones; "" if it can.
func (s *Service) linkProblem(v *volume) string {
	if !v.vol.IsBase {
		return "volume " + v.ID + " is not a template's base volume"
	}
	p, ok := s.o.Storage.Plugin(v.cfg.Type)
	if _, cloner := v.st.(storage.Cloner); !cloner || !ok || !p.Info().LinkedClones {
		return fmt.Sprintf("storage '%s' of type %s has no linked clones", v.Storage, v.cfg.Type)
	}
	return ""
}

// planTarget checks the storage a copy or cloud-init drive goes to and
// picks the format of the new volume.
func (s *Service) planTarget(ctx context.Context, dp *diskPlan, asked string) error {
	cfg, _, err := s.o.Storage.Open(ctx, dp.target)
	if err != nil {
		return api.ParamError("storage", "%v", err)
	}
	if !cfg.Holds(storage.Images) {
		return api.ParamError("storage", "storage '%s' does not hold VM disk images (content images)", dp.target)
	}
	p, ok := s.o.Storage.Plugin(cfg.Type)
	if !ok {
		return api.ParamError("storage", "storage '%s' has the unknown type %s", dp.target, cfg.Type)
	}
	info := p.Info()
	if dp.kind == diskCloudInit {
		asked = ""
	}
	format, ok := cloneFormat(dp.key, asked, dp.src.vol.Format, info.Formats, s.defaultFormat(cfg))
	if !ok {
		return api.ParamError("format", "storage '%s' of type %s cannot hold %s images (it holds: %v)", dp.target, cfg.Type, format, info.Formats)
	}
	dp.format = format
	dp.zeroed = info.Sparse
	return nil
}

// runClone makes the new VM. Its configuration is written first, with
// lock: clone, so the id is taken at once and the half-made VM cannot be
// started; every new disk is recorded as soon as it exists, so that even
// a crash leaves a configuration naming what to clean up. On failure the
// new volumes and the configuration are removed again.
func (s *Service) runClone(ctx context.Context, p *clonePlan, pool string, log api.TaskLog) (err error) {
	f, err := guestconf.New(guestconf.KindQemu)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(p.values) {
		if err := f.Main.Set(k, p.values[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := f.Main.Set("lock", "clone"); err != nil {
		return err
	}
	if _, err := s.createConf(ctx, p.dst, f); err != nil {
		return err
	}
	var created []string
	firewall := false
	defer func() {
		if err != nil {
			cleanup := context.WithoutCancel(ctx)
			if firewall {
				if _, ferr := s.o.Store.Apply(cleanup, cfs.Delete(firewallPath(p.dst))); ferr != nil {
					log.Warnf("removing the firewall rules of VM %d: %v", p.dst, ferr)
				}
			}
			s.undoClone(cleanup, p.dst, created, log)
		}
	}()
	if firewall, err = s.cloneFirewall(ctx, p.src, p.dst); err != nil {
		return err
	}
	record := func(key string, d *vmconf.Drive) error {
		created = append(created, d.File)
		_, err := s.edit(ctx, p.dst, func(c *conf) error { return c.Main().Set(key, d.String()) })
		return err
	}
	for _, dp := range p.disks {
		if dp.kind == diskCopy && p.mirrors() {
			continue
		}
		nd, err := s.cloneDisk(ctx, p, dp, log)
		if err != nil {
			return fmt.Errorf("%s: %w", dp.key, err)
		}
		if err := record(dp.key, nd); err != nil {
			return err
		}
	}
	if p.mirrors() {
		if err := s.mirrorDisks(ctx, p, record, log); err != nil {
			return err
		}
	}
	if pool != "" && s.o.Pools != nil {
		if err := s.o.Pools.AddGuestToPool(ctx, pool, p.dst); err != nil {
			return fmt.Errorf("adding VM %d to pool %s: %w", p.dst, pool, err)
		}
	}
	return s.clearLock(ctx, p.dst, "clone")
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
	c, err := s.load(vmid)
	if err == nil {
		err = s.removeConf(ctx, c)
	}
	if err != nil {
		log.Warnf("removing the configuration of VM %d after the failed clone: %v", vmid, err)
	}
}
