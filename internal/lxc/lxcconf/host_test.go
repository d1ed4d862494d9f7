package lxcconf

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestHostCgroup(t *testing.T) {
	// A file where the memory hierarchy should be is not one.
	memoryFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(memoryFile, "memory"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		root      string
		version   int
		memsw     bool
		wantError bool
	}{
		{"unified only", "testdata/cgroup/v2", 2, false, false},
		// The hybrid fixture has a v2 mount below the root, as systemd's
		// hybrid mode does; only the root decides the version.
		{"hybrid without swap accounting", "testdata/cgroup/hybrid", 1, false, false},
		{"hybrid with swap accounting", "testdata/cgroup/hybrid-memsw", 1, true, false},
		{"empty root", t.TempDir(), 0, false, true},
		{"missing root", filepath.Join(t.TempDir(), "nothing"), 0, false, true},
		{"memory is a file", memoryFile, 0, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			version, memsw, err := HostCgroup(c.root)
			if (err != nil) != c.wantError {
				t.Fatalf("error %v, want one: %v", err, c.wantError)
			}
			if version != c.version || memsw != c.memsw {
				t.Errorf("got version %d memsw %v, want %d %v", version, memsw, c.version, c.memsw)
			}
		})
	}
}

// TestHostCgroupOnThisHost checks the detection against what the kernel
// says about the mounts: the root is cgroup2 on a unified host, and the
// memory hierarchy is a v1 cgroup mount otherwise.
func TestHostCgroupOnThisHost(t *testing.T) {
	const (
		root         = "/sys/fs/cgroup"
		cgroup2Magic = 0x63677270
		cgroup1Magic = 0x27e0eb
	)
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Skipf("no cgroup file system on this machine: %v", err)
	}
	version, _, err := HostCgroup(root)
	if st.Type == cgroup2Magic {
		if err != nil || version != 2 {
			t.Fatalf("%s is a cgroup2 mount but HostCgroup says version %d, %v", root, version, err)
		}
		return
	}
	var mem syscall.Statfs_t
	if err := syscall.Statfs(filepath.Join(root, "memory"), &mem); err != nil || mem.Type != cgroup1Magic {
		t.Skipf("%s is neither a cgroup2 mount nor holds a v1 memory hierarchy", root)
	}
	if err != nil || version != 1 {
		t.Fatalf("%s/memory is a cgroup v1 mount but HostCgroup says version %d, %v", root, version, err)
	}
}

func TestAppArmorEnabled(t *testing.T) {
	cases := []struct {
		name string
		root string
		want bool
	}{
		{"enabled", "testdata/sys/apparmor-y", true},
		{"disabled", "testdata/sys/apparmor-n", false},
		{"no module", t.TempDir(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := AppArmorEnabled(c.root); got != c.want {
				t.Errorf("AppArmorEnabled(%s) = %v, want %v", c.root, got, c.want)
			}
		})
	}
}
