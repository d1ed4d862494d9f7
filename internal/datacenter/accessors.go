package datacenter

import (
	"net/netip"
	"strconv"
	"strings"
)

// Defaults of the options read through the accessors below, as Proxmox VE
// documents them.
const (
	// DefaultNextIDLower and DefaultNextIDUpper bound the ids proposed by
	// GET /cluster/nextid: lower inclusive, upper exclusive. The upper
	// default is far below the largest guest id, which is plenty.
	DefaultNextIDLower = 100
	DefaultNextIDUpper = 1000000
	// DefaultMACPrefix is the block registered to Proxmox Server Solutions.
	DefaultMACPrefix = "BC:24:11"
	// DefaultHAShutdownPolicy applies when ha is not set.
	DefaultHAShutdownPolicy = "conditional"
)

// prop returns an option's property string parsed into canonical keys,
// or nil when the option is not set. Stored values passed the schema, so
// parsing them again cannot fail.
func (c *Config) prop(key string) map[string]string {
	v, ok := c.values[key]
	if !ok {
		return nil
	}
	m, _ := options[key].Prop.Parse(v)
	return m
}

// NextIDRange returns the range GET /cluster/nextid proposes ids from:
// lower is the first candidate, upper the first id past the range (it is
// exclusive, as in Proxmox VE). Set refuses ranges with lower ≥ upper, so
// the range always holds at least one id.
func (c *Config) NextIDRange() (lower, upper int) {
	return nextIDRange(c.prop("next-id"))
}

// MACPrefix returns the prefix for generated guest MAC addresses.
func (c *Config) MACPrefix() string {
	if v, ok := c.values["mac_prefix"]; ok {
		return v
	}
	return DefaultMACPrefix
}

// Console returns the default console viewer (vv, html5 or xtermjs), or
// "" when none is set and each client picks its own.
func (c *Config) Console() string { return c.values["console"] }

// Keyboard returns the default keyboard layout of VNC consoles, or "" when
// none is set.
func (c *Config) Keyboard() string { return c.values["keyboard"] }

// Language returns the default language of the web interface, or "" when
// none is set (the browser's language is used).
func (c *Config) Language() string { return c.values["language"] }

// HTTPProxy returns the proxy URL for downloads, or "" for direct access.
func (c *Config) HTTPProxy() string { return c.values["http_proxy"] }

// HAShutdownPolicy returns what the HA manager does with the services of
// a node that shuts down.
func (c *Config) HAShutdownPolicy() string {
	if v, ok := c.prop("ha")["shutdown_policy"]; ok {
		return v
	}
	return DefaultHAShutdownPolicy
}

// Migration is the cluster-wide setting for moving guests between nodes.
type Migration struct {
	// Insecure sends the traffic without the SSH tunnel.
	Insecure bool
	// Network is the network migration traffic uses; the zero Prefix means
	// none is configured (the nodes' cluster addresses are used).
	Network netip.Prefix
}

// MigrationSettings returns the migration settings. A file that only has
// the retired migration_unsecure flag was converted when it was parsed.
func (c *Config) MigrationSettings() Migration {
	m := c.prop("migration")
	var out Migration
	out.Insecure = m["type"] == "insecure"
	if n, ok := m["network"]; ok {
		out.Network, _ = netip.ParsePrefix(n)
	}
	return out
}

// BandwidthLimits maps operations (clone, migration, move, restore) and
// "default" to a limit in KiB/s. Only the limits that are set are present.
type BandwidthLimits map[string]float64

// For returns the limit that applies to an operation: its own, else the
// default. ok is false when no limit applies; a limit of 0 also means
// unlimited, and an operation's own 0 overrides a default.
func (b BandwidthLimits) For(op string) (kibps float64, ok bool) {
	v, set := b[op]
	if !set {
		v, set = b["default"]
	}
	return v, set && v > 0
}

// BandwidthLimits returns the limits of the bwlimit option.
func (c *Config) BandwidthLimits() BandwidthLimits {
	out := BandwidthLimits{}
	for k, v := range c.prop("bwlimit") {
		if f, err := strconv.ParseFloat(trimSpace(v), 64); err == nil {
			out[k] = f
		}
	}
	return out
}

// TagAccess says who may use which guest tags.
type TagAccess struct {
	// UserAllow is none, list, existing or free (the default): what users
	// without Sys.Modify on / may use.
	UserAllow string
	// AllowList holds the tags of user-allow-list, sorted.
	AllowList []string
	// Registered holds the tags reserved for Sys.Modify on /, sorted.
	Registered []string
}

// TagAccess returns the tag rules of user-tag-access and registered-tags.
func (c *Config) TagAccess() TagAccess {
	m := c.prop("user-tag-access")
	out := TagAccess{UserAllow: "free"}
	if v, ok := m["user-allow"]; ok {
		out.UserAllow = v
	}
	if v, ok := m["user-allow-list"]; ok {
		out.AllowList = strings.Split(v, ";")
	}
	if v, ok := c.values["registered-tags"]; ok {
		out.Registered = strings.Split(v, ";")
	}
	return out
}
