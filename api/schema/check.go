package schema

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors maps parameter names to what is wrong with each. It is the
// `errors` object of a 400 response.
type Errors map[string]string

func (e Errors) Error() string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+": "+e[n])
	}
	return strings.Join(parts, "; ")
}

// Raw holds parameters as they arrive from a query string, a form, a JSON
// body or a command line: every value a string, possibly repeated.
type Raw map[string][]string

// Set stores a single value.
func (r Raw) Set(name, value string) { r[name] = []string{value} }

// Get returns the first value of name.
func (r Raw) Get(name string) (string, bool) {
	v, ok := r[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// DecodeParams checks raw parameters against props and converts each value
// to its Go type: string, int64, float64, bool, or []any for arrays. Names
// not in props are refused unless extra allows them (then they are kept as
// strings). Every problem is reported, keyed by parameter name.
func DecodeParams(props Props, raw Raw, extra bool) (map[string]any, Errors) {
	out := make(map[string]any, len(raw))
	errs := Errors{}
	for name, vals := range raw {
		s, ok := props[name]
		if !ok {
			if extra {
				if len(vals) > 0 {
					out[name] = vals[0]
				}
				continue
			}
			errs[name] = "unknown parameter; allowed: " + allowedList(props)
			continue
		}
		v, err := s.decodeRaw(vals)
		if err != nil {
			errs[name] = err.Error()
			continue
		}
		out[name] = v
	}
	for _, name := range props.Names() {
		if _, given := raw[name]; !given && !props[name].Optional {
			errs[name] = "required parameter is missing"
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func allowedList(props Props) string {
	names := props.Names()
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (s *Schema) decodeRaw(vals []string) (any, error) {
	if s.Type == Array {
		items := make([]any, 0, len(vals))
		for i, v := range vals {
			item := s.Items
			if item == nil {
				item = &Schema{Type: String}
			}
			x, err := item.Parse(v)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			items = append(items, x)
		}
		return items, nil
	}
	if len(vals) != 1 {
		return nil, errors.New("given more than once; expected a single value")
	}
	return s.Parse(vals[0])
}

// Parse converts one string to the schema's Go type and validates it.
func (s *Schema) Parse(v string) (any, error) {
	x, err := s.parse(v)
	if err != nil && s.Sensitive {
		// Never echo a secret back, even in an error message.
		return nil, fmt.Errorf("invalid value for a %s parameter", s.Type)
	}
	return x, err
}

func (s *Schema) parse(v string) (any, error) {
	switch s.Type {
	case Integer:
		n, err := ParseInt(v)
		if err != nil {
			return nil, err
		}
		return n, s.checkRange(float64(n))
	case Number:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("expected a number, got %q", v)
		}
		return f, s.checkRange(f)
	case Boolean:
		b, err := ParseBool(v)
		if err != nil {
			return nil, err
		}
		return b, nil
	case String, "":
		return v, s.CheckString(v)
	case Any:
		return v, nil
	}
	return nil, fmt.Errorf("a %s value cannot be given as text", s.Type)
}

// ParseInt accepts a decimal integer with an optional sign.
func ParseInt(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected an integer, got %q", v)
	}
	return n, nil
}

// ParseBool accepts the boolean spellings Proxmox VE accepts:
// 1/0, true/false, yes/no, on/off, in any case.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("expected a boolean (1/0, true/false, yes/no, on/off), got %q", v)
}

func (s *Schema) checkRange(f float64) error {
	if s.Minimum != nil && f < *s.Minimum {
		return fmt.Errorf("must be at least %s", fmtNum(*s.Minimum))
	}
	if s.Maximum != nil && f > *s.Maximum {
		return fmt.Errorf("must be at most %s", fmtNum(*s.Maximum))
	}
	return nil
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// CheckString validates a string against length, enum, pattern, format and
// property-string rules.
func (s *Schema) CheckString(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("value is not valid UTF-8")
	}
	n := utf8.RuneCountInString(v)
	if s.MaxLength > 0 && n > s.MaxLength {
		return fmt.Errorf("too long: at most %d characters allowed, got %d", s.MaxLength, n)
	}
	if s.MinLength > 0 && n < s.MinLength {
		return fmt.Errorf("too short: at least %d characters required, got %d", s.MinLength, n)
	}
	if len(s.Enum) > 0 {
		ok := false
		for _, e := range s.Enum {
			if v == e {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%q is not allowed; expected one of: %s", v, strings.Join(s.Enum, ", "))
		}
	}
	if re := s.regexp(); re != nil && !re.MatchString(v) {
		return fmt.Errorf("%q does not match the pattern %s", v, s.Pattern)
	}
	if s.Format != "" {
		f, ok := lookupFormat(s.Format)
		if !ok {
			return fmt.Errorf("schema error: unknown format %q", s.Format)
		}
		if err := f(v); err != nil {
			return err
		}
	}
	if s.Prop != nil {
		if _, err := s.Prop.Parse(v); err != nil {
			return err
		}
	}
	return nil
}

// Check validates a value that is already typed, such as one decoded from
// JSON (float64 for numbers) or built by Go code.
func (s *Schema) Check(v any) error {
	switch s.Type {
	case Integer:
		switch x := v.(type) {
		case int64:
			return s.checkRange(float64(x))
		case int:
			return s.checkRange(float64(x))
		case float64:
			if x != math.Trunc(x) {
				return fmt.Errorf("expected an integer, got %v", x)
			}
			return s.checkRange(x)
		}
		return fmt.Errorf("expected an integer, got %T", v)
	case Number:
		switch x := v.(type) {
		case float64:
			return s.checkRange(x)
		case int64:
			return s.checkRange(float64(x))
		case int:
			return s.checkRange(float64(x))
		}
		return fmt.Errorf("expected a number, got %T", v)
	case Boolean:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("expected a boolean, got %T", v)
		}
	case String:
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("expected a string, got %T", v)
		}
		return s.CheckString(str)
	}
	return nil
}
