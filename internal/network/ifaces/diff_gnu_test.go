package ifaces

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gnuDiffOutput runs the system's diff -u, or skips the test without it.
func gnuDiffOutput(t *testing.T, old, new []byte) string {
	t.Helper()
	bin, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("no diff program on this system")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, new, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-u", "--label", "old", "--label", "new", a, b).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("diff: %v", err)
		}
	}
	return string(out)
}

// randomText builds a file from a small set of lines so that lines repeat
// and the diff has choices to make.
func randomText(r *rand.Rand, n int, vocab []string) []byte {
	var sb strings.Builder
	for range n {
		sb.WriteString(vocab[r.IntN(len(vocab))])
		sb.WriteByte('\n')
	}
	s := sb.String()
	if r.IntN(8) == 0 && s != "" {
		s = s[:len(s)-1]
	}
	return []byte(s)
}

func TestDiffAgreesWithGNUDiffOnRandomFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vocab := []string{"", "", "", "auto vmbr0", "iface vmbr0 inet manual", "\tbridge-ports eno1", "\tbridge-stp off", "\tbridge-fd 0", "a", "b", "c", "#x"}
	for i := range 300 {
		n0, n1 := r.IntN(40), r.IntN(40)
		old := randomText(r, n0, vocab[:3+r.IntN(len(vocab)-3)])
		var new []byte
		if r.IntN(2) == 0 {
			new = mutate(r, old, vocab)
		} else {
			new = randomText(r, n1, vocab)
		}
		want := gnuDiffOutput(t, old, new)
		got := Diff("old", "new", old, new)
		if got != want {
			t.Fatalf("case %d differs from diff -u\nold:\n%q\nnew:\n%q\ngot:\n%s\nwant:\n%s", i, old, new, got, want)
		}
	}
}

// mutate changes a few lines of a text: inserts, deletes and replaces.
func mutate(r *rand.Rand, text []byte, vocab []string) []byte {
	lines := strings.SplitAfter(string(text), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for range 1 + r.IntN(4) {
		switch k := r.IntN(3); {
		case k == 0 || len(lines) == 0:
			at := r.IntN(len(lines) + 1)
			var ins []string
			for range 1 + r.IntN(3) {
				ins = append(ins, vocab[r.IntN(len(vocab))]+"\n")
			}
			lines = append(lines[:at], append(ins, lines[at:]...)...)
		case k == 1:
			at := r.IntN(len(lines))
			lines = append(lines[:at], lines[at+1:]...)
		default:
			lines[r.IntN(len(lines))] = vocab[r.IntN(len(vocab))] + "\n"
		}
	}
	return []byte(strings.Join(lines, ""))
}
