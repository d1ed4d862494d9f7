package vm

import (
	"math"
	"strings"
	"testing"
)

func TestResizeTarget(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		cur  int64
		spec string
		want int64
		err  string
	}{
		{gib, "+1G", 2 * gib, ""},
		{gib, "2G", 2 * gib, ""},
		{gib, "+512M", gib + 512<<20, ""},
		{gib, "+0.5G", gib + 512<<20, ""},
		{gib, "+1.5K", gib + 2048, ""}, // 1536 bytes, rounded up to whole KiB
		{gib, "+1", gib + 1024, ""},    // bytes without a unit
		{gib, "+1T", gib + 1<<40, ""},  // the largest unit
		{gib, "1073741824", gib, ""},   // the same size: nothing to do
		{gib, "+0", gib, ""},           // growing by nothing
		{1000, "1000", 1000, ""},       // unaligned but unchanged stays as it is
		{1000, "1001", 1024, ""},       // unaligned grows to whole KiB
		{gib, "1073741824.9", gib, ""}, // fractions of a byte are dropped
		{2 * gib, "1G", 0, "shrinking disks is not supported"},
		{2 * gib, "0", 0, "shrinking disks is not supported"},
		{gib, "-1G", 0, "is not a size"},
		{gib, "1g", 0, "is not a size"},
		{gib, "1GB", 0, "is not a size"},
		{gib, "", 0, "is not a size"},
		{gib, "+", 0, "is not a size"},
		{gib, "1.G", 0, "is not a size"},
		{gib, " 1G", 0, "is not a size"},
		{gib, "+99999999T", 0, "too large"},
		{gib, "99999999999999999999", 0, "too large"},
		{math.MaxInt64 - 100, "+1", 0, "too large"},
	}
	for _, c := range cases {
		got, err := resizeTarget(c.cur, c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("resizeTarget(%d, %q) = %d, %v; want an error with %q", c.cur, c.spec, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("resizeTarget(%d, %q) = %d, %v; want %d", c.cur, c.spec, got, err, c.want)
		}
	}
}

// FuzzResizeTarget checks the invariants of any accepted size: never
// below the current size, and either unchanged or whole KiB.
func FuzzResizeTarget(f *testing.F) {
	f.Add(int64(1<<30), "+1G")
	f.Add(int64(1000), "1001")
	f.Add(int64(0), "0.5K")
	f.Fuzz(func(t *testing.T, cur int64, spec string) {
		if cur < 0 {
			return
		}
		got, err := resizeTarget(cur, spec)
		if err != nil {
			return
		}
		if got < cur {
			t.Fatalf("resizeTarget(%d, %q) = %d shrinks", cur, spec, got)
		}
		if got != cur && got%1024 != 0 {
			t.Fatalf("resizeTarget(%d, %q) = %d is not whole KiB", cur, spec, got)
		}
	})
}
