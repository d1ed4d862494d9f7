package ossetup

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostFiles makes a directory standing in for the host, with files that
// a hostile container would like to overwrite or read.
func hostFiles(t *testing.T) (dir string, snap fileSnapshot) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]string{
		"etc/passwd":                       "root:x:0:0:host root:/root:/bin/bash\n",
		"etc/shadow":                       "root:HOSTSECRET:19000:0:99999:7:::\n",
		"etc/hosts":                        "127.0.0.1 host-localhost\n",
		"etc/hostname":                     "the-host\n",
		"etc/network/interfaces":           "iface eth0 inet dhcp\n",
		"etc/resolv.conf":                  "nameserver 10.0.0.1\n",
		"root/.ssh/authorized_keys":        "host key\n",
		"usr/share/zoneinfo/Europe/Vienna": "TZif host\n",
	}
	makeTree(t, dir, files)
	var paths []string
	for k := range files {
		paths = append(paths, filepath.Join(dir, k))
	}
	paths = append(paths, filepath.Join(dir, "etc"), filepath.Join(dir, "root/.ssh"))
	return dir, snapshot(t, paths...)
}

// TestEscapesStayInsideRoot plants symlinks that lead out of the
// container root and runs every writer over them: the host files keep
// their bytes and timestamps.
func TestEscapesStayInsideRoot(t *testing.T) {
	host, snap := hostFiles(t)
	up := strings.Repeat("../", 20)
	cases := []struct {
		name  string
		files map[string]string
	}{
		{"absolute symlinks to host files", map[string]string{
			"etc/debian_version":        "12\n",
			"etc/hostname":              "-> " + filepath.Join(host, "etc/passwd"),
			"etc/hosts":                 "-> " + filepath.Join(host, "etc/hosts"),
			"etc/resolv.conf":           "-> " + filepath.Join(host, "etc/resolv.conf"),
			"etc/network/interfaces":    "-> " + filepath.Join(host, "etc/network/interfaces"),
			"etc/shadow":                "-> " + filepath.Join(host, "etc/shadow"),
			"etc/passwd":                "root:x:0:0::/root:/bin/sh\n",
			"root/.ssh/authorized_keys": "-> " + filepath.Join(host, "root/.ssh/authorized_keys"),
		}},
		{"dot-dot symlinks to host files", map[string]string{
			"etc/debian_version": "12\n",
			"etc/hostname":       "-> " + up + filepath.Join(host, "etc/passwd"),
			"etc/hosts":          "-> ../" + up + filepath.Join(host, "etc/hosts"),
			"etc/resolv.conf":    "-> " + up + filepath.Join(host, "etc/resolv.conf"),
			"etc/shadow":         "-> " + up + filepath.Join(host, "etc/shadow"),
			"etc/passwd":         "root:x:0:0::/root:/bin/sh\n",
			"etc/localtime":      "-> " + up + filepath.Join(host, "usr/share/zoneinfo/Europe/Vienna"),
			"usr/share/zoneinfo": "-> " + up + filepath.Join(host, "usr/share/zoneinfo"),
		}},
		{"symlinked directories", map[string]string{
			"etc":  "-> " + up + filepath.Join(host, "etc"),
			"root": "-> " + filepath.Join(host, "root"),
			"usr":  "-> " + up + host + "/usr",
		}},
		{"symlinked subdirectories", map[string]string{
			"etc/debian_version":  "12\n",
			"etc/passwd":          "root:x:0:0::/root:/bin/sh\n",
			"etc/network":         "-> " + filepath.Join(host, "etc"),
			"etc/systemd/network": "-> " + up + filepath.Join(host, "etc/network"),
			"root/.ssh":           "-> " + up + filepath.Join(host, "root/.ssh"),
		}},
	}
	s := Settings{
		Hostname:    "evil",
		Nameservers: []string{"192.0.2.53"},
		Timezone:    "Europe/Vienna",
		Nets:        []Net{{Index: 0, Name: "eth0", IP: "192.0.2.10/24", GW: "192.0.2.1"}},
	}
	key := testKey(t, "ssh-ed25519")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			makeTree(t, root, c.files)
			// Errors are fine (a directory may resolve to nothing inside
			// the root); only the host matters here.
			for _, ostype := range []string{"debian", "busybox", "ubuntu"} {
				_, _ = Apply(root, ostype, s, selfShift())
			}
			_ = SetRootPassword(root, "debian", testHash, selfShift())
			_ = SetSSHKeys(root, key, selfShift())
			snap.check(t)
			// Nothing of the host may be read into the container either.
			tree := dumpTree(t, root)
			for _, marker := range []string{"HOSTSECRET", "host-localhost", "host key", "host root", "the-host", "10.0.0.1"} {
				if strings.Contains(tree, marker) {
					t.Errorf("host content %q copied into the container:\n%s", marker, tree)
				}
			}
		})
	}
}

