package testguest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// rootfs holds the guest's own scripts: /init and /sbin/shutdown.
//
//go:embed rootfs/init rootfs/shutdown
var rootfs embed.FS

// initramfsInputs is everything the initramfs is made of, gathered from
// the unpacked packages.
type initramfsInputs struct {
	release  string         // kernel release, names the module directory
	modules  []loadedModule // in load order
	busybox  []byte         // the static busybox binary
	applets  []string       // absolute paths of busybox's applet links
	agent    []byte         // qemu-ga
	agentELF *elfDeps       // qemu-ga's loader and libraries
	packages []debPackage   // recorded in /etc/hearth/packages
}

// gatherInputs reads what the initramfs needs from root (everything but
// the kernel unpacked there) and the kernel tree.
func gatherInputs(ctx context.Context, root string, k *kernelTree, pkgs []debPackage) (*initramfsInputs, error) {
	in := &initramfsInputs{release: k.release, packages: pkgs}
	var err error
	if in.modules, err = k.collect(ctx, guestModules); err != nil {
		return nil, err
	}
	bb, err := firstFile(root, "/bin/busybox", "/usr/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", busyboxPackage, err)
	}
	if in.busybox, err = os.ReadFile(bb); err != nil {
		return nil, err
	}
	// The applet list comes from the binary itself. It is static, so it
	// runs on any amd64 host.
	list, err := command(ctx, "", bb, "--list-full")
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		if a := strings.TrimSpace(sc.Text()); a != "" {
			in.applets = append(in.applets, "/"+a)
		}
	}
	ga, err := firstFile(root, "/usr/sbin/qemu-ga", "/usr/bin/qemu-ga")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", agentPackage, err)
	}
	if in.agent, err = os.ReadFile(ga); err != nil {
		return nil, err
	}
	if in.agentELF, err = resolveELF(root, ga); err != nil {
		return nil, err
	}
	return in, nil
}

func firstFile(root string, names ...string) (string, error) {
	for _, n := range names {
		if f, err := resolveIn(root, n); err == nil {
			return f, nil
		}
	}
	return "", fmt.Errorf("none of %s in the package", strings.Join(names, ", "))
}

// writeInitramfs writes the gzip-compressed newc archive to file.
func writeInitramfs(file string, in *initramfsInputs) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err == nil {
		err = buildArchive(newCPIOWriter(zw), in)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// buildArchive lays the guest's files out. Order matters only for the
// kernel's unpacker, which wants directories before their contents; the
// writer adds missing parents itself.
func buildArchive(c *cpioWriter, in *initramfsInputs) error {
	var errs []error
	try := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "run", "etc", "mnt", "var", "root"} {
		try(c.Dir(d, 0o755))
	}
	try(c.Dir("tmp", 0o1777))
	try(c.Symlink("var/run", "../run"))
	// The kernel opens /dev/console for init before devtmpfs is mounted.
	try(c.CharDev("dev/console", 0o600, 5, 1))
	try(c.CharDev("dev/null", 0o666, 1, 3))

	initScript, err := rootfs.ReadFile("rootfs/init")
	try(err)
	try(c.File("init", 0o755, initScript))
	shutdown, err := rootfs.ReadFile("rootfs/shutdown")
	try(err)
	try(c.File("sbin/shutdown", 0o755, shutdown))

	try(c.File("etc/os-release", 0o644, []byte(osRelease())))
	try(c.File("etc/hostname", 0o644, []byte("hearth-testguest\n")))
	try(c.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")))
	try(c.File("etc/group", 0o644, []byte("root:x:0:\n")))
	var pkgList strings.Builder
	for _, p := range in.packages {
		pkgList.WriteString(p.String() + "\n")
	}
	try(c.File("etc/hearth/packages", 0o644, []byte(pkgList.String())))

	modDir := path.Join("lib/modules", in.release)
	var order strings.Builder
	for _, m := range in.modules {
		try(c.File(path.Join(modDir, m.path), 0o644, m.data))
		order.WriteString(m.path + "\n")
	}
	try(c.File("etc/hearth/modules", 0o644, []byte(order.String())))

	try(c.File("usr/sbin/qemu-ga", 0o755, in.agent))
	if d := in.agentELF; d.interp != "" {
		loader, err := os.ReadFile(d.interpFile)
		try(err)
		try(c.File(d.interp, 0o755, loader))
		for _, soname := range d.sonames() {
			data, err := os.ReadFile(d.libs[soname])
			try(err)
			try(c.File(path.Join(guestLibDir, soname), 0o755, data))
		}
	}

	try(c.File("bin/busybox", 0o755, in.busybox))
	for _, a := range in.applets {
		name, err := cpioName(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Our own files (the init script, /sbin/shutdown) win over applets.
		if !c.seen[name] && name != "bin/busybox" {
			try(c.Symlink(name, "/bin/busybox"))
		}
	}
	try(c.Close())
	if len(errs) > 0 {
		return fmt.Errorf("write initramfs: %w", errs[0])
	}
	return nil
}

func osRelease() string {
	return fmt.Sprintf("NAME=\"Hearth test guest\"\nPRETTY_NAME=\"Hearth test guest %d\"\nID=hearth-testguest\nVERSION_ID=\"%d\"\n", layoutVersion, layoutVersion)
}

// writeSynced writes a file and syncs it, so that the rename that
// publishes the build cannot come before the data on disk.
func writeSynced(file string, data []byte) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// unpack extracts a .deb with dpkg-deb -x: files only, no maintainer
// scripts, nothing registered with the host's dpkg.
func unpack(ctx context.Context, deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := command(ctx, "", "dpkg-deb", "-x", deb, dir); err != nil {
		return fmt.Errorf("unpack %s: %w", filepath.Base(deb), err)
	}
	return nil
}
