package ifaces

import (
	"testing"
)

// FuzzParse checks that Parse never panics, that Bytes gives back the
// input, that reading, listing and validating the interfaces never panics,
// and that an edited file parses and round-trips too.
func FuzzParse(f *testing.F) {
	f.Add([]byte("auto lo\niface lo inet loopback\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		out := file.Bytes()
		if string(out) != string(data) {
			t.Fatalf("round trip changed %q into %q", data, out)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Bytes() does not parse again: %v", err)
		}
		if string(again.Bytes()) != string(data) {
			t.Fatal("second round trip differs")
		}
		for _, it := range file.Interfaces() {
			_ = it.APIValue()
		}
		_ = file.Validate(testHost())
		if _, err := file.List(testHost(), ""); err != nil {
			t.Fatal(err)
		}
		// Edits must leave a file that reads back the same way.
		for i, it := range file.Interfaces() {
			if i == 3 {
				break
			}
			g := file.Clone()
			_ = g.Update(it.Name, Params{"comments": "x", "mtu": 1500}, []string{"gateway"}, testHost())
			h := file.Clone()
			if err := h.Delete(it.Name); err != nil {
				t.Fatalf("delete %s: %v", it.Name, err)
			}
			for _, e := range []*File{g, h} {
				b := e.Bytes()
				p, err := Parse(b)
				if err != nil {
					t.Fatalf("an edited file does not parse: %v\n%q", err, b)
				}
				if string(p.Bytes()) != string(b) {
					t.Fatalf("an edited file does not round-trip: %q", b)
				}
			}
			if h.Interface(it.Name) != nil {
				t.Fatalf("%s survived its deletion:\n%q", it.Name, h.Bytes())
			}
		}
	})
}
