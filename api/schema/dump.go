package schema

import (
	"fmt"
	"strings"
)

// PVE returns the schema as a JSON-ready value in the shape of Proxmox VE's
// API schema dump (apidata.js): optional as 1, property strings as a
// "format" object of key schemas, and a computed "typetext".
func (s *Schema) PVE() map[string]any {
	m := map[string]any{}
	if s.Type != "" {
		m["type"] = string(s.Type)
	}
	put := func(k string, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("description", s.Description)
	put("verbose_description", s.VerboseDescription)
	put("title", s.Title)
	put("renderer", s.Renderer)
	put("pattern", s.Pattern)
	put("alias", s.Alias)
	put("keyAlias", s.KeyAlias)
	put("format_description", s.FormatDescription)
	if s.Optional {
		m["optional"] = 1
	}
	if s.DefaultKey {
		m["default_key"] = 1
	}
	if s.Default != nil {
		if b, ok := s.Default.(bool); ok {
			m["default"] = boolNum(b)
		} else {
			m["default"] = s.Default
		}
	}
	if s.Prop != nil {
		f := map[string]any{}
		for k, ks := range s.Prop.Keys {
			f[k] = ks.PVE()
		}
		m["format"] = f
	} else {
		put("format", s.Format)
	}
	if len(s.Enum) > 0 {
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
	if s.Items != nil {
		m["items"] = s.Items.PVE()
	}
	if s.Type == Object {
		if len(s.Properties) > 0 {
			p := map[string]any{}
			for k, ps := range s.Properties {
				p[k] = ps.PVE()
			}
			m["properties"] = p
		}
		m["additionalProperties"] = boolNum(s.AdditionalProperties)
	}
	if tt := s.TypeText(); tt != "" && s.Type != Object && s.Type != Array {
		m["typetext"] = tt
	}
	return m
}

func boolNum(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TypeText is the short type hint shown in usage texts and man pages,
// such as "<integer> (100 - 999999999)" or "<start | stop>".
func (s *Schema) TypeText() string {
	if s.TypeHint != "" {
		return s.TypeHint
	}
	if s.FormatDescription != "" {
		return s.FormatDescription
	}
	if len(s.Enum) > 0 {
		return "<" + strings.Join(s.Enum, " | ") + ">"
	}
	if s.Prop != nil {
		return s.Prop.Synopsis()
	}
	t := "<" + string(s.Type) + ">"
	if s.Type == "" {
		t = "<string>"
	}
	switch {
	case s.Minimum != nil && s.Maximum != nil:
		return fmt.Sprintf("%s (%s - %s)", t, fmtNum(*s.Minimum), fmtNum(*s.Maximum))
	case s.Minimum != nil:
		return fmt.Sprintf("%s (%s - N)", t, fmtNum(*s.Minimum))
	case s.Maximum != nil:
		return fmt.Sprintf("%s (-N - %s)", t, fmtNum(*s.Maximum))
	}
	return t
}

// Synopsis describes a property string's keys in one line, such as
// "[model=]<e1000 | virtio> [,bridge=<bridge>] [,firewall=<1|0>]".
func (p *PropString) Synopsis() string {
	var parts []string
	if dk := p.defaultKey; dk != "" {
		k := p.Keys[dk]
		text := "[" + dk + "=]" + k.keyHint()
		if k.Optional {
			text = "[" + text + "]"
		}
		parts = append(parts, text)
	}
	for _, name := range p.Keys.Names() {
		k := p.Keys[name]
		if name == p.defaultKey || k.Alias != "" {
			continue
		}
		text := name + "=" + k.keyHint()
		if len(parts) > 0 {
			text = "," + text
		}
		if k.Optional {
			text = "[" + text + "]"
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, " ")
}

func (s *Schema) keyHint() string {
	if s.FormatDescription != "" {
		return "<" + s.FormatDescription + ">"
	}
	if s.Type == Boolean {
		return "<1|0>"
	}
	return s.TypeText()
}
