package testguest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeArchive resolves to fixed packages and counts what it is asked.
type fakeArchive struct {
	mu       sync.Mutex
	pkgs     []debPackage
	fetchErr []error // returned by successive Fetch calls; nil afterwards
	resolves int
	fetches  int
	updates  int
	barrier  *sync.WaitGroup // if set, Resolve waits for every builder
}

func (f *fakeArchive) Resolve(context.Context) ([]debPackage, error) {
	f.mu.Lock()
	f.resolves++
	pkgs := append([]debPackage(nil), f.pkgs...)
	f.mu.Unlock()
	if f.barrier != nil {
		f.barrier.Done()
		f.barrier.Wait()
	}
	return pkgs, nil
}

func (f *fakeArchive) Fetch(context.Context, string, []debPackage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	if len(f.fetchErr) > 0 {
		err := f.fetchErr[0]
		f.fetchErr = f.fetchErr[1:]
		return err
	}
	return nil
}

func (f *fakeArchive) Update(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	return nil
}

var fakePkgs = []debPackage{
	{Name: "busybox-static", Version: "1:1.35.0-4", File: "b.deb", SHA256: strings.Repeat("1", 64)},
	{Name: "linux-image-6.1.0-56-amd64", Version: "6.1.192-2", File: "k.deb", SHA256: strings.Repeat("2", 64)},
}

