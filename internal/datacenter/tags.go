package datacenter

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/guestconf"
)

// allowedTags lists, sorted, the tags the caller may put on guests: the
// allowed-tags entry of GET /cluster/options, which the web interface
// offers in its tag editor. Following user-tag-access:
//
//   - list and existing allow the tags of user-allow-list;
//   - existing and free also offer the tags already on guests the caller
//     may see (VM.Audit), which under free are suggestions;
//   - registered tags are only for callers with Sys.Modify on /, who are
//     offered everything above plus the registered tags.
func (s *service) allowedTags(cfg *Config, c *api.Call) []string {
	access := cfg.TagAccess()
	privileged := has(c, "/", "Sys.Modify")
	set := map[string]bool{}
	if privileged || access.UserAllow == "list" || access.UserAllow == "existing" {
		for _, t := range access.AllowList {
			set[t] = true
		}
	}
	if privileged || access.UserAllow == "existing" || access.UserAllow == "free" {
		for _, t := range s.guestTags(c) {
			set[t] = true
		}
	}
	for _, t := range access.Registered {
		if privileged {
			set[t] = true
		} else {
			delete(set, t)
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// guestTags collects the tags of every guest configuration in the tree
// that the caller holds VM.Audit on.
func (s *service) guestTags(c *api.Call) []string {
	guests, _ := guestconf.List(s.store) // a tree without nodes has no guests
	var tags []string
	for _, g := range guests {
		if has(c, "/vms/"+strconv.Itoa(g.VMID), "VM.Audit") {
			tags = append(tags, configTags(g.Entry.Data)...)
		}
	}
	return tags
}

// configTags reads the tags line of a guest configuration's main section
// (snapshots and pending changes follow in [sections] and do not count).
// Tags are separated by ';' (commas and spaces are accepted too); invalid
// ones are skipped.
func configTags(data []byte) []string {
	var tags []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := trimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			break
		}
		value, ok := strings.CutPrefix(line, "tags:")
		if !ok {
			continue
		}
		tags = tags[:0]
		for _, t := range schema.SplitList(value) {
			if schema.CheckFormat("pve-tag", t) == nil {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
