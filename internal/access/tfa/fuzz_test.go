package tfa

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// is written in a canonical form: writing, reading and writing again
// gives the same bytes.
func FuzzParse(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/golden/*.json")
	for _, in := range inputs {
		if data, err := os.ReadFile(in); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		first, err := file.Bytes()
		if err != nil {
			t.Fatalf("Bytes of a parsed file: %v\ninput %q", err, data)
		}
		again, err := Parse(first)
		if err != nil {
			t.Fatalf("output does not parse: %v\ninput  %q\noutput %q", err, data, first)
		}
		second, err := again.Bytes()
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("not stable (%v):\ninput  %q\nfirst  %q\nsecond %q", err, data, first, second)
		}
		for _, u := range file.Users() {
			file.List(u)
			file.Types(u)
		}
	})
}
