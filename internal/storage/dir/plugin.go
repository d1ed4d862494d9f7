package dir

import (
	"fmt"

	"github.com/hearth-virt/hearth/internal/storage"
)

// Plugin is the "dir" storage type: a local directory, or a file system
// mounted there by the administrator.
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

// Type is "dir".
func (Plugin) Type() string { return "dir" }

// Info describes the dir type as Proxmox VE's DirPlugin does.
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        storage.AllContent,
		DefaultContent: []storage.Content{storage.Images, storage.Rootdir},
		Formats:        []string{"raw", "qcow2", "vmdk", "subvol"},
		DefaultFormat:  "raw",
		SharedOption:   true,
		Snapshots:      []string{"qcow2"},
		LinkedClones:   true,
		Sparse:         true,
		Options: map[string]storage.Option{
			"path":                  {Required: true, Fixed: true},
			"content":               {},
			"content-dirs":          {},
			"nodes":                 {},
			"shared":                {},
			"disable":               {},
			"format":                {},
			"preallocation":         {},
			"prune-backups":         {},
			"max-protected-backups": {},
			"mkdir":                 {},
			"create-base-path":      {},
			"create-subdirs":        {},
			"is_mountpoint":         {},
			"bwlimit":               {},
		},
	}
}

// Open makes the store of a dir section on its path.
func (Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	path, ok := cfg.Get("path")
	if !ok || path == "" {
		return nil, fmt.Errorf("storage '%s': a dir storage needs a path", cfg.ID)
	}
	s, err := NewStore(cfg, env, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}
