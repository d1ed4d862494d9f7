package zfspool

import (
	"strings"
	"testing"
)

// FuzzParseList checks that any zfs list output is refused or yields
// datasets whose names are valid volume names of the pool.
func FuzzParseList(f *testing.F) {
	f.Add([]byte(fixture(f, "list.txt")))
	f.Add([]byte("tank/vmdata/subvol-104-disk-0\t-\t-\tfilesystem\tnone\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		list, err := ParseList(out, "tank/vmdata")
		if err != nil {
			return
		}
		for _, d := range list {
			v, err := ParseVolname(d.Volname())
			if err != nil || v != d.Vol || d.Size < 0 || strings.ContainsAny(d.Name, "/@ \t") {
				t.Fatalf("bad dataset %+v (%v) from %q", d, err, out)
			}
			if d.Base != "" && d.Origin != "tank/vmdata/"+d.Base+"@"+BaseSnapshot {
				t.Fatalf("clone %+v with origin %q", d, d.Origin)
			}
		}
	})
}
