package cloudinit

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/<case>/")

// readSpec decodes a test case strictly, so a misspelt field fails
// instead of silently testing the zero value.
func readSpec(t *testing.T, path string) Spec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// TestGolden generates every testdata/<case>.json and compares each file
// with testdata/<case>/<path>; a file missing from either side fails.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.json")
	if err != nil || len(cases) < 9 {
		t.Fatalf("found %d cases (%v), want the full set", len(cases), err)
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			files, err := Generate(readSpec(t, path))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				for n, c := range files {
					p := filepath.Join(dir, filepath.FromSlash(n))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			golden := map[string]bool{}
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				golden[filepath.ToSlash(rel)] = true
				return nil
			})
			if err != nil {
				t.Fatalf("%v (run go test -update to create the golden files)", err)
			}
			for n := range golden {
				if _, ok := files[n]; !ok {
					t.Errorf("golden file %s was not generated", n)
				}
			}
			for _, n := range files.Names() {
				want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
				if err != nil {
					t.Errorf("%s: %v", n, err)
					continue
				}
				if files[n] != string(want) {
					t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", n, files[n], want)
				}
				checkSyntax(t, n, files[n])
			}
		})
	}
}

// checkSyntax parses a generated file with a real parser of its format,
// so a golden file cannot silently hold something the guest cannot read.
func checkSyntax(t *testing.T, name, content string) {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".json"):
		if !json.Valid([]byte(content)) {
			t.Errorf("%s is not valid JSON", name)
		}
	case name == "context.sh":
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Logf("bash not installed, %s not syntax-checked", name)
			return
		}
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = strings.NewReader(content)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v: %s", name, err, out)
		}
	case name == "openstack/content/0000":
		// interfaces(5) has no parser here; its shape is pinned by the golden file.
	default:
		var v any
		if err := yaml.Unmarshal([]byte(content), &v); err != nil {
			t.Errorf("%s is not valid YAML: %v", name, err)
		}
	}
}
