package daemon

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/testguest"
)

// snapRows reads GET …/snapshot as name → row.
func snapRows(t *testing.T, s *session, vmid int) map[string]map[string]any {
	t.Helper()
	r := s.must(t, "GET", fmt.Sprintf("/nodes/alpha/qemu/%d/snapshot", vmid), nil)
	rows := map[string]map[string]any{}
	for _, x := range r.body["data"].([]any) {
		row := x.(map[string]any)
		rows[row["name"].(string)] = row
	}
	return rows
}

// snapParent returns the parent of a row, "" when it has none.
func snapParent(rows map[string]map[string]any, name string) string {
	p, _ := rows[name]["parent"].(string)
	return p
}

// snapGet reads the data object of a GET.
func snapGet(t *testing.T, s *session, path string) map[string]any {
	t.Helper()
	return s.must(t, "GET", path, nil).body["data"].(map[string]any)
}

// snapImageList lists the internal snapshots of a qcow2 image.
func snapImageList(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", "snapshot", "-l", "-U", path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img snapshot -l: %v\n%s", err, out)
	}
	return string(out)
}

// snapQemuIO runs one qemu-io command on an image of a stopped VM.
func snapQemuIO(t *testing.T, path, command string) (string, error) {
	t.Helper()
	out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", command, path).CombinedOutput()
	return string(out), err
}

