package vztmpl

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A tree with what a root file system holds beyond plain files: owners
// other than root, setuid and setgid programs, a sticky directory, a
// symlink and a hard link, a user xattr and a file capability, plus a
// stray file in /dev that extraction must leave out.
type wantFile struct {
	path     string
	kind     os.FileMode // 0 regular, os.ModeDir, os.ModeSymlink
	mode     os.FileMode // permission bits with setuid, setgid, sticky
	uid, gid uint32
}

var sampleTree = []wantFile{
	{"etc", os.ModeDir, 0o755, 0, 0},
	{"etc/secret", 0, 0o600, 0, 0},
	{"usr", os.ModeDir, 0o755, 0, 0},
	{"usr/bin", os.ModeDir, 0o755, 0, 0},
	{"usr/bin/su", 0, 0o755 | os.ModeSetuid, 0, 0},
	{"usr/bin/wall", 0, 0o755 | os.ModeSetgid, 0, 5},
	{"usr/bin/ping", 0, 0o755, 0, 0},
	{"tmp", os.ModeDir, 0o777 | os.ModeSticky, 0, 0},
	{"home", os.ModeDir, 0o755, 0, 0},
	{"home/user", os.ModeDir, 0o750, 1000, 1000},
	{"home/user/file", 0, 0o640, 1000, 1000},
	{"home/user/hard", 0, 0o640, 1000, 1000},
	{"home/user/link", os.ModeSymlink, 0, 1000, 1001},
	{"dev", os.ModeDir, 0o755, 0, 0},
}

// capNetRaw is a version 2 file capability granting CAP_NET_RAW
// (permitted and effective), as setcap writes it.
func capNetRaw() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(b[4:], 1<<13)
	return b
}

