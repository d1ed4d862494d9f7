package ifaces

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with the named file under testdata/, or rewrites
// the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, Diff("want", "got", want, got))
	}
}

func goldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, name, append(data, '\n'))
}

// inputFiles returns the hand-written interfaces files, by base name.
func inputFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "files", "*.interfaces"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)[:len(filepath.Base(p))-len(".interfaces")]] = data
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func mustParse(t *testing.T, data []byte) *File {
	t.Helper()
	f, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

// testHost is the host used by the golden listings: some NICs of the
// test files, one NIC no file mentions, and virtual links.
func testHost() []HostLink {
	return []HostLink{
		{Name: "lo", Kind: "device", Up: true},
		{Name: "eno1", Kind: "device", Up: true, Physical: true},
		{Name: "eno2", Kind: "device", Up: true, Physical: true},
		{Name: "enp3s0f0", Kind: "device", Physical: true},
		{Name: "enp5s0", Kind: "device", Physical: true},
		{Name: "bond0", Kind: "bond", Up: true},
		{Name: "vmbr0", Kind: "bridge", Up: true},
		{Name: "tap100i0", Kind: "tun", Up: true},
		{Name: "veth101i0", Kind: "veth", Up: true},
	}
}
