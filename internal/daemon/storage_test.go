package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// waitTask waits for a task started by an API answer and returns its exit
// status.
func (td *testDaemon) waitTask(t *testing.T, r result) string {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("starting the task: %s %s", r.status, r.raw)
	}
	upid, _ := r.body["data"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := td.tasks.Wait(ctx, upid)
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitStatus
}

func (td *testDaemon) taskLog(t *testing.T, r result) string {
	t.Helper()
	upid, _ := r.body["data"].(string)
	out, _ := runCLI(t, "pvenode", "task", "log", upid, "--socket="+td.cfg.Socket)
	return out
}

func contentIDs(t *testing.T, s *session, storage string, v url.Values) []string {
	t.Helper()
	r := s.must(t, "GET", "/nodes/alpha/storage/"+storage+"/content", v)
	var ids []string
	for _, x := range r.body["data"].([]any) {
		ids = append(ids, x.(map[string]any)["volid"].(string))
	}
	return ids
}

func needQemuImg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (make deps installs qemu-utils)")
	}
}

// uploadISO sends a file to the upload endpoint as a browser does.
func uploadISO(t *testing.T, s *session, storage, name string, content []byte, fields map[string]string) result {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("filename", name)
	fw.Write(content)
	w.Close()
	hdr := map[string]string{"Content-Type": w.FormDataContentType()}
	for k, v := range s.hdr {
		hdr[k] = v
	}
	return s.td.call(t, "POST", "/nodes/alpha/storage/"+storage+"/upload", &b, hdr)
}