// TestSnapshotTakeListRollbackDeleteOnAStoppedVM takes three snapshots
// of a stopped VM with a qcow2 disk and checks the configuration
// sections, the parent chain, the description update, the disk contents
// after a rollback and the re-parenting on delete.
func TestSnapshotTakeListRollbackDeleteOnAStoppedVM(t *testing.T) {
	needQemuImg(t)
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("skipping: qemu-io (qemu-utils) is not installed")
	}
	td := startDaemon(t, "alpha")
	sock := "--socket=" + td.cfg.Socket
	if out, code := runCLI(t, "qm", "create", "100", "--memory", "512", "--scsi0", "local:1,format=qcow2", sock); code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	disk := filepath.Join(td.cfg.LocalStorage, "images", "100", "vm-100-disk-0.qcow2")
	if _, err := os.Stat(disk); err != nil {
		t.Fatalf("the disk is not where expected: %v", err)
	}

	if out, code := runCLI(t, "qm", "snapshot", "100", "first", "--description", "before the data", sock); code != 0 {
		t.Fatalf("qm snapshot: %d\n%s", code, out)
	}
	// Data written after the first snapshot must be gone after rolling back to it.
	if out, err := snapQemuIO(t, disk, "write -P 0xab 0 64k"); err != nil {
		t.Fatalf("qemu-io write: %v\n%s", err, out)
	}
	for i, snap := range []string{"second", "third"} {
		s.must(t, "PUT", "/nodes/alpha/qemu/100/config", url.Values{"memory": {fmt.Sprint(1024 << i)}})
		r := s.must(t, "POST", "/nodes/alpha/qemu/100/snapshot", url.Values{"snapname": {snap}})
		if st := td.waitTask(t, r); st != "OK" {
			t.Fatalf("snapshot %s: %s\n%s", snap, st, td.taskLog(t, r))
		}
	}
	s.must(t, "PUT", "/nodes/alpha/qemu/100/config", url.Values{"memory": {"4096"}, "description": {"the VM itself"}})

	rows := snapRows(t, s, 100)
	if len(rows) != 4 || snapParent(rows, "first") != "" || snapParent(rows, "second") != "first" ||
		snapParent(rows, "third") != "second" || snapParent(rows, "current") != "third" {
		t.Fatalf("snapshot list: %v", rows)
	}
	if cur := rows["current"]; cur["description"] != "You are here!" || cur["running"] != float64(0) {
		t.Fatalf("current row: %v", cur)
	}
	if rows["first"]["description"] != "before the data" || rows["first"]["snaptime"] == nil {
		t.Fatalf("first row: %v", rows["first"])
	}
	if out, _ := runCLI(t, "qm", "listsnapshot", "100", sock); !strings.Contains(out, "second") || !strings.Contains(out, "current") {
		t.Fatalf("qm listsnapshot:\n%s", out)
	}
	if l := snapImageList(t, disk); !strings.Contains(l, "first") || !strings.Contains(l, "third") {
		t.Fatalf("the image lacks the snapshots:\n%s", l)
	}

	cfg := snapGet(t, s, "/nodes/alpha/qemu/100/snapshot/second/config")
	main := snapGet(t, s, "/nodes/alpha/qemu/100/config")
	if fmt.Sprint(cfg["memory"]) != "1024" || cfg["parent"] != "first" || cfg["scsi0"] != main["scsi0"] || cfg["lock"] != nil ||
		cfg["snapstate"] != nil || cfg["snaptime"] == nil || cfg["description"] != nil {
		t.Fatalf("config of snapshot second: %v", cfg)
	}
	s.must(t, "PUT", "/nodes/alpha/qemu/100/snapshot/second/config", url.Values{"description": {"one GiB"}})
	if d := snapGet(t, s, "/nodes/alpha/qemu/100/snapshot/second/config")["description"]; d != "one GiB" {
		t.Fatalf("description after the update: %v", d)
	}
	idx := s.must(t, "GET", "/nodes/alpha/qemu/100/snapshot/second", nil).body["data"].([]any)
	if len(idx) != 2 {
		t.Fatalf("snapshot index: %v", idx)
	}

	// Deleting the middle snapshot hands its child to its parent.
	r := s.must(t, "DELETE", "/nodes/alpha/qemu/100/snapshot/second", nil)
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("delete: %s\n%s", st, td.taskLog(t, r))
	}
	rows = snapRows(t, s, 100)
	if _, still := rows["second"]; still || snapParent(rows, "third") != "first" || snapParent(rows, "current") != "third" {
		t.Fatalf("snapshot list after deleting second: %v", rows)
	}
	if l := snapImageList(t, disk); strings.Contains(l, "second") || !strings.Contains(l, "third") {
		t.Fatalf("image snapshots after deleting second:\n%s", l)
	}

	// Rolling back restores settings and disk; the VM's own description stays.
	if out, code := runCLI(t, "qm", "rollback", "100", "first", sock); code != 0 {
		t.Fatalf("qm rollback: %d\n%s", code, out)
	}
	main = snapGet(t, s, "/nodes/alpha/qemu/100/config")
	if fmt.Sprint(main["memory"]) != "512" || main["parent"] != "first" || main["lock"] != nil || main["description"] != "the VM itself" {
		t.Fatalf("config after rollback: %v", main)
	}
	if out, err := snapQemuIO(t, disk, "read -P 0 0 64k"); err != nil || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("the disk still holds data written after the snapshot: %v\n%s", err, out)
	}
	if snapParent(snapRows(t, s, 100), "current") != "first" {
		t.Fatal("current does not hang below first after the rollback")
	}
	st := s.must(t, "GET", "/nodes/alpha/qemu/100/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "stopped" {
		t.Fatalf("a rollback without start started the VM: %v", st)
	}

	// Deleting the snapshot the current state hangs below re-parents it.
	if out, code := runCLI(t, "qm", "delsnapshot", "100", "first", sock); code != 0 {
		t.Fatalf("qm delsnapshot: %d\n%s", code, out)
	}
	rows = snapRows(t, s, 100)
	if snapParent(rows, "current") != "" || snapParent(rows, "third") != "" || len(rows) != 2 {
		t.Fatalf("snapshot list after deleting first: %v", rows)
	}
}

