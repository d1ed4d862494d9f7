package ifaces

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffMatchesCommittedDiffOutput compares Diff with the output of
// `diff -u --label interfaces --label interfaces.new` committed next to
// each pair of files under testdata/diff/.
func TestDiffMatchesCommittedDiffOutput(t *testing.T) {
	olds, err := filepath.Glob(filepath.Join("testdata", "diff", "*.old"))
	if err != nil || len(olds) == 0 {
		t.Fatalf("no diff cases: %v", err)
	}
	for _, o := range olds {
		base := strings.TrimSuffix(o, ".old")
		t.Run(filepath.Base(base), func(t *testing.T) {
			old, err := os.ReadFile(o)
			if err != nil {
				t.Fatal(err)
			}
			new, err := os.ReadFile(base + ".new")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("diff", filepath.Base(base)+".diff"), []byte(Diff("interfaces", "interfaces.new", old, new)))
		})
	}
}

func TestDiffOfEqualFilesIsEmpty(t *testing.T) {
	for _, s := range []string{"", "a\n", "a", "auto lo\niface lo inet loopback\n"} {
		if d := Diff("a", "b", []byte(s), []byte(s)); d != "" {
			t.Errorf("Diff(%q, %q) = %q, want empty", s, s, d)
		}
	}
}

func TestDiffHunkHeaders(t *testing.T) {
	for _, tc := range []struct{ old, new, header string }{
		{"", "x\n", "@@ -0,0 +1 @@"},
		{"x\n", "", "@@ -1 +0,0 @@"},
		{"a\nb\n", "a\nc\n", "@@ -1,2 +1,2 @@"},
		{"a\nb\nc\nd\ne\nf\n", "a\nb\nc\nd\ne\nf\ng\n", "@@ -4,3 +4,4 @@"},
		{"a", "a\n", "@@ -1 +1 @@"},
	} {
		d := Diff("a", "b", []byte(tc.old), []byte(tc.new))
		if lines := strings.Split(d, "\n"); len(lines) < 3 || lines[2] != tc.header {
			t.Errorf("Diff(%q, %q):\n%s\nwant header %s", tc.old, tc.new, d, tc.header)
		}
	}
}

// TestDiffOfEditsAgreesWithGNUDiff runs the system's diff on every edit
// case, when there is one.
func TestDiffOfEditsAgreesWithGNUDiff(t *testing.T) {
	files := inputFiles(t)
	for _, tc := range editCases() {
		in := files[tc.file]
		f := mustParse(t, in)
		if err := tc.edits(f); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out := f.Bytes()
		if got, want := Diff("old", "new", in, out), gnuDiffOutput(t, in, out); got != want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, want)
		}
	}
}