// makeSampleTree creates sampleTree under dir and returns an
// uncompressed tar of it made by GNU tar as the Debian build packs.
func makeSampleTree(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "src")
	for _, f := range sampleTree {
		p := filepath.Join(root, f.path)
		var err error
		switch f.kind {
		case os.ModeDir:
			err = os.MkdirAll(p, 0o755)
		case os.ModeSymlink:
			err = os.Symlink("file", p)
		default:
			if f.path == "home/user/hard" {
				err = os.Link(filepath.Join(root, "home/user/file"), p)
			} else {
				err = os.WriteFile(p, []byte("content of "+f.path+"\n"), 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, int(f.uid), int(f.gid)); err != nil {
			t.Fatal(err)
		}
		if f.kind != os.ModeSymlink {
			if err := os.Chmod(p, f.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "dev", "stray"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(root, "home/user/file"), "user.hearth", []byte("kept"), 0); err != nil {
		t.Skipf("skipping: the test directory's file system has no user xattrs: %v", err)
	}
	if err := unix.Setxattr(filepath.Join(root, "usr/bin/ping"), "security.capability", capNetRaw(), 0); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "sample.tar")
	out, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("tar", append(append([]string{}, tarCreateArgs...), "-C", root, ".")...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tar: %v %s", err, &stderr)
	}
	return archive
}

// compressAs makes a copy of a plain tar with the given compression.
func compressAs(t *testing.T, plain, name string) string {
	t.Helper()
	dst := filepath.Join(filepath.Dir(plain), name)
	var tool string
	switch compressionByName(name) {
	case CompressionNone:
		data, err := os.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return dst
	case CompressionGzip:
		tool = "gzip"
	case CompressionXz:
		tool = "xz"
	case CompressionZstd:
		tool = "zstd"
	case CompressionBzip2:
		tool = "bzip2"
	}
	if _, err := exec.LookPath(tool); err != nil {
		pkg := tool
		if tool == "xz" {
			pkg = "xz-utils"
		}
		t.Skipf("skipping: %s is not installed (Debian package %s)", tool, pkg)
	}
	in, err := os.Open(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(tool, "-c")
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v %s", tool, err, &stderr)
	}
	return dst
}

func TestExtractRestoresOwnersModesLinksAndAttributes(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	plain := makeSampleTree(t, dir)
	shift := &IDShift{UIDBase: 100000, GIDBase: 300000, Size: 65536}
	for _, name := range []string{"t.tar.gz", "t.tgz", "t.tar.xz", "t.tar.zst", "t.tar.bz2", "t.tar"} {
		t.Run(name, func(t *testing.T) {
			archive := compressAs(t, plain, name)
			for _, m := range []*IDShift{nil, shift} {
				dest := filepath.Join(t.TempDir(), "rootfs")
				if err := Extract(context.Background(), archive, dest, m, t.Logf); err != nil {
					t.Fatalf("shift %v: %v", m, err)
				}
				checkSampleTree(t, dest, m)
			}
		})
	}
}

func checkSampleTree(t *testing.T, dest string, m *IDShift) {
	t.Helper()
	var du, dg uint32
	if m != nil {
		du, dg = m.UIDBase, m.GIDBase
	}
	for _, f := range sampleTree {
		p := filepath.Join(dest, f.path)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != f.uid+du || sys.Gid != f.gid+dg {
			t.Errorf("%s owned by %d:%d, want %d:%d", f.path, sys.Uid, sys.Gid, f.uid+du, f.gid+dg)
		}
		if st.Mode().Type() != f.kind {
			t.Errorf("%s is %v, want %v", f.path, st.Mode().Type(), f.kind)
		}
		if f.kind != os.ModeSymlink {
			if got := st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); got != f.mode {
				t.Errorf("%s has mode %v, want %v", f.path, got, f.mode)
			}
		}
	}
	a, _ := os.Stat(filepath.Join(dest, "home/user/file"))
	b, _ := os.Stat(filepath.Join(dest, "home/user/hard"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("home/user/hard is not a hard link of home/user/file")
	}
	if link, err := os.Readlink(filepath.Join(dest, "home/user/link")); link != "file" {
		t.Errorf("home/user/link -> %q (%v), want file", link, err)
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(dest, "home/user/file"), "user.hearth", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("user.hearth xattr = %q (%v), want kept", buf[:n], err)
	}
	n, err := unix.Lgetxattr(filepath.Join(dest, "usr/bin/ping"), "security.capability", buf)
	if err != nil {
		t.Errorf("usr/bin/ping lost its capability: %v", err)
	} else {
		checkCapability(t, buf[:n], m)
	}
	if _, err := os.Lstat(filepath.Join(dest, "dev", "stray")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dev/stray was extracted (%v); /dev must stay empty", err)
	}
}

// checkCapability checks CAP_NET_RAW survived: as written for a
// privileged container, and as a namespaced (version 3) capability
// whose root is the container's root for a shifted one, which is what
// makes it work inside the container.
func checkCapability(t *testing.T, got []byte, m *IDShift) {
	t.Helper()
	if m == nil {
		if !bytes.Equal(got, capNetRaw()) {
			t.Errorf("capability = %x, want %x", got, capNetRaw())
		}
		return
	}
	if len(got) != 24 || binary.LittleEndian.Uint32(got[0:]) != 0x03000000|1 || binary.LittleEndian.Uint32(got[4:]) != 1<<13 {
		t.Errorf("capability = %x, want version 3 with CAP_NET_RAW", got)
		return
	}
	if root := binary.LittleEndian.Uint32(got[20:]); root != m.UIDBase {
		t.Errorf("capability belongs to root %d, want the container's root %d", root, m.UIDBase)
	}
}

// tarOf builds an uncompressed archive from headers (regular files get
// a few bytes of content).
func tarOf(t *testing.T, headers ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, h := range headers {
		body := []byte("evil\n")
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			w.Write(body)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractRefusesMembersThatLeaveTheRoot(t *testing.T) {
	needRoot(t)
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
	cases := []struct {
		name    string
		members []*tar.Header
		shift   *IDShift
		want    string
	}{
		{"parent", []*tar.Header{reg("./ok"), reg("../evil")}, nil, `"../evil" contains '..'`},
		{"absolute", []*tar.Header{reg("/evil")}, nil, `"/evil" has an absolute path`},
		{"dotdot inside", []*tar.Header{reg("a/../../evil")}, nil, "contains '..'"},
		{"beneath symlink", []*tar.Header{
			{Name: "lnk", Typeflag: tar.TypeSymlink, Linkname: outside},
			reg("lnk/evil"),
		}, nil, `"lnk/evil" lies beneath "lnk"`},
		{"hard link out", []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../evil"}}, nil, `hard link "h"`},
		{"owner outside map", []*tar.Header{{Name: "evil", Typeflag: tar.TypeReg, Uid: 70000}}, &IDShift{UIDBase: 100000, GIDBase: 100000, Size: 65536},
			"owned by 70000:0; the container maps ids 0 to 65535 only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "bad.tar")
			if err := os.WriteFile(archive, tarOf(t, c.members...), 0o644); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(dir, "a", "b", "rootfs")
			err := Extract(context.Background(), archive, dest, c.shift, t.Logf)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Extract = %v, want an error with %q", err, c.want)
			}
			assertNoEvil(t, dir, dest)
			assertNoEvil(t, outside, dest)
		})
	}
}

// assertNoEvil fails if a file named evil exists under dir other than
// inside dest.
func assertNoEvil(t *testing.T, dir, dest string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "evil" && !strings.HasPrefix(p, dest+"/") {
			t.Errorf("%s was written outside the root", p)
		}
		return nil
	})
}

// TestGNUTarKeepsEscapesInside checks the second line of defence: the
// tar command line itself, fed members the check would refuse, writes
// nothing outside its directory.
func TestGNUTarKeepsEscapesInside(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	dest := filepath.Join(dir, "x", "rootfs")
	for _, d := range []string{outside, dest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stream := tarOf(t,
		&tar.Header{Name: "../../evil", Typeflag: tar.TypeReg},
		&tar.Header{Name: "/evil", Typeflag: tar.TypeReg},
		&tar.Header{Name: "lnk", Typeflag: tar.TypeSymlink, Linkname: outside},
		&tar.Header{Name: "lnk/evil", Typeflag: tar.TypeReg},
	)
	d, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cmd, stdin, stderr, err := startTar(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	stdin.Write(stream)
	stdin.Close()
	err = cmd.Wait()
	t.Logf("tar: %v: %s", err, stderr)
	assertNoEvil(t, dir, dest)
	// The stripped names land inside.
	if _, err := os.Stat(filepath.Join(dest, "evil")); err != nil {
		t.Errorf("tar did not put the stripped member inside: %v", err)
	}
}

func TestExtractNamesTheDamageInACompressedArchive(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	archive := compressAs(t, makeSampleTree(t, dir), "t.tar.xz")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.tar.xz")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	err = Extract(context.Background(), cut, filepath.Join(dir, "dest"), nil, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "command 'xz -d -c -T0' failed") {
		t.Errorf("Extract of a cut archive = %v, want xz's complaint", err)
	}
}

func TestExtractValidatesItsArguments(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "ok.tar")
	if err := os.WriteFile(archive, tarOf(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg}), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		archive string
		shift   *IDShift
		want    string
	}{
		{archive, &IDShift{UIDBase: 100000, GIDBase: 100000}, "range size must be at least 1"},
		{archive, &IDShift{UIDBase: 4294967000, GIDBase: 0, Size: 65536}, "goes past the largest id"},
		{filepath.Join(dir, "t.zip"), nil, "must end in .tar.gz, .tgz, .tar.xz, .tar.zst, .tar.bz2 or .tar"},
		{filepath.Join(dir, "missing.tar.gz"), nil, "no such file"},
	}
	for _, c := range cases {
		err := Extract(context.Background(), c.archive, filepath.Join(dir, "dest"), c.shift, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Extract(%s, %+v) = %v, want %q", filepath.Base(c.archive), c.shift, err, c.want)
		}
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	ustar := tarOf(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg})
	cases := []struct {
		name    string
		content []byte
		want    string // compression, or an error substring after "!"
	}{
		{"a.tar.gz", []byte{0x1f, 0x8b, 8, 0}, CompressionGzip},
		{"a.tgz", []byte{0x1f, 0x8b, 8, 0}, CompressionGzip},
		{"a.tar.xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0}, CompressionXz},
		{"a.tar.zst", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, CompressionZstd},
		{"a.tar.bz2", []byte("BZh91AY"), CompressionBzip2},
		{"a.tar", ustar, CompressionNone},
		{"a.tar.gz", []byte{0x28, 0xb5, 0x2f, 0xfd}, "!the name says a gzip-compressed tar archive, but the file holds zstd data"},
		{"a.tar.zst", ustar, "!the name says a zstd-compressed tar archive, but the file holds an uncompressed tar archive"},
		{"a.tar", []byte("hello"), "!the file holds neither a tar archive"},
		{"a.tar.xz", nil, "!the file holds neither a tar archive"},
		{"a.zip", []byte("PK"), "!the name must end in"},
		{".tar", ustar, "!the name must end in"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Detect(p)
		if want, isErr := strings.CutPrefix(c.want, "!"); isErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Detect(%s) = %q, %v; want an error with %q", c.name, got, err, want)
			}
		} else if err != nil || got != c.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestMemberPath(t *testing.T) {
	cases := []struct{ in, want string }{
		{"./", "."},
		{"./etc/passwd", "etc/passwd"},
		{"etc//x/", "etc/x"},
		{"a..b/c", "a..b/c"},
		{"../x", "!contains '..'"},
		{"a/..", "!contains '..'"},
		{"/etc", "!absolute"},
		{"", "!empty name"},
	}
	for _, c := range cases {
		got, err := memberPath(c.in)
		if want, isErr := strings.CutPrefix(c.want, "!"); isErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("memberPath(%q) = %q, %v; want an error with %q", c.in, got, err, want)
			}
		} else if err != nil || got != c.want {
			t.Errorf("memberPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzMemberPath(f *testing.F) {
	for _, s := range []string{"./etc/passwd", "../x", "/abs", "a/./b/", "a/../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := memberPath(name)
		if err != nil {
			return
		}
		if strings.HasPrefix(got, "/") || got == ".." || strings.HasPrefix(got, "../") {
			t.Fatalf("memberPath(%q) = %q leaves the root", name, got)
		}
	})
}
