package ctconf

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// errUnknown marks a key that is no configuration key at all.
var errUnknown = errors.New("unknown setting")

// rawKeyRE is a raw LXC key as the configuration file keeps it.
var rawKeyRE = regexp.MustCompile(`^lxc\.[a-z0-9_.-]+$`)

// IsRawKey reports whether key is a raw LXC key (lxc.*), which a
// container configuration passes to LXC as it is.
func IsRawKey(key string) bool { return rawKeyRE.MatchString(key) }

// Validate checks the keys of a container configuration (or of a
// snapshot section) and returns them cleaned: booleans as 1/0, numbers
// in plain decimal, mount points printed canonically. Keys only the
// system writes (parent, snaptime, snapstate, digest) are accepted, and
// raw lxc.* keys pass as they are.
//
// Besides each key on its own, the set is checked as a whole: mount point
// paths and volumes, device paths, interface names and MAC addresses must
// each be unique, and an unprivileged container cannot use quotas. Those
// rules only see the keys passed, so an update must pass the merged
// configuration for them to hold.
//
// Strict mode, for API writes, refuses the first bad key (in key order)
// with an *Error. Lenient mode, for files read from disk, drops each key
// that is bad on its own, keeps keys that only clash with others, and
// returns one warning for each, so that one broken line does not make a
// whole container unreadable.
func Validate(vmid int, values map[string]string, strict bool) (clean map[string]string, warnings []string, err error) {
	clean = make(map[string]string, len(values))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := normalize(k, values[k])
		if err != nil {
			e := &Error{VMID: vmid, Key: k, Unknown: errors.Is(err, errUnknown), Reason: err.Error()}
			if strict {
				return nil, nil, e
			}
			warnings = append(warnings, e.Error())
			continue
		}
		clean[k] = v
	}
	for _, e := range checkSet(vmid, clean) {
		if strict {
			return nil, nil, e
		}
		warnings = append(warnings, e.Error())
	}
	return clean, warnings, nil
}

// digestSchema accepts the digest some callers pass along with the keys.
var digestSchema = schema.Str("Digest of the configuration.")

func lookup(key string) *schema.Schema {
	if key == "digest" {
		return &digestSchema
	}
	return schemas()[key]
}

// normalize checks one key and value and returns the value in the form it
// is stored in.
func normalize(key, value string) (string, error) {
	raw := IsRawKey(key)
	s := lookup(key)
	if s == nil && !raw {
		return "", errUnknown
	}
	if strings.ContainsAny(value, "\n\r") {
		return "", errors.New("the value holds a line break")
	}
	if raw {
		return value, nil
	}
	if IsMountPointKey(key) {
		m, err := ParseMountPoint(key, value)
		if err != nil {
			return "", err
		}
		return m.String(), nil
	}
	x, err := s.Parse(value)
	if err != nil {
		return "", patternError(key, err)
	}
	if s.Prop != nil {
		if check := typedCheck(key); check != nil {
			if err := check(value); err != nil {
				return "", err
			}
		}
		return value, nil
	}
	if key == "nameserver" {
		if _, err := ParseNameservers(value); err != nil {
			return "", err
		}
	}
	switch v := x.(type) {
	case bool:
		return formatScalar(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return formatScalar(v), nil
	}
	return value, nil
}

// typedCheck returns the parser that applies the rules a key's schema
// cannot state, or nil.
func typedCheck(key string) func(string) error {
	switch {
	case IsNetKey(key):
		return func(v string) error { _, err := ParseNet(key, v); return err }
	case IsDeviceKey(key):
		return func(v string) error { _, err := ParseDevice(key, v); return err }
	case key == "features":
		return func(v string) error { _, err := ParseFeatures(v); return err }
	}
	return nil
}

// ParseNameservers splits the nameserver value into its addresses. An
// IPv6 link-local address may name the interface it is reached through
// ("fe80::1%eth0"); no other address may.
func ParseNameservers(value string) ([]string, error) {
	items := schema.SplitList(value)
	for _, item := range items {
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", item)
		}
		if a.Zone() != "" && !a.IsLinkLocalUnicast() {
			return nil, fmt.Errorf("%q names an interface, which only an IPv6 link-local address needs", item)
		}
	}
	return items, nil
}

