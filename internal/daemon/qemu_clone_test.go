package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// Templates and clones through the API of a real node, on its local dir
// storage (qcow2), with qemu-img and qemu-io checking the images.

// clNode starts a node for clone tests and logs in as admin.
func clNode(t *testing.T) (*testDaemon, *session) {
	t.Helper()
	needQemuImg(t)
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("qemu-io is not installed (make deps installs qemu-utils)")
	}
	td := startDaemon(t, "alpha")
	// Base volumes are immutable where the file system allows; lift that
	// so the test's directory can be removed.
	t.Cleanup(func() { _ = exec.Command("chattr", "-R", "-i", td.cfg.LocalStorage).Run() })
	return td, td.loginAs(t, "admin@pve", testPassword)
}

// clTask waits for the task a call started and fails unless it ended OK.
func clTask(t *testing.T, td *testDaemon, r result) {
	t.Helper()
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("task ended with %s:\n%s", st, td.taskLog(t, r))
	}
}

// clMakeVM creates a VM through the API.
func clMakeVM(t *testing.T, td *testDaemon, s *session, vmid int, v url.Values) {
	t.Helper()
	v.Set("vmid", strconv.Itoa(vmid))
	clTask(t, td, s.must(t, "POST", "/nodes/alpha/qemu", v))
}

func clConf(t *testing.T, s *session, vmid int) map[string]any {
	t.Helper()
	return s.must(t, "GET", "/nodes/alpha/qemu/"+strconv.Itoa(vmid)+"/config", nil).body["data"].(map[string]any)
}

