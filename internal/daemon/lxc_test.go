package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/lxc/vztmpl"
)

// TestMain lets the test binary stand in for the hearth binary when LXC
// runs a container's hooks: the daemon under test names its own
// executable as the hook, as a real node does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "lxc-hook" {
		os.Exit(hook.Main(os.Args[2:], os.Getenv, os.Stderr))
	}
	os.Exit(m.Run())
}

// requireLXC skips a test that needs LXC where it cannot run and
// returns the busybox template, built once into the shared cache.
func requireLXC(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: containers need root")
	}
	for _, tool := range []string{"lxc-start", "lxc-stop", "lxc-attach", "lxc-info", "lxc-freeze", "nsenter", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (make deps installs lxc): %v", tool, err)
		}
	}
	dir := t.TempDir()
	file, err := vztmpl.Build(context.Background(), vztmpl.Busybox, dir, t.Logf)
	if err != nil {
		t.Fatalf("building the busybox template: %v", err)
	}
	return filepath.Join(dir, file)
}

// lxcNode starts a daemon in a test network namespace with a bridge
// vmbr0 at 10.78.0.1/24, and the busybox template in its local storage.
func lxcNode(t *testing.T) (*testDaemon, string) {
	t.Helper()
	tmpl := requireLXC(t)
	nsPath, _ := testNetNS(t)
	ns := filepath.Base(nsPath)
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "vmbr0", "type", "bridge"},
		{"-n", ns, "addr", "add", "10.78.0.1/24", "dev", "vmbr0"},
		{"-n", ns, "link", "set", "vmbr0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	file := filepath.Join(t.TempDir(), "interfaces")
	if err := os.WriteFile(file, []byte("auto lo\niface lo inet loopback\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, "alpha", func(c *Config) {
		c.NetworkInterfaces, c.NetworkNamespace, c.NATNetwork = file, nsPath, "none"
	})
	// An unprivileged container's root must be able to walk to its
	// root file system; test directories are private by default.
	for dir := td.cfg.RunDir; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(dir, fi.Mode().Perm()|0o011)
		}
	}
	stopCTs(t, td)
	local := filepath.Join(td.cfg.StateDir, "storage", "local", "template", "cache")
	if dir, err := localDir(td); err == nil {
		local = filepath.Join(dir, "template", "cache")
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, filepath.Base(tmpl)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return td, "local:vztmpl/" + filepath.Base(tmpl)
}

// localDir is the path of the node's local storage.
func localDir(td *testDaemon) (string, error) {
	cfgs, err := td.storage.Configs()
	if err != nil {
		return "", err
	}
	for _, c := range cfgs {
		if c.ID == "local" {
			return c.Props["path"], nil
		}
	}
	return "", os.ErrNotExist
}

// stopCTs kills the test's containers at its end, whatever it did.
func stopCTs(t *testing.T, td *testDaemon) {
	t.Cleanup(func() {
		lxcPath := filepath.Join(td.cfg.RunDir, "lxc")
		entries, _ := os.ReadDir(lxcPath)
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			args := []string{"--net=" + td.cfg.NetworkNamespace, "--", "lxc-stop", "-n", e.Name(), "-P", lxcPath, "--kill"}
			_ = exec.Command("nsenter", args...).Run()
			_ = hook.UnmountAll(filepath.Join(lxcPath, e.Name(), "rootfs"))
		}
	})
}

