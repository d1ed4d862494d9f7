package vmconf

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// Error is a key of a configuration that cannot be taken. Its text has the
// shape Proxmox VE uses, which tools and users grep for.
type Error struct {
	VMID    int
	Key     string
	Unknown bool   // the key is not a configuration key at all
	Reason  string // what is wrong with the value
}

func (e *Error) Error() string {
	if e.Unknown {
		return fmt.Sprintf("vm %d - unknown setting '%s'", e.VMID, e.Key)
	}
	return fmt.Sprintf("vm %d - unable to parse value of '%s' - %s", e.VMID, e.Key, e.Reason)
}

var errUnknown = errors.New("unknown setting")

// Validate checks the keys of a VM configuration (or of a snapshot
// section) and returns them cleaned: booleans as 1/0, numbers in plain
// decimal, drives printed canonically, and cdrom turned into ide2 as a
// CD-ROM drive. Keys only the system writes (parent, snaptime, vmstate,
// runningmachine, runningcpu, snapstate, meta, digest) are accepted.
//
// Strict mode, for API writes, refuses the first bad key (in key order)
// with an *Error. Lenient mode, for files read from disk, drops each bad
// key and returns one warning for it, so that one broken line does not
// make a whole VM unreadable.
func Validate(vmid int, values map[string]string, strict bool) (clean map[string]string, warnings []string, err error) {
	clean = make(map[string]string, len(values))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		nk, nv, err := normalize(k, values[k])
		if err == nil && nk != k {
			if _, dup := values[nk]; dup {
				err = fmt.Errorf("conflicts with %s, which it stands for", nk)
			}
		}
		if err != nil {
			e := &Error{VMID: vmid, Key: k, Unknown: errors.Is(err, errUnknown), Reason: err.Error()}
			if strict {
				return nil, nil, e
			}
			warnings = append(warnings, e.Error())
			continue
		}
		clean[nk] = nv
	}
	return clean, warnings, nil
}

// Decode checks one value and converts it to Go types: the keys of a
// property string with their typed values (string, int64, float64, bool),
// or a single entry under key itself for a plain value.
func Decode(key, value string) (map[string]any, error) {
	nk, nv, err := normalize(key, value)
	if err != nil {
		if errors.Is(err, errUnknown) {
			return nil, fmt.Errorf("unknown setting '%s'", key)
		}
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	s := lookup(nk)
	if s.Prop != nil {
		return s.Prop.Decode(nv)
	}
	x, err := s.Parse(nv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return map[string]any{key: x}, nil
}

// digestSchema accepts the digest some callers pass along with the keys.
var digestSchema = schema.Str("Digest of the configuration.")

func lookup(key string) *schema.Schema {
	if key == "digest" {
		return &digestSchema
	}
	return schemas().opts[key]
}

// normalize checks one key and value and returns them in the form they
// are stored in.
func normalize(key, value string) (string, string, error) {
	s := lookup(key)
	if s == nil {
		return "", "", errUnknown
	}
	if strings.ContainsAny(value, "\n\r") {
		return "", "", errors.New("the value holds a line break")
	}
	if key == "cdrom" || IsDriveKey(key) {
		d, err := ParseDrive(key, value)
		if err != nil {
			return "", "", err
		}
		return d.Key, d.String(), nil
	}
	x, err := s.Parse(value)
	if err != nil {
		return "", "", plainPatternError(key, err)
	}
	if s.Prop != nil {
		if check := typedCheck(key); check != nil {
			if err := check(value); err != nil {
				return "", "", err
			}
		}
		return key, value, nil
	}
	switch v := x.(type) {
	case bool:
		return key, formatScalar(v), nil
	case int64:
		return key, strconv.FormatInt(v, 10), nil
	case float64:
		return key, formatScalar(v), nil
	}
	return key, value, nil
}

// typedCheck returns the parser that applies the rules a key's schema
// cannot state (rules between keys, exact address checks), or nil.
func typedCheck(key string) func(string) error {
	switch strings.TrimRight(key, "0123456789") {
	case "cpu":
		return func(v string) error { _, err := ParseCPU(v); return err }
	case "net":
		return func(v string) error { _, err := ParseNet(key, v); return err }
	case "numa":
		return func(v string) error { _, err := ParseNUMA(v); return err }
	case "usb":
		return func(v string) error { _, err := ParseUSB(v); return err }
	case "hostpci":
		return func(v string) error { _, err := ParseHostPCI(v); return err }
	case "ipconfig":
		return func(v string) error { _, err := ParseIPConfig(v); return err }
	case "smbios":
		return func(v string) error { _, err := ParseSMBIOS1(v); return err }
	}
	return nil
}
