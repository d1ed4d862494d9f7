package lxcconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// HostCgroup tells which cgroup layout is mounted at root (normally
// /sys/fs/cgroup), for Spec.Cgroup and Spec.Memsw: version 2 when the
// unified hierarchy is the root itself, version 1 when a v1 memory
// hierarchy is mounted below it (v1 or hybrid hosts); memsw reports
// whether that v1 memory controller accounts swap.
func HostCgroup(root string) (version int, memsw bool, err error) {
	v2, err := exists(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return 0, false, err
	}
	if v2 {
		return 2, false, nil
	}
	fi, err := os.Stat(filepath.Join(root, "memory"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, false, fmt.Errorf("detect cgroup layout: %w", err)
	}
	if err != nil || !fi.IsDir() {
		return 0, false, fmt.Errorf("detect cgroup layout: %s has neither cgroup.controllers (cgroup v2) nor a memory/ hierarchy (cgroup v1)", root)
	}
	memsw, err = exists(filepath.Join(root, "memory", "memory.memsw.limit_in_bytes"))
	if err != nil {
		return 0, false, err
	}
	return 1, memsw, nil
}

func exists(p string) (bool, error) {
	_, err := os.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("detect cgroup layout: %w", err)
}

// AppArmorEnabled reports whether the kernel has AppArmor switched on,
// from the module parameter under sysRoot (normally /sys). A missing file
// means AppArmor is not built in or not loaded.
func AppArmorEnabled(sysRoot string) bool {
	data, err := os.ReadFile(filepath.Join(sysRoot, "module", "apparmor", "parameters", "enabled"))
	return err == nil && strings.TrimSpace(string(data)) == "Y"
}
