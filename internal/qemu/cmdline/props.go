package cmdline

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// opt is one key=value of a QEMU option such as -device or -netdev.
type opt struct {
	k string
	v any // string, int, int64, uint64 (shown as hex), or bool
}

// opts is an option in the order it is written. The same value serves
// the command line (String) and QMP (Map), so that a hot-plugged device
// is the one a fresh start would create.
type opts []opt

// String renders the option as QEMU's key=value list. A leading "driver"
// is written bare, as -device expects. Commas inside values are doubled,
// which is how QEMU's option parser escapes them.
func (o opts) String() string {
	parts := make([]string, 0, len(o))
	for i, kv := range o {
		v := strings.ReplaceAll(optValue(kv.v), ",", ",,")
		if i == 0 && kv.k == "driver" {
			parts = append(parts, v)
			continue
		}
		parts = append(parts, kv.k+"="+v)
	}
	return strings.Join(parts, ",")
}

// Map returns the option as QMP arguments. Values keep their types,
// because device_add and netdev_add check them strictly.
func (o opts) Map() map[string]any {
	m := make(map[string]any, len(o))
	for _, kv := range o {
		m[kv.k] = kv.v
	}
	return m
}

// get returns the value of key, or nil.
func (o opts) get(key string) any {
	for _, kv := range o {
		if kv.k == key {
			return kv.v
		}
	}
	return nil
}

func optValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return fmt.Sprintf("0x%x", x)
	case bool:
		if x {
			return "on"
		}
		return "off"
	}
	return fmt.Sprint(v)
}

// encodeJSON writes a -blockdev or -object value as JSON with "driver"
// (or "qom-type") and "node-name" (or "id") first and the other keys
// sorted, so that a reader finds the important keys at once and the
// output is stable.
func encodeJSON(v any) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		rank := func(k string) int {
			switch k {
			case "driver", "qom-type":
				return 0
			case "node-name", "id":
				return 1
			}
			return 2
		}
		slices.SortFunc(keys, func(a, c string) int {
			if ra, rc := rank(a), rank(c); ra != rc {
				return ra - rc
			}
			return strings.Compare(a, c)
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, k)
			b.WriteByte(':')
			writeJSON(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case []map[string]any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			// Only JSON-ready values reach here (storage builds them so);
			// make a broken one visible rather than dropping it.
			raw, _ = json.Marshal(fmt.Sprint(x))
		}
		b.Write(raw)
	}
}

// cloneMap copies a JSON-ready map deeply enough that adding keys to the
// copy (or to maps nested in it) leaves the caller's value alone.
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if nested, ok := v.(map[string]any); ok {
			v = cloneMap(nested)
		}
		out[k] = v
	}
	return out
}
