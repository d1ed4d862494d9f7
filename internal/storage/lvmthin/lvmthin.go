package lvmthin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/lvm"
)

type plugin struct{}

// Plugin returns the "lvmthin" storage type.
func Plugin() storage.Plugin { return plugin{} }

func (plugin) Type() string { return "lvmthin" }

func (plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images, storage.Rootdir},
		DefaultContent: []storage.Content{storage.Images, storage.Rootdir},
		Formats:        []string{"raw"},
		DefaultFormat:  "raw",
		Snapshots:      []string{"raw"},
		LinkedClones:   true,
		Sparse:         true,
		Options: map[string]storage.Option{
			"thinpool": {Required: true, Fixed: true},
			"vgname":   {Required: true, Fixed: true},
			"content":  {},
			"nodes":    {},
			"disable":  {},
			"bwlimit":  {},
		},
	}
}

// Storage is one configured lvmthin storage.
type Storage struct {
	id   string
	vg   string
	pool string
	r    runner.Runner
	log  *slog.Logger
}

var (
	_ storage.Storage     = (*Storage)(nil)
	_ storage.Renamer     = (*Storage)(nil)
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Cloner      = (*Storage)(nil)
	_ storage.Exporter    = (*Storage)(nil)
)

func (plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	vg, _ := cfg.Get("vgname")
	pool, _ := cfg.Get("thinpool")
	switch {
	case vg == "":
		return nil, fmt.Errorf("storage %s: vgname is required", cfg.ID)
	case pool == "":
		return nil, fmt.Errorf("storage %s: thinpool is required", cfg.ID)
	case !lvm.ValidName(vg):
		return nil, fmt.Errorf("storage %s: invalid volume group name %q", cfg.ID, vg)
	case !lvm.ValidName(pool):
		return nil, fmt.Errorf("storage %s: invalid thin pool name %q", cfg.ID, pool)
	case env.Runner == nil:
		return nil, fmt.Errorf("storage %s: no command runner", cfg.ID)
	}
	s := &Storage{id: cfg.ID, vg: vg, pool: pool, r: env.Runner, log: env.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func (s *Storage) fail(op, vol string, err error) error {
	if vol == "" {
		return fmt.Errorf("storage %s: %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage %s: %s %s: %w", s.id, op, vol, err)
}

func (s *Storage) path(lv string) string { return "/dev/" + s.vg + "/" + lv }

// snapLV is the logical volume holding snapshot snap of volume vol.
func snapLV(vol, snap string) string { return "snap_" + vol + "_" + snap }

// volRE is an lvmthin volume name; base- volumes are templates.
var volRE = regexp.MustCompile(`^(vm|base)-([1-9][0-9]{2,8})-`)

type vol struct {
	name   string
	vmid   int
	isBase bool
}

func parseVolname(volname string) (vol, error) {
	m := volRE.FindStringSubmatch(volname)
	if m == nil || !lvm.ValidName(volname) {
		return vol{}, fmt.Errorf("illegal lvmthin volume name %q: expected vm-<vmid>-<name> or base-<vmid>-<name> made of letters, digits, '.', '_' and '-'", volname)
	}
	id, _ := strconv.Atoi(m[2])
	if err := storage.CheckImageName(volname, id, ""); err != nil {
		return vol{}, err
	}
	return vol{name: volname, vmid: id, isBase: m[1] == "base"}, nil
}

// snapRE is a snapshot name: what Proxmox VE's configuration ids allow,
// plus the leading underscores of its internal snapshots (__base__,
// __replicate_…__).
var snapRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)

func checkSnap(snap string) error {
	if !snapRE.MatchString(snap) {
		return fmt.Errorf("illegal snapshot name %q: letters, digits, '_' and '-' only", snap)
	}
	return nil
}

// isSnapOf reports whether logical volume lv is a snapshot of volume vol.
func isSnapOf(lv, vol string) bool {
	rest, ok := strings.CutPrefix(lv, "snap_"+vol+"_")
	return ok && configIDRE.MatchString(rest)
}

// configIDRE is the snapshot part Proxmox VE matches when it looks for a
// volume's snapshots.
var configIDRE = regexp.MustCompile(`^(?i:[a-z][a-z0-9_-]+)$`)

// vgs lists the volume groups; output printed with a failure is used.
func (s *Storage) vgs(ctx context.Context) ([]lvm.VG, error) {
	res, err := s.r.Run(ctx, lvm.VGsCmd())
	if err != nil {
		if len(res.Stdout) == 0 {
			return nil, err
		}
		s.log.Warn("vgs reported an error", "storage", s.id, "err", err)
	}
	return lvm.ParseVGs(res.Stdout)
}

// lvs lists the group's logical volumes by name.
func (s *Storage) lvs(ctx context.Context) (map[string]lvm.LV, error) {
	res, err := s.r.Run(ctx, lvm.LVsCmd(s.vg))
	if err != nil {
		return nil, err
	}
	lvs, err := lvm.ParseLVs(res.Stdout)
	if err != nil {
		return nil, err
	}
	m := make(map[string]lvm.LV, len(lvs))
	for _, lv := range lvs {
		if lv.VG == s.vg {
			m[lv.Name] = lv
		}
	}
	return m, nil
}

// activateLV activates one logical volume unless lvs shows it active.
// -K overrides the activation skip flag that thin snapshots and
// template bases carry.
func (s *Storage) activateLV(ctx context.Context, lvs map[string]lvm.LV, name string) error {
	lv, ok := lvs[name]
	if !ok {
		return fmt.Errorf("no such logical volume %s/%s", s.vg, name)
	}
	if lv.State == 'a' {
		return nil
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvchange", "-ay", "-K", s.vg+"/"+name)); err != nil {
		return fmt.Errorf("activating %s/%s failed: %w", s.vg, name, err)
	}
	return nil
}

// Activate checks the volume group (rescanning once) and activates the
// thin pool.
func (s *Storage) Activate(ctx context.Context) error {
	vgs, err := s.vgs(ctx)
	if err != nil {
		return s.fail("activate", "", err)
	}
	if !hasVG(vgs, s.vg) {
		if _, err := s.r.Run(ctx, lvm.Tool("vgscan", "--ignorelockingfailure", "--mknodes")); err != nil {
			s.log.Warn("vgscan failed", "storage", s.id, "err", err)
		}
		if vgs, err = s.vgs(ctx); err != nil {
			return s.fail("activate", "", err)
		}
		if !hasVG(vgs, s.vg) {
			return s.fail("activate", "", fmt.Errorf("volume group %q not found", s.vg))
		}
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return s.fail("activate", "", err)
	}
	if err := s.activateLV(ctx, lvs, s.pool); err != nil {
		return s.fail("activate thin pool", s.pool, err)
	}
	return nil
}

func hasVG(vgs []lvm.VG, name string) bool {
	for _, vg := range vgs {
		if vg.Name == name {
			return true
		}
	}
	return false
}

// Deactivate deactivates the group's volumes on this node.
func (s *Storage) Deactivate(ctx context.Context) error {
	if _, err := s.r.Run(ctx, lvm.Tool("vgchange", "-aln", s.vg)); err != nil {
		return s.fail("deactivate volume group", s.vg, err)
	}
	return nil
}

// Status reports the thin pool's size and how full its data area is.
// Like Proxmox VE it asks lvs about every group, so that a missing group
// is an inactive storage rather than an error.
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	res, err := s.r.Run(ctx, lvm.LVsCmd(""))
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	lvs, err := lvm.ParseLVs(res.Stdout)
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	for _, lv := range lvs {
		if lv.VG != s.vg || lv.Name != s.pool {
			continue
		}
		if lv.Type != 't' || lv.Size == 0 {
			return storage.Status{}, s.fail("status", "", fmt.Errorf("%s/%s is not a thin pool", s.vg, s.pool))
		}
		return storage.Status{Active: lv.State == 'a', Total: lv.Size, Used: lv.Used, Avail: lv.Size - lv.Used}, nil
	}
	return storage.Status{}, nil
}

// List returns the thin volumes of the pool named vm-… or base-….
func (s *Storage) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	ct, ok := listContent(content)
	if !ok {
		return nil, nil
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return nil, s.fail("list volumes", "", err)
	}
	var out []storage.Volume
	for name, lv := range lvs {
		v, err := parseVolname(name)
		if err != nil || lv.Type != 'V' || lv.Pool != s.pool || (vmid != 0 && v.vmid != vmid) {
			continue
		}
		out = append(out, storage.Volume{Volname: name, Content: ct, Format: "raw", Size: lv.Size, Used: lv.Used, VMID: v.vmid, CTime: lv.CTime})
	}
	storage.SortVolumes(out)
	return out, nil
}

// listContent: block volume names do not tell VM disks from container
// volumes, so they are images unless only rootdir was asked for.
func listContent(content []storage.Content) (storage.Content, bool) {
	if len(content) == 0 {
		return storage.Images, true
	}
	rootdir := false
	for _, c := range content {
		if c == storage.Images {
			return storage.Images, true
		}
		rootdir = rootdir || c == storage.Rootdir
	}
	return storage.Rootdir, rootdir
}

// errNoSnapshots is returned where a volume's snapshots are in the way.
var errNoSnapshots = errors.New("the volume has snapshots; delete them first")
