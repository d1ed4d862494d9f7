package testguest

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// cpioWriter writes the "newc" cpio format (magic 070701), the only one
// the kernel unpacks as an initramfs. Every header field is eight hex
// digits; the name and the data are each padded to a multiple of four
// bytes. Times and owners are fixed so that the same inputs give the
// same archive bytes.
type cpioWriter struct {
	w      io.Writer
	ino    int
	seen   map[string]bool
	closed bool
}

// Unix file type bits, as stat(2) reports them in st_mode.
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// cpioTrailer names the entry that ends a newc archive.
const cpioTrailer = "TRAILER!!!"

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, seen: map[string]bool{}}
}

// Dir adds a directory. Parents are added on demand, so callers need not
// list them; adding a directory twice is harmless.
func (c *cpioWriter) Dir(name string, perm uint32) error {
	name, err := cpioName(name)
	if err != nil {
		return err
	}
	if c.seen[name] {
		return nil
	}
	if err := c.parents(name); err != nil {
		return err
	}
	return c.entry(name, modeDir|perm&0o7777, 2, 0, 0, nil)
}

// File adds a regular file with the given content.
func (c *cpioWriter) File(name string, perm uint32, data []byte) error {
	return c.leaf(name, modeFile|perm&0o7777, 0, 0, data)
}

// Symlink adds a symbolic link pointing at target.
func (c *cpioWriter) Symlink(name, target string) error {
	if target == "" {
		return fmt.Errorf("cpio: symlink %q has an empty target", name)
	}
	return c.leaf(name, modeSymlink|0o777, 0, 0, []byte(target))
}

// CharDev adds a character device node; the kernel creates it while
// unpacking, so no privileges are needed to build the archive.
func (c *cpioWriter) CharDev(name string, perm uint32, major, minor uint32) error {
	return c.leaf(name, modeCharDev|perm&0o7777, major, minor, nil)
}

// Close writes the trailer. It does not close the underlying writer.
func (c *cpioWriter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.header(cpioTrailer, 0, 1, 0, 0, nil)
}

func (c *cpioWriter) leaf(name string, mode, major, minor uint32, data []byte) error {
	name, err := cpioName(name)
	if err != nil {
		return err
	}
	if c.seen[name] {
		return fmt.Errorf("cpio: %q added twice", name)
	}
	if err := c.parents(name); err != nil {
		return err
	}
	return c.entry(name, mode, 1, major, minor, data)
}

// parents adds the missing directories above name, top down: the kernel
// does not create them while unpacking.
func (c *cpioWriter) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || c.seen[dir] {
		return nil
	}
	return c.Dir(dir, 0o755)
}

func (c *cpioWriter) entry(name string, mode, nlink, major, minor uint32, data []byte) error {
	if c.closed {
		return fmt.Errorf("cpio: %q added after the trailer", name)
	}
	c.seen[name] = true
	return c.header(name, mode, nlink, major, minor, data)
}

func (c *cpioWriter) header(name string, mode, nlink, major, minor uint32, data []byte) error {
	c.ino++
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("cpio: %q is %d bytes; newc entries hold at most 4 GiB", name, len(data))
	}
	fields := []uint32{
		uint32(c.ino), mode, 0, 0, nlink, 0, uint32(len(data)),
		0, 0, major, minor, uint32(len(name) + 1), 0,
	}
	var b strings.Builder
	b.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	if _, err := io.WriteString(c.w, b.String()); err != nil {
		return err
	}
	if _, err := c.w.Write(data); err != nil {
		return err
	}
	if pad := (4 - len(data)%4) % 4; pad > 0 {
		if _, err := c.w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	return nil
}

// cpioName turns a path into the relative, clean form initramfs entries
// use ("bin/sh", not "/bin/sh" or "bin//sh").
func cpioName(name string) (string, error) {
	clean := strings.TrimPrefix(path.Clean("/"+name), "/")
	if clean == "" || name == "" {
		return "", fmt.Errorf("cpio: empty entry name %q", name)
	}
	if clean == cpioTrailer {
		return "", fmt.Errorf("cpio: %q is reserved for the archive trailer", name)
	}
	if strings.ContainsRune(clean, 0) {
		return "", fmt.Errorf("cpio: entry name %q contains a NUL byte", name)
	}
	return clean, nil
}
