package schema

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PropString is the schema of a property string: comma-separated
// key=value pairs such as "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1",
// used by many config keys. One key may be the default key, written bare;
// keys may be aliases of others.
type PropString struct {
	Keys       Props
	defaultKey string
	// keyAlias maps a key like "virtio" to the key that receives its name
	// ("model") and the key that receives its value ("macaddr").
	keyAlias map[string][2]string
}

// NewPropString builds a property string schema. It panics on an
// inconsistent declaration (two default keys, an alias to a missing key),
// which is a programming error caught by the first test that loads it.
func NewPropString(keys Props) *PropString {
	p := &PropString{Keys: keys, keyAlias: map[string][2]string{}}
	for name, k := range keys {
		if k.DefaultKey {
			if p.defaultKey != "" {
				panic(fmt.Sprintf("property string declares two default keys: %s and %s", p.defaultKey, name))
			}
			p.defaultKey = name
		}
		if k.Alias != "" {
			if _, ok := keys[k.Alias]; !ok {
				panic(fmt.Sprintf("property string key %s is an alias of missing key %s", name, k.Alias))
			}
			if k.KeyAlias != "" {
				if _, ok := keys[k.KeyAlias]; !ok {
					panic(fmt.Sprintf("property string key %s names missing key %s", name, k.KeyAlias))
				}
				p.keyAlias[name] = [2]string{k.KeyAlias, k.Alias}
			}
		}
	}
	return p
}

// DefaultKey returns the name of the key that may be written bare, or "".
func (p *PropString) DefaultKey() string { return p.defaultKey }

// Parse splits and validates a property string. The result maps canonical
// key names (aliases resolved) to their values; booleans are normalised to
// "1" and "0".
func (p *PropString) Parse(s string) (map[string]string, error) {
	parts, err := splitProps(s)
	if err != nil {
		return nil, err
	}
	res := map[string]string{}
	for _, part := range parts {
		if !part.hasKey && !part.quoted && strings.TrimSpace(part.text) == "" {
			continue
		}
		key, val, hasEq := part.key, part.text, part.hasKey
		if !hasEq {
			if p.defaultKey == "" {
				return nil, fmt.Errorf("value %q has no key, and this property string has no default key", val)
			}
			if _, dup := res[p.defaultKey]; dup {
				return nil, fmt.Errorf("key %q is given more than once", p.defaultKey)
			}
			key = p.defaultKey
		} else {
			if key == "" {
				return nil, fmt.Errorf("missing key before '=' in %q", s)
			}
			if val == "" && !part.quoted {
				return nil, fmt.Errorf("key %q has an empty value", key)
			}
			if _, dup := res[key]; dup {
				return nil, fmt.Errorf("key %q is given more than once", key)
			}
			ks, ok := p.Keys[key]
			if !ok {
				return nil, fmt.Errorf("unknown key %q; allowed: %s", key, strings.Join(p.visibleKeys(), ", "))
			}
			if ks.Alias != "" {
				if ks.KeyAlias != "" {
					if _, dup := res[ks.KeyAlias]; dup {
						return nil, fmt.Errorf("key %q is given more than once (through %q)", ks.KeyAlias, key)
					}
					res[ks.KeyAlias] = key
				}
				key = ks.Alias
				if _, dup := res[key]; dup {
					return nil, fmt.Errorf("key %q is given more than once", key)
				}
			}
		}
		ks := p.Keys[key]
		x, err := ks.Parse(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if b, ok := x.(bool); ok {
			val = boolText(b)
		}
		res[key] = val
	}
	for _, name := range p.Keys.Names() {
		k := p.Keys[name]
		if !k.Optional && k.Alias == "" {
			if _, ok := res[name]; !ok {
				return nil, fmt.Errorf("required key %q is missing", name)
			}
		}
	}
	return res, nil
}

// Decode parses a property string and converts each value to its Go type.
func (p *PropString) Decode(s string) (map[string]any, error) {
	m, err := p.Parse(s)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		x, err := p.Keys[k].Parse(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = x
	}
	return out, nil
}

// Print writes values back as a property string: the default key first
// (bare, or as "<alias>=<value>" when a key alias applies), then the other
// keys sorted by name.
func (p *PropString) Print(m map[string]string) string {
	var b strings.Builder
	done := map[string]bool{}
	add := func(text string) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(text)
	}
	if dk := p.defaultKey; dk != "" {
		if v, ok := m[dk]; ok {
			if ka, isAlias := p.keyAlias[v]; isAlias && ka[0] == dk {
				if target, ok := m[ka[1]]; ok {
					add(v + "=" + quoteProp(target, false))
					done[ka[1]] = true
				} else {
					add(quoteProp(v, true))
				}
			} else {
				add(quoteProp(v, true))
			}
			done[dk] = true
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !done[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k + "=" + quoteProp(m[k], false))
	}
	return b.String()
}

// visibleKeys lists the keys a user may write (including aliases).
func (p *PropString) visibleKeys() []string { return p.Keys.Names() }

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// quoteProp quotes a value only when it could not be read back otherwise:
// it is empty or holds a comma or quote, or it is a bare default-key value
// holding '=' (which would be read as a key).
func quoteProp(v string, bare bool) string {
	needs := v == "" || strings.ContainsAny(v, ",\"") || (bare && strings.Contains(v, "="))
	if !needs {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}

type propPart struct {
	key    string
	text   string
	hasKey bool
	quoted bool
}

// splitProps splits at commas outside double quotes. A quoted value may
// contain commas; backslash escapes '"' and '\' inside quotes.
func splitProps(s string) ([]propPart, error) {
	var parts []propPart
	i := 0
	for i <= len(s) {
		// Read up to '=' or ',' for the key.
		var part propPart
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '=' && s[j] != '"' {
			j++
		}
		if j < len(s) && s[j] == '=' {
			part.key = s[i:j]
			part.hasKey = true
			j++
		} else {
			j = i
		}
		// Read the value.
		if j < len(s) && s[j] == '"' {
			val, next, err := readQuoted(s, j)
			if err != nil {
				return nil, err
			}
			part.text, part.quoted = val, true
			j = next
			if j < len(s) && s[j] != ',' {
				return nil, fmt.Errorf("unexpected text after closing quote at position %d", j)
			}
		} else {
			k := j
			for k < len(s) && s[k] != ',' {
				if s[k] == '"' {
					return nil, fmt.Errorf("unexpected '\"' inside an unquoted value at position %d", k)
				}
				k++
			}
			part.text = s[j:k]
			j = k
		}
		parts = append(parts, part)
		i = j + 1
	}
	return parts, nil
}

func readQuoted(s string, start int) (string, int, error) {
	var b strings.Builder
	for i := start + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", 0, errors.New("unterminated escape in quoted value")
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, errors.New("unterminated quoted value")
}
