package ossetup

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func owner(t *testing.T, p string) (int, int) {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// TestUnprivilegedOwnership runs every writer with the default
// unprivileged map: what is created belongs to the mapped root, what
// existed keeps its owner and mode.
func TestUnprivilegedOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand files to uid 100000 (CI runs as root)")
	}
	shift := IDShift{UID: 100000, GID: 100001}
	root := t.TempDir()
	makeTree(t, root, map[string]string{
		"etc/debian_version":               "12\n",
		"etc/passwd":                       testPasswd,
		"etc/shadow":                       "root:*:1:0:99999:7:::\n",
		"etc/hosts":                        userHosts,
		"usr/share/zoneinfo/Europe/Vienna": "TZif",
	})
	// Existing files with an owner and mode of the container's choosing.
	for file, ids := range map[string][2]int{"etc/hosts": {100000, 100000}, "etc/shadow": {100000, 100042}} {
		p := filepath.Join(root, file)
		if err := os.Chown(p, ids[0], ids[1]); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	s := Settings{
		Hostname: "ct1",
		Timezone: "Europe/Vienna",
		Nets:     []Net{{Index: 0, Name: "eth0", IP: "dhcp"}},
	}
	if _, err := Apply(root, "debian", s, shift); err != nil {
		t.Fatal(err)
	}
	if err := SetRootPassword(root, "debian", testHash, shift); err != nil {
		t.Fatal(err)
	}
	if err := SetSSHKeys(root, testKey(t, "ssh-ed25519"), shift); err != nil {
		t.Fatal(err)
	}

	for _, created := range []string{"etc/hostname", "etc/network", "etc/network/interfaces", "etc/localtime", "etc/timezone",
		"root", "root/.ssh", "root/.ssh/authorized_keys"} {
		if uid, gid := owner(t, filepath.Join(root, created)); uid != shift.UID || gid != shift.GID {
			t.Errorf("%s owned by %d:%d, want %d:%d", created, uid, gid, shift.UID, shift.GID)
		}
	}
	for file, want := range map[string][2]int{"etc/hosts": {100000, 100000}, "etc/shadow": {100000, 100042}} {
		p := filepath.Join(root, file)
		if uid, gid := owner(t, p); uid != want[0] || gid != want[1] {
			t.Errorf("%s owned by %d:%d, want it kept at %d:%d", file, uid, gid, want[0], want[1])
		}
		if info, _ := os.Stat(p); info.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %o, want it kept at 640", file, info.Mode().Perm())
		}
	}
}
