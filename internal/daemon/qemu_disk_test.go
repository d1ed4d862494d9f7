package daemon

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/testguest"
)

// diskConfig reads a VM's configuration through the API.
func diskConfig(t *testing.T, s *session, vmid int) map[string]any {
	t.Helper()
	return s.must(t, "GET", "/nodes/alpha/qemu/"+strconv.Itoa(vmid)+"/config", nil).body["data"].(map[string]any)
}

// diskImageSize reads an image's virtual size with qemu-img; -U
// because a running VM holds the image locked.
func diskImageSize(t *testing.T, path string) int64 {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info.VirtualSize
}

// diskQemuIO runs qemu-io commands on an image and fails the test if
// they fail (a read with -P fails on a pattern mismatch).
func diskQemuIO(t *testing.T, path, format string, cmds ...string) string {
	t.Helper()
	args := []string{"-f", format}
	readOnly := true
	for _, c := range cmds {
		args = append(args, "-c", c)
		readOnly = readOnly && strings.HasPrefix(c, "read ")
	}
	if readOnly {
		// Reads share the image with a VM that may have it open.
		args = append(args, "-r", "-U")
	}
	out, err := exec.Command("qemu-io", append(args, path)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") || strings.Contains(string(out), "failed") {
		t.Fatalf("qemu-io %v %s: %v\n%s", cmds, path, err, out)
	}
	return string(out)
}

// diskAddStorage adds a second dir storage for disk images.
func diskAddStorage(t *testing.T, s *session, id string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	s.must(t, "POST", "/storage", url.Values{"storage": {id}, "type": {"dir"}, "path": {dir}, "content": {"images"}})
	return dir
}

// diskParamError expects a 400 whose message for param contains text.
func diskParamError(t *testing.T, r result, param, text string) {
	t.Helper()
	errs, _ := r.body["errors"].(map[string]any)
	msg, _ := errs[param].(string)
	if r.code != 400 || !strings.Contains(msg, text) {
		t.Fatalf("want a 400 about %s containing %q, got %s %s", param, text, r.status, r.raw)
	}
}

// diskError expects a failed call whose status line contains text.
func diskError(t *testing.T, r result, code int, text string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.status, text) {
		t.Fatalf("want %d containing %q, got %s %s", code, text, r.status, r.raw)
	}
}

