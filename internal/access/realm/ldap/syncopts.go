package ldap

import (
	"fmt"
	"slices"
	"strings"
)

// Sync scopes.
const (
	ScopeUsers  = "users"
	ScopeGroups = "groups"
	ScopeBoth   = "both"
)

// What remove-vanished may name.
const (
	VanishedACL        = "acl"
	VanishedEntry      = "entry"
	VanishedProperties = "properties"
)

// SyncOptions says what a sync imports and what it removes.
type SyncOptions struct {
	Scope string // ScopeUsers, ScopeGroups, ScopeBoth, or "" when not set
	// RemoveVanished is a sorted subset of acl, entry and properties.
	RemoveVanished []string
	// EnableNew enables users the sync creates; Proxmox VE defaults to it.
	EnableNew bool
	// DryRun computes and reports the changes without making them. It is
	// a per-call flag and has no place in sync-defaults-options.
	DryRun bool
}

// Removes reports whether remove-vanished names what.
func (o SyncOptions) Removes(what string) bool { return slices.Contains(o.RemoveVanished, what) }

// ParseSyncOptions reads the property string of sync-defaults-options,
// e.g. "scope=both,enable-new=1,remove-vanished=acl;entry". The older keys
// are translated: full=1 means remove-vanished entry and properties,
// purge=1 adds acl. An empty string gives the defaults (no scope, new
// users enabled, nothing removed).
func ParseSyncOptions(s string) (SyncOptions, error) {
	o := SyncOptions{EnableNew: true}
	seen := map[string]bool{}
	var full, purge, explicit bool
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return SyncOptions{}, fmt.Errorf("sync options: %q is not key=value", kv)
		}
		if seen[key] {
			return SyncOptions{}, fmt.Errorf("sync options: %s given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "scope":
			switch val {
			case ScopeUsers, ScopeGroups, ScopeBoth:
				o.Scope = val
			default:
				err = fmt.Errorf("%q is not one of users, groups, both", val)
			}
		case "enable-new":
			o.EnableNew, err = parseBool(val)
		case "full":
			full, err = parseBool(val)
		case "purge":
			purge, err = parseBool(val)
		case "remove-vanished":
			explicit = true
			o.RemoveVanished, err = parseVanished(val)
		default:
			err = fmt.Errorf("unknown option (want scope, enable-new, remove-vanished, or the older full and purge)")
		}
		if err != nil {
			return SyncOptions{}, fmt.Errorf("sync options: %s: %w", key, err)
		}
	}
	// The older flags only count when remove-vanished is absent, as in
	// Proxmox VE, where they exist only to keep old configurations working.
	if !explicit {
		if full {
			o.RemoveVanished = append(o.RemoveVanished, VanishedEntry, VanishedProperties)
		}
		if purge {
			o.RemoveVanished = append(o.RemoveVanished, VanishedACL)
		}
		slices.Sort(o.RemoveVanished)
	}
	return o, nil
}

func parseVanished(v string) ([]string, error) {
	if v == "none" || v == "" {
		return nil, nil
	}
	var out []string
	for _, item := range strings.Split(v, ";") {
		switch item {
		case VanishedACL, VanishedEntry, VanishedProperties:
			if slices.Contains(out, item) {
				return nil, fmt.Errorf("%q listed twice", item)
			}
			out = append(out, item)
		default:
			return nil, fmt.Errorf("%q is not acl, entry or properties (separate them with ';', or say none)", item)
		}
	}
	slices.Sort(out)
	return out, nil
}

// String renders the options in the form ParseSyncOptions reads, without
// DryRun, which is not part of that form.
func (o SyncOptions) String() string {
	var parts []string
	if !o.EnableNew {
		parts = append(parts, "enable-new=0")
	}
	if len(o.RemoveVanished) > 0 {
		parts = append(parts, "remove-vanished="+strings.Join(o.RemoveVanished, ";"))
	}
	if o.Scope != "" {
		parts = append(parts, "scope="+o.Scope)
	}
	return strings.Join(parts, ",")
}
