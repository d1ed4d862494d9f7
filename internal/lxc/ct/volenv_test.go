package ct

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/btrfs"
	"github.com/hearth-virt/hearth/internal/storage/dir"
)

// volEnv is a node for the volume operations: the container service on
// a real cluster store, a dir storage "local" in a temporary directory
// and, where the test asks and the host can, a btrfs storage "bt" on a
// loop-mounted file system. File tools (tar, mkfs.ext4, e2fsck,
// resize2fs) run for real; LXC's tools are answered by a Recorder, as no
// container runs here.
type volEnv struct {
	t     *testing.T
	s     *Service
	store *cfs.Store
	run   *toolRunner
	pools *fakePools
	local string
	bt    string
}

// toolRunner runs the real tools named in real and answers every other
// command from a Recorder, keeping the command lines of both in order.
type toolRunner struct {
	mu    sync.Mutex
	lines []string
	fake  *runner.Recorder
	real  map[string]bool
}

func (r *toolRunner) Run(ctx context.Context, c runner.Cmd) (runner.Result, error) {
	r.mu.Lock()
	r.lines = append(r.lines, c.String())
	r.mu.Unlock()
	if r.real[c.Name] {
		return runner.Exec{}.Run(ctx, c)
	}
	return r.fake.Run(ctx, c)
}

// ran lists the commands run whose line starts with prefix.
func (r *toolRunner) ran(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

type fakePools struct {
	err   error
	added map[int]string
}

func (p *fakePools) AddGuestToPool(_ context.Context, pool string, vmid int) error {
	if p.err != nil {
		return p.err
	}
	p.added[vmid] = pool
	return nil
}

func (p *fakePools) ForgetGuest(context.Context, int, bool) error { return nil }

// volTaskLog is a task log kept in memory.
type volTaskLog struct {
	mu    sync.Mutex
	lines []string
	warns []string
}

func (l *volTaskLog) Printf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
}

func (l *volTaskLog) Warnf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns = append(l.warns, fmt.Sprintf(f, a...))
}

func (l *volTaskLog) Progress(int64, int64) {}

func (l *volTaskLog) String() string {
	return strings.Join(l.lines, "\n") + "\nWARN: " + strings.Join(l.warns, "\nWARN: ")
}

func needVolumeTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: container volumes are owned by root and mounted through loop devices, which needs root")
	}
	for _, tool := range []string{"qemu-img", "tar", "mkfs.ext4", "e2fsck", "resize2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed: %v", tool, err)
		}
	}
}

func newVolEnv(t *testing.T, withBtrfs bool) *volEnv {
	t.Helper()
	needVolumeTools(t)
	// Each test has its own store, storages and loop devices.
	t.Parallel()
	ctx := t.Context()
	store, err := cfs.Open(ctx, cfs.Config{Dir: t.TempDir(), NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	e := &volEnv{t: t, store: store, local: t.TempDir(), pools: &fakePools{added: map[int]string{}}}
	cfg := "dir: local\n\tpath " + e.local + "\n\tcontent rootdir,images\n"
	if withBtrfs {
		e.bt = mountBtrfs(t)
		cfg += "\nbtrfs: bt\n\tpath " + e.bt + "\n\tcontent rootdir,images\n"
	}
	if _, err := store.Apply(ctx, cfs.Write(storage.CfgPath, []byte(cfg))); err != nil {
		t.Fatal(err)
	}
	st := storage.New(storage.Options{Store: store, Plugins: []storage.Plugin{dir.Plugin{}, btrfs.Plugin{}},
		Env: storage.Env{Node: "n1", Runner: runner.Exec{}, StateDir: t.TempDir()}})
	e.run = &toolRunner{fake: (&runner.Recorder{}).On("sync", ""),
		real: map[string]bool{"tar": true, "mkfs.ext4": true, "fsck": true, "e2fsck": true, "resize2fs": true, "unshare": true}}
	e.s = New(Options{Store: store, Node: "n1", Storage: st, Runner: e.run, LXCPath: t.TempDir(), Pools: e.pools})
	return e
}

// mountBtrfs makes a 1 GiB btrfs with quotas on a loop device and mounts
// it; cleanups unmount it and detach the device, whatever the test did.
func mountBtrfs(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"truncate", "mkfs.btrfs", "losetup", "mount", "umount", "btrfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed: %v", tool, err)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "btrfs.img")
	runTool(t, "truncate", "-s", "1G", img)
	runTool(t, "mkfs.btrfs", "-f", "-q", img)
	dev := runTool(t, "losetup", "--find", "--show", img)
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	runTool(t, "mount", dev, mnt)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("unmount %s: %v\n%s", mnt, err, out)
		}
	})
	runTool(t, "btrfs", "quota", "enable", mnt)
	return mnt
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %v: %v\n%s", name, args, err, ee.Stderr)
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return strings.TrimSpace(string(out))
}

