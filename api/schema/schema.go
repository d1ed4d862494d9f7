package schema

import (
	"regexp"
	"sort"
)

// Type is a JSON schema type name as Proxmox VE uses them.
type Type string

// The types a parameter or a returned value can have.
const (
	String  Type = "string"
	Integer Type = "integer"
	Number  Type = "number"
	Boolean Type = "boolean"
	Array   Type = "array"
	Object  Type = "object"
	Null    Type = "null"
	// Any is used for returns whose shape depends on the input (pvesh passes them through).
	Any Type = "any"
)

// Schema describes one value: a parameter, a returned value, a property of
// an object or a key of a property string. Schemas are values: the helper
// methods return modified copies, so a shared standard option can never be
// changed by one of its users.
type Schema struct {
	Type        Type
	Description string
	// VerboseDescription is a longer text for man pages and the API viewer.
	VerboseDescription string
	Optional           bool
	// Default is the value assumed when the parameter is absent. It must have
	// the Go type matching Type: string, int64, float64 or bool.
	Default any
	// Format names a registered format (see Formats), such as "pve-vmid".
	// A name ending in "-list" accepts a list of that format.
	Format string
	// Prop makes a string a property string with these keys.
	Prop *PropString
	// FormatDescription is the short hint shown for property strings,
	// such as "[model=]<enum> [,bridge=<bridge>]".
	FormatDescription string
	Enum              []string
	Minimum, Maximum  *float64
	MinLength         int
	MaxLength         int
	// Pattern is a regular expression the whole string must match.
	Pattern string
	re      *regexp.Regexp
	// TypeText overrides the type hint shown in usage texts.
	TypeHint string
	Title    string
	// Renderer tells the CLI's text output how to show the value:
	// "bytes", "duration", "timestamp", "timestamp_gmt", "fraction_as_percentage".
	Renderer string
	Items    *Schema
	// Properties of an object, or of the parameters of an endpoint.
	Properties map[string]*Schema
	// AdditionalProperties allows keys not listed in Properties.
	AdditionalProperties bool
	// Sensitive values (passwords, secrets) are never logged or echoed.
	Sensitive bool

	// Property string key options (only meaningful inside a PropString).

	// DefaultKey marks the key whose value may be written without "key=".
	DefaultKey bool
	// Alias makes this key another name for the key it names.
	Alias string
	// KeyAlias, together with Alias, stores this key's own name as the value
	// of the named key: "virtio=<mac>" means model=virtio, macaddr=<mac>.
	KeyAlias string
}

// Props is a set of named properties (the parameters of an endpoint, or
// the properties of an object).
type Props map[string]*Schema

// Names returns the property names, sorted.
func (p Props) Names() []string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// F returns a pointer to f, for Minimum and Maximum.
func F(f float64) *float64 { return &f }

// Opt returns a copy marked optional.
func (s Schema) Opt() *Schema {
	s.Optional = true
	return &s
}

// Req returns a copy marked required.
func (s Schema) Req() *Schema {
	s.Optional = false
	return &s
}

// Desc returns a copy with a new description.
func (s Schema) Desc(d string) Schema {
	s.Description = d
	return s
}

// Def returns a copy with a default value; it also marks the copy optional,
// since a parameter with a default need not be given.
func (s Schema) Def(v any) Schema {
	s.Default = normalizeDefault(v)
	s.Optional = true
	return s
}

// Ptr returns a pointer to a copy of s.
func (s Schema) Ptr() *Schema { return &s }

// Obj builds an object schema.
func Obj(desc string, props Props) Schema {
	return Schema{Type: Object, Description: desc, Properties: props}
}

// ArrayOf builds an array schema.
func ArrayOf(desc string, items Schema) Schema {
	return Schema{Type: Array, Description: desc, Items: &items}
}

// Str builds a plain string schema.
func Str(desc string) Schema { return Schema{Type: String, Description: desc} }

// Int builds a plain integer schema.
func Int(desc string) Schema { return Schema{Type: Integer, Description: desc} }

// Num builds a plain number schema.
func Num(desc string) Schema { return Schema{Type: Number, Description: desc} }

// Bool builds a boolean schema.
func Bool(desc string) Schema { return Schema{Type: Boolean, Description: desc} }

// IntRange builds an integer schema with bounds.
func IntRange(desc string, min, max float64) Schema {
	return Schema{Type: Integer, Description: desc, Minimum: F(min), Maximum: F(max)}
}

// Enum builds a string schema limited to the given values.
func Enum(desc string, values ...string) Schema {
	return Schema{Type: String, Description: desc, Enum: values}
}

// Pat builds a string schema that must match a regular expression.
// The expression is compiled at once, so a broken pattern fails at start-up.
func Pat(desc, pattern string) Schema {
	return Schema{Type: String, Description: desc, Pattern: pattern, re: anchored(pattern)}
}

// WithPattern returns a copy that must also match pattern.
func (s Schema) WithPattern(pattern string) Schema {
	s.Pattern = pattern
	s.re = anchored(pattern)
	return s
}

func anchored(pattern string) *regexp.Regexp {
	return regexp.MustCompile(`^(?:` + pattern + `)$`)
}

func (s *Schema) regexp() *regexp.Regexp {
	if s.Pattern == "" {
		return nil
	}
	if s.re == nil {
		// A schema built as a literal with Pattern set: compile on use.
		// Compiling is deterministic, so a race here only wastes work.
		return anchored(s.Pattern)
	}
	return s.re
}

func normalizeDefault(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}
