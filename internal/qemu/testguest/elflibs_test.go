package testguest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestResolveInStaysInsideRoot(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "lib/x86_64-linux-gnu/libc.so.6"), []byte("libc"))
	writeFile(t, filepath.Join(root, "usr/lib/x86_64-linux-gnu/libz.so.1.2.13"), []byte("zlib"))
	links := map[string]string{
		"lib64/ld-linux-x86-64.so.2":           "/lib/x86_64-linux-gnu/libc.so.6", // absolute: must stay in root
		"usr/lib/x86_64-linux-gnu/libz.so.1":   "libz.so.1.2.13",
		"usr/lib64":                            "lib/x86_64-linux-gnu",
		"etc/loop1":                            "loop2",
		"etc/loop2":                            "loop1",
		"etc/passwd-link":                      "/etc/passwd", // exists on the host, not in root
		"usr/lib/x86_64-linux-gnu/libdir.so.1": ".",
	}
	for name, target := range links {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		want string // relative to root; "" = must fail
	}{
		{"/lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6"},
		{"/usr/lib/x86_64-linux-gnu/libz.so.1", "usr/lib/x86_64-linux-gnu/libz.so.1.2.13"},
		{"/usr/lib64/libz.so.1", "usr/lib/x86_64-linux-gnu/libz.so.1.2.13"},
		{"lib/../lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6"},
		{"/etc/loop1", ""},
		{"/etc/passwd-link", ""},
		{"/usr/lib/x86_64-linux-gnu/libdir.so.1", ""},
		{"/lib/x86_64-linux-gnu/libc.so.6/x", ""},
		{"/missing", ""},
	}
	for _, tt := range tests {
		got, err := resolveIn(root, tt.name)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s resolved to %s, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || got != filepath.Join(root, tt.want) {
			t.Errorf("%s resolved to %q, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

// TestResolveELFFindsLibrariesTransitively links a program against a
// library of its own that needs libm, and resolves it in a tree holding
// copies of the host's C library: the tree, not the host, answers.
func TestResolveELFFindsLibrariesTransitively(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc is not installed (Debian package gcc)")
	}
	src, root := t.TempDir(), t.TempDir()
	libDir := filepath.Join(root, "usr/lib/x86_64-linux-gnu")
	writeFile(t, filepath.Join(src, "a.c"), []byte("#include <math.h>\ndouble a(double x) { return sqrt(x); }\n"))
	writeFile(t, filepath.Join(src, "main.c"), []byte("double a(double);\nint main(void) { return a(4.0) == 2.0 ? 0 : 1; }\n"))
	os.MkdirAll(libDir, 0o755)
	run := func(args ...string) {
		if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("-shared", "-fPIC", "-Wl,-soname,libhearth-a.so.1", "-o", filepath.Join(libDir, "libhearth-a.so.1"), filepath.Join(src, "a.c"), "-lm")
	prog := filepath.Join(root, "usr/bin/prog")
	os.MkdirAll(filepath.Dir(prog), 0o755)
	run("-o", prog, filepath.Join(src, "main.c"), "-L"+libDir, "-l:libhearth-a.so.1")

	// Without the C library in the tree, resolution fails and says which.
	if _, err := resolveELF(root, prog); err == nil || !strings.Contains(err.Error(), "loader") {
		t.Fatalf("tree without a loader: %v", err)
	}
	for _, lib := range []string{"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"} {
		host, err := filepath.EvalSymlinks(filepath.Join("/lib/x86_64-linux-gnu", lib))
		if err != nil {
			t.Skipf("host has no %s: %v", lib, err)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "lib/x86_64-linux-gnu", lib), data)
	}
	os.MkdirAll(filepath.Join(root, "lib64"), 0o755)
	os.Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(root, "lib64/ld-linux-x86-64.so.2"))

	d, err := resolveELF(root, prog)
	if err != nil {
		t.Fatal(err)
	}
	if d.interp != "/lib64/ld-linux-x86-64.so.2" || d.interpFile != filepath.Join(root, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") {
		t.Errorf("loader %s found at %s", d.interp, d.interpFile)
	}
	if got, want := d.sonames(), []string{"libc.so.6", "libhearth-a.so.1", "libm.so.6"}; !slices.Equal(got, want) {
		t.Errorf("libraries %q, want %q", got, want)
	}
	for soname, file := range d.libs {
		if !strings.HasPrefix(file, root+"/") {
			t.Errorf("%s found outside the tree: %s", soname, file)
		}
	}
}
