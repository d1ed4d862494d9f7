package lxcconf

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata from the current output")

// lxcConfigDir is where the golden specs take LXC's includes from; it is
// the real one so that lxc-info can follow them.
const lxcConfigDir = "/usr/share/lxc/config"

// baseSpec is an unprivileged Debian container on a cgroup v2 host, the
// common case every golden spec starts from.
func baseSpec() *Spec {
	return &Spec{
		VMID: 100, Arch: "amd64", OSType: "debian", Hostname: "web",
		LXCPath: "/var/lib/lxc", Hook: "/usr/bin/hearth", LXCConfigDir: lxcConfigDir,
		Unprivileged: true, Cgroup: 2, MemoryMiB: 512, SwapMiB: 512,
		TTY: 2, Console: true, CMode: "tty",
	}
}

func twoNICs() []NIC {
	// Out of index order on purpose: the file lists them sorted.
	return []NIC{
		{Index: 1, Name: "eth1", HWAddr: "BC:24:11:00:00:02", MTU: 9000},
		{Index: 0, Name: "eth0", HWAddr: "BC:24:11:00:00:01"},
	}
}

type goldenCase struct {
	name string
	spec func() *Spec
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"privileged-busybox-minimal", func() *Spec {
			return &Spec{VMID: 100, Arch: "amd64", OSType: "busybox", LXCPath: "/var/lib/lxc",
				Hook: "/usr/bin/hearth", LXCConfigDir: lxcConfigDir, Cgroup: 2, MemoryMiB: 512,
				TTY: 2, Console: true}
		}},
		{"unprivileged-debian-v1-memsw", func() *Spec {
			s := baseSpec()
			s.Cgroup, s.Memsw = 1, true
			s.MemoryMiB, s.SwapMiB = 1024, 256
			s.CPULimit, s.CPUUnits, s.CPUSet = 1.5, 2048, "0-1,3"
			s.NICs = twoNICs()
			return s
		}},
		{"unprivileged-debian-v1-no-memsw", func() *Spec {
			s := baseSpec()
			s.Cgroup = 1
			s.MemoryMiB, s.SwapMiB = 1024, 256
			return s
		}},
		{"unprivileged-debian-v2", func() *Spec {
			s := baseSpec()
			s.MemoryMiB, s.SwapMiB = 1024, 256
			s.CPULimit, s.CPUUnits, s.CPUSet = 1.5, 2048, "0-1,3"
			s.NICs = twoNICs()
			return s
		}},
		{"cpu-limits-clamped-v2", func() *Spec {
			s := baseSpec()
			s.CPULimit, s.CPUUnits = 0.001, 500000
			return s
		}},
		{"cpu-limits-clamped-v1", func() *Spec {
			s := baseSpec()
			s.Cgroup = 1
			s.CPULimit, s.CPUUnits = 0.29, 1
			return s
		}},
		{"custom-idmap", func() *Spec {
			s := baseSpec()
			s.IDMap = []IDMap{
				{'u', 0, 100000, 1000}, {'g', 0, 100000, 1000},
				{'u', 1000, 1000, 1}, {'g', 1000, 1000, 1},
				{'u', 1001, 101001, 64535}, {'g', 1001, 101001, 64535},
			}
			return s
		}},
		{"privileged-custom-idmap", func() *Spec {
			s := baseSpec()
			s.Unprivileged = false
			s.IDMap = []IDMap{{'u', 0, 200000, 65536}, {'g', 0, 200000, 65536}}
			return s
		}},
		{"nesting-fuse-keyctl-unprivileged", func() *Spec {
			s := baseSpec()
			s.Features = Features{Nesting: true, Fuse: true, Keyctl: true}
			return s
		}},
		{"nesting-fuse-mount-apparmor", func() *Spec {
			s := baseSpec()
			s.AppArmor = true
			s.Features = Features{Nesting: true, Fuse: true, Mount: []string{"nfs", "cifs"}}
			return s
		}},
		{"privileged-ubuntu-apparmor-off", privilegedUbuntu},
		{"privileged-ubuntu-apparmor-on", func() *Spec {
			s := privilegedUbuntu()
			s.AppArmor = true
			return s
		}},
		{"mknod-force-rw-sys", func() *Spec {
			s := baseSpec()
			s.OSType = "nixos"
			s.Features = Features{MKNod: true, ForceRWSys: true}
			return s
		}},
		{"devices-v1", func() *Spec {
			s := privilegedUbuntu()
			s.Cgroup = 1
			s.Devices = devices()
			return s
		}},
		{"devices-v2-unprivileged", func() *Spec {
			s := baseSpec()
			s.Devices = devices()
			return s
		}},
		{"raw-keys", func() *Spec {
			s := baseSpec()
			s.Raw = []RawKey{
				{"lxc.apparmor.profile", "unconfined"},
				{"lxc.cap.drop", ""},
				{"lxc.mount.entry", "/srv/data srv/data none bind,create=dir 0 0"},
				{"lxc.cgroup2.memory.max", "max"},
			}
			return s
		}},
		{"console-off-cmode-shell", func() *Spec {
			s := baseSpec()
			s.Console, s.CMode, s.TTY = false, "shell", 0
			return s
		}},
		{"console-off-v1", func() *Spec {
			s := privilegedUbuntu()
			s.Cgroup, s.Console, s.CMode = 1, false, "console"
			return s
		}},
		{"entrypoint-env-debug", func() *Spec {
			s := baseSpec()
			s.OSType, s.Arch = "alpine", "arm64"
			s.Entrypoint = `/usr/bin/app --listen ":8080"`
			s.Env = []string{"TERM=xterm", "APP_MODE=production", "EMPTY="}
			s.Debug = true
			s.NICs = []NIC{{Index: 3, Name: "lan", MTU: 1400}}
			return s
		}},
	}
}