// TestDiskResizeMoveUnlinkStopped grows, moves and unlinks the disks of a
// stopped VM and checks the images on the host, not only the
// configuration.
func TestDiskResizeMoveUnlinkStopped(t *testing.T) {
	needQemuImg(t)
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("skipping: qemu-io is not installed (make deps installs qemu-utils)")
	}
	td := startDaemon(t, "alpha")
	sock := "--socket=" + td.cfg.Socket
	s := td.loginAs(t, "admin@pve", testPassword)
	second := diskAddStorage(t, s, "second")
	if out, code := runCLI(t, "qm", "create", "100", "--scsi0", "local:1,format=qcow2", "--scsi1", "local:1,format=qcow2",
		"--ide2", "none,media=cdrom", sock); code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	local := filepath.Join(td.cfg.LocalStorage, "images", "100")
	disk0, disk1 := filepath.Join(local, "vm-100-disk-0.qcow2"), filepath.Join(local, "vm-100-disk-1.qcow2")

	// Grow by 1 GiB through the API, then to an absolute size with the CLI.
	r := s.must(t, "PUT", "/nodes/alpha/qemu/100/resize", url.Values{"disk": {"scsi0"}, "size": {"+1G"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("resize: %s\n%s", st, td.taskLog(t, r))
	}
	if got := diskConfig(t, s, 100)["scsi0"].(string); !strings.Contains(got, "size=2G") {
		t.Fatalf("scsi0 after resize +1G: %s", got)
	}
	if got := diskImageSize(t, disk0); got != 2<<30 {
		t.Fatalf("image size after resize +1G: %d", got)
	}
	if out, code := runCLI(t, "qm", "resize", "100", "scsi0", "2560M", sock); code != 0 {
		t.Fatalf("qm resize: %d\n%s", code, out)
	}
	if got := diskImageSize(t, disk0); got != 2560<<20 {
		t.Fatalf("image size after qm resize 2560M: %d", got)
	}
	if got := diskConfig(t, s, 100)["scsi0"].(string); !strings.Contains(got, "size=2560M") {
		t.Fatalf("scsi0 after qm resize: %s", got)
	}
	if out, code := runCLI(t, "qm", "disk", "resize", "100", "scsi1", "+1.5K", sock); code != 0 {
		t.Fatalf("qm disk resize: %d\n%s", code, out)
	}
	if got := diskImageSize(t, disk1); got != 1<<30+2048 {
		t.Fatalf("+1.5K is rounded up to whole KiB: %d", got)
	}

	// Refusals, each with a message naming the problem.
	resize := func(disk, size string) result {
		return s.do(t, "PUT", "/nodes/alpha/qemu/100/resize", url.Values{"disk": {disk}, "size": {size}})
	}
	diskParamError(t, resize("scsi0", "1G"), "size", "shrinking disks is not supported")
	diskParamError(t, resize("scsi0", "1GB"), "size", `\+?\d+(\.\d+)?[KMGT]?`)
	diskParamError(t, resize("scsi0", "-1G"), "size", "does not match")
	diskParamError(t, resize("scsi0", "+99999999T"), "size", "too large")
	diskParamError(t, resize("scsi99", "+1G"), "disk", "not allowed")
	diskError(t, resize("scsi5", "+1G"), 500, "disk 'scsi5' does not exist")
	diskError(t, resize("ide2", "+1G"), 500, "you can't resize a cdrom")
	if got := diskImageSize(t, disk0); got != 2560<<20 {
		t.Fatalf("a refused resize changed the image: %d", got)
	}

	// Move scsi0 to the second storage; the old volume stays as unused0.
	diskQemuIO(t, disk0, "qcow2", "write -P 0xab 1M 1M")
	r = s.must(t, "POST", "/nodes/alpha/qemu/100/move_disk", url.Values{"disk": {"scsi0"}, "storage": {"second"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("move_disk: %s\n%s", st, td.taskLog(t, r))
	}
	conf := diskConfig(t, s, 100)
	if got := conf["scsi0"].(string); !strings.HasPrefix(got, "second:100/vm-100-disk-0.qcow2,") || !strings.Contains(got, "size=2560M") {
		t.Fatalf("scsi0 after move: %s", got)
	}
	if conf["unused0"] != "local:100/vm-100-disk-0.qcow2" {
		t.Fatalf("the old volume is not kept as unused0: %v", conf)
	}
	moved := filepath.Join(second, "images", "100", "vm-100-disk-0.qcow2")
	diskQemuIO(t, moved, "qcow2", "read -P 0xab 1M 1M")
	if got := diskImageSize(t, moved); got != 2560<<20 {
		t.Fatalf("moved image size: %d", got)
	}
	if _, err := os.Stat(disk0); err != nil {
		t.Fatalf("the old volume was removed without delete: %v", err)
	}

	// Move scsi1 to raw with delete: the old volume goes, no unusedN.
	if out, code := runCLI(t, "qm", "move-disk", "100", "scsi1", "second", "--format", "raw", "--delete", "1", sock); code != 0 {
		t.Fatalf("qm move-disk: %d\n%s", code, out)
	}
	conf = diskConfig(t, s, 100)
	if got := conf["scsi1"].(string); !strings.HasPrefix(got, "second:100/vm-100-disk-1.raw,") {
		t.Fatalf("scsi1 after move with delete: %s", got)
	}
	if _, ok := conf["unused1"]; ok {
		t.Fatalf("a deleted source was kept as unused1: %v", conf)
	}
	if _, err := os.Stat(disk1); !os.IsNotExist(err) {
		t.Fatalf("the old volume of scsi1 still exists: %v", err)
	}
	if st, err := os.Stat(filepath.Join(second, "images", "100", "vm-100-disk-1.raw")); err != nil || st.Size() != 1<<30+2048 {
		t.Fatalf("raw copy of scsi1: %v %v", st, err)
	}

	move := func(v url.Values) result { return s.do(t, "POST", "/nodes/alpha/qemu/100/move_disk", v) }
	diskError(t, move(url.Values{"disk": {"scsi0"}, "storage": {"second"}}), 500, "you can't move to the same storage with same format")
	diskError(t, move(url.Values{"disk": {"ide2"}, "storage": {"local"}}), 500, "you can't move a cdrom")
	diskParamError(t, move(url.Values{"disk": {"scsi0"}}), "storage", "give the storage")
	diskParamError(t, move(url.Values{"disk": {"scsi0"}, "storage": {"local"}, "target-vmid": {"101"}}), "target-vmid", "not supported yet")

	// Unlink: scsi1 becomes unusedN; scsi0 with force and unused0 are
	// removed with their volumes.
	s.must(t, "PUT", "/nodes/alpha/qemu/100/unlink", url.Values{"idlist": {"scsi1"}})
	conf = diskConfig(t, s, 100)
	if _, ok := conf["scsi1"]; ok || conf["unused1"] != "second:100/vm-100-disk-1.raw" {
		t.Fatalf("after unlink scsi1: %v", conf)
	}
	if out, code := runCLI(t, "qm", "disk", "unlink", "100", "--idlist", "scsi0,unused0", "--force", "1", sock); code != 0 {
		t.Fatalf("qm disk unlink: %d\n%s", code, out)
	}
	conf = diskConfig(t, s, 100)
	for _, k := range []string{"scsi0", "unused0"} {
		if _, ok := conf[k]; ok {
			t.Fatalf("%s is still in the configuration: %v", k, conf)
		}
	}
	for _, f := range []string{moved, disk0} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("%s survived unlink with force: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(second, "images", "100", "vm-100-disk-1.raw")); err != nil {
		t.Fatalf("the volume unlinked without force was removed: %v", err)
	}
	diskParamError(t, s.do(t, "PUT", "/nodes/alpha/qemu/100/unlink", url.Values{"idlist": {"net0"}}), "idlist", "'net0' is not a disk")
}

// diskAgentRun runs a command in the guest through the API and returns its
// standard output once it has exited.
func diskAgentRun(t *testing.T, s *session, vmid int, argv ...string) string {
	t.Helper()
	base := "/nodes/alpha/qemu/" + strconv.Itoa(vmid) + "/agent/"
	r := s.must(t, "POST", base+"exec", url.Values{"command": argv})
	pid := int(r.body["data"].(map[string]any)["pid"].(float64))
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.must(t, "GET", base+"exec-status", url.Values{"pid": {strconv.Itoa(pid)}}).body["data"].(map[string]any)
		if st["exited"] == float64(1) {
			if st["exitcode"] != float64(0) {
				t.Fatalf("guest command %v: %v", argv, st)
			}
			out, _ := st["out-data"].(string)
			return strings.TrimSpace(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest command %v did not end: %v", argv, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// diskGuestDev is a shell expression for the guest's block device of
// the SCSI disk with the given LUN (scsiN on virtio-scsi has LUN N): the
// kernel probes disks in parallel, so sda is not always scsi0.
func diskGuestDev(lun int) string {
	return "/dev/$(ls /sys/bus/scsi/devices/*:0:0:" + strconv.Itoa(lun) + "/block)"
}

// diskGuestSectors polls the size in sectors the guest sees for the SCSI
// disk with the given LUN.
func diskGuestSectors(t *testing.T, s *session, lun int, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := diskAgentRun(t, s, 100, "sh", "-c", "cat /sys/bus/scsi/devices/*:0:0:"+strconv.Itoa(lun)+"/block/*/size")
		if got == strconv.FormatInt(want, 10) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest sees %s sectors on LUN %d, want %d", got, lun, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDiskOpsOnRunningVM grows and moves the disks of a running test
// guest (a qcow2 disk, and a raw one behind an I/O limit filter),
// presses a key and uses the monitor, all with one boot. The guest
// checks what it sees: the new sizes, and its data on the new storage
// after the mirror.
func TestDiskOpsOnRunningVM(t *testing.T) {
	g := requireQEMU(t)
	td := startDaemon(t, "alpha")
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	s := td.loginAs(t, "admin@pve", testPassword)
	second := diskAddStorage(t, s, "second")
	args := "-kernel " + g.Kernel + " -initrd " + g.Initrd + " -append '" + testguest.KernelArgs("", "") + "'"
	if out, code := runCLI(t, "qm", "create", "100", "--memory", "256", "--scsihw", "virtio-scsi-pci",
		"--scsi0", "local:1,format=qcow2", "--scsi1", "local:1,format=raw,mbps_wr=500",
		"--agent", "1", "--args", args, sock); code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	// Before the start: the monitor needs a running VM.
	diskError(t, s.do(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"info version"}}), 500, "VM 100 not running")
	if out, code := runCLI(t, "qm", "start", "100", sock); code != 0 {
		t.Fatalf("qm start: %d\n%s", code, out)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for s.do(t, "POST", "/nodes/alpha/qemu/100/agent/ping", nil).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the guest agent does not answer")
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Live resize: QEMU grows the images (qcow2 through its format
	// layer, raw through the file) and the guest sees the new sizes.
	diskGuestSectors(t, s, 0, 1<<30/512)
	diskGuestSectors(t, s, 1, 1<<30/512)
	for _, c := range []struct {
		disk, size, file, conf string
		bytes                  int64
	}{
		{"scsi0", "+1G", "vm-100-disk-0.qcow2", "size=2G", 2 << 30},
		{"scsi1", "1536M", "vm-100-disk-1.raw", "size=1536M", 1536 << 20},
	} {
		r := s.must(t, "PUT", "/nodes/alpha/qemu/100/resize", url.Values{"disk": {c.disk}, "size": {c.size}})
		if st := td.waitTask(t, r); st != "OK" {
			t.Fatalf("live resize of %s: %s\n%s", c.disk, st, td.taskLog(t, r))
		}
		if got := diskImageSize(t, filepath.Join(td.cfg.LocalStorage, "images", "100", c.file)); got != c.bytes {
			t.Fatalf("image size of %s after live resize: %d", c.disk, got)
		}
		if got := diskConfig(t, s, 100)[c.disk].(string); !strings.Contains(got, c.conf) {
			t.Fatalf("%s after live resize: %s", c.disk, got)
		}
	}
	diskGuestSectors(t, s, 0, 2<<30/512)
	diskGuestSectors(t, s, 1, 1536<<20/512)

	// Live move: the guest writes a marker before, keeps running during
	// the mirror, and writes another after; both land in the new volume.
	diskAgentRun(t, s, 100, "sh", "-c", "printf hearth-before | dd of="+diskGuestDev(0)+" bs=512 seek=2048 conv=fsync")
	r := s.must(t, "POST", "/nodes/alpha/qemu/100/move_disk", url.Values{"disk": {"scsi0"}, "storage": {"second"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("live move: %s\n%s", st, td.taskLog(t, r))
	}
	conf := diskConfig(t, s, 100)
	if got := conf["scsi0"].(string); !strings.HasPrefix(got, "second:100/vm-100-disk-0.qcow2,") {
		t.Fatalf("scsi0 after live move: %s", got)
	}
	if conf["unused0"] != "local:100/vm-100-disk-0.qcow2" {
		t.Fatalf("the old volume is not kept as unused0: %v", conf)
	}
	diskAgentRun(t, s, 100, "sh", "-c", "printf hearth-after | dd of="+diskGuestDev(0)+" bs=512 seek=4096 conv=fsync")
	moved := filepath.Join(second, "images", "100", "vm-100-disk-0.qcow2")
	out := diskQemuIO(t, moved, "qcow2", "read -v 1048576 12", "read -v 2097152 12")
	// qemu-io dumps the bytes in hex: "hearth-befor" and "hearth-after".
	if !strings.Contains(out, "68 65 61 72 74 68 2d 62 65 66 6f 72") || !strings.Contains(out, "68 65 61 72 74 68 2d 61 66 74 65 72") {
		t.Fatalf("the new volume lacks the guest's data:\n%s", out)
	}
	// Every named node: the old volume's nodes are closed.
	info := s.must(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"info block -n"}}).body["data"].(string)
	old := filepath.Join(td.cfg.LocalStorage, "images", "100", "vm-100-disk-0.qcow2")
	if !strings.Contains(info, moved) || strings.Contains(info, old) {
		t.Fatalf("QEMU does not use exactly the new volume:\n%s", info)
	}

	// scsi1 has an I/O limit, so an I/O limit filter is its top node:
	// the move replaces the node below it, and with delete the old
	// volume goes once QEMU has closed it.
	r = s.must(t, "POST", "/nodes/alpha/qemu/100/move_disk", url.Values{"disk": {"scsi1"}, "storage": {"second"}, "delete": {"1"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("live move of scsi1: %s\n%s", st, td.taskLog(t, r))
	}
	conf = diskConfig(t, s, 100)
	vol1, _, _ := strings.Cut(conf["scsi1"].(string), ",")
	moved1 := filepath.Join(second, "images", "100", strings.TrimPrefix(vol1, "second:100/"))
	if !strings.HasPrefix(vol1, "second:100/vm-100-disk-") || !strings.HasSuffix(vol1, ".raw") || !strings.Contains(conf["scsi1"].(string), "mbps_wr=500") {
		t.Fatalf("scsi1 after live move: %v", conf)
	}
	if _, ok := conf["unused1"]; ok {
		t.Fatalf("a deleted source was kept: %v", conf)
	}
	old1 := filepath.Join(td.cfg.LocalStorage, "images", "100", "vm-100-disk-1.raw")
	if _, err := os.Stat(old1); !os.IsNotExist(err) {
		t.Fatalf("the old volume of scsi1 still exists: %v", err)
	}
	info = s.must(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"info block -n"}}).body["data"].(string)
	if !strings.Contains(info, moved1) || strings.Contains(info, old1) || !regexp.MustCompile(`(?m)^drive-scsi1: .*\(throttle\)\r?$`).MatchString(info) {
		t.Fatalf("after moving scsi1, QEMU's nodes are:\n%s", info)
	}
	diskAgentRun(t, s, 100, "sh", "-c", "printf hearth-sdb | dd of="+diskGuestDev(1)+" bs=512 seek=8 conv=fsync")
	if out := diskQemuIO(t, moved1, "raw", "read -v 4096 10"); !strings.Contains(out, "68 65 61 72 74 68 2d 73 64 62") {
		t.Fatalf("the guest's write to sdb is not in the new volume:\n%s", out)
	}

	// The moves renamed nodes; resizes still find the drives.
	if out, code := runCLI(t, "qm", "resize", "100", "scsi0", "+1G", sock); code != 0 {
		t.Fatalf("qm resize after the move: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "qm", "resize", "100", "scsi1", "+512M", sock); code != 0 {
		t.Fatalf("qm resize of scsi1 after the move: %d\n%s", code, out)
	}
	diskGuestSectors(t, s, 0, 3<<30/512)
	diskGuestSectors(t, s, 1, 2<<30/512)

	// sendkey: a harmless key is accepted; a wrong name is refused.
	s.must(t, "PUT", "/nodes/alpha/qemu/100/sendkey", url.Values{"key": {"shift"}})
	diskParamError(t, s.do(t, "PUT", "/nodes/alpha/qemu/100/sendkey", url.Values{"key": {"ctrl-nokey"}}), "key", "unknown key")

	// Monitor: reading commands for auditors, VM commands for Sys.Modify,
	// host-reaching commands for root only.
	ver := s.must(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"info version"}}).body["data"].(string)
	binVer, err := exec.Command("qemu-system-x86_64", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "QEMU emulator version 7.2.22 (Debian …)"; the monitor prints
	// "7.2.22Debian …": the same version, not followed by more of it.
	f := strings.Fields(string(binVer))
	if len(f) < 4 || !strings.HasPrefix(ver, f[3]) || strings.ContainsAny(ver[len(f[3]):min(len(ver), len(f[3])+1)], ".0123456789") {
		t.Fatalf("info version: %q; the binary says %q", ver, binVer)
	}
	if out, code := runCLI(t, "qm", "monitor", "100", "info status", sock); code != 0 || !strings.Contains(out, "VM status: running") {
		t.Fatalf("qm monitor: %d\n%s", code, out)
	}
	s.must(t, "POST", "/access/users", url.Values{"userid": {"auditor@pve"}, "password": {"auditor-secret-1"}})
	s.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms/100"}, "roles": {"PVEAuditor"}, "users": {"auditor@pve"}})
	aud := td.loginAs(t, "auditor@pve", "auditor-secret-1")
	if got := aud.must(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"info version"}}).body["data"].(string); got != ver {
		t.Fatalf("info version for the auditor: %q", got)
	}
	diskError(t, aud.do(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"quit"}}), 403, "Sys.Modify")
	diskError(t, s.do(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"migrate exec:true"}}), 403, "only root@pam")
	s.must(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"stop"}})
	if st := diskVMStatus(t, s); st != "paused" {
		t.Fatalf("qmpstatus after monitor stop: %s", st)
	}
	s.must(t, "POST", "/nodes/alpha/qemu/100/monitor", url.Values{"command": {"cont"}})
	if st := diskVMStatus(t, s); st != "running" {
		t.Fatalf("qmpstatus after monitor cont: %s", st)
	}
	diskAgentRun(t, s, 100, "true") // the guest still answers

	r = s.must(t, "POST", "/nodes/alpha/qemu/100/status/stop", nil)
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("stop: %s\n%s", st, td.taskLog(t, r))
	}
}

func diskVMStatus(t *testing.T, s *session) string {
	t.Helper()
	st, _ := s.must(t, "GET", "/nodes/alpha/qemu/100/status/current", nil).body["data"].(map[string]any)["qmpstatus"].(string)
	return st
}
