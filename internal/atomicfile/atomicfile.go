// Package atomicfile replaces files so that a crash leaves either the old
// or the new content, never a mix: write a temporary file in the same
// directory, sync it, rename it over the target, sync the directory.
package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the names of temporary files, so that a crash's
// leftovers can be found and removed (RemoveTemps).
const TempPrefix = ".tmp-"

// Write replaces path with data, with the given mode. The data is synced
// before the rename and the directory after it, so that the rename itself
// survives a power loss.
func Write(path string, data []byte, mode os.FileMode) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the directory's entries (creations, renames) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveTemps deletes temporary files a crash left in dir.
func RemoveTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