// clStr reads a configuration key as a string ("" when absent).
func clStr(c map[string]any, key string) string {
	switch v := c[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// clVolume is the volume id of a drive value.
func clVolume(drive string) string {
	v, _, _ := strings.Cut(drive, ",")
	return strings.TrimPrefix(v, "file=")
}

// clPath is the file of a volume of the local storage; a linked
// clone's name (<base>/<vmid>/<name>) ends in the clone's own file.
func clPath(td *testDaemon, volid string) string {
	name := strings.TrimPrefix(volid, "local:")
	parts := strings.Split(name, "/")
	return filepath.Join(td.cfg.LocalStorage, "images", parts[len(parts)-2], parts[len(parts)-1])
}

// clQemuIO runs one qemu-io command on an image.
func clQemuIO(path, format, cmd string, readOnly bool) (string, error) {
	args := []string{"-f", format, "-c", cmd, path}
	if readOnly {
		args = append([]string{"-r", "-U"}, args...)
	}
	out, err := exec.Command("qemu-io", args...).CombinedOutput()
	if err == nil && strings.Contains(string(out), "failed") {
		err = fmt.Errorf("qemu-io %s", cmd)
	}
	return string(out), err
}

func clWrite(t *testing.T, path, format string, pattern byte) {
	t.Helper()
	if out, err := clQemuIO(path, format, fmt.Sprintf("write -P 0x%x 0 64k", pattern), false); err != nil {
		t.Fatalf("writing to %s: %v\n%s", path, err, out)
	}
}

func clHasPattern(path, format string, pattern byte) bool {
	_, err := clQemuIO(path, format, fmt.Sprintf("read -P 0x%x 0 64k", pattern), true)
	return err == nil
}

// clImageInfo is what qemu-img info says about an image.
type clImageInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
	FullBacking     string `json:"full-backing-filename"`
}

func clImgInfo(t *testing.T, path string) clImageInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info clImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func clMAC(net string) string {
	for _, part := range strings.Split(net, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && (k == "virtio" || k == "macaddr" || k == "e1000") {
			return v
		}
	}
	return ""
}

func clCall(t *testing.T, s *session, vmid, newid int, v url.Values) result {
	t.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("newid", strconv.Itoa(newid))
	return s.do(t, "POST", "/nodes/alpha/qemu/"+strconv.Itoa(vmid)+"/clone", v)
}

// clImages lists the files in a VM's image directory of the local storage.
func clImages(td *testDaemon, vmid int) []string {
	files, _ := filepath.Glob(filepath.Join(td.cfg.LocalStorage, "images", strconv.Itoa(vmid), "*"))
	return files
}

// TestTemplateAndLinkedClone turns a VM with a qcow2 disk into a template
// and makes a linked clone of it: the disk becomes the base volume, the
// template refuses to start, and the clone's disk is a qcow2 child of the
// base that reads the template's data.
func TestTemplateAndLinkedClone(t *testing.T) {
	td, s := clNode(t)
	clMakeVM(t, td, s, 100, url.Values{"name": {"golden"}, "scsi0": {"local:1,format=qcow2"}, "net0": {"virtio,bridge=vmbr0"},
		"ide2": {"none,media=cdrom"}, "vmgenid": {"1"}})
	src := clConf(t, s, 100)
	disk := clPath(td, clVolume(clStr(src, "scsi0")))
	clWrite(t, disk, "qcow2", 0x5a)

	clTask(t, td, s.must(t, "POST", "/nodes/alpha/qemu/100/template", nil))
	tmpl := clConf(t, s, 100)
	if clStr(tmpl, "template") != "1" {
		t.Fatalf("template mark missing: %v", tmpl)
	}
	base := clVolume(clStr(tmpl, "scsi0"))
	if base != "local:100/base-100-disk-0.qcow2" {
		t.Fatalf("scsi0 of the template: %s", clStr(tmpl, "scsi0"))
	}
	if _, err := os.Stat(clPath(td, base)); err != nil {
		t.Fatalf("base volume: %v", err)
	}
	if _, err := os.Stat(disk); !os.IsNotExist(err) {
		t.Fatalf("the old disk name still exists: %v", err)
	}
	if clStr(tmpl, "ide2") != clStr(src, "ide2") {
		t.Errorf("the CD-ROM drive changed: %s → %s", clStr(src, "ide2"), clStr(tmpl, "ide2"))
	}

	// A template neither starts nor becomes a template again.
	if r := s.do(t, "POST", "/nodes/alpha/qemu/100/status/start", nil); r.code == 200 {
		if st := td.waitTask(t, r); st == "OK" || !strings.Contains(st+td.taskLog(t, r), "template") {
			t.Errorf("starting the template: %s\n%s", st, td.taskLog(t, r))
		}
	} else if !strings.Contains(r.status+r.raw, "template") {
		t.Errorf("starting the template: %s %s", r.status, r.raw)
	}
	if r := s.do(t, "POST", "/nodes/alpha/qemu/100/template", nil); r.code != 500 || !strings.Contains(r.status, "already a template") {
		t.Errorf("converting twice: %s %s", r.status, r.raw)
	}

	// The default clone of a template is linked.
	clTask(t, td, clCall(t, s, 100, 101, url.Values{"name": {"linked"}}))
	c := clConf(t, s, 101)
	cdisk := clVolume(clStr(c, "scsi0"))
	if cdisk != "local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2" {
		t.Fatalf("scsi0 of the linked clone: %s", clStr(c, "scsi0"))
	}
	info := clImgInfo(t, clPath(td, cdisk))
	if info.Format != "qcow2" || filepath.Clean(info.FullBacking) != filepath.Clean(clPath(td, base)) {
		t.Fatalf("the clone's backing file is %q (%q), not the base %s", info.BackingFilename, info.FullBacking, clPath(td, base))
	}
	if !clHasPattern(clPath(td, cdisk), "qcow2", 0x5a) {
		t.Error("the linked clone does not read the template's data")
	}
	if clStr(c, "name") != "linked" || clStr(c, "template") != "" || clStr(c, "lock") != "" {
		t.Errorf("clone config: %v", c)
	}
	if clMAC(clStr(c, "net0")) == "" || clMAC(clStr(c, "net0")) == clMAC(clStr(tmpl, "net0")) {
		t.Errorf("the clone kept the MAC address: %s vs %s", clStr(c, "net0"), clStr(tmpl, "net0"))
	}
	if clStr(c, "smbios1") == clStr(tmpl, "smbios1") || clStr(c, "vmgenid") == "" || clStr(c, "vmgenid") == clStr(tmpl, "vmgenid") {
		t.Errorf("smbios1/vmgenid not renewed: %s %s vs %s %s", clStr(c, "smbios1"), clStr(c, "vmgenid"), clStr(tmpl, "smbios1"), clStr(tmpl, "vmgenid"))
	}
	// Writes to the clone stay in the clone.
	clWrite(t, clPath(td, cdisk), "qcow2", 0x11)
	if !clHasPattern(clPath(td, base), "qcow2", 0x5a) {
		t.Error("writing to the clone changed the base")
	}
	if l := clStr(clConf(t, s, 100), "lock"); l != "" {
		t.Errorf("the template is still locked (%s) after the clone", l)
	}

	// The CLI: qm clone with the default name.
	sock := "--socket=" + td.cfg.Socket
	if out, code := runCLI(t, "qm", "clone", "100", "102", sock); code != 0 {
		t.Fatalf("qm clone: %d\n%s", code, out)
	}
	if n := clStr(clConf(t, s, 102), "name"); n != "Copy-of-VM-golden" {
		t.Errorf("default name: %q", n)
	}
	// A linked clone of a VM that is no template is refused; so is a
	// storage for a linked clone.
	if r := clCall(t, s, 101, 103, url.Values{"full": {"0"}}); r.code != 500 || !strings.Contains(r.status, "not a template") {
		t.Errorf("linked clone of a VM: %s %s", r.status, r.raw)
	}
	if r := clCall(t, s, 100, 103, url.Values{"full": {"0"}, "storage": {"local"}}); r.code != 400 || !strings.Contains(r.raw, "storage") {
		t.Errorf("storage for a linked clone: %s %s", r.status, r.raw)
	}
	if r := clCall(t, s, 100, 103, url.Values{"target": {"beta"}}); r.code != 400 || !strings.Contains(r.raw, "another node") {
		t.Errorf("clone to another node: %s %s", r.status, r.raw)
	}
	if r := clCall(t, s, 100, 101, nil); r.code != 400 || !strings.Contains(r.raw, "already exists") {
		t.Errorf("clone onto an existing id: %s %s", r.status, r.raw)
	}
	// qm template converts a second VM.
	clMakeVM(t, td, s, 110, url.Values{"scsi0": {"local:1,format=qcow2"}})
	if out, code := runCLI(t, "qm", "template", "110", sock); code != 0 {
		t.Fatalf("qm template: %d\n%s", code, out)
	}
	if c := clConf(t, s, 110); clStr(c, "template") != "1" || !strings.Contains(clStr(c, "scsi0"), "base-110-disk-0") {
		t.Errorf("after qm template: %v", c)
	}
}

// TestFullClone copies a VM: the clone's disk is independent of the
// source, it has a new MAC and name, CD-ROM drives are shared and the
// cloud-init drive is made anew.
func TestFullClone(t *testing.T) {
	td, s := clNode(t)
	clMakeVM(t, td, s, 200, url.Values{"name": {"web"}, "scsi0": {"local:1,format=qcow2"}, "net0": {"e1000,bridge=vmbr0"},
		"ide2": {"none,media=cdrom"}, "description": {"the web server"}, "memory": {"256"}})
	// A cloud-init drive, allocated by hand as the storage API does it.
	s.must(t, "POST", "/nodes/alpha/storage/local/content", url.Values{"vmid": {"200"}, "filename": {"vm-200-cloudinit.qcow2"}, "size": {"4M"}})
	s.must(t, "PUT", "/nodes/alpha/qemu/200/config", url.Values{"ide0": {"local:200/vm-200-cloudinit.qcow2,media=cdrom"}})
	src := clConf(t, s, 200)
	srcDisk := clPath(td, clVolume(clStr(src, "scsi0")))
	clWrite(t, srcDisk, "qcow2", 0x42)
	rules := []byte("[OPTIONS]\nenable: 1\n")
	if _, err := td.store.Apply(context.Background(), cfs.Write("firewall/200.fw", rules)); err != nil {
		t.Fatal(err)
	}

	clTask(t, td, clCall(t, s, 200, 201, nil))
	if e, err := td.store.Get("firewall/201.fw"); err != nil || string(e.Data) != string(rules) {
		t.Errorf("the clone's firewall rules: %v %q", err, e.Data)
	}
	c := clConf(t, s, 201)
	disk := clVolume(clStr(c, "scsi0"))
	if disk != "local:201/vm-201-disk-0.qcow2" {
		t.Fatalf("scsi0 of the full clone: %s", clStr(c, "scsi0"))
	}
	if info := clImgInfo(t, clPath(td, disk)); info.BackingFilename != "" || info.VirtualSize != 1<<30 {
		t.Fatalf("the full clone's image: %+v", info)
	}
	if !clHasPattern(clPath(td, disk), "qcow2", 0x42) {
		t.Fatal("the full clone lacks the source's data")
	}
	clWrite(t, srcDisk, "qcow2", 0x43)
	if !clHasPattern(clPath(td, disk), "qcow2", 0x42) {
		t.Error("the full clone changed with its source")
	}
	if clStr(c, "name") != "Copy-of-VM-web" || clStr(c, "description") != "the web server" || clStr(c, "memory") != "256" {
		t.Errorf("copied keys: %v", c)
	}
	if clMAC(clStr(c, "net0")) == "" || clMAC(clStr(c, "net0")) == clMAC(clStr(src, "net0")) {
		t.Errorf("MAC not renewed: %s vs %s", clStr(c, "net0"), clStr(src, "net0"))
	}
	if clStr(c, "ide2") != clStr(src, "ide2") {
		t.Errorf("CD-ROM drive: %s vs %s", clStr(c, "ide2"), clStr(src, "ide2"))
	}
	if ci := clVolume(clStr(c, "ide0")); ci != "local:201/vm-201-cloudinit.qcow2" || !strings.Contains(clStr(c, "ide0"), "media=cdrom") {
		t.Errorf("cloud-init drive of the clone: %s", clStr(c, "ide0"))
	}

	// Another format, a name and a description of its own.
	clTask(t, td, clCall(t, s, 200, 202, url.Values{"format": {"raw"}, "name": {"raw-copy"}, "description": {"copy"}}))
	c = clConf(t, s, 202)
	if clVolume(clStr(c, "scsi0")) != "local:202/vm-202-disk-0.raw" || clStr(c, "name") != "raw-copy" || clStr(c, "description") != "copy" {
		t.Fatalf("raw clone: %v", c)
	}
	if !clHasPattern(clPath(td, clVolume(clStr(c, "scsi0"))), "raw", 0x43) {
		t.Error("the raw clone lacks the source's data")
	}
	if r := clCall(t, s, 200, 203, url.Values{"format": {"qed"}}); r.code != 400 {
		t.Errorf("unknown format: %s %s", r.status, r.raw)
	}

	// A snapshot's state, not the current one.
	if !clSnapshot(t, td, s, 200, "before", srcDisk) {
		return
	}
	clWrite(t, srcDisk, "qcow2", 0x44)
	clTask(t, td, clCall(t, s, 200, 204, url.Values{"snapname": {"before"}}))
	c = clConf(t, s, 204)
	if !clHasPattern(clPath(td, clVolume(clStr(c, "scsi0"))), "qcow2", 0x43) {
		t.Error("the clone of the snapshot does not hold the snapshot's data")
	}
	if _, has := c["parent"]; has {
		t.Errorf("the clone kept the snapshot parent: %v", c)
	}
	if r := clCall(t, s, 200, 205, url.Values{"snapname": {"nosuch"}}); r.code != 500 || !strings.Contains(r.status, "does not exist") {
		t.Errorf("unknown snapshot: %s %s", r.status, r.raw)
	}
	// A VM with snapshots cannot become a template.
	if r := s.do(t, "POST", "/nodes/alpha/qemu/200/template", nil); r.code != 500 || !strings.Contains(r.status, "snapshots") {
		t.Errorf("template of a VM with snapshots: %s %s", r.status, r.raw)
	}
}

// clSnapshot snapshots a stopped VM through the API when the snapshot
// feature exists; without it, it makes the same snapshot by hand (the
// qcow2 internal snapshot and the configuration section), which is all
// a clone reads.
func clSnapshot(t *testing.T, td *testDaemon, s *session, vmid int, name, disk string) bool {
	t.Helper()
	r := s.do(t, "POST", "/nodes/alpha/qemu/"+strconv.Itoa(vmid)+"/snapshot", url.Values{"snapname": {name}})
	if r.code == 200 {
		clTask(t, td, r)
		return true
	}
	if r.code != 404 && r.code != 501 {
		t.Fatalf("snapshot: %s %s", r.status, r.raw)
	}
	t.Logf("the snapshot endpoint is missing (%s); making the snapshot by hand", r.status)
	if out, err := exec.Command("qemu-img", "snapshot", "-c", name, disk).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img snapshot: %v\n%s", err, out)
	}
	path := "nodes/alpha/qemu-server/" + strconv.Itoa(vmid) + ".conf"
	e, err := td.store.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	var sec strings.Builder
	for _, line := range strings.Split(string(e.Data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			sec.WriteString(line + "\n")
		}
	}
	data := "parent: " + name + "\n" + string(e.Data) + "\n[" + name + "]\n" + sec.String() + "snaptime: 1700000000\n"
	if _, err := td.store.Apply(context.Background(), cfs.Write(path, []byte(data))); err != nil {
		t.Fatal(err)
	}
	return true
}