// TestSymlinkedFileIsReplaced pins the behaviour for a file that is a
// symlink inside the root: the link itself is replaced by a regular file
// and its target, the container's own shadow file, stays as it was.
func TestSymlinkedFileIsReplaced(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{
		"etc/debian_version": "12\n",
		"etc/shadow":         "root:*:1:0:99999:7:::\n",
		"etc/hostname":       "-> /etc/shadow",
	})
	if _, err := Apply(root, "debian", Settings{Hostname: "ct1"}, selfShift()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(filepath.Join(root, "etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Mode().IsRegular() {
		t.Errorf("/etc/hostname is %v, want a regular file", info.Mode())
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/shadow")); string(got) != "root:*:1:0:99999:7:::\n" {
		t.Errorf("shadow changed: %q", got)
	}
}

// TestDirectoryLinkResolvesInRoot shows that a symlinked /etc pointing at
// the host's /etc by a ".." chain is followed inside the container.
func TestDirectoryLinkResolvesInRoot(t *testing.T) {
	host, snap := hostFiles(t)
	root := t.TempDir()
	mirror := filepath.Join(host, "etc")
	makeTree(t, root, map[string]string{
		"etc": "-> " + strings.Repeat("../", 20) + mirror,
		strings.TrimPrefix(mirror, "/") + "/debian_version": "12\n",
	})
	if _, err := Apply(root, "debian", Settings{Hostname: "ct1"}, selfShift()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, mirror, "hostname"))
	if err != nil || string(got) != "ct1\n" {
		t.Errorf("hostname inside the root's mirror of the path: %q, %v", got, err)
	}
	snap.check(t)
}

func TestReadFileRefusesSpecialFiles(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/": ""})
	if err := syscall.Mkfifo(filepath.Join(root, "etc/hosts"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(root, selfShift())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A blocking open would hang here; the error must come at once.
	if _, err := r.ReadFile("/etc/hosts"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile on a FIFO: %v", err)
	}
	if _, err := Apply(root, "debian", Settings{Hostname: "x"}, selfShift()); err == nil {
		t.Error("Apply went on with a FIFO as /etc/hosts")
	}
	if _, err := r.WriteFile("/etc", []byte("x"), 0o644); err == nil {
		t.Error("WriteFile replaced a directory")
	}
	if _, err := r.WriteFile("/", []byte("x"), 0o644); err == nil {
		t.Error("WriteFile accepted the root directory")
	}
}

func TestOpenRootRejectsNegativeShift(t *testing.T) {
	if _, err := OpenRoot(t.TempDir(), IDShift{UID: -1}); err == nil {
		t.Error("negative uid accepted")
	}
}

func TestWriteFileLeavesNoTemporaries(t *testing.T) {
	root := t.TempDir()
	r, err := OpenRoot(root, selfShift())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 3; i++ {
		if _, err := r.WriteFile("/f", []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Symlink("f", "/l"); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "f l" {
		t.Errorf("root holds %v, want only f and l", names)
	}
}
