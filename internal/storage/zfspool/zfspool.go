package zfspool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

type plugin struct{}

// Plugin returns the "zfspool" storage type.
func Plugin() storage.Plugin { return plugin{} }

func (plugin) Type() string { return "zfspool" }

func (plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images, storage.Rootdir},
		DefaultContent: []storage.Content{storage.Images, storage.Rootdir},
		Formats:        []string{"raw", "subvol"},
		DefaultFormat:  "raw",
		Snapshots:      []string{"raw", "subvol"},
		LinkedClones:   true,
		// zvols reserve their size unless the storage sets sparse.
		Sparse: false,
		Options: map[string]storage.Option{
			"pool":       {Required: true, Fixed: true},
			"blocksize":  {},
			"sparse":     {},
			"mountpoint": {},
			"content":    {},
			"nodes":      {},
			"disable":    {},
			"bwlimit":    {},
		},
	}
}

// Storage is one configured zfspool storage.
type Storage struct {
	id         string
	pool       string
	blocksize  string
	sparse     bool
	mountpoint string // the mountpoint option; "" asks zfs
	r          runner.Runner
	log        *slog.Logger
	// waitDev waits until a zvol's device node shows up (udev makes it
	// after zfs create returns); tests replace it.
	waitDev func(ctx context.Context, path string) error
	// busyDelay is the pause between retries of a destroy that found the
	// dataset busy.
	busyDelay time.Duration
}

var (
	_ storage.Storage     = (*Storage)(nil)
	_ storage.Renamer     = (*Storage)(nil)
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Cloner      = (*Storage)(nil)
	_ storage.Exporter    = (*Storage)(nil)
)

// BlocksizeRE is what blocksize may be: a zfs size such as 8k, 16K or 128k.
var BlocksizeRE = regexp.MustCompile(`^[0-9]+[kKmM]?$`)

func (plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	pool, _ := cfg.Get("pool")
	switch {
	case pool == "":
		return nil, fmt.Errorf("storage %s: pool is required", cfg.ID)
	case !ValidPool(pool):
		return nil, fmt.Errorf("storage %s: invalid zfs pool or dataset name %q", cfg.ID, pool)
	case env.Runner == nil:
		return nil, fmt.Errorf("storage %s: no command runner", cfg.ID)
	}
	s := &Storage{id: cfg.ID, pool: pool, r: env.Runner, log: env.Log, waitDev: WaitBlockDevice(time.Minute), busyDelay: time.Second}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if b, _ := cfg.Get("blocksize"); b != "" {
		if !BlocksizeRE.MatchString(b) {
			return nil, fmt.Errorf("storage %s: blocksize %q is not a size such as 8k", cfg.ID, b)
		}
		s.blocksize = b
	}
	var err error
	if s.sparse, err = BoolOpt(cfg, "sparse"); err != nil {
		return nil, err
	}
	if m, _ := cfg.Get("mountpoint"); m != "" {
		if !path.IsAbs(m) || path.Clean(m) != strings.TrimSuffix(m, "/") && m != "/" {
			return nil, fmt.Errorf("storage %s: mountpoint %q is not a clean absolute path", cfg.ID, m)
		}
		s.mountpoint = path.Clean(m)
	}
	return s, nil
}

// BoolOpt reads a boolean storage.cfg key (1/0, yes/no, on/off, true/false).
func BoolOpt(cfg storage.Config, key string) (bool, error) {
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

// WaitBlockDevice returns a function that waits until path is a block
// device, polling until the timeout or the context ends.
func WaitBlockDevice(timeout time.Duration) func(ctx context.Context, path string) error {
	return func(ctx context.Context, path string) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no device %s appeared within %s", path, timeout)
			case <-tick.C:
			}
		}
	}
}

func (s *Storage) fail(op, vol string, err error) error {
	if vol == "" {
		return fmt.Errorf("storage %s: %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage %s: %s %s: %w", s.id, op, vol, err)
}

func (s *Storage) zfs(ctx context.Context, args ...string) ([]byte, error) {
	res, err := s.r.Run(ctx, runner.Cmd{Name: "zfs", Args: args})
	return res.Stdout, err
}

func (s *Storage) dataset(v Vol) string { return s.pool + "/" + v.Name }

func (s *Storage) zvolPath(v Vol) string { return "/dev/zvol/" + s.dataset(v) }

// poolName is the pool part of the pool option, which may name a dataset.
func (s *Storage) poolName() string {
	p, _, _ := strings.Cut(s.pool, "/")
	return p
}

// imported reports whether the pool is imported.
func (s *Storage) imported(ctx context.Context) bool {
	res, err := s.r.Run(ctx, runner.Cmd{Name: "zpool", Args: []string{"list", "-o", "name", "-H", s.poolName()}})
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		if strings.TrimSpace(l) == s.poolName() {
			return true
		}
	}
	return false
}

// Activate imports the pool unless it is imported; a failed import that
// raced with another one still counts if the pool is there afterwards.
func (s *Storage) Activate(ctx context.Context) error {
	if s.imported(ctx) {
		return nil
	}
	_, err := s.r.Run(ctx, runner.Cmd{Name: "zpool", Args: []string{"import", "-d", "/dev/disk/by-id/", "-o", "cachefile=none", s.poolName()}})
	if err != nil && !s.imported(ctx) {
		return s.fail("import pool", s.poolName(), err)
	}
	return nil
}

// Deactivate leaves the pool imported, as Proxmox VE does.
func (s *Storage) Deactivate(ctx context.Context) error { return nil }

// Status reports the dataset's available and used space. A pool zfs
// cannot read is an inactive storage.
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	out, err := s.zfs(ctx, GetArgs(s.pool, "available", "used")...)
	if err != nil {
		var ee *runner.ExitError
		if errors.As(err, &ee) {
			s.log.Warn("zfs cannot read the pool", "storage", s.id, "err", err)
			return storage.Status{}, nil
		}
		return storage.Status{}, s.fail("status", "", err)
	}
	st, err := StatusOf(out)
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	return st, nil
}

func (s *Storage) list(ctx context.Context) ([]Dataset, error) {
	out, err := s.zfs(ctx, ListArgs(s.pool)...)
	if err != nil {
		return nil, err
	}
	return ParseList(out, s.pool)
}

// List returns the zvols and subvolumes of the pool.
func (s *Storage) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	list, err := s.list(ctx)
	if err != nil {
		return nil, s.fail("list volumes", "", err)
	}
	return Volumes(list, vmid, content), nil
}

// DetectMountpoint asks zfs where the pool's dataset is mounted, for the
// mountpoint option Proxmox VE records when the storage is added.
func (s *Storage) DetectMountpoint(ctx context.Context) (string, error) {
	out, err := s.zfs(ctx, GetArgs(s.pool, "mountpoint")...)
	if err != nil {
		return "", s.fail("read mountpoint", s.pool, err)
	}
	v, err := ParseValues(out, 1)
	if err != nil || !path.IsAbs(v[0]) {
		return "", s.fail("read mountpoint", s.pool, fmt.Errorf("dataset has no mountpoint (%q)", out))
	}
	return v[0], nil
}