// fakeBuilder builds placeholder files instead of a real guest; makes
// counts the builds and inFlight catches two running at once.
func fakeBuilder(t *testing.T, dir string, a archive, makes, inFlight *atomic.Int32) *builder {
	b := &builder{cacheDir: dir, archive: a, logf: t.Logf}
	b.make = func(ctx context.Context, out string, pkgs []debPackage) error {
		if inFlight.Add(1) > 1 {
			t.Error("two builds ran at once in one cache directory")
		}
		defer inFlight.Add(-1)
		makes.Add(1)
		if err := a.Fetch(ctx, out, pkgs); err != nil {
			return err
		}
		for _, f := range []string{kernelFile, initrdFile} {
			if err := os.WriteFile(filepath.Join(out, f), []byte(f), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	return b
}

func TestBuildReusesTheCacheUntilAPackageChanges(t *testing.T) {
	dir := t.TempDir()
	a := &fakeArchive{pkgs: fakePkgs}
	var makes, inFlight atomic.Int32
	ctx := context.Background()

	first, err := fakeBuilder(t, dir, a, &makes, &inFlight).build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(first.Kernel) || !strings.HasPrefix(first.Initrd, dir) {
		t.Errorf("paths %s, %s: want absolute, in %s", first.Kernel, first.Initrd, dir)
	}
	if want := []string{"busybox-static=1:1.35.0-4", "linux-image-6.1.0-56-amd64=6.1.192-2"}; strings.Join(first.Packages, " ") != strings.Join(want, " ") {
		t.Errorf("packages %q, want %q", first.Packages, want)
	}

	second, err := fakeBuilder(t, dir, a, &makes, &inFlight).build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if makes.Load() != 1 || a.fetches != 1 || second.Kernel != first.Kernel || second.Initrd != first.Initrd {
		t.Errorf("second build: %d builds, %d downloads, %s; want the cached %s", makes.Load(), a.fetches, second.Kernel, first.Kernel)
	}

	a.pkgs = append([]debPackage(nil), fakePkgs...)
	a.pkgs[1].Version, a.pkgs[1].SHA256 = "6.1.193-1", strings.Repeat("3", 64)
	third, err := fakeBuilder(t, dir, a, &makes, &inFlight).build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if makes.Load() != 2 || third.Kernel == first.Kernel {
		t.Errorf("new kernel version: %d builds, kernel %s; want a new build", makes.Load(), third.Kernel)
	}
	if _, err := os.Stat(first.Kernel); err != nil {
		t.Errorf("the older build, used a moment ago, went away: %v", err)
	}

	// Builds unused for long are removed by the next new build.
	old := time.Now().Add(-pruneAge - time.Hour)
	os.Chtimes(filepath.Dir(first.Kernel), old, old)
	a.pkgs[1].Version, a.pkgs[1].SHA256 = "6.1.194-1", strings.Repeat("4", 64)
	if _, err := fakeBuilder(t, dir, a, &makes, &inFlight).build(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first.Kernel); !os.IsNotExist(err) {
		t.Errorf("build unused for %v kept: %v", pruneAge, err)
	}
	if _, err := os.Stat(third.Kernel); err != nil {
		t.Errorf("recent build removed: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, buildTemp+"*")); len(left) != 0 {
		t.Errorf("temporary build directories left: %q", left)
	}
}

func TestConcurrentBuildersBuildOnce(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	var barrier sync.WaitGroup
	barrier.Add(n)
	// Every builder resolves before any looks at the cache, so all of
	// them miss and meet at the lock.
	a := &fakeArchive{pkgs: fakePkgs, barrier: &barrier}
	var makes, inFlight atomic.Int32
	guests := make([]*Guest, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guests[i], errs[i] = fakeBuilder(t, dir, a, &makes, &inFlight).build(context.Background())
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("builder %d: %v", i, errs[i])
		}
		if guests[i].Kernel != guests[0].Kernel {
			t.Errorf("builder %d got %s, builder 0 %s", i, guests[i].Kernel, guests[0].Kernel)
		}
	}
	if makes.Load() != 1 {
		t.Errorf("%d builds for %d concurrent builders of the same guest, want 1", makes.Load(), n)
	}
}

func TestBuildUpdatesStaleListsOnce(t *testing.T) {
	var makes, inFlight atomic.Int32
	stale := errors.Join(errStaleLists, errors.New("404  Not Found"))

	a := &fakeArchive{pkgs: fakePkgs, fetchErr: []error{stale}}
	b := fakeBuilder(t, t.TempDir(), a, &makes, &inFlight)
	b.canUpdate = true
	if _, err := b.build(context.Background()); err != nil || a.updates != 1 || a.fetches != 2 {
		t.Errorf("stale lists: %v after %d updates and %d downloads; want success after 1 update", err, a.updates, a.fetches)
	}

	a = &fakeArchive{pkgs: fakePkgs, fetchErr: []error{stale, stale}}
	b = fakeBuilder(t, t.TempDir(), a, &makes, &inFlight)
	b.canUpdate = true
	if _, err := b.build(context.Background()); !errors.Is(err, ErrArchiveUnreachable) || a.updates != 1 {
		t.Errorf("still stale after an update: %v after %d updates; want ErrArchiveUnreachable after 1", err, a.updates)
	}

	a = &fakeArchive{pkgs: fakePkgs, fetchErr: []error{stale}}
	b = fakeBuilder(t, t.TempDir(), a, &makes, &inFlight)
	if _, err := b.build(context.Background()); !errors.Is(err, ErrArchiveUnreachable) || a.updates != 0 {
		t.Errorf("stale lists, no permission to update: %v after %d updates", err, a.updates)
	}
}

func TestBuildRemovesAbandonedBuilds(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, buildTemp+"12345")
	writeFile(t, filepath.Join(dead, "debs", "x.deb"), []byte("partial"))
	var makes, inFlight atomic.Int32
	if _, err := fakeBuilder(t, dir, &fakeArchive{pkgs: fakePkgs}, &makes, &inFlight).build(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("abandoned build directory still there: %v", err)
	}
}

func TestBuildLockHonoursContext(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(context.Background(), filepath.Join(dir, lockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var makes, inFlight atomic.Int32
	_, err = fakeBuilder(t, dir, &fakeArchive{pkgs: fakePkgs}, &makes, &inFlight).build(ctx)
	if !errors.Is(err, context.Canceled) || makes.Load() != 0 {
		t.Errorf("build while another holds the lock, context ended: %v, %d builds", err, makes.Load())
	}
}

func TestCacheKey(t *testing.T) {
	k1, err := cacheKey(fakePkgs)
	if err != nil {
		t.Fatal(err)
	}
	reversed := []debPackage{fakePkgs[1], fakePkgs[0]}
	if k2, _ := cacheKey(reversed); k2 != k1 {
		t.Errorf("package order changed the key: %s vs %s", k2, k1)
	}
	changed := append([]debPackage(nil), fakePkgs...)
	changed[0].Version = "1:1.36.0-1"
	if k3, _ := cacheKey(changed); k3 == k1 {
		t.Error("a new version kept the key")
	}
	if !strings.HasPrefix(k1, fmt.Sprintf("v%d-", layoutVersion)) || strings.ContainsAny(k1, "/ ") {
		t.Errorf("key %q is not a plain directory name with the layout version", k1)
	}
}

func TestKernelArgs(t *testing.T) {
	tests := []struct{ ip, gw, want string }{
		{"10.0.0.2/24", "10.0.0.1", "console=ttyS0 panic=-1 loglevel=4 mitigations=off security=none hearth.ip=10.0.0.2/24 hearth.gw=10.0.0.1"},
		{"10.0.0.2/24", "", "console=ttyS0 panic=-1 loglevel=4 mitigations=off security=none hearth.ip=10.0.0.2/24"},
		{"", "", "console=ttyS0 panic=-1 loglevel=4 mitigations=off security=none"},
	}
	for _, tt := range tests {
		if got := KernelArgs(tt.ip, tt.gw); got != tt.want {
			t.Errorf("KernelArgs(%q, %q) = %q, want %q", tt.ip, tt.gw, got, tt.want)
		}
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("HEARTH_TESTGUEST_CACHE", "/srv/guests")
	if got := DefaultCacheDir(); got != "/srv/guests" {
		t.Errorf("with HEARTH_TESTGUEST_CACHE: %s", got)
	}
	t.Setenv("HEARTH_TESTGUEST_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/home/u/.cache")
	want := "/home/u/.cache/hearth/testguest"
	if os.Geteuid() == 0 {
		want = "/var/cache/hearth/testguest"
	}
	if got := DefaultCacheDir(); got != want {
		t.Errorf("DefaultCacheDir() = %s, want %s", got, want)
	}
}
