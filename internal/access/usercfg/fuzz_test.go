package usercfg

import (
	"bytes"
	"testing"
)

// FuzzParse checks that Parse never panics and that its output is
// canonical: writing, reading and writing again changes nothing and the
// second read finds nothing to complain about.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fixture))
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _ := Parse(data)
		first := cfg.Bytes()
		again, warnings := Parse(first)
		if len(warnings) != 0 {
			t.Fatalf("canonical output draws warnings %q\ninput %q\noutput %q", warnings, data, first)
		}
		if second := again.Bytes(); !bytes.Equal(first, second) {
			t.Fatalf("not stable:\ninput  %q\nfirst  %q\nsecond %q", data, first, second)
		}
	})
}
