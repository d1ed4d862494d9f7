package ctconf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// Opt is a value that a configuration may leave out ("acl" not given is
// not "acl=0"). It is vmconf's type, so code serving both kinds of guest
// handles the values of either alike.
type Opt[T any] = vmconf.Opt[T]

// Some returns a present value.
func Some[T any](v T) Opt[T] { return vmconf.Some(v) }

// Error is a key of a configuration that cannot be taken, with the text
// Proxmox VE uses ("vm 100 - unable to parse value of 'mp0' - ..."). It is
// vmconf's type, so one errors.As maps the mistakes of either kind of
// guest to a 400 naming the key.
type Error = vmconf.Error

// The binding of property string keys to struct fields below is a small
// copy of vmconf's: its helpers are unexported, and each typed value here
// lists its fields explicitly, which keeps parsing free of reflection.

// field binds one key of a property string to a struct field.
type field struct {
	key string
	set func(v string) error
	get func() (string, bool)
}

// propValue is a typed property string value.
type propValue interface{ fields() []field }

// parseProp checks s against ps and fills x. The schema has already
// checked each value, so a conversion here fails only on a rule the
// schema cannot state (such as a number's upper bound).
func parseProp(ps *schema.PropString, s string, x propValue) error {
	m, err := ps.Parse(s)
	if err != nil {
		return patternError("", err)
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

func findField(fs []field, key string) (field, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// patternHints say in words what the long patterns of some keys accept;
// the schema's own message would quote the whole expression.
var patternHints = map[string]string{
	"volume": "expected a volume id (<storage>:<volume>), an absolute host path without '.' or '..' elements, " +
		"or <storage>:<size in GiB> when creating",
	"mp":           "expected an absolute path without '.' or '..' elements",
	"path":         "expected a device node below /dev/, without '.' or '..' elements",
	"ip":           "expected an IPv4 address with prefix length (such as 192.0.2.10/24), dhcp or manual",
	"ip6":          "expected an IPv6 address with prefix length (such as 2001:db8::10/64), dhcp, auto or manual",
	"mountoptions": "expected options separated by ';', from: discard, lazytime, noatime, nodev, noexec, nosuid",
	"nameserver":   "expected IP addresses separated by spaces, commas or ';'",
	"timezone":     "expected host, or a zone name such as Europe/Vienna",
	"entrypoint":   "expected a command without control characters",
	"env":          "expected NAME=value entries separated by NUL bytes, without other control characters",
	"mode":         "expected an octal mode with a leading 0, such as 0660",
	"trunks":       "expected VLAN ids separated by ';', such as 10;20",
	"name":         "expected letters, digits, '-', '_' or '.'",
	"mount":        "expected file system types separated by ';', such as nfs;cifs",
}

var patternErrRE = regexp.MustCompile(`^(?:([a-z0-9_-]+): )?("(?:[^"\\]|\\.)*") does not match the pattern `)

// patternError replaces a pattern dump in err by a description. The key
// inside a property string comes from the message; key names a plain
// value's key.
func patternError(key string, err error) error {
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

// listField binds a list of items written with ';' between them; white
// space also separates items on input.
func listField(key string, p *[]string) field {
	return field{key: key,
		set: func(v string) error {
			items := strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' })
			if len(items) == 0 {
				items = nil // "mount= " is no list, as if the key were absent
			}
			*p = items
			return nil
		},
		get: func() (string, bool) { return strings.Join(*p, ";"), len(*p) > 0 },
	}
}

// scalar is what an Opt field of a property string can hold.
type scalar interface{ ~int | ~float64 | ~bool }

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

func parseScalar[T scalar](v string) (T, error) {
	var zero T
	switch any(zero).(type) {
	case int:
		n, err := schema.ParseInt(v)
		if err != nil || int64(int(n)) != n {
			return zero, fmt.Errorf("expected an integer, got %q", v)
		}
		return any(int(n)).(T), nil
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

// sizeField binds a volume size held in bytes and written with a unit.
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
			return vmconf.FormatSize(p.V), true
		},
	}
}

// indexOf reads the index of a key like "mp7" with the given prefix,
// refusing leading zeroes and indexes of max or more.
func indexOf(key, prefix string, max int) (int, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || strconv.Itoa(n) != rest || n < 0 || n >= max {
		return 0, false
	}
	return n, true
}
