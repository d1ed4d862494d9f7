package cfsfuse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

func TestReadAndList(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)

	if got := readFile(t, filepath.Join(dir, "storage.cfg")); got != "dir: local\n\tpath /var/lib/vz\n" {
		t.Errorf("storage.cfg = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "nodes/pve1/qemu-server/100.conf")); got != "memory: 512\n" {
		t.Errorf("100.conf = %q", got)
	}

	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	want := []string{"local", "lxc", "nodes", "openvz", "priv", "qemu-server", "storage.cfg"}
	if !slices.Equal(names, want) {
		t.Errorf("root lists %v, want %v", names, want)
	}

	st, err := os.Stat(filepath.Join(dir, "storage.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.Get("storage.cfg")
	if st.Size() != int64(len(e.Data)) || st.ModTime().Unix() != e.MTime || !st.Mode().IsRegular() {
		t.Errorf("stat: size %d mtime %v mode %v; store: size %d mtime %d", st.Size(), st.ModTime(), st.Mode(), len(e.Data), e.MTime)
	}
	if st, err := os.Stat(filepath.Join(dir, "nodes/pve1")); err != nil || !st.IsDir() {
		t.Errorf("nodes/pve1: %v %v", st, err)
	}

	_, err = os.ReadFile(filepath.Join(dir, "missing.cfg"))
	wantErrno(t, "read missing file", err, syscall.ENOENT)
	_, err = os.ReadDir(filepath.Join(dir, "nodes/pve2"))
	wantErrno(t, "list missing dir", err, syscall.ENOENT)
}

// The kernel must not serve stale data: a change committed to the store
// (as one applied from another node would be) shows at the next access.
func TestStoreChangesShowAtOnce(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	p := filepath.Join(dir, "storage.cfg")

	readFile(t, p) // let the kernel know the file
	mustApply(t, s, cfs.Write("storage.cfg", []byte("changed\n")))
	if st, err := os.Stat(p); err != nil || st.Size() != 8 {
		t.Errorf("stat after store write: %v %v, want size 8", st, err)
	}
	if got := readFile(t, p); got != "changed\n" {
		t.Errorf("read after store write = %q", got)
	}

	// A failed lookup is not remembered either.
	n := filepath.Join(dir, "datacenter.cfg")
	_, err := os.Stat(n)
	wantErrno(t, "stat before create", err, syscall.ENOENT)
	mustApply(t, s, cfs.Write("datacenter.cfg", []byte("keyboard: en-us\n")))
	if got := readFile(t, n); got != "keyboard: en-us\n" {
		t.Errorf("new file = %q", got)
	}
	ents, _ := os.ReadDir(dir)
	if !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.Name() == "datacenter.cfg" }) {
		t.Errorf("listing misses the new file: %v", ents)
	}

	mustApply(t, s, cfs.Delete("datacenter.cfg"))
	_, err = os.Stat(n)
	wantErrno(t, "stat after store delete", err, syscall.ENOENT)

	// A file kept open sees the new version when it reads from the start
	// again, and a consistent one within a pass.
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, _ := io.ReadAll(f); string(b) != "changed\n" {
		t.Errorf("first pass = %q", b)
	}
	mustApply(t, s, cfs.Write("storage.cfg", []byte("changed again\n")))
	buf := make([]byte, 100)
	k, _ := f.ReadAt(buf, 0)
	if string(buf[:k]) != "changed again\n" {
		t.Errorf("second pass = %q", buf[:k])
	}
}

