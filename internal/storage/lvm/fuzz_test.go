package lvm

import (
	"strings"
	"testing"
)

// FuzzParseLVs checks that lvs output of any shape is either refused or
// parsed into volumes that keep the invariants the plugins rely on.
func FuzzParseLVs(f *testing.F) {
	f.Add([]byte(fixture(f, "lvs.txt")))
	f.Add([]byte("  pve:data:1073741824:twi-aotz--::12,50:3,10::Ab-1::4194304:1695000000\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		lvs, err := ParseLVs(out)
		if err != nil {
			return
		}
		for _, lv := range lvs {
			if lv.VG == "" || lv.Name == "" || lv.Size < 0 || lv.Used < 0 || lv.Used > lv.Size ||
				lv.DataPercent < 0 || lv.DataPercent > 100 || strings.ContainsAny(lv.Name, ":\n") {
				t.Fatalf("broken volume %+v from %q", lv, out)
			}
		}
	})
}
