package dir

import (
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/storagetest"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

func allContentConfig(path string) storage.Config {
	return storage.Config{ID: "test", Type: "dir", Content: storage.AllContent,
		Props: map[string]string{"path": path, "content": "images,rootdir,vztmpl,iso,backup,snippets,import"}}
}

// TestConformance runs the shared suite on a real directory with the
// real qemu-img, qemu-io and tar.
func TestConformance(t *testing.T) {
	needTools(t, "qemu-img", "qemu-io", "tar", "chattr")
	info := Plugin{}.Info()
	storagetest.RunOptions(t, func(t *testing.T) storage.Storage {
		s, err := Plugin{}.Open(allContentConfig(filepath.Join(t.TempDir(), "store")),
			storage.Env{Node: "n1", Runner: runner.Exec{}, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, info, storagetest.Options{Content: storage.AllContent})
}
