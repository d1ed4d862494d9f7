package rbd

import (
	"strings"
	"testing"
)

// FuzzParseList checks that any rbd ls output is refused or yields
// volumes whose names parse back to themselves, with clones only of
// bases.
func FuzzParseList(f *testing.F) {
	f.Add([]byte(fixture(f, "ls.json")))
	f.Add([]byte(`[{"image":"vm-100-disk-0","size":1,"parent":{"pool":"rbd","pool_namespace":"","image":"vm-101-disk-0","snapshot":"__base__"}}]`))
	f.Fuzz(func(t *testing.T, out []byte) {
		vols, err := ParseList(out, "rbd", "")
		if err != nil {
			return
		}
		for _, v := range vols {
			p, err := ParseVolname(v.Volname())
			if err != nil || p != v.Vol || v.Size < 0 || strings.ContainsAny(v.Name, "/@ \t") {
				t.Fatalf("bad volume %+v (%v) from %q", v, err, out)
			}
			if v.Base != "" && (v.IsBase || !strings.HasPrefix(v.Base, "base-")) {
				t.Fatalf("bad clone %+v", v)
			}
		}
	})
}

// FuzzParseJSON feeds the same bytes to every other parser of tool
// output: none may panic or report negative sizes.
func FuzzParseJSON(f *testing.F) {
	for _, name := range []string{"info.json", "info_clone.json", "du.json", "snap_ls.json", "df.json", "df_nautilus_old.json"} {
		f.Add([]byte(fixture(f, name)))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		if i, err := ParseInfo(out); err == nil && (i.Size < 0 || i.Name == "") {
			t.Fatalf("info %+v", i)
		}
		if size, used, err := ParseDU(out, "vm-100-disk-0"); err == nil && (size < 0 || used < 0) {
			t.Fatalf("du %d %d", size, used)
		}
		if snaps, err := ParseSnapList(out); err == nil {
			for _, s := range snaps {
				if s.Name == "" {
					t.Fatalf("snapshot without a name from %q", out)
				}
			}
		}
		if st, found, err := ParseDF(out, "rbd"); err == nil && found && (st.Used < 0 || st.Avail < 0 || st.Total != st.Used+st.Avail) {
			t.Fatalf("df %+v", st)
		}
	})
}
