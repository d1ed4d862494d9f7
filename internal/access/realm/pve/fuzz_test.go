package pve

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseShadow feeds arbitrary bytes to ParseShadow. It must not panic,
// and what Bytes renders must be a fixed point: re-reading it drops
// nothing and renders the same bytes again.
func FuzzParseShadow(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := ParseShadow(data)
		out := s.Bytes()
		again, warnings := ParseShadow(out)
		for _, w := range warnings {
			if strings.Contains(w, "dropped") || strings.Contains(w, "duplicate") {
				t.Fatalf("canonical output %q read back with warning %q", out, w)
			}
		}
		if out2 := again.Bytes(); !bytes.Equal(out, out2) {
			t.Fatalf("Bytes is not a fixed point:\n%q\n%q", out, out2)
		}
		if len(out) > 0 && !bytes.HasSuffix(out, []byte(":\n")) {
			t.Fatalf("Bytes %q does not end in \":\\n\"", out)
		}
	})
}