// TestCloneRollsBack checks that failed clones leave nothing behind: a
// target storage without disk images is refused before anything is made,
// and a disk that fails half way removes the disks already copied and
// the configuration.
func TestCloneRollsBack(t *testing.T) {
	td, s := clNode(t)
	isoDir := t.TempDir()
	s.must(t, "POST", "/storage", url.Values{"storage": {"isos"}, "type": {"dir"}, "path": {isoDir}, "content": {"iso"}})
	clMakeVM(t, td, s, 300, url.Values{"scsi0": {"local:1,format=qcow2"}, "scsi1": {"local:1,format=qcow2"}})
	if _, err := td.store.Apply(context.Background(), cfs.Write("firewall/300.fw", []byte("[OPTIONS]\n"))); err != nil {
		t.Fatal(err)
	}

	r := clCall(t, s, 300, 301, url.Values{"storage": {"isos"}})
	if r.code != 400 || !strings.Contains(r.raw, "images") {
		t.Errorf("clone onto a storage without images: %s %s", r.status, r.raw)
	}
	checkGone := func(vmid int) {
		t.Helper()
		if r := s.do(t, "GET", "/nodes/alpha/qemu/"+strconv.Itoa(vmid)+"/config", nil); r.code != 500 {
			t.Errorf("VM %d has a configuration after the failed clone: %s", vmid, r.raw)
		}
		if left := clImages(td, vmid); len(left) != 0 {
			t.Errorf("volumes of VM %d left after the failed clone: %v", vmid, left)
		}
		if left, _ := filepath.Glob(filepath.Join(isoDir, "images", strconv.Itoa(vmid), "*")); len(left) != 0 {
			t.Errorf("volumes of VM %d left on isos: %v", vmid, left)
		}
		if _, err := td.store.Get("firewall/" + strconv.Itoa(vmid) + ".fw"); err == nil {
			t.Errorf("the firewall rules of VM %d are left after the failed clone", vmid)
		}
	}
	checkGone(301)

	// scsi1's image vanished behind the storage's back: scsi0 is copied
	// first, then scsi1 fails.
	second := clPath(td, clVolume(clStr(clConf(t, s, 300), "scsi1")))
	if err := os.Remove(second); err != nil {
		t.Fatal(err)
	}
	r = clCall(t, s, 300, 302, nil)
	if st := td.waitTask(t, r); st == "OK" {
		t.Fatal("the clone of a VM with a missing disk succeeded")
	}
	log := td.taskLog(t, r)
	if !strings.Contains(log, "vm-302-disk-0") || !strings.Contains(log, "removed") {
		t.Errorf("the task log does not show the copy of scsi0 and its removal:\n%s", log)
	}
	checkGone(302)
	if l := clStr(clConf(t, s, 300), "lock"); l != "" {
		t.Errorf("the source is still locked (%s) after the failed clone", l)
	}
}

