package vm

import (
	"fmt"
	"math"
	"math/big"
	"regexp"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// resizeSizeRE is the size argument of a resize: an optional + (grow by),
// a decimal number and an optional binary unit. It is the API pattern,
// checked again here because internal callers skip the schema.
var resizeSizeRE = regexp.MustCompile(`^(\+)?(\d+(?:\.\d+)?)([KMGT])?$`)

var sizeUnits = map[string]int64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

// resizeTarget works out the size a disk of cur bytes is to have after a
// resize to spec: "+<n>[KMGT]" grows by n, "<n>[KMGT]" is the size to
// reach. Fractions of a byte are dropped and the result is rounded up to
// whole KiB, as Proxmox VE does: QEMU and some storages refuse sizes that
// are not multiples of 512, and LVM rounds to extents anyway. It refuses
// to shrink. A result equal to cur means there is nothing to do.
func resizeTarget(cur int64, spec string) (int64, error) {
	m := resizeSizeRE.FindStringSubmatch(spec)
	if m == nil {
		return 0, fmt.Errorf("size '%s' is not a size: expected [+]<number>[K|M|G|T], such as +10G (grow by 10 GiB) or 64G (grow to 64 GiB)", spec)
	}
	n, ok := new(big.Rat).SetString(m[2])
	if !ok {
		return 0, fmt.Errorf("size '%s': cannot read the number %s", spec, m[2])
	}
	n.Mul(n, new(big.Rat).SetInt64(sizeUnits[m[3]]))
	bytes := new(big.Int).Quo(n.Num(), n.Denom()) // floor: n is never negative
	if m[1] == "+" {
		bytes.Add(bytes, big.NewInt(cur))
	}
	// Leave room for the round-up below.
	if !bytes.IsInt64() || bytes.Int64() > math.MaxInt64-1023 {
		return 0, fmt.Errorf("size '%s' is too large", spec)
	}
	size := bytes.Int64()
	if size < cur {
		return 0, fmt.Errorf("shrinking disks is not supported: %s is below the current size %s", vmconf.FormatSize(size), vmconf.FormatSize(cur))
	}
	if size == cur {
		return cur, nil
	}
	return (size + 1023) / 1024 * 1024, nil
}
