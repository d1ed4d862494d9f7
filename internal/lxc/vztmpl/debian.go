package vztmpl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/atomicfile"
)

const (
	debianSuite            = "bookworm"
	debianMajor            = "12"
	debianTemplateRevision = 1
	// debianLayout versions the recipe below; bump it when the build
	// changes, so cached templates of the old recipe are rebuilt.
	debianLayout = 1
)

// debianExtras are installed on top of debootstrap's minbase (dpkg, apt
// and the essential packages): an init, the network setup Proxmox VE
// writes for Debian guests (ifupdown with DHCP through dhclient), the ip
// tool, ping, ps and /etc/services. No ssh server: its host keys would
// be the same in every container made from the template.
var debianExtras = []string{"systemd-sysv", "ifupdown", "iproute2", "iputils-ping", "isc-dhcp-client", "procps", "netbase"}

// tarCreateArgs pack a root file system with what Extract restores.
var tarCreateArgs = []string{
	"-c", "-f", "-", "--numeric-owner", "--sort=name", "--one-file-system",
	"--xattrs", "--xattrs-include=user.*", "--xattrs-include=security.capability", "--acls",
}

// buildDebian makes the Debian template with debootstrap, or reuses the
// one in the cache that was built from the same package index: the key
// is the index file apt holds for the suite, so an apt-get update that
// brings new package versions leads to a new build, and nothing else
// does.
func (b Builder) buildDebian(ctx context.Context, outDir string, logf func(string, ...any)) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("the Debian template is made with debootstrap, which needs root")
	}
	targets, err := indexTargets(ctx)
	if err != nil {
		return "", fmt.Errorf("read apt's sources: %w", err)
	}
	mainIdx, err := pickSuite(targets, debianSuite)
	if err != nil {
		return "", err
	}
	sources := debianSources(targets)
	key, err := debianKey(mainIdx, sources)
	if err != nil {
		return "", err
	}
	cacheRoot := filepath.Join(b.CacheDir, "debian")
	entry := filepath.Join(cacheRoot, key)
	if f := cachedArchive(entry); f != "" {
		logf("vztmpl: using cached %s (%s)", filepath.Base(f), key)
		return publish(f, outDir)
	}
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheRoot, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if f := cachedArchive(entry); f != "" {
		logf("vztmpl: %s was built by another process", filepath.Base(f))
		return publish(f, outDir)
	}
	removeLeftovers(cacheRoot, logf)
	tmp, err := os.MkdirTemp(cacheRoot, ".build-")
	if err != nil {
		return "", err
	}
	defer removeTree(tmp)
	root := filepath.Join(tmp, "root")
	start := time.Now()
	logf("vztmpl: debootstrap %s from %s", debianSuite, mainIdx.RepoURI)
	if err := debootstrap(ctx, root, mainIdx.RepoURI, logf); err != nil {
		return "", err
	}
	logf("vztmpl: debootstrap took %v", time.Since(start).Round(time.Second))
	if err := configureDebian(root, sources); err != nil {
		return "", fmt.Errorf("configure the Debian tree: %w", err)
	}
	release, err := os.ReadFile(filepath.Join(root, "etc", "debian_version"))
	if err != nil {
		return "", err
	}
	version := strings.TrimSpace(string(release))
	if !pointRelease.MatchString(version) {
		return "", fmt.Errorf("debootstrap made Debian %q, expected %s.N", version, debianMajor)
	}
	file := debianFile(version, compression())
	t := time.Now()
	if err := packTree(ctx, root, filepath.Join(tmp, file), compression()); err != nil {
		return "", err
	}
	logf("vztmpl: packed %s in %v", file, time.Since(t).Round(time.Millisecond))
	if err := removeTree(root); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, entry); err != nil {
		return "", fmt.Errorf("put the built template into the cache: %w", err)
	}
	_ = atomicfile.SyncDir(cacheRoot)
	pruneOthers(cacheRoot, key, logf)
	return publish(filepath.Join(entry, file), outDir)
}

var pointRelease = regexp.MustCompile(`^` + debianMajor + `\.[0-9]+$`)

// debianKey names a build by its inputs: the recipe, the mirror, the
// sources the template will use, and the package index debootstrap
// resolves against.
func debianKey(idx indexTarget, sources string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "layout %d\nsuite %s\nmirror %s\nextras %s\nsuffix %s\n",
		debianLayout, debianSuite, idx.RepoURI, strings.Join(debianExtras, ","), compression())
	fmt.Fprintf(h, "sources %q\n", sources)
	f, err := os.Open(idx.Filename)
	if err != nil {
		return "", fmt.Errorf("%w: apt has no package index for %s (run apt-get update): %w", ErrArchiveUnreachable, debianSuite, err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("v%d-%s", debianLayout, hex.EncodeToString(h.Sum(nil))[:20]), nil
}

// debianSources is the template's /etc/apt/sources.list: the suite,
// its updates and its security suite, from the mirrors this host uses.
func debianSources(targets []indexTarget) string {
	var b strings.Builder
	for _, suite := range []string{debianSuite, debianSuite + "-updates", debianSuite + "-security"} {
		if t, err := pickSuite(targets, suite); err == nil {
			fmt.Fprintf(&b, "deb %s %s main\n", t.RepoURI, suite)
		}
	}
	return b.String()
}

// cachedArchive returns the template file in a cache entry, or "".
// Entries appear by rename only, so a file there is whole.
func cachedArchive(entry string) string {
	files, _ := filepath.Glob(filepath.Join(entry, "debian-*.tar.*"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
			return f
		}
	}
	return ""
}

// cachedDebian returns the cached Debian template for the host's
// current package lists, if there is one.
func (b Builder) cachedDebian(ctx context.Context) (string, bool) {
	targets, err := indexTargets(ctx)
	if err != nil {
		return "", false
	}
	idx, err := pickSuite(targets, debianSuite)
	if err != nil {
		return "", false
	}
	key, err := debianKey(idx, debianSources(targets))
	if err != nil {
		return "", false
	}
	f := cachedArchive(filepath.Join(b.CacheDir, "debian", key))
	return f, f != ""
}

// debootstrap installs minbase plus debianExtras into root.
func debootstrap(ctx context.Context, root, mirror string, logf func(string, ...any)) error {
	args := []string{"--variant=minbase", "--arch=amd64", "--components=main",
		"--include=" + strings.Join(debianExtras, ","), debianSuite, root, mirror}
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	// debootstrap is a shell script running dpkg in a chroot: end the
	// whole process group, not just the script, when ctx ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
			logf("vztmpl: debootstrap: %s", line)
		}
	}
	if err == nil {
		return nil
	}
	msg := out.String()
	if i := len(msg) - 4000; i > 0 {
		msg = msg[i:]
	}
	err = commandError(ctx, cmd, err, msg)
	if strings.Contains(msg, "Failed getting release file") || strings.Contains(msg, "Couldn't download") ||
		strings.Contains(msg, "Couldn't get") {
		return fmt.Errorf("%w: %w", ErrArchiveUnreachable, err)
	}
	return err
}

