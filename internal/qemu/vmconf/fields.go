package vmconf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// field binds one key of a property string to a struct field. Each typed
// value lists its fields explicitly, which keeps parsing free of
// reflection and lets the compiler check every binding.
type field struct {
	key string
	set func(v string) error
	get func() (string, bool)
}

// propValue is a typed property string value.
type propValue interface{ fields() []field }

// parseProp checks s against ps and fills x. The schema has already
// checked each value, so the conversions here only fail on a key the
// struct does not know, which is a programming error reported as such.
func parseProp(ps *schema.PropString, s string, x propValue) error {
	m, err := ps.Parse(s)
	if err != nil {
		return plainPatternError("", err)
	}
	fs := x.fields()
	for k, v := range m {
		f, ok := findField(fs, k)
		if !ok {
			return fmt.Errorf("internal error: key %q has no field", k)
		}
		if err := f.set(v); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// printProp prints the present fields of x in ps's canonical order.
func printProp(ps *schema.PropString, x propValue) string {
	m := map[string]string{}
	for _, f := range x.fields() {
		if v, ok := f.get(); ok {
			m[f.key] = v
		}
	}
	return ps.Print(m)
}

// patternHints say in words what the long patterns of some keys accept;
// the schema's own message would quote the whole expression.
var patternHints = map[string]string{
	"file":        "expected a volume id (<storage>:<volume>), an absolute path, none or cdrom",
	"import-from": "expected a volume id (<storage>:<volume>) or an absolute path",
	"order":       "expected devices separated by ';' (ide0-3, sata0-5, scsi0-30, virtio0-15, net0-31, usb0-14, hostpci0-15)",
	"bootdisk":    "expected a disk key: ide0-3, sata0-5, scsi0-30 or virtio0-15",
	"cputype":     "expected a QEMU CPU model (such as host, kvm64 or x86-64-v2-AES) or custom-<name>",
}

var patternErrRE = regexp.MustCompile(`^(?:([a-z-]+): )?("(?:[^"\\]|\\.)*") does not match the pattern `)

// plainPatternError replaces a pattern dump in err by a description. The
// key inside a property string comes from the message; key names a plain
// value's key.
func plainPatternError(key string, err error) error {
	m := patternErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	prefix := ""
	if m[1] != "" {
		key, prefix = m[1], m[1]+": "
	}
	if patternHints[key] == "" {
		return err
	}
	return fmt.Errorf("%s%s is not valid: %s", prefix, m[2], patternHints[key])
}

func findField(fs []field, key string) (field, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// strField binds a string; empty means absent.
func strField(key string, p *string) field {
	return field{key: key,
		set: func(v string) error { *p = v; return nil },
		get: func() (string, bool) { return *p, *p != "" },
	}
}

// reqStrField binds a string that is always printed (a required key).
func reqStrField(key string, p *string) field {
	f := strField(key, p)
	f.get = func() (string, bool) { return *p, true }
	return f
}

// listField binds a list of items written with sep between them.
func listField(key, sep string, p *[]string) field {
	return field{key: key,
		set: func(v string) error { *p = splitItems(v, sep); return nil },
		get: func() (string, bool) { return strings.Join(*p, sep), len(*p) > 0 },
	}
}

// splitItems splits at sep and white space, dropping empty items.
func splitItems(v, sep string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return strings.ContainsRune(sep, r) || r == ' ' || r == '\t'
	})
}

// scalar is what an Opt field of a property string can hold.
type scalar interface {
	~int | ~int64 | ~float64 | ~bool
}

// optField binds an optional number or boolean.
func optField[T scalar](key string, p *Opt[T]) field {
	return field{key: key,
		set: func(v string) error {
			x, err := parseScalar[T](v)
			if err != nil {
				return err
			}
			*p = Some(x)
			return nil
		},
		get: func() (string, bool) {
			if !p.Set {
				return "", false
			}
			return formatScalar(p.V), true
		},
	}
}

// reqField binds a number or boolean that is always printed.
func reqField[T scalar](key string, p *T) field {
	return field{key: key,
		set: func(v string) error {
			x, err := parseScalar[T](v)
			*p = x
			return err
		},
		get: func() (string, bool) { return formatScalar(*p), true },
	}
}

func parseScalar[T scalar](v string) (T, error) {
	var zero T
	switch any(zero).(type) {
	case int:
		n, err := schema.ParseInt(v)
		if err != nil || int64(int(n)) != n {
			return zero, fmt.Errorf("expected an integer, got %q", v)
		}
		return any(int(n)).(T), nil
	case int64:
		n, err := schema.ParseInt(v)
		return any(n).(T), err
	case float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return zero, fmt.Errorf("expected a number, got %q", v)
		}
		return any(f).(T), nil
	case bool:
		b, err := schema.ParseBool(v)
		return any(b).(T), err
	}
	return zero, fmt.Errorf("internal error: unsupported field type %T", zero)
}

func formatScalar[T scalar](x T) string {
	switch v := any(x).(type) {
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(x)
}

// sizeField binds a disk size held in bytes and written with a unit.
func sizeField(key string, p *Opt[int64]) field {
	return field{key: key,
		set: func(v string) error {
			n, err := schema.ParseSize(v)
			if err != nil {
				return err
			}
			*p = Some(n)
			return nil
		},
		get: func() (string, bool) {
			if !p.Set {
				return "", false
			}
			return FormatSize(p.V), true
		},
	}
}

// FormatSize writes a size in bytes with the largest unit (K, M, G, T)
// that divides it exactly, as Proxmox VE writes disk sizes: 32G, 1536M,
// 4M, or plain bytes.
func FormatSize(n int64) string {
	if n == 0 {
		return "0"
	}
	units := []string{"", "K", "M", "G", "T"}
	u := 0
	for u < len(units)-1 && n%1024 == 0 {
		n /= 1024
		u++
	}
	return strconv.FormatInt(n, 10) + units[u]
}