func TestWriteThroughMount(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)

	writeFile(t, filepath.Join(dir, "datacenter.cfg"), "keyboard: de\n")
	if got := stored(t, s, "datacenter.cfg"); got != "keyboard: de\n" {
		t.Errorf("stored new file = %q", got)
	}

	// O_TRUNC with shorter content leaves nothing of the old.
	writeFile(t, filepath.Join(dir, "storage.cfg"), "short\n")
	if got := stored(t, s, "storage.cfg"); got != "short\n" {
		t.Errorf("stored after rewrite = %q", got)
	}

	f, err := os.OpenFile(filepath.Join(dir, "storage.cfg"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"a\n", "b\n"} {
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "storage.cfg"); got != "short\na\nb\n" {
		t.Errorf("stored after append = %q", got)
	}

	// Writes in the middle keep the rest.
	f, err = os.OpenFile(filepath.Join(dir, "storage.cfg"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("SH"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "storage.cfg"); got != "SHort\na\nb\n" {
		t.Errorf("stored after pwrite = %q", got)
	}

	// An empty file is a file.
	writeFile(t, filepath.Join(dir, "nodes/pve1/lxc/empty.conf"), "")
	if got := stored(t, s, "nodes/pve1/lxc/empty.conf"); got != "" {
		t.Errorf("empty file = %q", got)
	}
}

// The store sees an open file's content only when it is closed (or
// synced), in one write; meanwhile it keeps the previous version.
func TestWriteIsAtomicAtClose(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)

	f, err := os.OpenFile(filepath.Join(dir, "storage.cfg"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("half"); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "storage.cfg"); got != "dir: local\n\tpath /var/lib/vz\n" {
		t.Errorf("store changed before close: %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "storage.cfg")); got != "dir: local\n\tpath /var/lib/vz\n" {
		t.Errorf("other readers see %q before close", got)
	}
	if _, err := f.WriteString(" and half"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "storage.cfg"); got != "half and half" {
		t.Errorf("stored = %q", got)
	}

	// A new file is not in the store until closed, but the mount shows it
	// to the process that is writing it.
	p := filepath.Join(dir, "nodes/pve1/qemu-server/101.conf")
	f, err = os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("cores: 2\n"); err != nil {
		t.Fatal(err)
	}
	absent(t, s, "nodes/pve1/qemu-server/101.conf")
	if st, err := os.Stat(p); err != nil || st.Size() != 9 {
		t.Errorf("stat of the file being created: %v %v", st, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 2 {
		t.Errorf("listing while creating: %v, want 100.conf and 101.conf", ents)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "nodes/pve1/qemu-server/101.conf"); got != "cores: 2\n" {
		t.Errorf("stored after fsync = %q", got)
	}
	if _, err := f.WriteString("memory: 1024\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "nodes/pve1/qemu-server/101.conf"); got != "cores: 2\nmemory: 1024\n" {
		t.Errorf("stored after close = %q", got)
	}

	// Removed while open: closing stores nothing.
	p = filepath.Join(dir, "scratch")
	f, err = os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("x")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	absent(t, s, "scratch")
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	p := filepath.Join(dir, "storage.cfg")

	if err := os.Truncate(p, 3); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "storage.cfg"); got != "dir" {
		t.Errorf("after truncate(2) = %q", got)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "storage.cfg"); got != "dir\x00\x00" {
		t.Errorf("after ftruncate = %q", got)
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	qs := filepath.Join(dir, "nodes/pve1/qemu-server")

	// Moving a guest to another node, as the docs of PVE describe.
	if err := os.MkdirAll(filepath.Join(dir, "nodes/pve2/qemu-server"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(qs, "100.conf"), filepath.Join(dir, "nodes/pve2/qemu-server/100.conf")); err != nil {
		t.Fatal(err)
	}
	absent(t, s, "nodes/pve1/qemu-server/100.conf")
	if got := stored(t, s, "nodes/pve2/qemu-server/100.conf"); got != "memory: 512\n" {
		t.Errorf("moved file = %q", got)
	}

	// Replacing a file, and a directory with its contents.
	writeFile(t, filepath.Join(dir, "a"), "A")
	writeFile(t, filepath.Join(dir, "b"), "B")
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	absent(t, s, "a")
	if got := stored(t, s, "b"); got != "A" {
		t.Errorf("b = %q", got)
	}
	if err := os.Rename(filepath.Join(dir, "nodes/pve2"), filepath.Join(dir, "nodes/pve3")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "nodes/pve3/qemu-server/100.conf")); got != "memory: 512\n" {
		t.Errorf("file in moved dir = %q", got)
	}

	// rename(2) replaces an empty directory, not a full one. (os.Rename
	// refuses any directory target itself, hence syscall.)
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Rename(filepath.Join(dir, "nodes/pve3"), filepath.Join(dir, "empty")); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "empty/qemu-server/100.conf"); got != "memory: 512\n" {
		t.Errorf("after replacing an empty dir = %q", got)
	}
	err := syscall.Rename(filepath.Join(dir, "nodes/pve1"), filepath.Join(dir, "empty"))
	wantErrno(t, "rename onto a full dir", err, syscall.ENOTEMPTY)
	err = os.Rename(filepath.Join(dir, "nope"), filepath.Join(dir, "x"))
	wantErrno(t, "rename missing", err, syscall.ENOENT)

	// The inode number moves with the file.
	st1, _ := os.Stat(filepath.Join(dir, "b"))
	if err := os.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(dir, "c"))
	if ino(st1) != ino(st2) {
		t.Errorf("inode changed by rename: %d -> %d", ino(st1), ino(st2))
	}
}

// Saving the way many editors and tools do: write a temporary file next
// to the original and rename it over the original.
func TestEditorSave(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	conf := filepath.Join(dir, "qemu-server/100.conf")

	tmp := filepath.Join(dir, "nodes/pve1/qemu-server/.100.conf.tmp")
	writeFile(t, tmp, "memory: 2048\n")
	if err := os.Rename(tmp, conf); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "nodes/pve1/qemu-server/100.conf"); got != "memory: 2048\n" {
		t.Errorf("after save = %q", got)
	}
	absent(t, s, "nodes/pve1/qemu-server/.100.conf.tmp")

	// Renamed while still open, before anything was stored: the content
	// written before and after ends up under the new name.
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("memory: ")
	if err := os.Rename(tmp, conf); err != nil {
		t.Fatal(err)
	}
	f.WriteString("4096\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, "nodes/pve1/qemu-server/100.conf"); got != "memory: 4096\n" {
		t.Errorf("after save through an open file = %q", got)
	}
	absent(t, s, "nodes/pve1/qemu-server/.100.conf.tmp")

	// vim's default: probe file, move the original to a backup, write a
	// new file, drop the backup.
	probe := filepath.Join(dir, "nodes/pve1/qemu-server/4913")
	f, err = os.OpenFile(probe, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	backup := conf + "~"
	if err := os.Rename(conf, backup); err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, "memory: 8192\n")
	if err := os.Remove(backup); err != nil {
		t.Fatal(err)
	}
	ents, _ := s.List("nodes/pve1/qemu-server")
	if len(ents) != 1 || string(ents[0].Data) != "memory: 8192\n" {
		t.Errorf("qemu-server holds %v", ents)
	}
}

func TestMkdirRmdirUnlink(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)

	if err := os.Mkdir(filepath.Join(dir, "firewall"), 0o755); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get("firewall"); err != nil || !e.Dir {
		t.Fatalf("firewall: %v %v", e, err)
	}
	err := os.Mkdir(filepath.Join(dir, "firewall"), 0o755)
	wantErrno(t, "mkdir existing", err, syscall.EEXIST)
	writeFile(t, filepath.Join(dir, "firewall/cluster.fw"), "[OPTIONS]\n")

	err = syscall.Rmdir(filepath.Join(dir, "firewall"))
	wantErrno(t, "rmdir non-empty", err, syscall.ENOTEMPTY)
	if err := os.Remove(filepath.Join(dir, "firewall/cluster.fw")); err != nil {
		t.Fatal(err)
	}
	absent(t, s, "firewall/cluster.fw")
	if err := syscall.Rmdir(filepath.Join(dir, "firewall")); err != nil {
		t.Fatal(err)
	}
	absent(t, s, "firewall")

	err = syscall.Unlink(filepath.Join(dir, "missing"))
	wantErrno(t, "unlink missing", err, syscall.ENOENT)
	err = syscall.Rmdir(filepath.Join(dir, "storage.cfg"))
	wantErrno(t, "rmdir of a file", err, syscall.ENOTDIR)
	_, err = os.OpenFile(filepath.Join(dir, "storage.cfg"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	wantErrno(t, "O_EXCL create of an existing file", err, syscall.EEXIST)
	err = os.WriteFile(filepath.Join(dir, "storage.cfg/x"), nil, 0o640)
	wantErrno(t, "create below a file", err, syscall.ENOTDIR)
	_, err = os.OpenFile(filepath.Join(dir, "nodes"), os.O_WRONLY, 0)
	wantErrno(t, "open a directory for writing", err, syscall.EISDIR)
	err = os.Symlink("storage.cfg", filepath.Join(dir, "link"))
	if err == nil {
		t.Error("symlink creation succeeded; the tree cannot hold links")
	}
}

func TestFileTooLarge(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	s := newStore(t, func(c *cfs.Config) { c.MaxFileSize = 1024 })
	mustApply(t, s, cfs.Write("small.cfg", []byte("ok\n")))
	big := bytes.Repeat([]byte("x"), 2000)

	// The mount does not know the store's limit: the store refuses the
	// write at close, and close says so.
	dir := mountTree(t, s, Options{})
	err := os.WriteFile(filepath.Join(dir, "small.cfg"), big, 0o640)
	wantErrno(t, "close of an oversized file", err, syscall.EFBIG)
	if got := stored(t, s, "small.cfg"); got != "ok\n" {
		t.Errorf("store changed: %q", got)
	}

	// Told the limit, the mount refuses the write itself.
	dir = mountTree(t, s, Options{MaxFileSize: 1024})
	f, err := os.OpenFile(filepath.Join(dir, "small.cfg"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(big)
	wantErrno(t, "write beyond the limit", err, syscall.EFBIG)
	f.Close()
	if got := stored(t, s, "small.cfg"); got != "" {
		// The truncation itself was fine and is stored at close.
		t.Errorf("after refused write = %q", got)
	}

	// A full tree is a full disk.
	s = newStore(t, func(c *cfs.Config) { c.MaxTotalSize = 1500 })
	dir = mountTree(t, s, Options{})
	writeFile(t, filepath.Join(dir, "a"), string(big[:1000]))
	err = os.WriteFile(filepath.Join(dir, "b"), big[:1000], 0o640)
	wantErrno(t, "write beyond the total limit", err, syscall.ENOSPC)
	absent(t, s, "b")
}

func TestInodesStable(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	p := filepath.Join(dir, "storage.cfg")
	st1, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, cfs.Write("storage.cfg", []byte("new\n")))
	st2, _ := os.Stat(p)
	st3, _ := os.Stat(filepath.Join(dir, "nodes/../storage.cfg"))
	if ino(st1) != ino(st2) || ino(st2) != ino(st3) {
		t.Errorf("inode numbers %d %d %d for one path", ino(st1), ino(st2), ino(st3))
	}
	other, _ := os.Stat(filepath.Join(dir, "nodes"))
	if ino(other) == ino(st1) {
		t.Error("two paths share an inode number")
	}
}

func ino(fi os.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	const writers, files = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*files)
	for w := range writers {
		wg.Go(func() {
			for i := range files {
				name := fmt.Sprintf("nodes/pve1/qemu-server/%d.conf", 200+w*files+i)
				data := fmt.Sprintf("name: vm-%d-%d\n", w, i)
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
					errs <- err
					return
				}
				if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != data {
					errs <- fmt.Errorf("read back %s: %q %v", name, got, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		for i := range files {
			name := fmt.Sprintf("nodes/pve1/qemu-server/%d.conf", 200+w*files+i)
			if got := stored(t, s, name); got != fmt.Sprintf("name: vm-%d-%d\n", w, i) {
				t.Errorf("%s = %q", name, got)
			}
		}
	}
}

func TestMountRefusals(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	s := newStore(t, nil)
	if _, err := Mount(ctxT(t), s, filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("mounted on a missing directory")
	}
	f := filepath.Join(t.TempDir(), "file")
	writeFile(t, f, "")
	if _, err := Mount(ctxT(t), s, f, Options{}); err == nil {
		t.Error("mounted on a file")
	}
	if _, err := Mount(ctxT(t), s, t.TempDir(), Options{Node: "a/b"}); err == nil {
		t.Error("accepted a node name with a slash")
	}
}

func TestCloseUnmounts(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	s := newStore(t, nil)
	mustApply(t, s, cfs.Write("x", []byte("x")))
	dir := t.TempDir()
	m, err := Mount(ctxT(t), s, dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "x")); got != "x" {
		t.Errorf("x = %q", got)
	}
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("still mounted: %v", err)
	}
}

// A busy mount (a file open in it) cannot be unmounted normally; Close
// detaches it instead of hanging, and serving ends with the last user.
func TestCloseWhileBusy(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	s := newStore(t, nil)
	mustApply(t, s, cfs.Write("x", []byte("x")))
	m, err := Mount(ctxT(t), s, t.TempDir(), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(m.Dir(), "x"))
	if err != nil {
		_ = m.Close()
		t.Fatal(err)
	}
	if err := m.Close(); err == nil {
		t.Error("Close of a busy mount reported no problem")
	}
	f.Close()
	select {
	case <-m.served:
	case <-time.After(5 * time.Second):
		t.Fatal("still serving after the last file was closed")
	}
}
