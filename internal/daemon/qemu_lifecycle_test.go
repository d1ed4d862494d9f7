package daemon

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVMLifecycleOptions covers the rest of the power and configuration
// options on a VM without a guest (its firmware runs): protection, digest
// and revert, import-from, hibernation with resume, startall/stopall
// with onboot, overrule-shutdown and destroy-unreferenced-disks.
func TestVMLifecycleOptions(t *testing.T) {
	requireQEMUBinary(t)
	td := startDaemon(t, "alpha")
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	qm := func(args ...string) string {
		t.Helper()
		out, code := runCLI(t, append(append([]string{"qm"}, args...), sock)...)
		if code != 0 {
			t.Fatalf("qm %v: %d\n%s", args, code, out)
		}
		return out
	}
	// import-from: a new disk filled from an image given by path (root).
	img := filepath.Join(t.TempDir(), "source.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", img, "96M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	qm("create", "140", "--memory", "64", "--scsi0", "local:0,import-from="+img, "--onboot", "1")
	s := td.loginAs(t, "admin@pve", testPassword)
	conf := s.must(t, "GET", "/nodes/alpha/qemu/140/config", nil).body["data"].(map[string]any)
	if d, _ := conf["scsi0"].(string); !strings.HasPrefix(d, "local:140/vm-140-disk-0.") || !strings.Contains(d, "size=96M") {
		t.Fatalf("imported disk: %v", conf["scsi0"])
	}
	// protection refuses destroy.
	qm("set", "140", "--protection", "1")
	if r := s.do(t, "DELETE", "/nodes/alpha/qemu/140", nil); r.code != 500 || !strings.Contains(r.status, "protection mode enabled") {
		t.Fatalf("destroy of a protected VM: %s", r.status)
	}
	qm("set", "140", "--delete", "protection")
	// A stale digest is refused.
	digest := conf["digest"].(string)
	qm("set", "140", "--name", "changed")
	if r := s.do(t, "PUT", "/nodes/alpha/qemu/140/config", url.Values{"name": {"x"}, "digest": {digest}}); r.code != 500 || !strings.Contains(r.status, "digest") {
		t.Fatalf("update with a stale digest: %s", r.status)
	}
	// Pending changes of a running VM can be reverted.
	qm("start", "140")
	qm("set", "140", "--memory", "96")
	s.must(t, "PUT", "/nodes/alpha/qemu/140/config", url.Values{"revert": {"memory"}})
	for _, row := range s.must(t, "GET", "/nodes/alpha/qemu/140/pending", nil).body["data"].([]any) {
		if r := row.(map[string]any); r["pending"] != nil {
			t.Fatalf("still pending after revert: %v", r)
		}
	}
	// Hibernate to disk and resume on the next start.
	qm("suspend", "140", "--todisk", "1")
	conf = s.must(t, "GET", "/nodes/alpha/qemu/140/config", nil).body["data"].(map[string]any)
	state, _ := conf["vmstate"].(string)
	if conf["lock"] != "suspended" || !strings.HasPrefix(state, "local:140/vm-140-state-suspend-") {
		t.Fatalf("config after hibernation: lock=%v vmstate=%v", conf["lock"], conf["vmstate"])
	}
	if st := s.must(t, "GET", "/nodes/alpha/qemu/140/status/current", nil).body["data"].(map[string]any); st["status"] != "stopped" {
		t.Fatalf("status after hibernation: %v", st["status"])
	}
	qm("start", "140")
	conf = s.must(t, "GET", "/nodes/alpha/qemu/140/config", nil).body["data"].(map[string]any)
	if conf["lock"] != nil || conf["vmstate"] != nil {
		t.Fatalf("config after resume: lock=%v vmstate=%v", conf["lock"], conf["vmstate"])
	}
	if _, err := os.Stat(filepath.Join(td.cfg.LocalStorage, "images", "140", strings.TrimPrefix(state, "local:140/"))); !os.IsNotExist(err) {
		t.Fatalf("the saved state was not removed after the resume: %v", err)
	}
	// A shutdown the firmware ignores is overruled by a stop.
	r := s.must(t, "POST", "/nodes/alpha/qemu/140/status/shutdown", url.Values{"timeout": {"600"}})
	waitFor(t, "the shutdown task to wait for the guest", 30*time.Second, func() bool {
		return strings.Contains(td.taskLog(t, r), "waiting up to")
	})
	stop := s.must(t, "POST", "/nodes/alpha/qemu/140/status/stop", url.Values{"overrule-shutdown": {"1"}})
	if st := td.waitTask(t, stop); st != "OK" {
		t.Fatalf("stop with overrule-shutdown: %s", st)
	}
	if st := td.waitTask(t, r); st == "OK" {
		t.Fatalf("the overruled shutdown ended OK")
	}
	// startall starts onboot guests; stopall stops them (forcing after
	// the timeout, since nothing answers the power button).
	if st := td.waitTask(t, s.must(t, "POST", "/nodes/alpha/startall", nil)); st != "OK" {
		t.Fatalf("startall: %s", st)
	}
	if st := s.must(t, "GET", "/nodes/alpha/qemu/140/status/current", nil).body["data"].(map[string]any); st["status"] != "running" {
		t.Fatalf("after startall: %v", st["status"])
	}
	if st := td.waitTask(t, s.must(t, "POST", "/nodes/alpha/stopall", url.Values{"timeout": {"1"}})); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "WARNINGS") {
		t.Fatalf("stopall: %s", st)
	}
	if st := s.must(t, "GET", "/nodes/alpha/qemu/140/status/current", nil).body["data"].(map[string]any); st["status"] != "stopped" {
		t.Fatalf("after stopall: %v", st["status"])
	}
	// The first daemon start after a host boot starts the onboot guests.
	if err := os.Remove(filepath.Join(td.cfg.RunDir, "boot_id")); err != nil {
		t.Fatal(err)
	}
	td = restartDaemon(t, td)
	s = td.loginAs(t, "admin@pve", testPassword)
	waitFor(t, "VM 140 to start on boot", time.Minute, func() bool {
		st := s.must(t, "GET", "/nodes/alpha/qemu/140/status/current", nil).body["data"].(map[string]any)
		return st["status"] == "running"
	})
	qm("stop", "140")
	// destroy-unreferenced-disks removes a disk the config does not name.
	if out, code := runCLI(t, "pvesm", "alloc", "local", "140", "vm-140-disk-7.qcow2", "1M", sock); code != 0 {
		t.Fatalf("pvesm alloc: %d\n%s", code, out)
	}
	if st := td.waitTask(t, s.must(t, "DELETE", "/nodes/alpha/qemu/140", url.Values{"destroy-unreferenced-disks": {"1"}})); st != "OK" {
		t.Fatalf("destroy: %s", st)
	}
	if left, _ := filepath.Glob(filepath.Join(td.cfg.LocalStorage, "images", "140", "*")); len(left) != 0 {
		t.Fatalf("disks left after destroy: %v", left)
	}
}
