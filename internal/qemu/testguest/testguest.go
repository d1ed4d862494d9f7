package testguest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ReadyLine is what the guest prints on its serial console, on a line
// of its own, once it is set up: modules loaded, network configured,
// agent started, power button watched. Waiting for it is the way to
// know the guest has booted.
const ReadyLine = "hearth-testguest: ready"

// layoutVersion versions the guest's make-up beyond its packages: bump
// it when the way the initramfs is assembled changes. Edits of the
// embedded scripts change the cache key on their own.
const layoutVersion = 2

// Guest is a built test guest: a kernel and an initramfs to boot with
// -kernel/-initrd.
type Guest struct {
	// Kernel is the absolute path of the kernel: the uncompressed ELF,
	// which QEMU boots through PVH, or the bzImage if that could not be
	// extracted. Either goes to -kernel.
	Kernel string
	Initrd string // absolute path of the gzip'd newc initramfs
	// Packages are the Debian packages it was built from, as name=version.
	Packages []string
}

// KernelArgs returns the kernel command line for the guest: serial
// console, no reboot loop after a panic, and the static address (CIDR)
// and gateway of the first network card. Empty ip or gw leave them out.
// Mitigations and security modules are off: under TCG they only cost
// boot time, and the guest runs nothing untrusted.
func KernelArgs(ip, gw string) string {
	args := []string{"console=ttyS0", "panic=-1", "loglevel=4", "mitigations=off", "security=none"}
	if ip != "" {
		args = append(args, "hearth.ip="+ip)
	}
	if gw != "" {
		args = append(args, "hearth.gw="+gw)
	}
	return strings.Join(args, " ")
}

// DefaultCacheDir is where built guests are kept between runs:
// $HEARTH_TESTGUEST_CACHE, else /var/cache/hearth/testguest for root,
// else the user's cache directory.
func DefaultCacheDir() string {
	if d := os.Getenv("HEARTH_TESTGUEST_CACHE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/hearth/testguest"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hearth", "testguest")
	}
	return filepath.Join(os.TempDir(), "hearth-testguest")
}

// Build returns the test guest for the packages the host's apt lists
// name now, building it into cacheDir unless a build of exactly those
// package versions is there already. Builds by concurrent processes are
// serialised by a lock file; each build happens in a temporary directory
// renamed into place, so readers never see a half-built guest. logf
// (may be nil) receives progress.
func Build(ctx context.Context, cacheDir string, logf func(string, ...any)) (*Guest, error) {
	b, err := newBuilder(cacheDir, logf)
	if err != nil {
		return nil, err
	}
	return b.build(ctx)
}

// newBuilder sets up the real build: apt on this host, cache in cacheDir.
func newBuilder(cacheDir string, logf func(string, ...any)) (*builder, error) {
	if cacheDir == "" {
		return nil, errors.New("test guest: no cache directory given")
	}
	dir, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, err
	}
	b := &builder{
		cacheDir: dir,
		logf:     logf,
		archive:  apt{pkgcache: filepath.Join(dir, "apt-pkgcache.bin")},
		// Only root may refresh the package lists when they are stale.
		canUpdate: os.Geteuid() == 0,
	}
	b.make = b.makeGuest
	return b, nil
}

type builder struct {
	cacheDir string
	logf     func(string, ...any)
	archive  archive
	// make builds the guest's files into dir; a field so that tests of
	// the cache can stand in for the slow real build.
	make      func(ctx context.Context, dir string, pkgs []debPackage) error
	canUpdate bool // may run apt-get update when the lists are stale
}

const (
	kernelFile = "kernel"
	initrdFile = "initrd.img"
	lockFile   = ".lock"
	buildTemp  = ".build-"
)

func (b *builder) log(format string, args ...any) {
	if b.logf != nil {
		b.logf("testguest: "+format, args...)
	}
}

func (b *builder) build(ctx context.Context) (*Guest, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the test guest is an amd64 Debian system; this host is %s", runtime.GOARCH)
	}
	if b.cacheDir == "" {
		return nil, errors.New("test guest: no cache directory given")
	}
	dir, err := filepath.Abs(b.cacheDir)
	if err != nil {
		return nil, err
	}
	b.cacheDir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("test guest cache: %w", err)
	}
	for attempt := 0; ; attempt++ {
		g, err := b.buildOnce(ctx)
		if errors.Is(err, errStaleLists) && attempt == 0 && b.canUpdate {
			b.log("package lists are out of date; running apt-get update")
			if uerr := b.archive.Update(ctx); uerr != nil {
				return nil, uerr
			}
			continue
		}
		if errors.Is(err, errStaleLists) {
			err = fmt.Errorf("%w: %w", ErrArchiveUnreachable, err)
		}
		return g, err
	}
}

func (b *builder) buildOnce(ctx context.Context) (*Guest, error) {
	start := time.Now()
	pkgs, err := b.archive.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("test guest: resolve packages: %w", err)
	}
	key, err := cacheKey(pkgs)
	if err != nil {
		return nil, err
	}
	entry := filepath.Join(b.cacheDir, key)
	if g := b.lookup(entry, pkgs); g != nil {
		// The entry's time says when it was last used; pruning goes by it.
		now := time.Now()
		os.Chtimes(entry, now, now)
		b.log("cached guest %s (resolved in %v)", key, time.Since(start).Round(time.Millisecond))
		return g, nil
	}
	unlock, err := lockDir(ctx, filepath.Join(b.cacheDir, lockFile))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have built it while this one waited.
	if g := b.lookup(entry, pkgs); g != nil {
		b.log("guest %s built by another process", key)
		return g, nil
	}
	b.removeLeftovers()
	tmp, err := os.MkdirTemp(b.cacheDir, buildTemp)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b.log("building guest %s from %d packages", key, len(pkgs))
	if err := b.make(ctx, tmp, pkgs); err != nil {
		return nil, fmt.Errorf("test guest: build: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, entry); err != nil {
		return nil, fmt.Errorf("test guest: put build in place: %w", err)
	}
	if d, err := os.Open(b.cacheDir); err == nil {
		d.Sync()
		d.Close()
	}
	b.log("built guest %s in %v", key, time.Since(start).Round(time.Millisecond))
	b.prune(key)
	g := b.lookup(entry, pkgs)
	if g == nil {
		return nil, fmt.Errorf("test guest: %s is incomplete after the build", entry)
	}
	return g, nil
}

