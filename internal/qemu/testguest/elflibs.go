package testguest

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// libDirs are where the dynamic loader of a Debian amd64 system looks
// for libraries, relative to the root. Both the split and the merged
// /usr layout are listed, since packages of either generation may be
// unpacked.
var libDirs = []string{
	"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib",
}

// guestLibDir is where the initramfs keeps the libraries: the first
// directory the loader searches without an ld.so.cache.
const guestLibDir = "lib/x86_64-linux-gnu"

// elfDeps is what a dynamically linked program needs at run time.
type elfDeps struct {
	interp     string            // loader path as the program names it, e.g. /lib64/ld-linux-x86-64.so.2
	interpFile string            // where the loader was found under root
	libs       map[string]string // soname → file under root
}

// resolveELF finds the loader and every shared library prog needs,
// transitively, in the tree unpacked at root. It reads the ELF headers
// itself instead of running ldd, so the host's own libraries play no
// part and nothing from the packages is executed.
func resolveELF(root, prog string) (*elfDeps, error) {
	ef, err := elf.Open(prog)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", prog, err)
	}
	defer ef.Close()
	if ef.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s is built for %s, want x86-64", prog, ef.Machine)
	}
	d := &elfDeps{libs: map[string]string{}}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		buf, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil {
			return nil, fmt.Errorf("read loader name of %s: %w", prog, err)
		}
		d.interp = strings.TrimRight(string(buf), "\x00")
	}
	if d.interp == "" {
		return d, nil // static: needs nothing
	}
	if d.interpFile, err = findLoader(root, d.interp); err != nil {
		return nil, err
	}
	queue, err := ef.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("read libraries of %s: %w", prog, err)
	}
	for len(queue) > 0 {
		soname := queue[0]
		queue = queue[1:]
		if _, ok := d.libs[soname]; ok || soname == path.Base(d.interp) {
			continue
		}
		file, err := findLibrary(root, soname)
		if err != nil {
			return nil, fmt.Errorf("%s needs %s: %w", filepath.Base(prog), soname, err)
		}
		d.libs[soname] = file
		lib, err := elf.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		more, err := lib.ImportedLibraries()
		lib.Close()
		if err != nil {
			return nil, fmt.Errorf("read libraries of %s: %w", file, err)
		}
		queue = append(queue, more...)
	}
	return d, nil
}

// sonames lists the resolved libraries in a stable order.
func (d *elfDeps) sonames() []string {
	out := make([]string, 0, len(d.libs))
	for s := range d.libs {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func findLoader(root, interp string) (string, error) {
	if file, err := resolveIn(root, interp); err == nil {
		return file, nil
	}
	// A merged-/usr libc6 ships the loader under usr/ and relies on the
	// /lib64 symlink of base-files, which is not unpacked here.
	if file, err := findLibrary(root, path.Base(interp)); err == nil {
		return file, nil
	}
	return "", fmt.Errorf("dynamic loader %s is in none of the unpacked packages", interp)
}

func findLibrary(root, soname string) (string, error) {
	if strings.Contains(soname, "/") {
		return "", fmt.Errorf("library name %q contains a slash", soname)
	}
	for _, dir := range libDirs {
		if file, err := resolveIn(root, path.Join("/", dir, soname)); err == nil {
			return file, nil
		}
	}
	return "", fmt.Errorf("not in %s of any unpacked package; add the package that ships it", strings.Join(libDirs, ", "))
}

// resolveIn follows symlinks of name as if root were "/", so that an
// absolute link inside a package never leads into the host's own tree.
// It returns the host path of the regular file it ends at.
func resolveIn(root, name string) (string, error) {
	rest := strings.Split(name, "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		host := filepath.Join(root, filepath.FromSlash(next))
		st, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > 40 {
				return "", errors.New("too many levels of symbolic links")
			}
			target, err := os.Readlink(host)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				cur = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if len(rest) > 0 && !st.IsDir() {
			return "", fmt.Errorf("%s is not a directory", next)
		}
		cur = next
	}
	host := filepath.Join(root, filepath.FromSlash(cur))
	if st, err := os.Stat(host); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	return host, nil
}