// TestClonePermissionsAndPool: VM.Clone on the source is not enough, the
// clone's id needs VM.Allocate, which a pool can grant; the clone joins
// the pool.
func TestClonePermissionsAndPool(t *testing.T) {
	td, s := clNode(t)
	clMakeVM(t, td, s, 400, url.Values{"scsi0": {"local:1,format=qcow2"}})
	clTask(t, td, s.must(t, "POST", "/nodes/alpha/qemu/400/template", nil))
	s.must(t, "POST", "/pools", url.Values{"poolid": {"lab"}})
	s.must(t, "POST", "/access/users", url.Values{"userid": {"tess@pve"}, "password": {"tess-secret-1"}})
	s.must(t, "PUT", "/access/acl", url.Values{"path": {"/vms/400"}, "roles": {"PVETemplateUser"}, "users": {"tess@pve"}})
	tess := td.loginAs(t, "tess@pve", "tess-secret-1")

	if r := clCall(t, tess, 400, 401, nil); r.code != 403 || !strings.Contains(r.raw+r.status, "VM.Allocate") {
		t.Errorf("clone without VM.Allocate: %s %s", r.status, r.raw)
	}
	s.must(t, "PUT", "/access/acl", url.Values{"path": {"/pool/lab"}, "roles": {"PVEVMAdmin"}, "users": {"tess@pve"}})
	if r := clCall(t, tess, 400, 401, url.Values{"pool": {"lab"}}); r.code != 403 || !strings.Contains(r.raw+r.status, "Datastore.AllocateSpace") {
		t.Errorf("clone without Datastore.AllocateSpace: %s %s", r.status, r.raw)
	}
	s.must(t, "PUT", "/access/acl", url.Values{"path": {"/storage/local"}, "roles": {"PVEDatastoreUser"}, "users": {"tess@pve"}})
	if r := clCall(t, tess, 400, 401, nil); r.code != 403 {
		t.Errorf("clone outside the pool: %s %s", r.status, r.raw)
	}
	clTask(t, td, clCall(t, tess, 400, 401, url.Values{"pool": {"lab"}}))
	p := s.must(t, "GET", "/pools", url.Values{"poolid": {"lab"}}).body["data"].([]any)[0].(map[string]any)
	found := false
	for _, m := range p["members"].([]any) {
		if id, _ := m.(map[string]any)["vmid"].(float64); id == 401 {
			found = true
		}
	}
	if !found {
		t.Errorf("the clone is not in the pool: %v", p)
	}
	// Through the pool tess now administers the clone.
	if r := tess.do(t, "GET", "/nodes/alpha/qemu/401/config", nil); r.code != 200 {
		t.Errorf("the clone through the pool: %s", r.status)
	}
}