// ParseEnv splits the env value into its NAME=value entries.
func ParseEnv(value string) []string {
	if value == "" {
		return nil
	}
	return strings.Split(value, "\x00")
}

// checkSet applies the rules between keys to values that each passed on
// their own, and returns one *Error per clash, in key order.
func checkSet(vmid int, values map[string]string) []*Error {
	var errs []*Error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &Error{VMID: vmid, Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	unprivileged := false
	if v, ok := values["unprivileged"]; ok {
		unprivileged, _ = schema.ParseBool(v)
	}

	mps := MountPoints(values)
	slices.SortFunc(mps, func(a, b *MountPoint) int { return a.Index - b.Index })
	paths := map[string]string{}
	volumes := map[string]string{}
	for _, m := range mps {
		p := m.cleanMP()
		if other, dup := paths[p]; dup {
			fail(m.Key, "mp: %s is already the mount point of %s", p, other)
		} else {
			paths[p] = m.Key
		}
		if id := volumeIdentity(m); id != "" {
			if other, dup := volumes[id]; dup {
				fail(m.Key, "volume: %s is already mounted by %s", m.Volume, other)
			} else {
				volumes[id] = m.Key
			}
		}
		if unprivileged && m.Quota.Or(false) {
			fail(m.Key, "quota: user quotas work only in privileged containers")
		}
	}
	for i := 0; i < api.LXCMaxUnused; i++ {
		k := "unused" + strconv.Itoa(i)
		v, ok := values[k]
		if !ok {
			continue
		}
		if vol, err := ParseUnused(k, v); err == nil {
			if other, dup := volumes[vol]; dup {
				fail(k, "volume: %s is already used by %s", vol, other)
			} else {
				volumes[vol] = k
			}
		}
	}

	devs := map[string]string{}
	for _, d := range Devices(values) {
		p := path.Clean(d.Path)
		if other, dup := devs[p]; dup {
			fail(d.Key, "path: %s is already passed through by %s", p, other)
		} else {
			devs[p] = d.Key
		}
	}

	names, macs := map[string]string{}, map[string]string{}
	for _, n := range Nets(values) {
		if other, dup := names[n.Name]; dup {
			fail(n.Key, "name: %s is already the name of %s", n.Name, other)
		} else {
			names[n.Name] = n.Key
		}
		if n.HWAddr == "" {
			continue
		}
		mac := strings.ToUpper(n.HWAddr)
		if other, dup := macs[mac]; dup {
			fail(n.Key, "hwaddr: %s is already the address of %s", n.HWAddr, other)
		} else {
			macs[mac] = n.Key
		}
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return strings.Compare(a.Key, b.Key) })
	return errs
}

// volumeIdentity is what makes two mount points use the same thing: the
// volume id of a storage volume, or the path of a block device. Bind
// mounts may share a host directory, and each new volume is a volume of
// its own, so they have none.
func volumeIdentity(m *MountPoint) string {
	switch m.Type() {
	case MountDevice:
		return path.Clean(m.Volume)
	case MountVolume:
		if _, _, isNew := m.NewVolume(); isNew {
			return ""
		}
		return m.Volume
	}
	return ""
}

// IsUnusedKey reports whether key names an unused volume (unused0 to
// unused255).
func IsUnusedKey(key string) bool {
	_, ok := indexOf(key, "unused", api.LXCMaxUnused)
	return ok
}

// ParseUnused returns the volume id an unusedN key holds.
func ParseUnused(key, value string) (string, error) {
	if !IsUnusedKey(key) {
		return "", fmt.Errorf("%q is not an unused volume key; expected unused0 to unused%d", key, api.LXCMaxUnused-1)
	}
	m, err := propOf("unused0").Parse(value)
	if err != nil {
		return "", err
	}
	return m["volume"], nil
}

// FreeKey returns the lowest key of an indexed family ("mp", "net",
// "dev" or "unused") that values do not use yet; ok is false when the
// family is full or unknown.
func FreeKey(values map[string]string, prefix string) (key string, ok bool) {
	max := map[string]int{"mp": api.LXCMaxMountPoints, "net": api.LXCMaxNets, "dev": api.LXCMaxDevices,
		"unused": api.LXCMaxUnused}[prefix]
	for i := 0; i < max; i++ {
		k := prefix + strconv.Itoa(i)
		if _, used := values[k]; !used {
			return k, true
		}
	}
	return "", false
}
