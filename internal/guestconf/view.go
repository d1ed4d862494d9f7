package guestconf

import (
	"net/http"
	"slices"

	"github.com/hearth-virt/hearth/api"
)

// Typed turns a stored value into what the API returns for its key
// (numbers for integer and boolean keys, strings otherwise).
type Typed func(key, value string) any

// View is GET …/config of a guest: the current settings with pending
// changes applied (unless current), or a snapshot's, with the digest.
func (c *Config) View(snapshot string, current bool, typed Typed) (map[string]any, error) {
	out := map[string]any{}
	sec := c.File.Main
	if snapshot != "" {
		sec = c.File.Snapshot(snapshot)
		if sec == nil {
			return nil, api.Errorf(http.StatusInternalServerError, "snapshot '%s' does not exist", snapshot)
		}
	}
	for _, k := range sec.Keys() {
		out[k] = typed(k, sec.Value(k))
	}
	if snapshot == "" && !current {
		for _, k := range c.File.Pending.Keys() {
			out[k] = typed(k, c.File.Pending.Value(k))
		}
		for _, d := range c.File.PendingDeletes() {
			delete(out, d.Key)
		}
	}
	out["digest"] = c.Digest
	return out, nil
}

// PendingRows is GET …/pending of a guest: every key with its current
// value, its pending value and whether it is marked for removal.
func (c *Config) PendingRows(typed Typed) []api.VMPending {
	keys := map[string]bool{}
	for _, k := range c.File.Main.Keys() {
		keys[k] = true
	}
	for _, k := range c.File.Pending.Keys() {
		keys[k] = true
	}
	for _, d := range c.File.PendingDeletes() {
		keys[d.Key] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]api.VMPending, 0, len(names))
	for _, k := range names {
		row := api.VMPending{Key: k}
		if v, ok := c.File.Main.Get(k); ok {
			row.Value = typed(k, v)
		}
		if v, ok := c.File.Pending.Get(k); ok {
			row.Pending = typed(k, v)
		}
		if marked, force := c.File.IsPendingDelete(k); marked {
			row.Delete = 1
			if force {
				row.Delete = 2
			}
		}
		out = append(out, row)
	}
	return out
}

// ApplyPending moves the pending changes of a stopped guest into its
// current settings, telling the caller about each value that was
// replaced or removed (so that a disk taken out becomes unusedN). It
// reports whether anything changed; the caller saves.
func (f *File) ApplyPending(replaced func(key, old, now string), removed func(key, old string, force bool)) (bool, error) {
	if !f.HasPending() {
		return false, nil
	}
	for _, d := range f.PendingDeletes() {
		old, had := f.Main.Get(d.Key)
		f.RemovePendingDelete(d.Key)
		if !had {
			continue
		}
		f.Main.Delete(d.Key)
		removed(d.Key, old, d.Force)
	}
	for _, k := range f.Pending.Keys() {
		v := f.Pending.Value(k)
		old, had := f.Main.Get(k)
		if err := f.Main.Set(k, v); err != nil {
			return false, err
		}
		f.Pending.Delete(k)
		if had && old != v {
			replaced(k, old, v)
		}
	}
	return true, nil
}