// conf writes a container's configuration file as it is given.
func (e *volEnv) conf(vmid int, text string) {
	e.t.Helper()
	if _, err := e.store.Apply(e.t.Context(), cfs.Write("nodes/n1/lxc/"+strconv.Itoa(vmid)+".conf", []byte(text))); err != nil {
		e.t.Fatal(err)
	}
}

// load reads a container's configuration.
func (e *volEnv) load(vmid int) *guestconf.Config {
	e.t.Helper()
	c, err := e.s.repo.Load(vmid)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// volume makes a container volume as create does: an ext4 image, or a
// subvolume where the storage makes those.
func (e *volEnv) volume(vmid int, sid string, size int64) string {
	e.t.Helper()
	volid, err := e.s.allocVolume(e.t.Context(), vmid, sid, size, 0, 0, &volTaskLog{})
	if err != nil {
		e.t.Fatal(err)
	}
	return volid
}

// rawVolume makes an ext4 image on a storage whatever it would choose.
func (e *volEnv) rawVolume(vmid int, sid string, size int64) string {
	e.t.Helper()
	_, st, err := e.s.o.Storage.Open(e.t.Context(), sid)
	if err != nil {
		e.t.Fatal(err)
	}
	name, err := st.Alloc(e.t.Context(), vmid, "", "raw", size)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := st.Attach(e.t.Context(), name, "")
	if err != nil {
		e.t.Fatal(err)
	}
	runTool(e.t, "mkfs.ext4", "-q", "-F", a.Path)
	return sid + ":" + name
}

// withFiles mounts a volume (or its snapshot) and calls fn on its top
// directory.
func (e *volEnv) withFiles(volid, snap string, fn func(dir string)) {
	e.t.Helper()
	v, err := e.s.openVolume(e.t.Context(), "test", volid)
	if err != nil {
		e.t.Fatal(err)
	}
	dir, release, err := e.s.mountVolume(e.t.Context(), v, snap, snap != "")
	if err != nil {
		e.t.Fatal(err)
	}
	defer release()
	fn(dir)
}

func (e *volEnv) writeFile(volid, name, content string) {
	e.t.Helper()
	e.withFiles(volid, "", func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	})
}

func (e *volEnv) readFile(volid, snap, name string) string {
	e.t.Helper()
	var out string
	e.withFiles(volid, snap, func(dir string) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			e.t.Fatal(err)
		}
		out = string(data)
	})
	return out
}

// exists reports whether a volume is still on its storage.
func (e *volEnv) exists(volid string) bool {
	e.t.Helper()
	sid, name, err := storage.ParseVolumeID(volid)
	if err != nil {
		e.t.Fatal(err)
	}
	_, st, err := e.s.o.Storage.Open(e.t.Context(), sid)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = st.Attach(e.t.Context(), name, "")
	return err == nil
}

// runTask runs the task a handler returned.
func (e *volEnv) runTask(task api.Task, err error) (*volTaskLog, error) {
	e.t.Helper()
	if err != nil {
		return nil, err
	}
	log := &volTaskLog{}
	return log, task.Run(e.t.Context(), log)
}

// mustTask runs the task a handler returned and fails the test if the
// handler or the task fails.
func (e *volEnv) mustTask(task api.Task, err error) *volTaskLog {
	e.t.Helper()
	log, err := e.runTask(task, err)
	if err != nil {
		if log != nil {
			e.t.Fatalf("%v\n%s", err, log)
		}
		e.t.Fatal(err)
	}
	return log
}

// mountValue is the volume of a mount point value.
func mountValue(t *testing.T, c *guestconf.Config, key string) string {
	t.Helper()
	v, ok := c.Main().Get(key)
	if !ok {
		t.Fatalf("CT %d has no %s", c.VMID, key)
	}
	return mpVolume(v)
}
