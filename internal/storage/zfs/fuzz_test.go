package zfs

import (
	"strings"
	"testing"
)

// FuzzTargetConfigs feeds any text to the parsers of the targets'
// configurations and listings: none may panic, LUN numbers stay in
// range, and an added LUN is found again and removed without a trace.
func FuzzTargetConfigs(f *testing.F) {
	for _, name := range []string{"istgt.conf", "ietd.conf", "iet_volume.txt", "sbdadm_list_lu.txt", "stmfadm_list_view.txt", "saveconfig.json"} {
		f.Add(fixture(f, name))
	}
	const dev = "/dev/zvol/tank/vm-999-disk-0"
	f.Fuzz(func(t *testing.T, text string) {
		if u, err := ParseIstgt(text, "iqn.2007-09.jp.ne.peach.istgt:tank1"); err == nil {
			for _, n := range u.LUNs {
				if n < 0 || n >= istgtMaxLUN || !u.Used[n] {
					t.Fatalf("istgt LUN %d", n)
				}
			}
			if n, err := freeLUN(u.Used, istgtMaxLUN); err == nil && !strings.ContainsAny(text, "\r") {
				added, err := IstgtAdd(text, "iqn.2007-09.jp.ne.peach.istgt:tank1", n, dev, true)
				if err != nil {
					t.Fatalf("add: %v", err)
				}
				if u2, err := ParseIstgt(added, "iqn.2007-09.jp.ne.peach.istgt:tank1"); err != nil || u2.LUNs[dev] != n {
					t.Fatalf("added LUN %d not found: %v\n%s", n, err, added)
				}
			}
		}
		if c, err := ParseIETConfig(text, "iqn.2001-04.com.example:tank1"); err == nil {
			for _, n := range c.LUNs {
				if n < 0 || n >= ietMaxLUN || !c.Used[n] {
					t.Fatalf("iet LUN %d", n)
				}
			}
			if n, err := freeLUN(c.Used, ietMaxLUN); err == nil && !strings.ContainsAny(text, "\r") {
				added, err := IETAdd(text, "iqn.2001-04.com.example:tank1", n, dev)
				if err != nil {
					t.Fatalf("add: %v", err)
				}
				if c2, err := ParseIETConfig(added, "iqn.2001-04.com.example:tank1"); err != nil || c2.LUNs[dev] != n {
					t.Fatalf("added LUN %d not found: %v\n%s", n, err, added)
				}
			}
		}
		if tid, luns, err := ParseIETVolumes([]byte(text), "iqn.2001-04.com.example:tank1"); err == nil {
			for n := range luns {
				if tid < 0 || n < 0 || n >= ietMaxLUN {
					t.Fatalf("iet volume tid %d lun %d", tid, n)
				}
			}
		}
		if n, err := ParseViewLUN([]byte(text)); err == nil && (n < 0 || n >= 1<<14) {
			t.Fatalf("view LUN %d", n)
		}
		if g := ParseSBDLU([]byte(text), "/dev/zvol/rdsk/tank/vm-100-disk-0"); g != "" && len(g) != 32 {
			t.Fatalf("GUID %q", g)
		}
		if luns, err := ParseLIOConfig([]byte(text), "iqn.2003-01.org.linux-iscsi.san1.x8664:sn.0123456789ab", "tpg1"); err == nil {
			for _, l := range luns {
				if l.Index < 0 || !strings.HasPrefix(l.StorageObject, backstore+"/") {
					t.Fatalf("LIO LUN %+v", l)
				}
			}
		}
	})
}
