package guestconf

import (
	"bytes"
	"regexp"
	"testing"
)

var warningPrefix = regexp.MustCompile(`^line [1-9][0-9]*: `)

// FuzzParse checks that any input parses without panicking, that every
// warning names its line, and that what Bytes writes is canonical: it
// reads back without warnings into an equal File and is written again
// byte for byte. The seed corpus in testdata/fuzz/FuzzParse holds the
// canonical and hand-edited example files and the odd cases of the
// table tests.
func FuzzParse(f *testing.F) {
	f.Add(true, []byte("memory: 512\n[PENDING]\ndelete: net0\n"))
	f.Add(false, []byte("lxc.idmap = u 0 100000 65536\n[pve:pending]\n#\n"))
	f.Fuzz(func(t *testing.T, qemu bool, data []byte) {
		kind := KindLXC
		if qemu {
			kind = KindQemu
		}
		file, warnings, err := Parse(kind, data)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		for _, w := range warnings {
			if !warningPrefix.MatchString(w) {
				t.Errorf("warning without its line: %q", w)
			}
		}
		out := file.Bytes()
		again, w, err := Parse(kind, out)
		if err != nil {
			t.Fatalf("Parse of the output: %v", err)
		}
		if len(w) > 0 {
			t.Fatalf("the output of %q reads with warnings %q:\n%s", data, w, out)
		}
		if !again.Equal(file) {
			t.Fatalf("%q reads back differently after writing as:\n%q\nand again as\n%q", data, out, again.Bytes())
		}
		if out2 := again.Bytes(); !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %q then %q", out, out2)
		}
		if c := file.Clone(); !c.Equal(file) || !bytes.Equal(c.Bytes(), out) {
			t.Fatal("the clone differs")
		}
	})
}
