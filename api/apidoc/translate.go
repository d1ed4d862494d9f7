package apidoc

import (
	"github.com/hearth-virt/hearth/api/schema"
)

// direction says which way a value travels. Booleans differ between the
// two: the server reads true/false as well as 0/1, but always writes 0/1,
// as Proxmox VE does; clients that validate responses must expect numbers.
type direction int

const (
	request  direction = iota // parameters and request bodies
	response                  // returned data
)

// jsonSchema translates one Hearth schema into an OpenAPI 3.1 schema
// object (JSON Schema 2020-12 with OpenAPI's vocabulary).
//
// Decisions worth knowing:
//   - Request booleans are {"type": ["boolean", "integer"], "enum": [false,
//     true, 0, 1]}: a 3.1 type array rather than oneOf, because it is one
//     schema that every 2020-12 validator checks exactly (enum compares
//     with type, so 2 and "1" are refused) and viewers list the accepted
//     values verbatim.
//   - Response booleans are {"type": "integer", "enum": [0, 1]}, and their
//     defaults 0/1, because that is what goes on the wire.
//   - Response objects never say additionalProperties: false. Declared
//     returns describe what clients may rely on, not everything the server
//     may add; a closed schema would make strict clients reject a newer
//     server. Request objects are closed unless declared open, since the
//     server refuses unknown parameters.
//   - An empty Type is a string in requests (the parameter decoder treats
//     it so) and unconstrained in responses (nothing was declared).
func jsonSchema(s *schema.Schema, dir direction) map[string]any {
	m := map[string]any{}
	if s == nil {
		return m
	}
	switch s.Type {
	case schema.String, schema.Integer, schema.Number, schema.Array, schema.Object, schema.Null:
		m["type"] = string(s.Type)
	case schema.Boolean:
		if dir == request {
			m["type"] = []any{"boolean", "integer"}
			m["enum"] = []any{false, true, 0, 1}
		} else {
			m["type"] = "integer"
			m["enum"] = []any{0, 1}
		}
	case "":
		if dir == request {
			m["type"] = "string"
		}
	}
	// schema.Any (and any unknown type) gets no type constraint at all.

	if d := describe(s); d != "" {
		m["description"] = d
	}
	if s.Title != "" {
		m["title"] = s.Title
	}
	plainString := (s.Type == schema.String || s.Type == "") && s.Prop == nil && s.Format == ""
	switch {
	case s.Prop != nil:
		// A property string is a string on the wire; its keys are described
		// beside it, since JSON Schema cannot look inside a string.
		m["type"] = "string"
		m["x-property-string"] = propKeys(s.Prop, dir)
	case s.Format != "":
		// PVE's format names are kept: OpenAPI allows any format string,
		// and clients that know PVE's formats can look them up.
		m["format"] = s.Format
	case s.Sensitive && dir == request && plainString:
		m["format"] = "password"
	}
	if s.Sensitive && dir == request {
		m["writeOnly"] = true
	}
	if s.Pattern != "" {
		// The server matches the whole value (see schema.anchored); JSON
		// Schema patterns match anywhere unless anchored.
		m["pattern"] = "^(?:" + s.Pattern + ")$"
	}
	// The server checks Enum on strings only; on other types the listed
	// strings would contradict the type and make the document invalid.
	if len(s.Enum) > 0 && (s.Type == schema.String || s.Type == "") {
		m["enum"] = s.Enum
	}
	if s.Minimum != nil {
		m["minimum"] = *s.Minimum
	}
	if s.Maximum != nil {
		m["maximum"] = *s.Maximum
	}
	if s.MinLength > 0 {
		m["minLength"] = s.MinLength
	}
	if s.MaxLength > 0 {
		m["maxLength"] = s.MaxLength
	}
	if s.Default != nil {
		m["default"] = defaultValue(s.Default, dir)
	}
	if s.Type == schema.Array && s.Items != nil {
		m["items"] = jsonSchema(s.Items, dir)
	}
	if s.Type == schema.Object {
		if props, required := objectProps(s.Properties, dir); len(props) > 0 {
			m["properties"] = props
			if len(required) > 0 {
				m["required"] = required
			}
		}
		if dir == request {
			m["additionalProperties"] = s.AdditionalProperties
		}
	}
	return m
}

// objectProps translates the properties of an object and lists the
// required ones in name order, so the output is stable.
func objectProps(props schema.Props, dir direction) (map[string]any, []string) {
	out := make(map[string]any, len(props))
	var required []string
	for _, name := range props.Names() {
		p := props[name]
		out[name] = jsonSchema(p, dir)
		if !p.Optional {
			required = append(required, name)
		}
	}
	return out, required
}

// propKeys describes the keys of a property string as an object schema:
// the shape of the string once parsed, which is what a reader needs.
// Alias keys are never required: they only spell another key.
func propKeys(p *schema.PropString, dir direction) map[string]any {
	props := make(map[string]any, len(p.Keys))
	var required []string
	for _, name := range p.Keys.Names() {
		k := p.Keys[name]
		ks := jsonSchema(k, dir)
		if k.DefaultKey {
			ks["x-default-key"] = true
		}
		if k.Alias != "" {
			ks["x-alias-of"] = k.Alias
			if k.KeyAlias != "" {
				ks["x-key-alias"] = k.KeyAlias
			}
		} else if !k.Optional {
			required = append(required, name)
		}
		props[name] = ks
	}
	m := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

// describe joins the texts a reader needs: the description, the longer
// one when there is one, and the synopsis of a property string (the only
// place a viewer shows how to write it).
func describe(s *schema.Schema) string {
	text := s.Description
	add := func(part string) {
		if part == "" {
			return
		}
		if text != "" {
			text += "\n\n"
		}
		text += part
	}
	if s.VerboseDescription != s.Description {
		add(s.VerboseDescription)
	}
	if s.Prop != nil {
		if syn := s.Prop.Synopsis(); syn != "" {
			add("Format: `" + syn + "`")
		}
	}
	return text
}

func defaultValue(v any, dir direction) any {
	if b, ok := v.(bool); ok && dir == response {
		if b {
			return 1
		}
		return 0
	}
	return v
}
