package vztmpl

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const busyboxPackage = "busybox-static"

// skel holds the busybox system's own files: init table and scripts,
// accounts, network and resolver configuration.
//
//go:embed skel
var skel embed.FS

// skelModes are the skeleton files that are not plain 0644 files.
var skelModes = map[string]int64{
	"etc/init.d/rcS":            0o755,
	"etc/init.d/rcK":            0o755,
	"etc/init.d/tty":            0o755,
	"etc/udhcpc/default.script": 0o755,
	"etc/shadow":                0o600,
}

// entry is one member of a template archive built here.
type entry struct {
	Name string // relative path, no leading "./"
	Type byte   // tar.TypeDir, tar.TypeReg or tar.TypeSymlink
	Mode int64  // permission bits with setuid, setgid and sticky
	Link string // symlink target
	Data []byte // regular file content
}

// buildBusybox makes the busybox template from the busybox-static
// package apt names now. It is cheap (one 1 MB download, cached), so
// only the package is cached and the archive is made anew each time;
// the same package always gives the same bytes.
func (b Builder) buildBusybox(ctx context.Context, outDir string, logf func(string, ...any)) (string, error) {
	deb, err := b.fetchWithRetry(ctx, busyboxPackage, logf)
	if err != nil {
		return "", err
	}
	upstream, revision, err := splitVersion(deb.Version)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "hearth-vztmpl-busybox-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	debPath := filepath.Join(b.CacheDir, "debs", deb.File)
	if _, err := command(ctx, "", "dpkg-deb", "-x", debPath, tmp); err != nil {
		return "", fmt.Errorf("unpack %s: %w", deb.File, err)
	}
	bin := filepath.Join(tmp, "bin", "busybox")
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("%s has no /bin/busybox: %w", deb.File, err)
	}
	// The package's own time stamp for the binary: fixed per package
	// version, so it keeps the archive reproducible.
	st, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	list, err := command(ctx, "", bin, "--list-full")
	if err != nil {
		return "", fmt.Errorf("list the applets of %s: %w", deb.File, err)
	}
	entries, err := busyboxTree(busyboxRelease{Upstream: upstream, Package: deb.Version}, parseAppletList(list), binary)
	if err != nil {
		return "", err
	}
	file := busyboxFile(upstream, revision, compression())
	if err := writeAtomically(outDir, file, func(f *os.File) error {
		return writeArchive(ctx, f, entries, st.ModTime(), compression())
	}); err != nil {
		return "", err
	}
	logf("vztmpl: busybox %s: %d entries", deb.Version, len(entries))
	return file, nil
}

// fetchWithRetry downloads pkg into the cache, refreshing the package
// lists once when the archive has moved past them.
func (b Builder) fetchWithRetry(ctx context.Context, pkg string, logf func(string, ...any)) (debFile, error) {
	apt := b.apt()
	for attempt := 0; ; attempt++ {
		d, err := apt.resolve(ctx, pkg)
		if err != nil {
			return debFile{}, fmt.Errorf("resolve %s: %w", pkg, err)
		}
		_, err = apt.fetch(ctx, filepath.Join(b.CacheDir, "debs"), d)
		if err == nil {
			return d, nil
		}
		if attempt == 0 && isStale(err) {
			logf("vztmpl: package lists are out of date; running apt-get update")
			if err := apt.update(ctx); err != nil {
				return debFile{}, err
			}
			continue
		}
		return debFile{}, fmt.Errorf("download %s: %w", pkg, err)
	}
}

// busyboxRelease is the busybox the template holds, for os-release.
type busyboxRelease struct {
	Upstream string // 1.35.0
	Package  string // the full Debian version, 1:1.35.0-4+deb12u1+b1
}

