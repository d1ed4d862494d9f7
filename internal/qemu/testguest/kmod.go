package testguest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// guestModules are the kernel modules the guest loads, in the order the
// machine notes give; their dependencies are added from the modules'
// own metadata. sd_mod makes disks on virtio-scsi visible.
var guestModules = []string{
	"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"virtio_blk", "virtio_scsi", "sd_mod", "failover", "net_failover", "virtio_net",
	"virtio_console", "button", "evdev",
}

// kernelTree is an unpacked Debian kernel package.
type kernelTree struct {
	root    string
	release string            // "6.1.0-56-amd64"
	vmlinuz string            // absolute path of the kernel image
	modDir  string            // lib/modules/<release>, relative to root
	modules map[string]string // module name → path relative to modDir
	builtin map[string]bool   // modules compiled into the image
}

// openKernelTree finds the kernel image and indexes the modules of a
// tree unpacked with dpkg-deb -x. Debian packages carry no modules.dep
// (depmod runs at install time), so dependencies are read from each
// module later.
func openKernelTree(root string) (*kernelTree, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("kernel package: want exactly one boot/vmlinuz-*, found %d", len(images))
	}
	k := &kernelTree{
		root:    root,
		vmlinuz: images[0],
		release: strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-"),
		modules: map[string]string{},
		builtin: map[string]bool{},
	}
	for _, dir := range []string{"lib/modules", "usr/lib/modules"} {
		if st, err := os.Stat(filepath.Join(root, dir, k.release)); err == nil && st.IsDir() {
			k.modDir = filepath.Join(dir, k.release)
			break
		}
	}
	if k.modDir == "" {
		return nil, fmt.Errorf("kernel package: no module directory for release %s", k.release)
	}
	base := filepath.Join(root, k.modDir)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if name, ok := moduleName(d.Name()); ok {
			rel, _ := filepath.Rel(base, p)
			k.modules[name] = rel
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kernel package: index modules: %w", err)
	}
	if f, err := os.Open(filepath.Join(base, "modules.builtin")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, ok := moduleName(filepath.Base(sc.Text())); ok {
				k.builtin[name] = true
			}
		}
		f.Close()
	}
	return k, nil
}

// moduleName maps a module file name to the name the kernel uses:
// extension dropped, dashes folded to underscores ("t10-pi.ko.xz" →
// "t10_pi"), as depends= lists may use either spelling.
func moduleName(file string) (string, bool) {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if name, ok := strings.CutSuffix(file, ext); ok {
			return normModule(name), true
		}
	}
	return "", false
}

func normModule(name string) string { return strings.ReplaceAll(name, "-", "_") }

// loadedModule is a module ready to go into the initramfs.
type loadedModule struct {
	name string
	path string // relative to the module directory, compression suffix dropped
	data []byte // uncompressed: busybox insmod hands the bytes to init_module as they are
}

// modules returns the wanted modules and their dependencies in an order
// in which each loads after everything it needs. Modules built into the
// image are left out.
func (k *kernelTree) collect(ctx context.Context, wanted []string) ([]loadedModule, error) {
	loaded := map[string]loadedModule{}
	deps := func(name string) ([]string, bool, error) {
		if k.builtin[name] {
			return nil, true, nil
		}
		rel, ok := k.modules[name]
		if !ok {
			return nil, false, fmt.Errorf("kernel %s has no module %q (neither a file nor built in)", k.release, name)
		}
		data, err := readModule(ctx, filepath.Join(k.root, k.modDir, rel))
		if err != nil {
			return nil, false, err
		}
		info, err := modinfoSection(data)
		if err != nil {
			return nil, false, fmt.Errorf("module %s: %w", rel, err)
		}
		for _, suffix := range []string{".xz", ".zst", ".gz"} {
			rel = strings.TrimSuffix(rel, suffix)
		}
		loaded[name] = loadedModule{name: name, path: rel, data: data}
		return parseModinfo(info)["depends"], false, nil
	}
	order, err := orderModules(wanted, deps)
	if err != nil {
		return nil, err
	}
	out := make([]loadedModule, 0, len(order))
	for _, name := range order {
		out = append(out, loaded[name])
	}
	return out, nil
}

// orderModules walks the dependency graph from wanted and returns the
// modules to load, dependencies first, wanted order kept where the graph
// allows. deps reports a module's dependencies, or that it is built in.
func orderModules(wanted []string, deps func(string) (needs []string, builtin bool, err error)) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []string
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		name = normModule(name)
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(path, name), " → "))
		}
		state[name] = visiting
		needs, builtin, err := deps(name)
		if err != nil {
			return err
		}
		for _, d := range needs {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		if !builtin {
			order = append(order, name)
		}
		return nil
	}
	for _, name := range wanted {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// readModule returns a module file's bytes, decompressed. Go has no xz
// or zstd decoder in its standard library, so those go through the host
// tools of the same name (packages xz-utils and zstd).
func readModule(ctx context.Context, file string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(file, ".ko"):
		return os.ReadFile(file)
	case strings.HasSuffix(file, ".ko.gz"):
	case strings.HasSuffix(file, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(file, ".ko.zst"):
		tool = "zstd"
	default:
		return nil, fmt.Errorf("%s is not a kernel module (.ko, .ko.gz, .ko.xz or .ko.zst)", file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if tool == "" {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(data)); err == nil {
			data, err = io.ReadAll(zr)
		}
	} else {
		data, err = decompress(ctx, tool, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", file, err)
	}
	return data, nil
}

// modinfoSection returns the .modinfo section of a module's ELF image.
func modinfoSection(module []byte) ([]byte, error) {
	ef, err := elf.NewFile(bytes.NewReader(module))
	if err != nil {
		return nil, fmt.Errorf("not an ELF object: %w", err)
	}
	defer ef.Close()
	sec := ef.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	return sec.Data()
}

// parseModinfo reads a .modinfo section: NUL-separated key=value
// strings. Keys may repeat (alias=, parm=); values are split on commas,
// which is what depends= needs, and keep their order. Empty values give
// no entries.
func parseModinfo(section []byte) map[string][]string {
	out := map[string][]string{}
	for _, field := range bytes.Split(section, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok || key == "" {
			continue
		}
		for _, v := range strings.Split(value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out[key] = append(out[key], v)
			}
		}
	}
	return out
}
