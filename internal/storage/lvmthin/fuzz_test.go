package lvmthin

import (
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
)

// FuzzParseThinPoolStatus feeds any lvs output to Status: it must either
// fail or report a pool whose figures add up.
func FuzzParseThinPoolStatus(f *testing.F) {
	f.Add([]byte(fixture(f, "lvs_all.txt")))
	f.Add([]byte("  pve:data:1073741824:twi-aotz--::12,50:3,10::Ab-1::4194304:1695000000\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		r := &runner.Recorder{}
		r.On(lvsAll, string(out))
		s := &Storage{id: "f", vg: "pve", pool: "data", r: r}
		st, err := s.Status(ctx)
		if err != nil {
			return
		}
		if st.Total < 0 || st.Used < 0 || st.Used > st.Total || st.Avail != st.Total-st.Used {
			t.Fatalf("status %+v from %q", st, out)
		}
	})
}
