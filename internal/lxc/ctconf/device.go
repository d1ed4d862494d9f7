package ctconf

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/hearth-virt/hearth/api"
)

// Device is a host device node made available inside a container: the
// value of dev0 to dev255. The node appears at the same path inside.
type Device struct {
	Key   string // such as "dev0"
	Index int

	Path      string      // below /dev/
	Mode      Opt[uint32] // permission bits of the node inside
	UID, GID  Opt[int]    // owner of the node inside
	DenyWrite Opt[bool]
}

// maxID is the largest user or group id; 2^32-1 means "no id" to the kernel.
const maxID = 1<<32 - 2

func (d *Device) fields() []field {
	return []field{
		strField("path", &d.Path), modeField(&d.Mode), idField("uid", &d.UID), idField("gid", &d.GID),
		optField("deny-write", &d.DenyWrite),
	}
}

// modeField binds an access mode written in octal with a leading 0.
func modeField(p *Opt[uint32]) field {
	return field{key: "mode",
		set: func(v string) error {
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o777 {
				return fmt.Errorf("%q is not an access mode: expected 0000 to 0777", v)
			}
			*p = Some(uint32(n))
			return nil
		},
		get: func() (string, bool) { return fmt.Sprintf("%04o", p.V), p.Set },
	}
}

// idField binds a user or group id, which the schema bounds only below.
func idField(key string, p *Opt[int]) field {
	f := optField(key, p)
	set := f.set
	f.set = func(v string) error {
		if err := set(v); err != nil {
			return err
		}
		if p.V > maxID {
			return fmt.Errorf("must be at most %d", maxID)
		}
		return nil
	}
	return f
}

// IsDeviceKey reports whether key names a device passthrough (dev0 to dev255).
func IsDeviceKey(key string) bool {
	_, ok := indexOf(key, "dev", api.LXCMaxDevices)
	return ok
}

// ParseDevice parses the value of a devN key.
func ParseDevice(key, value string) (*Device, error) {
	index, ok := indexOf(key, "dev", api.LXCMaxDevices)
	if !ok {
		return nil, fmt.Errorf("%q is not a device key; expected dev0 to dev%d", key, api.LXCMaxDevices-1)
	}
	d := &Device{Key: key, Index: index}
	if err := parseProp(propOf("dev0"), value, d); err != nil {
		return nil, err
	}
	if d.Path == "" {
		return nil, errors.New("path: required; name the device node, such as /dev/ttyUSB0")
	}
	return d, nil
}

// String prints the device canonically: the path first, the other keys
// sorted.
func (d *Device) String() string { return printProp(propOf("dev0"), d) }

// Devices parses the devN keys of values and returns them by index.
// Values that do not parse are left out (Validate reports them).
func Devices(values map[string]string) []*Device {
	var out []*Device
	for k, v := range values {
		if !IsDeviceKey(k) {
			continue
		}
		if d, err := ParseDevice(k, v); err == nil {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}
