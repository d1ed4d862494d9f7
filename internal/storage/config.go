package storage

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// CfgPath is the storage definitions in the cluster file system.
const CfgPath = "storage.cfg"

// secretPath keeps a storage's password or keyring out of the
// world-readable storage.cfg, where Proxmox VE keeps them: a CIFS
// password in priv/storage/<id>.pw, a Ceph keyring in
// priv/ceph/<id>.keyring.
func secretPath(id, key string) string {
	if key == "keyring" {
		return "priv/ceph/" + id + ".keyring"
	}
	return "priv/storage/" + id + ".pw"
}

// secretKeys are the parameters that carry a storage's secret; they are
// never written to storage.cfg.
var secretKeys = []string{"password", "keyring"}

// secretKey is the secret parameter a type takes, "" for none.
func secretKey(info Info) string {
	for _, k := range secretKeys {
		if _, ok := info.Options[k]; ok {
			return k
		}
	}
	return ""
}

// DefaultLocal is the dir storage every node has, as on Proxmox VE: it is
// added when storage.cfg does not define "local".
func DefaultLocal(path string) sectioncfg.Section {
	return sectioncfg.Section{Type: "dir", ID: "local", Props: []sectioncfg.Prop{
		{Key: "path", Value: path},
		{Key: "content", Value: "iso,vztmpl,backup"},
	}}
}

// Definitions is storage.cfg as read, in file order.
type Definitions struct {
	Sections []sectioncfg.Section
}

// ParseDefinitions reads storage.cfg. Sections of unknown types, with
// invalid ids or defined twice are skipped with a warning, so that one bad
// section never hides the others. local is added when missing.
func ParseDefinitions(data []byte, known func(typ string) bool, local sectioncfg.Section) (*Definitions, []string) {
	secs, warnings := sectioncfg.Parse(data)
	d := &Definitions{}
	for _, s := range secs {
		switch {
		case !known(s.Type):
			warnings = append(warnings, fmt.Sprintf("line %d: storage %s has unknown type %q; skipped", s.Line, s.ID, s.Type))
		case !ValidStorageID(s.ID):
			warnings = append(warnings, fmt.Sprintf("line %d: invalid storage id %q; skipped", s.Line, s.ID))
		case d.Find(s.ID) != nil:
			warnings = append(warnings, fmt.Sprintf("line %d: storage %s defined twice; the second is ignored", s.Line, s.ID))
		default:
			d.Sections = append(d.Sections, s)
		}
	}
	if d.Find("local") == nil {
		d.Sections = append(d.Sections, local)
	}
	return d, warnings
}

// Find returns the section of a storage, or nil.
func (d *Definitions) Find(id string) *sectioncfg.Section {
	for i := range d.Sections {
		if d.Sections[i].ID == id {
			return &d.Sections[i]
		}
	}
	return nil
}

// Remove drops a storage's section.
func (d *Definitions) Remove(id string) {
	d.Sections = slices.DeleteFunc(d.Sections, func(s sectioncfg.Section) bool { return s.ID == id })
}

// Bytes renders storage.cfg.
func (d *Definitions) Bytes() []byte { return sectioncfg.Print(d.Sections) }

// ConfigOf turns a section into the Config a plugin opens.
func ConfigOf(sec *sectioncfg.Section, info Info) Config {
	c := Config{ID: sec.ID, Type: sec.Type, Props: map[string]string{}}
	for _, p := range sec.Props {
		v, _ := sec.Get(p.Key)
		c.Props[p.Key] = v
	}
	if v, ok := c.Props["content"]; ok {
		c.Content = parseContentList(v)
	} else {
		c.Content = slices.Clone(info.DefaultContent)
	}
	if v := c.Props["nodes"]; v != "" {
		c.Nodes = splitList(v)
	}
	c.Shared = info.Shared || c.Props["shared"] == "1"
	c.Disable = c.Props["disable"] == "1"
	return c
}

// OnNode reports whether a storage may be used on node.
func (c Config) OnNode(node string) bool {
	return len(c.Nodes) == 0 || slices.Contains(c.Nodes, node)
}

// Holds reports whether the storage is configured for content c.
func (c Config) Holds(x Content) bool { return slices.Contains(c.Content, x) }

func parseContentList(v string) []Content {
	var out []Content
	for _, s := range splitList(v) {
		if s != "none" {
			out = append(out, Content(s))
		}
	}
	return out
}

// splitList splits the comma (or semicolon, or space) separated lists of
// storage.cfg.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// CheckSection validates a section after a change against its type: only
// the type's keys, every required one, content the type can hold, and,
// when before is given, fixed keys unchanged.
func CheckSection(sec *sectioncfg.Section, info Info, before *sectioncfg.Section) error {
	for _, p := range sec.Props {
		if _, ok := info.Options[p.Key]; !ok {
			return api.ParamError(p.Key, "not an option of %s storages (they take %s)", sec.Type, strings.Join(optionNames(info), ", "))
		}
	}
	for k, o := range info.Options {
		if _, ok := sec.Get(k); o.Required && !ok {
			return api.ParamError(k, "required for %s storages", sec.Type)
		}
		if o.Fixed && before != nil {
			was, _ := before.Get(k)
			now, _ := sec.Get(k)
			if was != now {
				return api.ParamError(k, "cannot be changed once the storage exists (it says where the data is)")
			}
		}
	}
	if v, ok := sec.Get("content"); ok {
		for _, c := range parseContentList(v) {
			if !slices.Contains(info.Content, c) {
				return api.ParamError("content", "%s storages cannot hold %s (they hold %s)", sec.Type, c, ContentList(info.Content))
			}
		}
	}
	if v, ok := sec.Get("format"); ok && !slices.Contains(info.Formats, v) {
		return api.ParamError("format", "%s storages do not store %s images (they store %s)", sec.Type, v, strings.Join(info.Formats, ", "))
	}
	if v, _ := sec.Get("shared"); v == "1" && !info.Shared && !info.SharedOption {
		return api.ParamError("shared", "%s storages are local to a node and cannot be marked shared", sec.Type)
	}
	if v, ok := sec.Get("prune-backups"); ok {
		if err := checkKeepAll(v); err != nil {
			return api.ParamError("prune-backups", "%v", err)
		}
	}
	return nil
}

func optionNames(info Info) []string {
	var out []string
	for k := range info.Options {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