// TestSnapshotRefusesBadRequests checks the refusals: reserved, malformed
// and duplicate names, a locked VM, a raw disk on a directory storage,
// unknown snapshots; and the feature check that tells clients beforehand.
func TestSnapshotRefusesBadRequests(t *testing.T) {
	needQemuImg(t)
	td := startDaemon(t, "alpha")
	sock := "--socket=" + td.cfg.Socket
	for _, args := range [][]string{
		{"qm", "create", "100", "--scsi0", "local:1,format=qcow2"},
		{"qm", "create", "101", "--scsi0", "local:1,format=raw", "--ide2", "none,media=cdrom"},
		{"qm", "snapshot", "100", "first"},
	} {
		if out, code := runCLI(t, append(args, sock)...); code != 0 {
			t.Fatalf("%v: %d\n%s", args, code, out)
		}
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	refused := func(method, path string, v url.Values, code int, want ...string) {
		t.Helper()
		r := s.do(t, method, path, v)
		text := r.status + " " + r.raw
		if r.code != code {
			t.Fatalf("%s %s %v: want %d, got %s", method, path, v, code, text)
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Fatalf("%s %s %v: the answer does not say %q: %s", method, path, v, w, text)
			}
		}
	}
	snap := "/nodes/alpha/qemu/100/snapshot"
	refused("POST", snap, url.Values{"snapname": {"current"}}, 400, "reserved")
	refused("POST", snap, url.Values{"snapname": {"pending"}}, 400, "reserved")
	refused("POST", snap, url.Values{"snapname": {"1st"}}, 400, "snapname")
	refused("POST", snap, url.Values{"snapname": {strings.Repeat("a", 41)}}, 400, "snapname")
	refused("POST", snap, url.Values{"snapname": {"first"}}, 500, "snapshot name 'first' already used")
	refused("POST", snap+"/nope/rollback", nil, 500, "snapshot 'nope' does not exist")
	refused("DELETE", snap+"/nope", nil, 500, "snapshot 'nope' does not exist")
	refused("GET", snap+"/nope/config", nil, 500, "snapshot 'nope' does not exist")
	refused("POST", "/nodes/alpha/qemu/101/snapshot", url.Values{"snapname": {"x1"}}, 500, "scsi0", "raw", "type dir", "qcow2")

	// A locked VM takes no snapshot operation.
	if out, code := runCLI(t, "qm", "set", "100", "--lock", "backup", sock); code != 0 {
		t.Fatalf("qm set --lock: %d\n%s", code, out)
	}
	refused("POST", snap, url.Values{"snapname": {"second"}}, 500, "VM is locked (backup)")
	refused("POST", snap+"/first/rollback", nil, 500, "VM is locked (backup)")
	refused("DELETE", snap+"/first", nil, 500, "VM is locked (backup)")
	if out, code := runCLI(t, "qm", "set", "100", "--delete", "lock", "--skiplock", "1", sock); code != 0 {
		t.Fatalf("unlocking: %d\n%s", code, out)
	}

	feature := func(vmid int, v url.Values) map[string]any {
		t.Helper()
		return s.must(t, "GET", fmt.Sprintf("/nodes/alpha/qemu/%d/feature", vmid), v).body["data"].(map[string]any)
	}
	if f := feature(100, url.Values{"feature": {"snapshot"}}); f["hasFeature"] != true || fmt.Sprint(f["nodes"]) != "[alpha]" {
		t.Fatalf("feature snapshot of VM 100: %v", f)
	}
	if f := feature(101, url.Values{"feature": {"snapshot"}}); f["hasFeature"] != false {
		t.Fatalf("feature snapshot of VM 101 (raw on dir): %v", f)
	}
	if f := feature(100, url.Values{"feature": {"clone"}}); f["hasFeature"] != false {
		t.Fatalf("feature clone of a VM that is not a template: %v", f)
	}
	if f := feature(100, url.Values{"feature": {"copy"}, "snapname": {"first"}}); f["hasFeature"] != true {
		t.Fatalf("feature copy from a snapshot: %v", f)
	}
	refused("GET", "/nodes/alpha/qemu/100/feature", url.Values{"feature": {"snapshot"}, "snapname": {"nope"}}, 500, "does not exist")
	// Nothing was left locked or half made by the refusals.
	rows := snapRows(t, s, 100)
	if len(rows) != 2 || snapGet(t, s, "/nodes/alpha/qemu/100/config")["lock"] != nil {
		t.Fatalf("state after the refusals: %v", rows)
	}
	if len(snapRows(t, s, 101)) != 1 {
		t.Fatal("the refused snapshot of VM 101 left a section behind")
	}
}

