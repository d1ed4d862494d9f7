package api

import (
	"fmt"
	"slices"
	"strconv"
)

// Str, Int and Bool read a decoded parameter of a handler taking Params;
// a missing or differently typed value reads as the zero value.
func (p Params) Str(k string) string { s, _ := p[k].(string); return s }

func (p Params) Int(k string) int {
	switch x := p[k].(type) {
	case int64:
		return int(x)
	case int:
		return x
	}
	return 0
}

func (p Params) Bool(k string) bool { b, _ := p[k].(bool); return b }

// ConfigValues returns the parameters that are guest configuration keys,
// as the strings a configuration file holds, leaving out the parameters
// of the call itself (node, vmid, start, …) named in callParams.
func (p Params) ConfigValues(callParams []string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if slices.Contains(callParams, k) {
			continue
		}
		out[k] = ValueString(v)
	}
	return out
}

// ValueString is a decoded parameter value as a configuration file
// writes it: booleans as 0 and 1, numbers without exponent.
func ValueString(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// CheckConfigKeys checks that the caller may set (or delete) each guest
// configuration key on /vms/<vmid>. privilegeOf names the privilege a key
// (with its new value) takes; "root" means only root@pam may change it.
func CheckConfigKeys(c *Call, vmid int, values map[string]string, deletes []string, privilegeOf func(key, value string) string) error {
	if c == nil || c.Perm == nil || (c.User == RootUser && c.Token == "") {
		return nil
	}
	path := "/vms/" + strconv.Itoa(vmid)
	check := func(key, value string) error {
		priv := privilegeOf(key, value)
		if priv == "root" {
			return Errorf(403, "only root may set '%s'", key)
		}
		if !c.Perm.Has(path, priv) {
			return &Denied{Path: path, Priv: priv}
		}
		return nil
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := check(k, values[k]); err != nil {
			return err
		}
	}
	for _, k := range deletes {
		if err := check(k, ""); err != nil {
			return err
		}
	}
	return nil
}
