package btrfs

import (
	"path/filepath"
	"testing"

	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/storagetest"
)

// TestConformance runs the shared suite on a real, loop-mounted btrfs;
// the storage is a directory below the mount point, as is common.
func TestConformance(t *testing.T) {
	storagetest.RunOptions(t, func(t *testing.T) storage.Storage {
		return openReal(t, filepath.Join(mountBtrfs(t), "pve-storage"), map[string]string{"nocow": "1"})
	}, Plugin{}.Info(), storagetest.Options{Content: storage.AllContent, CloneIndependent: true})
}
