package schema

import (
	"fmt"
	"reflect"
	"strings"
)

// Binder copies decoded parameter values into a Go struct. It is built
// once per (struct type, parameter set) and checks that the two agree, so a
// field without a parameter (or a parameter without a field) is found when
// the program starts, not when a client first sends it.
//
// Fields are matched by their `json` tag name. Supported field types:
// string, bool, the integer kinds, float64, []string, []int64, pointers to
// those (nil when the parameter is absent), and one map[string]any field
// tagged `param:"rest"` that receives parameters not bound to a field (for
// endpoints whose keys are dynamic, such as guest configs).
type Binder struct {
	typ    reflect.Type
	fields map[string]bindField
	rest   []int // index path of the rest field, or nil
	props  Props
}

type bindField struct {
	index []int
	s     *Schema
}

// NewBinder checks that the struct type t (not a pointer) matches props.
func NewBinder(t reflect.Type, props Props) (*Binder, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	b := &Binder{typ: t, fields: map[string]bindField{}, props: props}
	var walk func(t reflect.Type, prefix []int) error
	walk = func(t reflect.Type, prefix []int) error {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int{}, prefix...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				if err := walk(f.Type, idx); err != nil {
					return err
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if f.Tag.Get("param") == "rest" {
				if f.Type != reflect.TypeFor[map[string]any]() {
					return fmt.Errorf("%s.%s: a rest field must be map[string]any", t, f.Name)
				}
				b.rest = idx
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				return fmt.Errorf("%s.%s has no json name", t, f.Name)
			}
			s, ok := props[name]
			if !ok {
				return fmt.Errorf("%s.%s: no parameter named %q is declared", t, f.Name, name)
			}
			if err := compatible(f.Type, s); err != nil {
				return fmt.Errorf("%s.%s (%s): %w", t, f.Name, name, err)
			}
			b.fields[name] = bindField{index: idx, s: s}
		}
		return nil
	}
	if err := walk(t, nil); err != nil {
		return nil, err
	}
	if b.rest == nil {
		for name := range props {
			if _, ok := b.fields[name]; !ok {
				return nil, fmt.Errorf("%s has no field for parameter %q", t, name)
			}
		}
	}
	return b, nil
}

func compatible(t reflect.Type, s *Schema) error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var ok bool
	switch s.Type {
	case String, "":
		ok = t.Kind() == reflect.String
	case Integer:
		switch t.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
			ok = true
		}
	case Number:
		ok = t.Kind() == reflect.Float64
	case Boolean:
		ok = t.Kind() == reflect.Bool
	case Array:
		ok = t.Kind() == reflect.Slice
	case Any:
		ok = true
	}
	if !ok {
		return fmt.Errorf("the Go type %s cannot hold a %s", t, s.Type)
	}
	return nil
}

// Bind stores values (as returned by DecodeParams) into dst, a pointer to
// the binder's struct type. Absent parameters leave pointer fields nil and
// set other fields to the declared default, if any.
func (b *Binder) Bind(values map[string]any, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Type() != b.typ {
		return fmt.Errorf("bind: expected *%s, got %T", b.typ, dst)
	}
	v = v.Elem()
	var rest map[string]any
	for name, val := range values {
		f, ok := b.fields[name]
		if !ok {
			if b.rest == nil {
				return fmt.Errorf("bind: no field for %q", name)
			}
			if rest == nil {
				rest = map[string]any{}
			}
			rest[name] = val
			continue
		}
		if err := setValue(v.FieldByIndex(f.index), val); err != nil {
			return fmt.Errorf("bind %s: %w", name, err)
		}
	}
	for name, f := range b.fields {
		if _, given := values[name]; given || f.s.Default == nil {
			continue
		}
		fv := v.FieldByIndex(f.index)
		if fv.Kind() == reflect.Pointer {
			continue
		}
		if err := setValue(fv, f.s.Default); err != nil {
			return fmt.Errorf("bind default of %s: %w", name, err)
		}
	}
	if b.rest != nil && rest != nil {
		v.FieldByIndex(b.rest).Set(reflect.ValueOf(rest))
	}
	return nil
}

func setValue(f reflect.Value, val any) error {
	if f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		if err := setValue(p.Elem(), val); err != nil {
			return err
		}
		f.Set(p)
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("expected string, got %T", val)
		}
		f.SetString(s)
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			return fmt.Errorf("expected bool, got %T", val)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, ok := val.(int64)
		if !ok {
			return fmt.Errorf("expected integer, got %T", val)
		}
		if f.OverflowInt(n) {
			return fmt.Errorf("%d does not fit", n)
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, ok := val.(int64)
		if !ok || n < 0 || f.OverflowUint(uint64(n)) {
			return fmt.Errorf("%v does not fit an unsigned field", val)
		}
		f.SetUint(uint64(n))
	case reflect.Float64:
		x, ok := val.(float64)
		if !ok {
			return fmt.Errorf("expected number, got %T", val)
		}
		f.SetFloat(x)
	case reflect.Slice:
		items, ok := val.([]any)
		if !ok {
			return fmt.Errorf("expected a list, got %T", val)
		}
		s := reflect.MakeSlice(f.Type(), len(items), len(items))
		for i, it := range items {
			if err := setValue(s.Index(i), it); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		f.Set(s)
	case reflect.Interface:
		f.Set(reflect.ValueOf(val))
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}
