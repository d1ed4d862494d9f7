package btrfs

import (
	"fmt"

	"github.com/hearth-virt/hearth/internal/storage"
)

// Plugin is the "btrfs" storage type.
type Plugin struct{}

// The capabilities a Store has, checked at compile time.
var (
	_ storage.Storage     = (*Store)(nil)
	_ storage.Renamer     = (*Store)(nil)
	_ storage.Snapshotter = (*Store)(nil)
	_ storage.Cloner      = (*Store)(nil)
	_ storage.Exporter    = (*Store)(nil)
	_ storage.FileStore   = (*Store)(nil)
	_ storage.Plugin      = Plugin{}
)

// Type is "btrfs".
func (Plugin) Type() string { return "btrfs" }

// Info describes the btrfs type as Proxmox VE's BTRFSPlugin does: raw
// images and subvolumes, both with snapshots; clones are writable
// snapshots, independent of their source once made.
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        storage.AllContent,
		DefaultContent: []storage.Content{storage.Images, storage.Rootdir},
		Formats:        []string{"raw", "subvol"},
		DefaultFormat:  "raw",
		SharedOption:   true,
		Snapshots:      []string{"raw", "subvol"},
		LinkedClones:   true,
		Sparse:         true,
		Options: map[string]storage.Option{
			"path":                  {Required: true, Fixed: true},
			"content":               {},
			"nodes":                 {},
			"shared":                {},
			"disable":               {},
			"format":                {},
			"prune-backups":         {},
			"max-protected-backups": {},
			"is_mountpoint":         {},
			"nocow":                 {},
			"mkdir":                 {},
			"create-base-path":      {},
			"create-subdirs":        {},
			"preallocation":         {},
		},
	}
}

// Open makes the store of a btrfs section on its path.
func (Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	path, ok := cfg.Get("path")
	if !ok || path == "" {
		return nil, fmt.Errorf("storage '%s': a btrfs storage needs a path", cfg.ID)
	}
	s, err := NewStore(cfg, env, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}
