package storage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
)

// reference is a guest configuration line naming a volume.
type reference struct {
	vmid    int
	kind    string // qemu or lxc
	path    string // the configuration file
	version uint64
	key     string // scsi0, rootfs, unused1, …
	// unused: an unusedN entry of the current configuration, which goes
	// away with the volume; any other reference keeps the volume.
	unused bool
}

var unusedKeyRE = regexp.MustCompile(`^unused\d+$`)

// lineVolume returns the volume id a configuration value names: its
// first element, or its file= or volume= key.
func lineVolume(value string) string {
	for i, part := range strings.Split(value, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok && i == 0 {
			return strings.TrimSpace(part)
		}
		if k == "file" || k == "volume" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ReferencesIn lists the keys of a guest configuration that name volid,
// in every section (snapshots and pending changes hold on to volumes
// too), marking unusedN entries of the main section.
func ReferencesIn(data []byte, volid string) (keys []string, unused []bool) {
	main := true
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "[") {
			main = false
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if lineVolume(strings.TrimSpace(v)) == volid {
			keys = append(keys, k)
			unused = append(unused, main && unusedKeyRE.MatchString(k))
		}
	}
	return keys, unused
}

// references finds every guest configuration line naming volid.
func (s *Service) references(volid string) ([]reference, error) {
	guests, err := guestconf.List(s.o.Store)
	if err != nil {
		return nil, err
	}
	var out []reference
	for _, g := range guests {
		keys, unused := ReferencesIn(g.Entry.Data, volid)
		for i, k := range keys {
			out = append(out, reference{vmid: g.VMID, kind: g.Kind, path: g.Entry.Path, version: g.Entry.Version, key: k, unused: unused[i]})
		}
	}
	return out, nil
}

// dropUnused removes the unusedN lines naming a removed volume from the
// guest configurations, each file only if unchanged since it was read.
func (s *Service) dropUnused(ctx context.Context, volid string, refs []reference) error {
	done := map[string]bool{}
	for _, r := range refs {
		if done[r.path] {
			continue
		}
		done[r.path] = true
		e, err := s.o.Store.Get(r.path)
		if errors.Is(err, cfs.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		out := DropUnusedLines(e.Data, volid)
		if _, err := s.o.Store.Apply(ctx, cfs.Write(r.path, out).If(cfs.Cond{Version: e.Version})); err != nil {
			return fmt.Errorf("%s: %w", r.path, err)
		}
	}
	return nil
}

// DropUnusedLines removes the main section's unusedN lines naming volid.
func DropUnusedLines(data []byte, volid string) []byte {
	var out []string
	main := true
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "[") {
			main = false
		}
		if main {
			if k, v, ok := strings.Cut(line, ":"); ok && unusedKeyRE.MatchString(k) && lineVolume(strings.TrimSpace(v)) == volid {
				continue
			}
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}
