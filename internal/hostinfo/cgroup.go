package hostinfo

import (
	"os"
	"path/filepath"
)

// CGroupMode is 2 on hosts with the unified cgroup hierarchy only, 1 on
// hosts that still mount the version 1 controllers (hybrid or legacy);
// /cluster/resources reports it per node as "cgroup-mode".
func (r Reader) CGroupMode() int {
	root := r.Root
	if root == "" {
		root = "/"
	}
	if _, err := os.Stat(filepath.Join(root, "sys/fs/cgroup/cgroup.controllers")); err == nil {
		return 2
	}
	return 1
}