func TestContainerLifecycleOnDir(t *testing.T) {
	td, tmpl := lxcNode(t)
	sock := "--socket=" + td.cfg.Socket
	out, code := runCLI(t, "pct", "create", "200", tmpl, "--hostname", "ct200", "--rootfs", "local:1", "--memory", "256",
		"--swap", "128", "--cpulimit", "0.5", "--net0", "name=eth0,bridge=vmbr0,ip=10.78.0.2/24,gw=10.78.0.1", "--password", "s3cret!pw", sock)
	if code != 0 {
		t.Fatalf("pct create: %d\n%s", code, out)
	}
	if strings.Contains(out, "s3cret!pw") {
		t.Fatalf("the password appears in the task output:\n%s", out)
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	conf := s.must(t, "GET", "/nodes/alpha/lxc/200/config", nil).body["data"].(map[string]any)
	if !strings.HasPrefix(conf["rootfs"].(string), "local:200/vm-200-disk-0.raw,size=1G") || conf["ostype"] != "busybox" ||
		conf["lock"] != nil || !strings.Contains(conf["net0"].(string), "hwaddr=") {
		t.Fatalf("config after create: %v", conf)
	}
	if out, code := runCLI(t, "pct", "start", "200", sock); code != 0 {
		t.Fatalf("pct start: %d\n%s", code, out)
	}
	st := s.must(t, "GET", "/nodes/alpha/lxc/200/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "running" || st["pid"] == nil || st["type"] != "lxc" {
		pf, _ := os.ReadFile(filepath.Join(td.cfg.RunDir, "lxc", "200", "pid"))
		mon := strings.TrimSpace(string(pf))
		cg, _ := os.ReadFile("/proc/" + mon + "/cgroup")
		kids, _ := os.ReadFile("/proc/" + mon + "/task/" + mon + "/children")
		t.Fatalf("status after start: %v\npid file %q\ncgroup %s\nchildren %s", st, pf, cg, kids)
	}
	pid := int(st["pid"].(float64))
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil || !strings.Contains(string(cg), "lxc.payload.200") {
		t.Fatalf("the container's init is not in its cgroup: %v\n%s", err, cg)
	}
	// The limits are in the cgroup files.
	memDir := cgroupOf(t, pid, "memory")
	if got := readTrim(t, filepath.Join(memDir, "memory.limit_in_bytes")); got != strconv.Itoa(256<<20) {
		t.Fatalf("memory limit: %s", got)
	}
	cpuDir := cgroupOf(t, pid, "cpu")
	if got := readTrim(t, filepath.Join(cpuDir, "cpu.cfs_quota_us")); got != "50000" {
		t.Fatalf("cpu quota: %s", got)
	}
	// The host reaches the container on the bridge.
	waitFor(t, "the container answers ping", 30*time.Second, func() bool {
		return exec.Command("nsenter", "--net="+td.cfg.NetworkNamespace, "--", "busybox", "ping", "-c1", "-W1", "10.78.0.2").Run() == nil
	})
	// The hostname is set inside.
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "root", "etc", "hostname"))
	if err != nil || strings.TrimSpace(string(data)) != "ct200" {
		t.Fatalf("hostname inside: %q %v", data, err)
	}
	// Freeze and thaw.
	if out, code := runCLI(t, "pct", "suspend", "200", sock); code != 0 {
		t.Fatalf("pct suspend: %d\n%s", code, out)
	}
	freezer := cgroupOf(t, pid, "freezer")
	if got := readTrim(t, filepath.Join(freezer, "freezer.state")); got != "FROZEN" {
		t.Fatalf("freezer state after suspend: %s", got)
	}
	if out, code := runCLI(t, "pct", "resume", "200", sock); code != 0 {
		t.Fatalf("pct resume: %d\n%s", code, out)
	}
	if got := readTrim(t, filepath.Join(freezer, "freezer.state")); got != "THAWED" {
		t.Fatalf("freezer state after resume: %s", got)
	}
	// A live memory change reaches the cgroup.
	if out, code := runCLI(t, "pct", "set", "200", "--memory", "300", sock); code != 0 {
		t.Fatalf("pct set: %d\n%s", code, out)
	}
	if got := readTrim(t, filepath.Join(memDir, "memory.limit_in_bytes")); got != strconv.Itoa(300<<20) {
		t.Fatalf("memory limit after a live change: %s", got)
	}
	if out, code := runCLI(t, "pct", "shutdown", "200", "--timeout", "20", "--forceStop", "1", sock); code != 0 {
		t.Fatalf("pct shutdown: %d\n%s", code, out)
	}
	st = s.must(t, "GET", "/nodes/alpha/lxc/200/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "stopped" {
		t.Fatalf("status after shutdown: %v", st)
	}
	if hook.Mounted(filepath.Join(td.cfg.RunDir, "lxc", "200", "rootfs")) {
		t.Fatal("the root file system stays mounted after the stop")
	}
	if _, err := os.Stat(memDir); err == nil {
		t.Fatalf("the container's cgroup %s is left behind", memDir)
	}
	if out, code := runCLI(t, "pct", "destroy", "200", sock); code != 0 {
		t.Fatalf("pct destroy: %d\n%s", code, out)
	}
	dir, _ := localDir(td)
	if _, err := os.Stat(filepath.Join(dir, "images", "200")); err == nil {
		if left, _ := os.ReadDir(filepath.Join(dir, "images", "200")); len(left) > 0 {
			t.Fatalf("volumes left after destroy: %v", left)
		}
	}
	if r := s.do(t, "GET", "/nodes/alpha/lxc/200/config", nil); r.code == 200 {
		t.Fatal("the configuration survived destroy")
	}
}

// cgroupOf is a v1 controller's directory of a process.
func cgroupOf(t *testing.T, pid int, controller string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				if c == controller {
					return filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
				}
			}
		}
	}
	t.Skipf("skipping: no cgroup v1 %s controller on this host", controller)
	return ""
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}