// TestFiftyParallelLinkedClones starts 50 linked clones of one template
// at once through the API: every one must end OK with its own VM and
// disk (on Proxmox VE many time out waiting for the template's lock).
func TestFiftyParallelLinkedClones(t *testing.T) {
	td, s := clNode(t)
	clMakeVM(t, td, s, 500, url.Values{"scsi0": {"local:1,format=qcow2"}, "net0": {"virtio,bridge=vmbr0"}})
	clTask(t, td, s.must(t, "POST", "/nodes/alpha/qemu/500/template", nil))
	const n = 50
	start := time.Now()
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = clCall(t, s, 500, 1000+i, url.Values{"name": {"clone" + strconv.Itoa(i)}})
		}()
	}
	wg.Wait()
	failed := 0
	for i, r := range results {
		if r.code != 200 {
			t.Errorf("clone %d: %s %s", i, r.status, r.raw)
			failed++
			continue
		}
		if st := td.waitTask(t, r); st != "OK" {
			t.Errorf("clone %d: %s\n%s", i, st, td.taskLog(t, r))
			failed++
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d parallel linked clones: %d failed, %v in all", n, failed, elapsed.Round(time.Millisecond))
	disks, macs := map[string]bool{}, map[string]bool{}
	for i := range n {
		c := clConf(t, s, 1000+i)
		disk := clVolume(clStr(c, "scsi0"))
		want := fmt.Sprintf("local:500/base-500-disk-0.qcow2/%d/vm-%d-disk-0.qcow2", 1000+i, 1000+i)
		if disk != want || clStr(c, "lock") != "" || clStr(c, "name") != "clone"+strconv.Itoa(i) {
			t.Errorf("clone %d: %v", 1000+i, c)
		}
		if _, err := os.Stat(clPath(td, disk)); err != nil {
			t.Errorf("clone %d: %v", 1000+i, err)
		}
		disks[disk], macs[clMAC(clStr(c, "net0"))] = true, true
	}
	if len(disks) != n || len(macs) != n {
		t.Errorf("%d distinct disks and %d distinct MACs for %d clones", len(disks), len(macs), n)
	}
	if l := clStr(clConf(t, s, 500), "lock"); l != "" {
		t.Errorf("the template is still locked (%s)", l)
	}
}

// TestFullCloneOfRunningVM copies the disk of a running VM through QEMU
// (a mirror job) while it keeps running.
func TestFullCloneOfRunningVM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: running VMs needs root")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("skipping: qemu-system-x86_64 is not installed (make deps installs it)")
	}
	td, s := clNode(t)
	killVMs(t, td.cfg.RunDir)
	clMakeVM(t, td, s, 600, url.Values{"scsi0": {"local:1,format=qcow2"}, "memory": {"128"}})
	disk := clPath(td, clVolume(clStr(clConf(t, s, 600), "scsi0")))
	clWrite(t, disk, "qcow2", 0x66)
	clTask(t, td, s.must(t, "POST", "/nodes/alpha/qemu/600/status/start", nil))
	defer func() {
		clTask(t, td, s.must(t, "POST", "/nodes/alpha/qemu/600/status/stop", nil))
	}()
	clTask(t, td, clCall(t, s, 600, 601, nil))
	c := clConf(t, s, 601)
	if !clHasPattern(clPath(td, clVolume(clStr(c, "scsi0"))), "qcow2", 0x66) {
		t.Error("the copy of the running VM's disk lacks its data")
	}
	st := s.must(t, "GET", "/nodes/alpha/qemu/600/status/current", nil).body["data"].(map[string]any)
	if st["status"] != "running" || st["qmpstatus"] != "running" {
		t.Errorf("the source after the clone: %v", st)
	}
	if l := clStr(clConf(t, s, 600), "lock"); l != "" {
		t.Errorf("the source is still locked (%s)", l)
	}
}

