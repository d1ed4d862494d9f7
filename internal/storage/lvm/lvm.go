package lvm

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

type plugin struct{}

// Plugin returns the "lvm" storage type.
func Plugin() storage.Plugin { return plugin{} }

func (plugin) Type() string { return "lvm" }

func (plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images, storage.Rootdir},
		DefaultContent: []storage.Content{storage.Images},
		Formats:        []string{"raw"},
		DefaultFormat:  "raw",
		SharedOption:   true,
		Options: map[string]storage.Option{
			"vgname":                   {Required: true, Fixed: true},
			"base":                     {Fixed: true},
			"saferemove":               {},
			"saferemove_throughput":    {},
			"saferemove-stepsize":      {},
			"tagged_only":              {},
			"snapshot-as-volume-chain": {Fixed: true},
			"content":                  {},
			"nodes":                    {},
			"shared":                   {},
			"disable":                  {},
			"bwlimit":                  {},
		},
	}
}

// Storage is one configured lvm storage.
type Storage struct {
	id         string
	vg         string
	base       string
	saferemove bool
	throughput string // cstream -t value
	stepsize   int64  // blkdiscard --step in bytes
	taggedOnly bool
	chain      bool
	r          runner.Runner
	log        *slog.Logger
	// root prefixes /dev and /sys when the wipe looks up the device
	// behind a volume; tests point it at a directory of their own.
	root string
}

var _ storage.Storage = (*Storage)(nil)
var _ storage.Renamer = (*Storage)(nil)
var _ storage.Exporter = (*Storage)(nil)

func (plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	return open(cfg, env)
}

func open(cfg storage.Config, env storage.Env) (*Storage, error) {
	vg, _ := cfg.Get("vgname")
	if vg == "" {
		return nil, fmt.Errorf("storage %s: vgname is required", cfg.ID)
	}
	if !ValidName(vg) {
		return nil, fmt.Errorf("storage %s: invalid volume group name %q", cfg.ID, vg)
	}
	if env.Runner == nil {
		return nil, fmt.Errorf("storage %s: no command runner", cfg.ID)
	}
	s := &Storage{id: cfg.ID, vg: vg, r: env.Runner, log: env.Log, root: "/", stepsize: 32 << 20}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if b, ok := cfg.Get("base"); ok && b != "" {
		if _, _, err := storage.ParseVolumeID(b); err != nil {
			return nil, fmt.Errorf("storage %s: base: %w", cfg.ID, err)
		}
		s.base = b
	}
	var err error
	if s.saferemove, err = boolOpt(cfg, "saferemove"); err != nil {
		return nil, err
	}
	if s.taggedOnly, err = boolOpt(cfg, "tagged_only"); err != nil {
		return nil, err
	}
	if s.chain, err = boolOpt(cfg, "snapshot-as-volume-chain"); err != nil {
		return nil, err
	}
	if t, ok := cfg.Get("saferemove_throughput"); ok && t != "" {
		if !throughputRE.MatchString(t) {
			return nil, fmt.Errorf("storage %s: saferemove_throughput %q is not a number of bytes per second", cfg.ID, t)
		}
		s.throughput = t
	}
	if v, ok := cfg.Get("saferemove-stepsize"); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 32 || n&(n-1) != 0 {
			return nil, fmt.Errorf("storage %s: saferemove-stepsize %q is not one of 1, 2, 4, 8, 16, 32", cfg.ID, v)
		}
		s.stepsize = int64(n) << 20
	}
	if s.chain {
		s.log.Warn("snapshot-as-volume-chain is set but Hearth does not create qcow2 volume chains on LVM; new volumes are raw", "storage", cfg.ID)
	}
	return s, nil
}

// throughputRE accepts what cstream -t takes: bytes per second, with an
// optional sign and unit suffix.
var throughputRE = regexp.MustCompile(`^-?[0-9]+[kKmMgG]?$`)

func boolOpt(cfg storage.Config, key string) (bool, error) {
	v, ok := cfg.Get(key)
	if !ok || v == "" {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "1", "yes", "on", "true":
		return true, nil
	case "0", "no", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("storage %s: %s: %q is not a boolean", cfg.ID, key, v)
}

// VG is the volume group the storage allocates in.
func (s *Storage) VG() string { return s.vg }

// Base is the volume id of the LUN the volume group lives on, "" if none.
// The storage service activates that storage before this one, as Proxmox
// VE does, and calls CreateVolumeGroup on its device when the storage is
// added.
func (s *Storage) Base() string { return s.base }

func (s *Storage) fail(op, vol string, err error) error {
	if vol == "" {
		return fmt.Errorf("storage %s: %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage %s: %s %s: %w", s.id, op, vol, err)
}

// Activate checks the volume group, rescanning once when it is not
// found. Logical volumes are activated one by one when used, never all
// at once, because a shared group must not have every volume open on
// every node.
func (s *Storage) Activate(ctx context.Context) error {
	vgs, err := s.vgs(ctx)
	if err != nil {
		return s.fail("activate", "", err)
	}
	if findVG(vgs, s.vg) != nil {
		return nil
	}
	if _, err := s.r.Run(ctx, Tool("vgscan", "--ignorelockingfailure", "--mknodes")); err != nil {
		s.log.Warn("vgscan failed", "storage", s.id, "err", err)
	}
	if vgs, err = s.vgs(ctx); err != nil {
		return s.fail("activate", "", err)
	}
	if findVG(vgs, s.vg) == nil {
		return s.fail("activate", "", fmt.Errorf("volume group %q not found", s.vg))
	}
	return nil
}

// Deactivate deactivates every logical volume of the group on this node.
func (s *Storage) Deactivate(ctx context.Context) error {
	if _, err := s.r.Run(ctx, Tool("vgchange", "-aln", s.vg)); err != nil {
		return s.fail("deactivate volume group", s.vg, err)
	}
	return nil
}

// vgs lists every volume group. vgs exits non-zero when a clustered
// group cannot be read but still prints the others, so output with an
// error is used (and the error logged).
func (s *Storage) vgs(ctx context.Context) ([]VG, error) {
	res, err := s.r.Run(ctx, VGsCmd())
	if err != nil {
		if len(res.Stdout) == 0 {
			return nil, err
		}
		s.log.Warn("vgs reported an error", "storage", s.id, "err", err)
	}
	return ParseVGs(res.Stdout)
}

func findVG(vgs []VG, name string) *VG {
	for i := range vgs {
		if vgs[i].Name == name {
			return &vgs[i]
		}
	}
	return nil
}

// Status reports the volume group's size and free space; a missing group
// is an inactive storage.
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	vgs, err := s.vgs(ctx)
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	vg := findVG(vgs, s.vg)
	if vg == nil {
		return storage.Status{}, nil
	}
	return storage.Status{Active: true, Total: vg.Size, Avail: vg.Free, Used: vg.Size - vg.Free}, nil
}

// lvs lists the logical volumes of the storage's group by name.
func (s *Storage) lvs(ctx context.Context) (map[string]LV, error) {
	res, err := s.r.Run(ctx, LVsCmd(s.vg))
	if err != nil {
		return nil, err
	}
	lvs, err := ParseLVs(res.Stdout)
	if err != nil {
		return nil, err
	}
	m := make(map[string]LV, len(lvs))
	for _, lv := range lvs {
		if lv.VG == s.vg {
			m[lv.Name] = lv
		}
	}
	return m, nil
}

func (s *Storage) path(name string) string { return "/dev/" + s.vg + "/" + name }
