package datacenter

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestCanonicalFilesRoundTrip reads files in the form Proxmox VE writes
// and checks that they come back byte for byte, without warnings.
func TestCanonicalFilesRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/canonical/*.cfg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no canonical fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings := Parse(data)
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if got := cfg.Bytes(); !bytes.Equal(got, data) {
				t.Errorf("round trip differs:\n got %q\nwant %q", got, data)
			}
		})
	}
}

// TestMessyFiles checks what Parse keeps of untidy files and what it says
// about the rest: testdata/golden/<name>.in gives <name>.out (the file as
// written back) and <name>.warnings. Run with -update to rewrite them,
// then review the diff.
func TestMessyFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.in")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, file := range files {
		base := strings.TrimSuffix(file, ".in")
		t.Run(filepath.Base(base), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings := Parse(data)
			out := cfg.Bytes()
			var warnText []byte
			for _, w := range warnings {
				warnText = append(warnText, w+"\n"...)
			}
			if *update {
				for name, content := range map[string][]byte{base + ".out": out, base + ".warnings": warnText} {
					if err := os.WriteFile(name, content, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			compareGolden(t, base+".out", out)
			compareGolden(t, base+".warnings", warnText)

			// The output is canonical: it reads back without warnings and
			// writes itself again.
			again, warnings := Parse(out)
			if len(warnings) > 0 {
				t.Errorf("the written file draws warnings: %q", warnings)
			}
			if second := again.Bytes(); !bytes.Equal(second, out) {
				t.Errorf("written file is not stable:\n%q\n%q", out, second)
			}
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; if the change is intended, run go test ./internal/datacenter -update and review the diff\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

// FuzzParse checks that Parse never panics and that its output is
// canonical: reading what Bytes wrote gives no warnings and the same
// bytes again.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/canonical/*.cfg", "testdata/golden/*.in"} {
		files, _ := filepath.Glob(dir)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _ := Parse(data)
		first := cfg.Bytes()
		again, warnings := Parse(first)
		if len(warnings) != 0 {
			t.Fatalf("canonical output draws warnings %q\ninput  %q\noutput %q", warnings, data, first)
		}
		if second := again.Bytes(); !bytes.Equal(first, second) {
			t.Fatalf("not stable:\ninput  %q\nfirst  %q\nsecond %q", data, first, second)
		}
		_ = again.Options()
		lower, upper := again.NextIDRange()
		if lower >= upper {
			t.Fatalf("empty next-id range %d..%d from %q", lower, upper, data)
		}
	})
}