// TestSnapshotWithRAMResumesTheGuest boots the test guest, writes a file
// in its memory (the guest runs from its initramfs) through the agent,
// takes a snapshot with the VM state, changes the file and rolls back:
// the VM must run again from the moment of the snapshot, so the agent
// reads the old content.
func TestSnapshotWithRAMResumesTheGuest(t *testing.T) {
	g := requireQEMU(t)
	nsPath, _ := testNetNS(t)
	file := filepath.Join(t.TempDir(), "interfaces")
	if err := os.WriteFile(file, []byte("auto lo\niface lo inet loopback\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, "alpha", func(c *Config) {
		c.NetworkInterfaces, c.NetworkNamespace, c.NATNetwork = file, nsPath, "none"
	})
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	args := "-kernel " + g.Kernel + " -initrd " + g.Initrd + " -append '" + testguest.KernelArgs("", "") + "'"
	out, code := runCLI(t, "qm", "create", "100", "--memory", "256", "--scsi0", "local:1,format=qcow2,mbps_rd=500", "--agent", "1",
		"--serial0", "socket", "--args", args, sock)
	if code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "qm", "start", "100", sock); code != 0 {
		t.Fatalf("qm start: %d\n%s", code, out)
	}
	serial := dialSerial(t, filepath.Join(td.cfg.RunDir, "qemu", "100.serial0"))
	if err := serial.waitFor(testguest.ReadyLine, 2*time.Minute); err != nil {
		t.Fatalf("the guest did not report ready: %v\n%s", err, serial.seen.String())
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	const marker = "/run/hearth-snapshot-marker"
	write := func(content string) {
		t.Helper()
		s.must(t, "POST", "/nodes/alpha/qemu/100/agent/file-write", url.Values{"file": {marker}, "content": {content}})
	}
	// read polls: the agent takes a moment to answer after a start.
	read := func() string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			r := s.do(t, "GET", "/nodes/alpha/qemu/100/agent/file-read", url.Values{"file": {marker}})
			if r.code == 200 {
				return r.body["data"].(map[string]any)["content"].(string)
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent file-read: %s %s", r.status, r.raw)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for r := s.do(t, "POST", "/nodes/alpha/qemu/100/agent/ping", nil); r.code != 200; r = s.do(t, "POST", "/nodes/alpha/qemu/100/agent/ping", nil) {
		if time.Now().After(deadline) {
			t.Fatalf("agent ping: %s %s", r.status, r.raw)
		}
		time.Sleep(300 * time.Millisecond)
	}
	write("before the snapshot")
	if got := read(); got != "before the snapshot" {
		t.Fatalf("marker before the snapshot: %q", got)
	}

	r := s.must(t, "POST", "/nodes/alpha/qemu/100/snapshot", url.Values{"snapname": {"live"}, "vmstate": {"1"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("snapshot with RAM: %s\n%s", st, td.taskLog(t, r))
	}
	cfg := snapGet(t, s, "/nodes/alpha/qemu/100/snapshot/live/config")
	if m, _ := cfg["runningmachine"].(string); cfg["vmstate"] == nil || !strings.HasPrefix(m, "pc-") {
		t.Fatalf("snapshot section without the saved state: %v", cfg)
	}
	if row := snapRows(t, s, 100)["live"]; row["vmstate"] != float64(1) {
		t.Fatalf("snapshot row: %v", row)
	}
	write("after the snapshot")
	if got := read(); got != "after the snapshot" {
		t.Fatalf("marker after the change: %q", got)
	}
	// A snapshot of the running VM without RAM: QEMU snapshots the qcow2
	// disk itself, as the image is open.
	r = s.must(t, "POST", "/nodes/alpha/qemu/100/snapshot", url.Values{"snapname": {"diskonly"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("snapshot of the running VM: %s\n%s", st, td.taskLog(t, r))
	}
	disk := filepath.Join(td.cfg.LocalStorage, "images", "100", "vm-100-disk-0.qcow2")
	if l := snapImageList(t, disk); !strings.Contains(l, "live") || !strings.Contains(l, "diskonly") {
		t.Fatalf("image snapshots:\n%s", l)
	}
	if row := snapRows(t, s, 100)["diskonly"]; row["vmstate"] != nil || row["parent"] != "live" {
		t.Fatalf("snapshot row of diskonly: %v", row)
	}

	r = s.must(t, "POST", "/nodes/alpha/qemu/100/snapshot/live/rollback", nil)
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("rollback: %s\n%s", st, td.taskLog(t, r))
	}
	st := s.must(t, "GET", "/nodes/alpha/qemu/100/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "running" || st["lock"] != nil {
		t.Fatalf("status after the rollback: %v", st)
	}
	if got := read(); got != "before the snapshot" {
		t.Fatalf("after the rollback the guest reads %q: it did not resume from the snapshot", got)
	}
	if log := td.taskLog(t, r); !slices.ContainsFunc(strings.Split(log, "\n"), func(l string) bool { return strings.Contains(l, "resumed") }) {
		t.Fatalf("rollback log does not say the VM resumed:\n%s", log)
	}
	// Deleting while the VM runs goes through QEMU, which holds the image.
	r = s.must(t, "DELETE", "/nodes/alpha/qemu/100/snapshot/diskonly", nil)
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("delete while running: %s\n%s", st, td.taskLog(t, r))
	}
	if l := snapImageList(t, disk); strings.Contains(l, "diskonly") || !strings.Contains(l, "live") {
		t.Fatalf("image snapshots after the delete:\n%s", l)
	}
}
