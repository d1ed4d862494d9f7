package ossetup

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// selfShift lets tests without root own what RootFS creates: the files
// simply belong to the user running the test.
func selfShift() IDShift { return IDShift{UID: os.Getuid(), GID: os.Getgid()} }

// makeTree creates files under root. A key ending in "/" is a directory;
// a value starting with "-> " makes a symlink to the rest of it.
func makeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		v := files[k]
		switch {
		case strings.HasSuffix(k, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(v, "-> "):
			if err := os.Symlink(strings.TrimPrefix(v, "-> "), p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// dumpTree renders every entry under root with its type, mode and
// content, in path order, for golden comparison.
func dumpTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, "== /%s -> %s\n", rel, target)
		case info.IsDir():
			fmt.Fprintf(&b, "== /%s/ %04o\n", rel, info.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "== /%s %04o\n%s", rel, info.Mode().Perm(), data)
			if len(data) > 0 && data[len(data)-1] != '\n' {
				b.WriteString("\\ no newline at end\n")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkGolden compares got with testdata/<name>, rewriting it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the output (run with -update after checking):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// fileSnapshot records the exact bytes and metadata of host files that a
// test expects to stay untouched.
type fileSnapshot map[string]string

func snapshot(t *testing.T, paths ...string) fileSnapshot {
	t.Helper()
	s := fileSnapshot{}
	for _, p := range paths {
		s[p] = describe(p)
	}
	return s
}

func describe(p string) string {
	info, err := os.Lstat(p)
	if err != nil {
		return "missing: " + err.Error()
	}
	data, _ := os.ReadFile(p)
	return fmt.Sprintf("%v %v %q", info.Mode(), info.ModTime().UnixNano(), data)
}

func (s fileSnapshot) check(t *testing.T) {
	t.Helper()
	for p, was := range s {
		if now := describe(p); now != was {
			t.Errorf("host file %s changed:\nwas %s\nnow %s", p, was, now)
		}
	}
}