// lookup returns the guest in entry if it is complete. Entries appear by
// rename only, so existing files are whole.
func (b *builder) lookup(entry string, pkgs []debPackage) *Guest {
	g := &Guest{Kernel: filepath.Join(entry, kernelFile), Initrd: filepath.Join(entry, initrdFile)}
	for _, f := range []string{g.Kernel, g.Initrd} {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			return nil
		}
	}
	for _, p := range pkgs {
		g.Packages = append(g.Packages, p.String())
	}
	return g
}

// removeLeftovers deletes build directories of builders that died. It
// runs under the lock, so no live build owns them.
func (b *builder) removeLeftovers() {
	old, _ := filepath.Glob(filepath.Join(b.cacheDir, buildTemp+"*"))
	for _, d := range old {
		b.log("removing abandoned build %s", filepath.Base(d))
		os.RemoveAll(d)
	}
}

// pruneAge is how long a build may go unused before a new build of
// other packages deletes it.
const pruneAge = 7 * 24 * time.Hour

// prune deletes builds other than keep that have not been used for
// pruneAge, so that each kernel update does not leave 80 MB behind for
// good. It runs under the lock.
func (b *builder) prune(keep string) {
	entries, _ := filepath.Glob(filepath.Join(b.cacheDir, "v*-*"))
	for _, e := range entries {
		st, err := os.Stat(e)
		if err != nil || !st.IsDir() || filepath.Base(e) == keep || time.Since(st.ModTime()) < pruneAge {
			continue
		}
		b.log("removing unused guest %s", filepath.Base(e))
		os.RemoveAll(e)
	}
}

// cacheKey names a build: a digest of the exact package files, the
// layout version and the embedded scripts, so that any change of input
// builds anew and an unchanged set reuses the files.
func cacheKey(pkgs []debPackage) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "layout %d\n", layoutVersion)
	pkgs = slices.Clone(pkgs)
	slices.SortFunc(pkgs, func(a, b debPackage) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range pkgs {
		fmt.Fprintf(h, "deb %s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	fmt.Fprintf(h, "modules %s\n", strings.Join(guestModules, ","))
	for _, name := range []string{"rootfs/init", "rootfs/shutdown"} {
		data, err := rootfs.ReadFile(name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s %d\n", name, len(data))
		h.Write(data)
	}
	return fmt.Sprintf("v%d-%s", layoutVersion, hex.EncodeToString(h.Sum(nil))[:20]), nil
}

// lockDir takes an exclusive flock on file, polling so that ctx can end
// the wait. The lock goes with the process, so a crashed builder never
// leaves it held.
func lockDir(ctx context.Context, file string) (func(), error) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("test guest cache lock: %w", err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("test guest cache lock %s: %w", file, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("test guest cache lock %s: %w", file, ctx.Err())
		case <-tick.C:
		}
	}
}

// makeGuest is the real build: download, unpack, assemble.
func (b *builder) makeGuest(ctx context.Context, dir string, pkgs []debPackage) error {
	// Scratch space beside the output; removed before the rename.
	scratch := filepath.Join(dir, "scratch")
	debs := filepath.Join(scratch, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	t := time.Now()
	if err := b.archive.Fetch(ctx, debs, pkgs); err != nil {
		return err
	}
	b.log("downloaded %d packages in %v", len(pkgs), time.Since(t).Round(time.Millisecond))
	t = time.Now()
	kernelRoot, root := filepath.Join(scratch, "kernel"), filepath.Join(scratch, "root")
	for _, p := range pkgs {
		into := root
		if strings.HasPrefix(p.Name, "linux-image-") {
			into = kernelRoot
		}
		if err := unpack(ctx, filepath.Join(debs, p.File), into); err != nil {
			return err
		}
	}
	b.log("unpacked in %v", time.Since(t).Round(time.Millisecond))
	t = time.Now()
	k, err := openKernelTree(kernelRoot)
	if err != nil {
		return err
	}
	in, err := gatherInputs(ctx, root, k, pkgs)
	if err != nil {
		return err
	}
	if err := writeInitramfs(filepath.Join(dir, initrdFile), in); err != nil {
		return err
	}
	image, err := os.ReadFile(k.vmlinuz)
	if err != nil {
		return err
	}
	kernel, err := extractVmlinux(ctx, image)
	if err != nil {
		b.log("booting the compressed kernel, slower under TCG: %v", err)
		kernel = image
	}
	if err := writeSynced(filepath.Join(dir, kernelFile), kernel); err != nil {
		return err
	}
	names := make([]string, len(in.modules))
	for i, m := range in.modules {
		names[i] = m.name
	}
	b.log("kernel %s, modules %s; assembled in %v", k.release, strings.Join(names, " "), time.Since(t).Round(time.Millisecond))
	return os.RemoveAll(scratch)
}
