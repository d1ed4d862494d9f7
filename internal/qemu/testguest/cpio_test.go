package testguest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// cpioEntry is one entry as read back from an archive.
type cpioEntry struct {
	name         string
	mode         uint32
	nlink        uint32
	rdev         [2]uint32
	data         string
	headerOffset int
}

// readCPIO parses a newc archive independently of the writer's helpers:
// fixed 110-byte headers, names and data padded to four bytes, a
// TRAILER!!! entry at the end.
func readCPIO(b []byte) ([]cpioEntry, error) {
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			return nil, fmt.Errorf("header at %d: archive ends after %d bytes", off, len(b))
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, fmt.Errorf("header at %d: magic %q", off, h[:6])
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("header at %d field %d: %v", off, i, err)
			}
			f[i] = uint32(v)
		}
		size, namesize := int(f[6]), int(f[11])
		nameEnd := off + 110 + namesize
		if namesize == 0 || nameEnd > len(b) || b[nameEnd-1] != 0 {
			return nil, fmt.Errorf("header at %d: bad name size %d", off, namesize)
		}
		name := string(b[off+110 : nameEnd-1])
		dataStart := align(nameEnd)
		if dataStart+size > len(b) {
			return nil, fmt.Errorf("%s: data runs past the end", name)
		}
		if name == cpioTrailer {
			if rest := b[align(dataStart+size):]; len(bytes.Trim(rest, "\x00")) != 0 {
				return nil, fmt.Errorf("%d bytes after the trailer", len(rest))
			}
			return out, nil
		}
		out = append(out, cpioEntry{
			name: name, mode: f[1], nlink: f[4], rdev: [2]uint32{f[9], f[10]},
			data: string(b[dataStart : dataStart+size]), headerOffset: off,
		})
		off = align(dataStart + size)
	}
}

func sampleArchive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	for _, err := range []error{
		c.Dir("/etc", 0o755),
		c.File("init", 0o755, []byte("#!/bin/sh\n")),
		c.File("lib/modules/6.1.0/kernel/a.ko", 0o644, []byte("abc")), // parents on demand
		c.Symlink("bin/sh", "/bin/busybox"),
		c.CharDev("dev/console", 0o600, 5, 1),
		c.Dir("etc", 0o700), // already there: no second entry
		c.Dir("tmp", 0o1777),
		c.File("empty", 0o644, nil),
		c.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestCPIOWriterEntries(t *testing.T) {
	entries, err := readCPIO(sampleArchive(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []cpioEntry{
		{name: "etc", mode: modeDir | 0o755, nlink: 2},
		{name: "init", mode: modeFile | 0o755, nlink: 1, data: "#!/bin/sh\n"},
		{name: "lib", mode: modeDir | 0o755, nlink: 2},
		{name: "lib/modules", mode: modeDir | 0o755, nlink: 2},
		{name: "lib/modules/6.1.0", mode: modeDir | 0o755, nlink: 2},
		{name: "lib/modules/6.1.0/kernel", mode: modeDir | 0o755, nlink: 2},
		{name: "lib/modules/6.1.0/kernel/a.ko", mode: modeFile | 0o644, nlink: 1, data: "abc"},
		{name: "bin", mode: modeDir | 0o755, nlink: 2},
		{name: "bin/sh", mode: modeSymlink | 0o777, nlink: 1, data: "/bin/busybox"},
		{name: "dev", mode: modeDir | 0o755, nlink: 2},
		{name: "dev/console", mode: modeCharDev | 0o600, nlink: 1, rdev: [2]uint32{5, 1}},
		{name: "tmp", mode: modeDir | 0o1777, nlink: 2},
		{name: "empty", mode: modeFile | 0o644, nlink: 1},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, w := range want {
		g := entries[i]
		g.headerOffset = 0
		if g != w {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
		if entries[i].headerOffset%4 != 0 {
			t.Errorf("entry %s starts at %d, not four-byte aligned", g.name, entries[i].headerOffset)
		}
	}
}

// TestCPIOWriterGolden pins the exact bytes, so that a change of layout
// (field order, padding) shows up even where the reader above would
// share the writer's mistake. Regenerate with -update.
func TestCPIOWriterGolden(t *testing.T) {
	got := sampleArchive(t)
	golden := filepath.Join("testdata", "sample.cpio")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("archive differs from %s (run with -update if the change is intended)", golden)
	}
}

// TestCPIOListsWithCpioTool has an independent implementation read the
// archive: GNU cpio, or busybox's cpio applet.
func TestCPIOListsWithCpioTool(t *testing.T) {
	var tool []string
	if p, err := exec.LookPath("cpio"); err == nil {
		tool = []string{p, "-t", "--quiet"}
	} else if p, err := exec.LookPath("busybox"); err == nil {
		tool = []string{p, "cpio", "-t"}
	} else {
		t.Skip("neither cpio nor busybox is installed (Debian package busybox-static)")
	}
	cmd := exec.Command(tool[0], tool[1:]...)
	cmd.Stdin = bytes.NewReader(sampleArchive(t))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(tool, " "), err)
	}
	got := strings.Fields(string(out))
	want := []string{"etc", "init", "lib", "lib/modules", "lib/modules/6.1.0", "lib/modules/6.1.0/kernel",
		"lib/modules/6.1.0/kernel/a.ko", "bin", "bin/sh", "dev", "dev/console", "tmp", "empty"}
	if !slices.Equal(got, want) {
		t.Errorf("%s lists %q, want %q", tool[0], got, want)
	}
}

func TestCPIOWriterRefusesBadEntries(t *testing.T) {
	tests := []struct {
		name string
		add  func(c *cpioWriter) error
		want string
	}{
		{"empty name", func(c *cpioWriter) error { return c.File("", 0o644, nil) }, "empty entry name"},
		{"root only", func(c *cpioWriter) error { return c.File("/", 0o644, nil) }, "empty entry name"},
		{"trailer name", func(c *cpioWriter) error { return c.File("TRAILER!!!", 0o644, nil) }, "reserved"},
		{"twice", func(c *cpioWriter) error {
			c.File("a", 0o644, nil)
			return c.Symlink("/a", "b")
		}, "added twice"},
		{"empty link", func(c *cpioWriter) error { return c.Symlink("a", "") }, "empty target"},
		{"after close", func(c *cpioWriter) error {
			c.Close()
			return c.File("a", 0o644, nil)
		}, "after the trailer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.add(newCPIOWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzCPIORoundTrip writes one file with arbitrary name and content and
// reads it back.
func FuzzCPIORoundTrip(f *testing.F) {
	f.Add("bin/busybox", []byte("\x7fELF"))
	f.Add("a/b/../c", []byte{})
	f.Add("x", []byte("12345"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		var buf bytes.Buffer
		c := newCPIOWriter(&buf)
		err := c.File(name, 0o644, data)
		if err != nil {
			return // refused names are covered by the table test
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		entries, err := readCPIO(buf.Bytes())
		if err != nil {
			t.Fatalf("written archive does not read back: %v", err)
		}
		last := entries[len(entries)-1]
		clean, _ := cpioName(name)
		if last.name != clean || last.data != string(data) {
			t.Fatalf("read back %q (%d bytes), wrote %q (%d bytes)", last.name, len(last.data), clean, len(data))
		}
		if buf.Len()%4 != 0 {
			t.Fatalf("archive length %d is not a multiple of four", buf.Len())
		}
	})
}
