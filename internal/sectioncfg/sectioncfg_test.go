package sectioncfg

import (
	"reflect"
	"strings"
	"testing"
)

const storageCfg = `dir: local
	path /var/lib/vz
	content iso,vztmpl,backup

lvmthin: local-lvm
	thinpool data
	vgname pve
	content rootdir,images

nfs: shared
	export /srv/pve
	path /mnt/pve/shared
	server 192.0.2.5
	content images
	disable

`

func TestRoundTripOfACanonicalFile(t *testing.T) {
	secs, warnings := Parse([]byte(storageCfg))
	if len(warnings) != 0 {
		t.Fatal(warnings)
	}
	if len(secs) != 3 || secs[2].Type != "nfs" || secs[2].ID != "shared" {
		t.Fatalf("sections %+v", secs)
	}
	if v, ok := secs[2].Get("disable"); !ok || v != "1" {
		t.Fatalf("bare flag: %q %v", v, ok)
	}
	if v, _ := secs[0].Get("content"); v != "iso,vztmpl,backup" {
		t.Fatalf("content %q", v)
	}
	if got := string(Print(secs)); got != storageCfg {
		t.Fatalf("round trip:\n%s\nwant:\n%s", got, storageCfg)
	}
}

func TestParseWarnsAndKeepsGoing(t *testing.T) {
	in := "# comment\n\tstray value\ndir: a\n  path /x  \n  path /y\nbogus line\n\tafter bogus\n\ndir: b\r\n\tpath /b\r\n"
	secs, warnings := Parse([]byte(in))
	want := []string{
		`line 2: property outside of a section: "stray value"`,
		`line 5: dir a: property "path" given twice; the first one counts`,
		`line 6: expected '<type>: <id>', got "bogus line"`,
		`line 7: property outside of a section: "after bogus"`,
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Fatalf("warnings:\n%s", strings.Join(warnings, "\n"))
	}
	if len(secs) != 2 || secs[0].Props[0].Value != "/x" || secs[1].ID != "b" {
		t.Fatalf("sections %+v", secs)
	}
}

func TestSetAndDelete(t *testing.T) {
	s := Section{Type: "node", ID: "n1"}
	s.Set("nodeid", "1")
	s.Set("address", "a")
	s.Set("nodeid", "2")
	s.Delete("address")
	if !reflect.DeepEqual(s.Props, []Prop{{Key: "nodeid", Value: "2"}}) {
		t.Fatalf("%+v", s.Props)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(storageCfg)
	f.Add("a: b\n\tc\n\td e f\n")
	f.Add(":\n\t\n x")
	f.Fuzz(func(t *testing.T, in string) {
		secs, _ := Parse([]byte(in))
		again, warnings := Parse(Print(secs))
		if len(warnings) != 0 {
			t.Fatalf("printed output does not parse cleanly: %v", warnings)
		}
		if !reflect.DeepEqual(stripLines(again), stripLines(secs)) {
			t.Fatalf("round trip changed the sections:\n%+v\n%+v", secs, again)
		}
	})
}

func stripLines(secs []Section) []Section {
	out := make([]Section, len(secs))
	for i, s := range secs {
		s.Line = 0
		out[i] = s
	}
	return out
}
