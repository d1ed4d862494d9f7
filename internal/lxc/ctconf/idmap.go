package ctconf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// IDMap is one range of a user namespace map, the value of a raw
// lxc.idmap key such as "u 0 100000 65536": N ids starting at Inside in
// the container are ids starting at Host on the host. The fields match
// internal/lxc/lxcconf.IDMap, so one converts to the other.
type IDMap struct {
	Kind            byte // 'u' for user ids, 'g' for group ids
	Inside, Host, N int
}

// idLimit bounds the end of a range: the kernel reserves 2^32-1 as "no id".
const idLimit = 1<<32 - 1

// ParseIDMap parses one lxc.idmap value: the kind (u or g), the first id
// inside, the first id on the host and the count, separated by white
// space.
func ParseIDMap(value string) (IDMap, error) {
	f := strings.Fields(value)
	if len(f) != 4 || len(f[0]) != 1 || (f[0] != "u" && f[0] != "g") {
		return IDMap{}, fmt.Errorf("lxc.idmap %q: expected u or g, the first id inside, the first id on the host and a count, "+
			"such as \"u 0 100000 65536\"", value)
	}
	var n [3]int
	for i, name := range []string{"first id inside", "first id on the host", "count"} {
		x, err := strconv.ParseUint(f[i+1], 10, 32)
		if err != nil {
			return IDMap{}, fmt.Errorf("lxc.idmap %q: the %s, %q, is not a number from 0 to %d", value, name, f[i+1], uint32(idLimit-1))
		}
		n[i] = int(x)
	}
	m := IDMap{Kind: f[0][0], Inside: n[0], Host: n[1], N: n[2]}
	switch {
	case m.N == 0:
		return IDMap{}, fmt.Errorf("lxc.idmap %q: the count must be at least 1", value)
	case m.Inside+m.N > idLimit || m.Host+m.N > idLimit:
		return IDMap{}, fmt.Errorf("lxc.idmap %q: the range runs past the largest id, %d", value, idLimit-1)
	}
	return m, nil
}

// String prints the map as an lxc.idmap value.
func (m IDMap) String() string {
	return fmt.Sprintf("%c %d %d %d", m.Kind, m.Inside, m.Host, m.N)
}

// IDMaps is the whole user namespace map of a container.
type IDMaps []IDMap

// DefaultIDMap is the map of an unprivileged container without lxc.idmap
// keys: ids 0 to 65535 inside are 100000 to 165535 on the host, for users
// and groups alike (the range root's /etc/subuid and /etc/subgid grant).
func DefaultIDMap() IDMaps {
	return IDMaps{{Kind: 'u', Inside: 0, Host: 100000, N: 65536}, {Kind: 'g', Inside: 0, Host: 100000, N: 65536}}
}

// ParseIDMaps parses the values of a container's lxc.idmap keys, in file
// order, and checks the result (see Check).
func ParseIDMaps(values []string) (IDMaps, error) {
	ms := make(IDMaps, 0, len(values))
	for _, v := range values {
		m, err := ParseIDMap(v)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := ms.Check(); err != nil {
		return nil, err
	}
	return ms, nil
}

// Check refuses a map the kernel or the container would not work with:
// users or groups missing, no mapping for root (id 0 inside, which owns
// the container's files), or two ranges overlapping inside or on the
// host.
func (ms IDMaps) Check() error {
	for _, kind := range []byte{'u', 'g'} {
		what := map[byte]string{'u': "user", 'g': "group"}[kind]
		var rs []IDMap
		for _, m := range ms {
			if m.Kind == kind {
				rs = append(rs, m)
			}
		}
		if len(rs) == 0 {
			return fmt.Errorf("lxc.idmap: no %s ids are mapped; add a line such as \"%c 0 100000 65536\"", what, kind)
		}
		if _, ok := ms.mapID(kind, 0); !ok {
			return fmt.Errorf("lxc.idmap: %s id 0 (root) inside the container is not mapped; a range must start at 0", what)
		}
		for _, side := range []struct {
			name  string
			start func(IDMap) int
		}{{"inside the container", func(m IDMap) int { return m.Inside }}, {"on the host", func(m IDMap) int { return m.Host }}} {
			sorted := append([]IDMap(nil), rs...)
			sort.Slice(sorted, func(i, j int) bool { return side.start(sorted[i]) < side.start(sorted[j]) })
			for i := 1; i < len(sorted); i++ {
				prev, cur := sorted[i-1], sorted[i]
				if side.start(prev)+prev.N > side.start(cur) {
					return fmt.Errorf("lxc.idmap: %q and %q overlap %s", prev.String(), cur.String(), side.name)
				}
			}
		}
	}
	return nil
}

// MapUID returns the host user id of a user id inside the container.
func (ms IDMaps) MapUID(inside int) (host int, ok bool) { return ms.mapID('u', inside) }

// MapGID returns the host group id of a group id inside the container.
func (ms IDMaps) MapGID(inside int) (host int, ok bool) { return ms.mapID('g', inside) }

func (ms IDMaps) mapID(kind byte, inside int) (int, bool) {
	for _, m := range ms {
		if m.Kind == kind && inside >= m.Inside && inside < m.Inside+m.N {
			return m.Host + inside - m.Inside, true
		}
	}
	return 0, false
}