func TestLocalStorageContent(t *testing.T) {
	needQemuImg(t)
	td := startDaemon(t, "alpha")
	admin := td.loginAs(t, "admin@pve", testPassword)
	sock := "--socket=" + td.cfg.Socket

	// A new cluster has storage.cfg with the local storage in the state
	// directory (the test daemon's default).
	e, err := td.store.Get("storage.cfg")
	if err != nil || !strings.Contains(string(e.Data), "dir: local\n\tpath "+filepath.Join(td.cfg.StateDir, "vz")) {
		t.Fatalf("storage.cfg: %v %q", err, e.Data)
	}

	// The disk of the issue: 1 GiB for VM 100, named by the storage.
	out, code := runCLI(t, "pvesm", "alloc", "local", "100", "", "1G", "--format", "qcow2", sock)
	if code != 0 || out != "successfully created 'local:100/vm-100-disk-0.qcow2'\n" {
		t.Fatalf("pvesm alloc: exit %d: %q", code, out)
	}
	if out, code := runCLI(t, "pvesm", "list", "local", sock); code != 0 || !strings.Contains(out, "local:100/vm-100-disk-0.qcow2") || !strings.Contains(out, "1.00 GiB") {
		t.Errorf("pvesm list: exit %d:\n%s", code, out)
	}
	info := admin.must(t, "GET", "/nodes/alpha/storage/local/content/local:100%2Fvm-100-disk-0.qcow2", nil).body["data"].(map[string]any)
	if info["format"] != "qcow2" || info["size"].(float64) != 1<<30 || !strings.HasSuffix(info["path"].(string), "/images/100/vm-100-disk-0.qcow2") {
		t.Errorf("volume info: %v", info)
	}
	// The next allocation takes the next name; a name is never reused.
	r := admin.must(t, "POST", "/nodes/alpha/storage/local/content", url.Values{"vmid": {"100"}, "filename": {"vm-100-disk-1.raw"}, "size": {"4096"}})
	if r.body["data"] != "local:100/vm-100-disk-1.raw" {
		t.Errorf("alloc with a name: %v", r.body["data"])
	}
	bad := []struct{ filename, vmid, field string }{
		{"vm-100-disk-1.raw", "100", ""},    // exists
		{"vm-101-disk-5.qcow2", "100", ""},  // another guest's name
		{"../../etc/passwd", "100", ""},     // a path
		{"vm-100-disk-7.qcow2", "100", "f"}, // format disagrees with the name
	}
	for _, b := range bad {
		v := url.Values{"vmid": {b.vmid}, "filename": {b.filename}, "size": {"1M"}}
		if b.field != "" {
			v.Set("format", "raw")
		}
		if r := admin.do(t, "POST", "/nodes/alpha/storage/local/content", v); r.code != 400 {
			t.Errorf("alloc %s: %s %s, want 400", b.filename, r.status, r.raw)
		}
	}

	// ISO upload through the API with a checksum, then from the CLI.
	iso := bytes.Repeat([]byte("hearth iso "), 100_000)
	sum := sha256.Sum256(iso)
	r = uploadISO(t, admin, "local", "debian 12.iso", iso, map[string]string{"content": "iso", "checksum": hex.EncodeToString(sum[:]), "checksum-algorithm": "sha256"})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("upload task: %s\n%s", st, td.taskLog(t, r))
	}
	r = uploadISO(t, admin, "local", "bad.iso", iso, map[string]string{"content": "iso", "checksum": strings.Repeat("0", 64), "checksum-algorithm": "sha256"})
	if st := td.waitTask(t, r); !strings.Contains(st, "checksum mismatch") {
		t.Errorf("bad checksum: task ended %q", st)
	}
	if r := uploadISO(t, admin, "local", "notes.txt", iso, map[string]string{"content": "iso"}); r.code != 400 || !strings.Contains(r.raw, ".iso") {
		t.Errorf("upload of a .txt as iso: %s %s", r.status, r.raw)
	}
	local := filepath.Join(t.TempDir(), "alpine.iso")
	os.WriteFile(local, iso[:12345], 0o644)
	if out, code := runCLI(t, "pvesm", "upload", "local", local, "--content", "iso", sock); code != 0 {
		t.Fatalf("pvesm upload: exit %d: %s", code, out)
	}
	ids := contentIDs(t, admin, "local", url.Values{"content": {"iso"}})
	if strings.Join(ids, " ") != "local:iso/alpine.iso local:iso/debian_12.iso" {
		t.Errorf("ISO list: %v", ids)
	}
	isoDir := filepath.Join(td.cfg.StateDir, "vz", "template", "iso")
	entries, _ := os.ReadDir(isoDir)
	if len(entries) != 2 {
		t.Errorf("%s holds %d files, want the two ISO images and no leftovers", isoDir, len(entries))
	}
	if got, _ := os.ReadFile(filepath.Join(isoDir, "debian_12.iso")); !bytes.Equal(got, iso) {
		t.Error("the uploaded ISO differs from what was sent")
	}
	// An upload larger than the free space is refused, leaving nothing.
	if os.Geteuid() == 0 {
		small := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", small).Run() })
		admin.must(t, "POST", "/storage", url.Values{"storage": {"small"}, "type": {"dir"}, "path": {small}, "content": {"iso"}})
		if r := uploadISO(t, admin, "small", "huge.iso", bytes.Repeat([]byte{1}, 2<<20), map[string]string{"content": "iso"}); r.code != 400 || !strings.Contains(r.status, "does not fit") {
			t.Errorf("upload larger than the storage: %s", r.status)
		}
		if left, _ := os.ReadDir(filepath.Join(small, "template", "iso")); len(left) != 0 {
			t.Errorf("a refused upload left %d files", len(left))
		}
		admin.must(t, "DELETE", "/storage/small", nil)
	} else {
		t.Log("not root: the free-space refusal on a small tmpfs is not checked")
	}

	// download-url from a loopback server, with and without the right checksum.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(iso) }))
	defer srv.Close()
	r = admin.do(t, "POST", "/nodes/alpha/storage/local/download-url", url.Values{"content": {"iso"}, "filename": {"net.iso"},
		"url": {srv.URL + "/net.iso"}, "checksum": {hex.EncodeToString(sum[:])}, "checksum-algorithm": {"sha256"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("download task: %s\n%s", st, td.taskLog(t, r))
	}
	if got, _ := os.ReadFile(filepath.Join(isoDir, "net.iso")); !bytes.Equal(got, iso) {
		t.Error("the downloaded ISO differs from what the server sent")
	}

	// A volume a guest uses cannot be freed; an unused entry goes with it.
	conf := "nodes/alpha/qemu-server/100.conf"
	if _, err := td.store.Apply(context.Background(), cfs.Write(conf, []byte("name: db\nscsi0: local:100/vm-100-disk-0.qcow2,size=1G\nunused0: local:100/vm-100-disk-1.raw\n"))); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "pvesm", "free", "local:100/vm-100-disk-0.qcow2", sock); code == 0 || !strings.Contains(out, "in use by VM 100 (scsi0)") {
		t.Errorf("freeing a used volume: exit %d: %s", code, out)
	}
	if out, code := runCLI(t, "pvesm", "free", "local:100/vm-100-disk-1.raw", sock); code != 0 {
		t.Errorf("freeing an unused volume: exit %d: %s", code, out)
	}
	if e, _ := td.store.Get(conf); strings.Contains(string(e.Data), "unused0") {
		t.Errorf("the unused entry stayed:\n%s", e.Data)
	}
	if ids := contentIDs(t, admin, "local", url.Values{"vmid": {"100"}}); strings.Join(ids, " ") != "local:100/vm-100-disk-0.qcow2" {
		t.Errorf("after free: %v", ids)
	}

	// Copy a disk into a new volume on the same storage.
	r = admin.do(t, "POST", "/nodes/alpha/storage/local/content/local:100%2Fvm-100-disk-0.qcow2", url.Values{"target": {"local"}})
	if st := td.waitTask(t, r); st != "OK" {
		t.Fatalf("copy: %s\n%s", st, td.taskLog(t, r))
	}
	if ids := contentIDs(t, admin, "local", url.Values{"vmid": {"100"}}); len(ids) != 2 {
		t.Errorf("after copy: %v", ids)
	}

	// The node lists its storage with usage; the cluster resources too.
	if out, code := runCLI(t, "pvesm", "status", sock); code != 0 || !strings.Contains(out, "local") || !strings.Contains(out, "dir") {
		t.Errorf("pvesm status: exit %d:\n%s", code, out)
	}
	td.storage.Refresh(context.Background())
	res := admin.must(t, "GET", "/cluster/resources", url.Values{"type": {"storage"}}).body["data"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["id"] != "storage/alpha/local" || res[0].(map[string]any)["status"] != "available" {
		t.Errorf("storage resources: %v", res)
	}
	if p, code := runCLI(t, "pvesm", "path", "local:iso/net.iso", sock); code != 0 || strings.TrimSpace(p) != filepath.Join(isoDir, "net.iso") {
		t.Errorf("pvesm path: %d %q", code, p)
	}
}

func TestStorageDefinitions(t *testing.T) {
	td := startDaemon(t, "alpha")
	admin := td.loginAs(t, "admin@pve", testPassword)
	path := filepath.Join(t.TempDir(), "store")

	refusals := []struct {
		v     url.Values
		field string
	}{
		{url.Values{"storage": {"d1"}, "type": {"dir"}, "path": {path}, "vgname": {"pve"}}, "vgname"},
		{url.Values{"storage": {"d1"}, "type": {"dir"}}, "path"},
		{url.Values{"storage": {"n1"}, "type": {"nfs"}, "export": {"/srv"}}, "server"},
		{url.Values{"storage": {"d1"}, "type": {"dir"}, "path": {path}, "content": {"images,bogus"}}, "content"},
		{url.Values{"storage": {"d1"}, "type": {"dir"}, "path": {path}, "prune-backups": {"keep-all=1,keep-last=2"}}, "prune-backups"},
		{url.Values{"storage": {"local"}, "type": {"dir"}, "path": {path}}, "storage"},
		{url.Values{"storage": {"l1"}, "type": {"lvm"}, "vgname": {"pve"}, "shared": {"1"}, "path": {path}}, "path"},
	}
	for _, c := range refusals {
		r := admin.do(t, "POST", "/storage", c.v)
		var errs map[string]any
		if e, ok := r.body["errors"].(map[string]any); ok {
			errs = e
		}
		if r.code != 400 || errs[c.field] == nil {
			t.Errorf("create %v: %s %s, want 400 naming %s", c.v, r.status, r.raw, c.field)
		}
	}
	admin.must(t, "POST", "/storage", url.Values{"storage": {"d1"}, "type": {"dir"}, "path": {path}, "content": {"images,iso,backup"},
		"prune-backups": {"keep-last=2"}})
	if _, err := os.Stat(filepath.Join(path, "template", "iso")); err != nil {
		t.Errorf("creating a dir storage activates it: %v", err)
	}
	got := admin.must(t, "GET", "/storage/d1", nil).body["data"].(map[string]any)
	if got["path"] != path || got["content"] != "images,iso,backup" || got["type"] != "dir" {
		t.Errorf("GET /storage/d1: %v", got)
	}
	if r := admin.do(t, "PUT", "/storage/d1", url.Values{"path": {"/elsewhere"}}); r.code != 400 || !strings.Contains(r.raw, "cannot be changed") {
		t.Errorf("changing path: %s %s", r.status, r.raw)
	}
	admin.must(t, "PUT", "/storage/d1", url.Values{"nodes": {"beta"}, "delete": {"prune-backups"}})
	e, _ := td.store.Get("storage.cfg")
	if !strings.Contains(string(e.Data), "dir: d1\n\tpath "+path+"\n\tcontent images,iso,backup\n\tnodes beta\n") {
		t.Errorf("storage.cfg:\n%s", e.Data)
	}
	// Restricted to another node: not listed here, and refused here.
	var names []string
	for _, x := range admin.must(t, "GET", "/nodes/alpha/storage", nil).body["data"].([]any) {
		names = append(names, x.(map[string]any)["storage"].(string))
	}
	if strings.Join(names, ",") != "local" {
		t.Errorf("node storages: %v", names)
	}
	if r := admin.do(t, "GET", "/nodes/alpha/storage/d1/content", nil); r.code != 400 || !strings.Contains(r.status, "not available on node 'alpha'") {
		t.Errorf("content of a storage of another node: %s", r.status)
	}

	// A storage that cannot be activated shows inactive with the reason,
	// and the others still answer.
	admin.must(t, "PUT", "/storage/d1", url.Values{"delete": {"nodes"}, "is_mountpoint": {"yes"}})
	rows := map[string]map[string]any{}
	for _, x := range admin.must(t, "GET", "/nodes/alpha/storage", nil).body["data"].([]any) {
		m := x.(map[string]any)
		rows[m["storage"].(string)] = m
	}
	if rows["d1"]["active"] != float64(0) || !strings.Contains(fmt.Sprint(rows["d1"]["error"]), "mount") || rows["local"]["active"] != float64(1) {
		b, _ := json.Marshal(rows)
		t.Errorf("node storages with a broken one: %s", b)
	}
	admin.must(t, "DELETE", "/storage/d1", nil)
	if r := admin.do(t, "GET", "/storage/d1", nil); r.code == 200 {
		t.Error("the storage is still defined after DELETE")
	}
}
