package cloudinit

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// plainKeys are the config keys besides netN and ipconfigN whose values
// go into the drive.
var plainKeys = []string{"cicustom", "cipassword", "citype", "ciupgrade", "ciuser", "name", "nameserver", "searchdomain", "sshkeys"}

// PasswordMask stands in for cipassword in Rows, which the API returns
// to anyone who may audit the VM.
const PasswordMask = "**********"

// IsKey reports whether a config key feeds the cloud-init drive: the
// cloud-init options, the VM name (the host name) and the NICs.
func IsKey(key string) bool {
	if slices.Contains(plainKeys, key) {
		return true
	}
	if _, ok := indexOf(key, "net"); ok {
		return true
	}
	_, ok := indexOf(key, "ipconfig")
	return ok
}

// Recorded picks the keys of conf that the drive is built from, to be
// kept in the [special:cloudinit] section once the drive is written.
func Recorded(conf map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range conf {
		if IsKey(k) {
			out[k] = v
		}
	}
	return out
}

// Row is one line of GET …/cloudinit: a key, the value the current drive
// was built from, and the value a rebuilt drive would get when it differs.
type Row struct {
	Key     string
	Value   string // as built; "" when the key was added since
	Pending string // the current value, when it differs from Value
	Delete  bool   // the key was removed since the drive was built
}

// Rows compares the values a drive was built from (the
// [special:cloudinit] section) with the current config and lists every
// cloud-init key of either, in key order. A NIC counts as changed only
// when its MAC address does, since nothing else of it reaches the drive.
func Rows(built, current map[string]string) []Row {
	var keys []string
	for _, m := range []map[string]string{built, current} {
		for k := range m {
			if IsKey(k) && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, compareKeys)
	rows := make([]Row, 0, len(keys))
	for _, k := range keys {
		old, hadOld := built[k]
		cur, hasCur := current[k]
		r := Row{Key: k}
		switch {
		case hadOld && hasCur && sameValue(k, old, cur):
			r.Value = cur
		case hadOld && hasCur:
			r.Value, r.Pending = old, cur
		case hasCur:
			r.Pending = cur
		default:
			r.Value, r.Delete = old, true
		}
		if k == "cipassword" {
			r.Value, r.Pending = mask(r.Value), mask(r.Pending)
		}
		rows = append(rows, r)
	}
	return rows
}

// PendingChanges lists the cloud-init keys whose current value differs
// from the one the drive was built from, in key order.
func PendingChanges(built, current map[string]string) []string {
	var keys []string
	for _, r := range Rows(built, current) {
		if r.Pending != "" || r.Delete {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func sameValue(key, a, b string) bool {
	if a == b {
		return true
	}
	if _, ok := indexOf(key, "net"); ok {
		ma, errA := NetMAC(a)
		mb, errB := NetMAC(b)
		return errA == nil && errB == nil && ma == mb
	}
	return false
}

func mask(v string) string {
	if v == "" {
		return ""
	}
	return PasswordMask
}

// compareKeys orders keys by name and then by number, so net2 comes
// before net10.
func compareKeys(a, b string) int {
	pa, na := splitIndex(a)
	pb, nb := splitIndex(b)
	return cmp.Or(strings.Compare(pa, pb), cmp.Compare(na, nb), strings.Compare(a, b))
}

func splitIndex(k string) (string, int) {
	i := len(k)
	for i > 0 && k[i-1] >= '0' && k[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(k[i:])
	if err != nil {
		return k, -1
	}
	return k[:i], n
}