// configureDebian turns the debootstrapped tree into a template:
// settings that must not come from the build host (debootstrap copies
// its resolver and host name), no per-machine identity, and no caches.
func configureDebian(root, sources string) error {
	files := map[string]string{
		"etc/apt/sources.list": sources,
		"etc/hostname":         "localhost\n",
		"etc/resolv.conf":      "",
		"etc/hosts":            "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n",
		"etc/fstab":            "# Mounts of a container come from its configuration.\n",
		// Empty: systemd gives each container its own id at first boot.
		"etc/machine-id":         "",
		"etc/network/interfaces": "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	for _, pattern := range []string{
		"var/lib/dbus/machine-id",
		"dev/*",
		"var/cache/apt/archives/*.deb", "var/cache/apt/archives/partial/*", "var/cache/apt/*.bin",
		"var/lib/apt/lists/*_*",
		"var/log/bootstrap.log", "var/log/dpkg.log", "var/log/alternatives.log", "var/log/apt/*",
		"etc/ssh/ssh_host_*",
	} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// packTree writes root as a tar archive to file, compressed as suffix
// (.tar.zst or .tar.gz) says.
func packTree(ctx context.Context, root, file, suffix string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	// Default zstd level on all cores: 2 s for 250 MB here; level 19
	// saves 15% and takes minutes.
	err = compressTo(ctx, f, suffix, []string{"-T0"}, func(w io.Writer) error {
		cmd := exec.CommandContext(ctx, "tar", append(append([]string{}, tarCreateArgs...), "-C", root, ".")...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		cmd.Stdout = w
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return commandError(ctx, cmd, err, stderr.String())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pack the Debian tree: %w", err)
	}
	return f.Sync()
}

// publish places the cached template src into outDir under its own
// name: a hard link where both are on one file system, else a copy,
// each through a temporary name and a rename.
func publish(src, outDir string) (string, error) {
	name := filepath.Base(src)
	tmp := filepath.Join(outDir, fmt.Sprintf(".%s.tmp-link-%d", name, os.Getpid()))
	os.Remove(tmp)
	if err := os.Link(src, tmp); err == nil {
		if err := os.Rename(tmp, filepath.Join(outDir, name)); err != nil {
			os.Remove(tmp)
			return "", err
		}
		_ = atomicfile.SyncDir(outDir)
		return name, nil
	}
	err := writeAtomically(outDir, name, func(f *os.File) error {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(f, in)
		return err
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// removeLeftovers deletes builds of builders that died. It runs under
// the lock, so no live build owns them.
func removeLeftovers(cacheRoot string, logf func(string, ...any)) {
	old, _ := filepath.Glob(filepath.Join(cacheRoot, ".build-*"))
	for _, d := range old {
		logf("vztmpl: removing abandoned build %s", filepath.Base(d))
		removeTree(d)
	}
}

// pruneOthers deletes cached templates of older inputs: a new build
// supersedes them, and each is 100 MB.
func pruneOthers(cacheRoot, keep string, logf func(string, ...any)) {
	entries, _ := filepath.Glob(filepath.Join(cacheRoot, "v*-*"))
	for _, e := range entries {
		if filepath.Base(e) == keep {
			continue
		}
		logf("vztmpl: removing superseded template build %s", filepath.Base(e))
		os.RemoveAll(e)
	}
}

// removeTree deletes a build directory after detaching anything still
// mounted inside it (debootstrap mounts /proc and /sys in the target and
// leaves them when it is killed), so that removal never reaches into a
// mounted file system.
func removeTree(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mounts, _ := mountsUnder(abs)
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s before removing the build: %w", m, err)
		}
	}
	return os.RemoveAll(abs)
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, dir+"/") {
			found = append(found, mp)
		}
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	return found, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lockFile takes an exclusive flock on file, polling so that ctx can end
// the wait. The lock goes with the process, so a crashed builder never
// leaves it held.
func lockFile(ctx context.Context, file string) (func(), error) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("template cache lock: %w", err)
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
			return nil, fmt.Errorf("template cache lock %s: %w", file, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("template cache lock %s: %w", file, ctx.Err())
		case <-tick.C:
		}
	}
}
