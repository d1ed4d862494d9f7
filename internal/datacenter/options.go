package datacenter

import (
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// Options returns the configuration in the shape GET /cluster/options
// answers with, which is how Proxmox VE hands out its parsed file:
//
//   - property-string options as objects of their keys (the web interface
//     reads them that way);
//   - registered-tags and user-tag-access's user-allow-list as arrays;
//   - booleans, top-level or inside property strings, as 0 or 1;
//   - every other value as the string from the file, numbers included,
//     because Proxmox VE never converts them;
//   - description always present, "" when there are no notes.
func (c *Config) Options() map[string]any {
	out := make(map[string]any, len(c.values)+1)
	out[descriptionKey] = c.description
	for key, v := range c.values {
		s := options[key]
		switch {
		case s.Prop != nil:
			obj := map[string]any{}
			for sub, sv := range c.prop(key) {
				switch {
				case s.Prop.Keys[sub].Type == schema.Boolean:
					obj[sub] = boolNumber(sv == "1")
				case key == "user-tag-access" && sub == "user-allow-list":
					obj[sub] = strings.Split(sv, ";")
				default:
					obj[sub] = sv
				}
			}
			out[key] = obj
		case key == "registered-tags":
			out[key] = strings.Split(v, ";")
		case s.Type == schema.Boolean:
			out[key] = boolNumber(v == "1")
		default:
			out[key] = v
		}
	}
	return out
}

func boolNumber(b bool) int {
	if b {
		return 1
	}
	return 0
}