// parseAppletList reads `busybox --list-full`: one install path per
// applet, relative to the root (bin/sh, usr/sbin/chroot, linuxrc).
func parseAppletList(out []byte) []string {
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// appletDirs are the directories applets are linked into. busybox also
// lists /linuxrc, an initramfs entry point a container has no use for.
var appletDirs = map[string]bool{"bin": true, "sbin": true, "usr/bin": true, "usr/sbin": true}

// busyboxTree lays out the busybox system: the binary, a symlink per
// applet, the skeleton files and the empty directories a running system
// expects. The result is sorted, parents before children.
func busyboxTree(rel busyboxRelease, applets []string, binary []byte) ([]entry, error) {
	t := newTree()
	dirs := map[string]int64{
		"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"etc": 0o755, "etc/local.d": 0o755, "etc/init.d": 0o755, "etc/udhcpc": 0o755, "etc/network": 0o755,
		"etc/network/if-pre-up.d": 0o755, "etc/network/if-up.d": 0o755,
		"etc/network/if-down.d": 0o755, "etc/network/if-post-down.d": 0o755,
		"dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755, "tmp": 0o1777,
		"root": 0o700, "home": 0o755, "mnt": 0o755,
		"var": 0o755, "var/log": 0o755, "var/tmp": 0o1777, "var/lib": 0o755,
	}
	for d, mode := range dirs {
		if err := t.add(entry{Name: d, Type: tar.TypeDir, Mode: mode}); err != nil {
			return nil, err
		}
	}
	if err := t.add(entry{Name: "bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: binary}); err != nil {
		return nil, err
	}
	if err := t.add(entry{Name: "var/run", Type: tar.TypeSymlink, Mode: 0o777, Link: "../run"}); err != nil {
		return nil, err
	}
	linked := 0
	for _, p := range applets {
		p = strings.TrimPrefix(path.Clean("/"+p), "/")
		if !appletDirs[path.Dir(p)] || p == "bin/busybox" {
			continue
		}
		if err := t.add(entry{Name: p, Type: tar.TypeSymlink, Mode: 0o777, Link: "/bin/busybox"}); err != nil {
			return nil, err
		}
		linked++
	}
	for _, need := range []string{"sbin/init", "bin/sh", "sbin/getty", "bin/login", "sbin/ifup"} {
		if e, ok := t.entries[need]; !ok || e.Type != tar.TypeSymlink {
			return nil, fmt.Errorf("busybox %s has no %s applet; the template needs it", rel.Package, path.Base(need))
		}
	}
	err := fs.WalkDir(skel, "skel", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := skel.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "skel/")
		mode, ok := skelModes[name]
		if !ok {
			mode = 0o644
		}
		return t.add(entry{Name: name, Type: tar.TypeReg, Mode: mode, Data: data})
	})
	if err != nil {
		return nil, err
	}
	for name, data := range map[string]string{
		"etc/os-release": osRelease(rel),
		// Empty: LXC names the container from its configuration, and the
		// init script only overrides that when this file says something.
		"etc/hostname":    "",
		"etc/resolv.conf": "",
	} {
		if err := t.add(entry{Name: name, Type: tar.TypeReg, Mode: 0o644, Data: []byte(data)}); err != nil {
			return nil, err
		}
	}
	return t.sorted()
}

// osRelease is /etc/os-release for the busybox system. ID=busybox makes
// it a system of its own kind rather than a Debian one: it has no dpkg.
func osRelease(rel busyboxRelease) string {
	return fmt.Sprintf(`NAME="BusyBox"
ID=busybox
VERSION_ID=%s
VERSION="%s (Debian package %s)"
PRETTY_NAME="BusyBox %s"
HOME_URL="https://busybox.net/"
`, rel.Upstream, rel.Upstream, rel.Package, rel.Upstream)
}

// tree collects entries by path and refuses two with the same path.
type tree struct{ entries map[string]entry }

func newTree() *tree { return &tree{entries: map[string]entry{}} }

func (t *tree) add(e entry) error {
	if e.Name == "" || path.IsAbs(e.Name) || path.Clean(e.Name) != e.Name || strings.HasPrefix(e.Name, "..") {
		return fmt.Errorf("template entry %q is not a clean relative path", e.Name)
	}
	if _, dup := t.entries[e.Name]; dup {
		return fmt.Errorf("template entry %q added twice", e.Name)
	}
	t.entries[e.Name] = e
	return nil
}

// sorted returns the entries in name order after checking that each
// one's parent is a directory of the tree.
func (t *tree) sorted() ([]entry, error) {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		if dir := path.Dir(n); dir != "." {
			if p, ok := t.entries[dir]; !ok || p.Type != tar.TypeDir {
				return nil, fmt.Errorf("template entry %q has no parent directory %q", n, dir)
			}
		}
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]entry, 0, len(names))
	for _, n := range names {
		out = append(out, t.entries[n])
	}
	return out, nil
}

// writeTar writes the entries as a tar stream: "./" first, names with
// a "./" prefix as Proxmox VE's templates have them, owner 0:0 by number
// only, and one modification time for all, so the same entries always
// give the same bytes.
func writeTar(w *tar.Writer, entries []entry, mtime time.Time) error {
	mtime = mtime.UTC().Truncate(time.Second)
	root := &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR}
	if err := w.WriteHeader(root); err != nil {
		return err
	}
	for _, e := range entries {
		h := &tar.Header{Name: "./" + e.Name, Typeflag: e.Type, Mode: e.Mode, ModTime: mtime, Format: tar.FormatUSTAR}
		switch e.Type {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = e.Link
		case tar.TypeReg:
			h.Size = int64(len(e.Data))
		default:
			return fmt.Errorf("template entry %q has unsupported type %q", e.Name, e.Type)
		}
		if err := w.WriteHeader(h); err != nil {
			return fmt.Errorf("template entry %q: %w", e.Name, err)
		}
		if e.Type == tar.TypeReg {
			if _, err := w.Write(e.Data); err != nil {
				return err
			}
		}
	}
	return w.Close()
}