func privilegedUbuntu() *Spec {
	s := baseSpec()
	s.VMID, s.OSType, s.Hostname, s.Unprivileged = 205, "ubuntu", "build.example.com", false
	s.Features = Features{Nesting: true, Mount: []string{"nfs"}, Keyctl: true}
	return s
}

func devices() []Device {
	return []Device{
		{Path: "/dev/net/tun", Major: 10, Minor: 200, Mode: 0o666},
		{Path: "/dev/sdb", Major: 8, Minor: 16, Block: true, DenyWrite: true, UID: 0, GID: 6},
	}
}

// checkGolden compares got with a file under testdata, or rewrites the
// file under -update.
func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (run go test -update after checking the change):\n%s", file, lineDiff(string(want), string(got)))
	}
}

func TestGoldenConfigs(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			s := c.spec()
			got, err := Build(s)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkGolden(t, filepath.Join("testdata", c.name+".conf"), got)

			// The file must load a policy exactly when there is one to write.
			file, policy, err := SeccompPolicy(s)
			if err != nil {
				t.Fatalf("SeccompPolicy: %v", err)
			}
			loads := strings.Contains(string(got), "\nlxc.seccomp.profile = "+file+"\n")
			if loads != (policy != nil) {
				t.Errorf("the configuration loads %s: %v, SeccompPolicy has a policy for it: %v", file, loads, policy != nil)
			}
		})
	}
}

// TestGoldenSeccompPolicy pins the one policy SeccompPolicy writes.
func TestGoldenSeccompPolicy(t *testing.T) {
	_, policy, err := SeccompPolicy(baseSpec())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "rules.seccomp"), policy)
}

// TestGoldenFilesHaveCases keeps testdata free of outputs no case makes
// any more, which would otherwise be reviewed as if they were live.
func TestGoldenFilesHaveCases(t *testing.T) {
	names := map[string]bool{}
	for _, c := range goldenCases() {
		if names[c.name] {
			t.Errorf("golden case %s is listed twice", c.name)
		}
		names[c.name] = true
	}
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !names[strings.TrimSuffix(filepath.Base(f), ".conf")] {
			t.Errorf("%s belongs to no golden case", f)
		}
	}
}

// lxcAccepts asks LXC's own parser about a configuration: lxc-info loads
// <dir>/x/config, follows its includes and fails on any key or value it
// does not know. It returns the combined output and whether LXC accepted.
func lxcAccepts(t *testing.T, lxcInfo string, conf []byte) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "config"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lxcInfo, "-n", "x", "-P", dir, "-c", "lxc.arch").CombinedOutput()
	return string(out), err == nil && strings.HasPrefix(string(out), "lxc.arch = ")
}

func findLXCInfo(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("lxc-info")
	if err != nil {
		t.Skip("lxc-info is not installed (Debian package lxc); cannot ask LXC to parse the golden configurations")
	}
	if _, err := os.Stat(filepath.Join(lxcConfigDir, "common.conf")); err != nil {
		t.Skipf("LXC's includes are missing (%v); the golden configurations include them", err)
	}
	return p
}

// TestLXCParsesGoldenConfigs proves every generated key and value is one
// LXC 5 knows, including those in the files it includes.
func TestLXCParsesGoldenConfigs(t *testing.T) {
	lxcInfo := findLXCInfo(t)
	// The check itself must be able to fail: LXC refuses an unknown key.
	if out, ok := lxcAccepts(t, lxcInfo, []byte("lxc.arch = amd64\nlxc.no.such.key = 1\n")); ok {
		t.Fatalf("lxc-info accepted an unknown key, so it cannot vouch for the golden files:\n%s", out)
	}
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			conf, err := Build(c.spec())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if out, ok := lxcAccepts(t, lxcInfo, conf); !ok {
				t.Errorf("LXC does not accept the configuration:\n%s\n%s", out, conf)
			}
		})
	}
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW, inG := map[string]int{}, map[string]int{}
	for _, l := range w {
		inW[l]++
	}
	for _, l := range g {
		inG[l]++
	}
	var out []string
	for _, l := range w {
		if inG[l] == 0 {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if inW[l] == 0 {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 {
		return "(same lines, different order or count)"
	}
	return strings.Join(out, "\n")
}
