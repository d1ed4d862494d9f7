package daemon

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVMCloudInitDrive allocates a cloud-init drive, dumps the generated
// data, and checks that a start writes the drive (an ISO 9660 image with
// the NoCloud label) and records what it was built from.
func TestVMCloudInitDrive(t *testing.T) {
	if _, err := exec.LookPath("genisoimage"); err != nil {
		t.Skip("skipping: genisoimage is not installed (make deps installs it)")
	}
	requireQEMUBinary(t)
	td := startDaemon(t, "alpha")
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	out, code := runCLI(t, "qm", "create", "120", "--name", "ci", "--memory", "64", "--ide2", "local:cloudinit",
		"--ciuser", "alice", "--cipassword", "correct-horse", "--ipconfig0", "ip=10.1.2.3/24,gw=10.1.2.1",
		"--net0", "virtio", "--nameserver", "10.1.2.53", sock)
	if code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	conf := s.must(t, "GET", "/nodes/alpha/qemu/120/config", nil).body["data"].(map[string]any)
	if conf["ide2"] != "local:120/vm-120-cloudinit.qcow2,media=cdrom" || conf["cipassword"] != "**********" {
		t.Fatalf("config: ide2=%v cipassword=%v", conf["ide2"], conf["cipassword"])
	}
	user, code := runCLI(t, "qm", "cloudinit", "dump", "120", "user", sock)
	if code != 0 || !strings.Contains(user, "user: alice") || strings.Contains(user, "correct-horse") || !strings.Contains(user, "password: $") {
		t.Fatalf("user data (the password must be a hash): %d\n%s", code, user)
	}
	network, _ := runCLI(t, "qm", "cloudinit", "dump", "120", "network", sock)
	if !strings.Contains(network, "10.1.2.3") || !strings.Contains(network, "10.1.2.53") {
		t.Fatalf("network data:\n%s", network)
	}
	if out, code := runCLI(t, "qm", "start", "120", sock); code != 0 {
		t.Fatalf("qm start: %d\n%s", code, out)
	}
	img := filepath.Join(td.cfg.LocalStorage, "images", "120", "vm-120-cloudinit.qcow2")
	raw := filepath.Join(t.TempDir(), "ci.iso")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", img, raw).CombinedOutput(); err != nil {
		t.Fatalf("reading the drive: %v\n%s", err, out)
	}
	if out, err := exec.Command("isoinfo", "-d", "-i", raw).CombinedOutput(); err != nil || !strings.Contains(string(out), "Volume id: cidata") {
		t.Fatalf("the drive is not a NoCloud ISO: %v\n%s", err, out)
	}
	rows := s.must(t, "GET", "/nodes/alpha/qemu/120/cloudinit", nil).body["data"].([]any)
	built := map[string]bool{}
	for _, r := range rows {
		row := r.(map[string]any)
		if row["pending"] != nil {
			t.Fatalf("right after a start nothing is pending: %v", row)
		}
		built[row["key"].(string)] = true
	}
	if !built["ciuser"] || !built["ipconfig0"] {
		t.Fatalf("cloud-init rows: %v", rows)
	}
	if out, code := runCLI(t, "qm", "set", "120", "--ciuser", "bob", sock); code != 0 {
		t.Fatalf("qm set: %d\n%s", code, out)
	}
	rows = s.must(t, "GET", "/nodes/alpha/qemu/120/cloudinit", nil).body["data"].([]any)
	found := false
	for _, r := range rows {
		row := r.(map[string]any)
		if row["key"] == "ciuser" {
			found = row["value"] == "alice" && row["pending"] == "bob"
		}
	}
	if !found {
		t.Fatalf("a changed ciuser should be pending for the drive: %v", rows)
	}
	if out, code := runCLI(t, "qm", "stop", "120", sock); code != 0 {
		t.Fatalf("qm stop: %d\n%s", code, out)
	}
}