// TestCloneLocksItsSource: while a clone copies a VM, the VM carries
// lock: clone, so it cannot be destroyed, started or turned into a
// template; another clone of it still runs; the lock goes with the last
// clone. The copy is slowed down with bwlimit to watch it.
func TestCloneLocksItsSource(t *testing.T) {
	td, s := clNode(t)
	// 6 MiB of data at 2 MiB/s: a few seconds of copying.
	clMakeVM(t, td, s, 700, url.Values{"scsi0": {"local:1,format=qcow2"}})
	disk := clPath(td, clVolume(clStr(clConf(t, s, 700), "scsi0")))
	clWrite(t, disk, "qcow2", 0x70)
	if out, err := clQemuIO(disk, "qcow2", "write -P 0x71 1M 6M", false); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	slow := clCall(t, s, 700, 701, url.Values{"bwlimit": {"2048"}})
	if slow.code != 200 {
		t.Fatalf("clone: %s %s", slow.status, slow.raw)
	}
	for deadline := time.Now().Add(10 * time.Second); clStr(clConf(t, s, 700), "lock") != "clone"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the source never got the clone lock")
		}
	}
	if r := s.do(t, "DELETE", "/nodes/alpha/qemu/700", nil); r.code == 200 {
		if st := td.waitTask(t, r); st == "OK" {
			t.Fatal("the source was destroyed during its clone")
		}
	} else if !strings.Contains(r.status, "locked (clone)") {
		t.Errorf("destroy during the clone: %s %s", r.status, r.raw)
	}
	if r := s.do(t, "POST", "/nodes/alpha/qemu/700/template", nil); r.code != 500 || !strings.Contains(r.status, "locked (clone)") {
		t.Errorf("template during the clone: %s %s", r.status, r.raw)
	}
	// A second clone runs beside the first.
	clTask(t, td, clCall(t, s, 700, 702, nil))
	if l := clStr(clConf(t, s, 700), "lock"); l != "clone" {
		t.Errorf("the lock went with the second clone while the first still runs: %q", l)
	}
	clTask(t, td, slow)
	if l := clStr(clConf(t, s, 700), "lock"); l != "" {
		t.Errorf("the source is still locked (%s) after its clones", l)
	}
	for _, id := range []int{701, 702} {
		if !clHasPattern(clPath(td, clVolume(clStr(clConf(t, s, id), "scsi0"))), "qcow2", 0x70) {
			t.Errorf("clone %d lacks the source's data", id)
		}
	}
}
