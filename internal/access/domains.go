package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// DomainsPath is the realm configuration in the cluster file system.
const DomainsPath = "domains.cfg"

// realmSecretPath keeps a realm's secret (the LDAP bind password or the
// OpenID client key) out of the world-readable domains.cfg, where Proxmox
// VE keeps bind passwords too.
func realmSecretPath(realm string) string { return "priv/realm/" + realm + ".pw" }

// realmOptions lists, per realm type, the options it takes; "!" marks a
// required one. comment, default and tfa apply to every type.
var realmOptions = map[string][]string{
	"pam": {},
	"pve": {},
	"ldap": {"!server1", "server2", "port", "mode", "secure", "verify", "capath", "cert", "certkey", "sslversion",
		"!base_dn", "!user_attr", "bind_dn", "filter", "user_classes", "group_dn", "group_filter", "group_classes",
		"group_name_attr", "sync_attributes", "sync-defaults-options", "case-sensitive"},
	"ad": {"!server1", "server2", "port", "mode", "secure", "verify", "capath", "cert", "certkey", "sslversion",
		"!domain", "base_dn", "user_attr", "bind_dn", "filter", "user_classes", "group_dn", "group_filter", "group_classes",
		"group_name_attr", "sync_attributes", "sync-defaults-options", "case-sensitive"},
	"openid": {"!issuer-url", "!client-id", "username-claim", "autocreate", "scopes", "prompt", "acr-values",
		"groups-claim", "groups-autocreate", "groups-overwrite", "query-userinfo"},
}

// Options taken by every realm type, and those that are never stored in
// domains.cfg (secrets, one-shot flags).
var (
	commonRealmOptions = []string{"comment", "default", "tfa"}
	unstoredOptions    = []string{"password", "client-key", "check-connection", "realm", "type", "delete", "digest"}
)

// builtinRealms always exist, even when domains.cfg does not list them.
var builtinRealms = []sectioncfg.Section{
	{Type: "pam", ID: "pam", Props: []sectioncfg.Prop{{Key: "comment", Value: "Linux PAM standard authentication"}}},
	{Type: "pve", ID: "pve", Props: []sectioncfg.Prop{{Key: "comment", Value: "Hearth authentication server"}}},
}

// domains is domains.cfg: the realms in file order, with the built-in
// ones added when missing.
type domains struct {
	sections []sectioncfg.Section
}

func parseDomains(data []byte) (*domains, []string) {
	secs, warnings := sectioncfg.Parse(data)
	d := &domains{}
	for _, s := range secs {
		if _, ok := realmOptions[s.Type]; !ok {
			warnings = append(warnings, fmt.Sprintf("line %d: realm %s has unknown type %q; skipped", s.Line, s.ID, s.Type))
			continue
		}
		if usercfg.ValidRealm(s.ID) != nil {
			warnings = append(warnings, fmt.Sprintf("line %d: invalid realm name %q; skipped", s.Line, s.ID))
			continue
		}
		if d.find(s.ID) != nil {
			warnings = append(warnings, fmt.Sprintf("line %d: realm %s defined twice; the second is ignored", s.Line, s.ID))
			continue
		}
		d.sections = append(d.sections, s)
	}
	for _, b := range builtinRealms {
		if d.find(b.ID) == nil {
			d.sections = append(d.sections, b)
		}
	}
	return d, warnings
}

func (d *domains) find(realm string) *sectioncfg.Section {
	for i := range d.sections {
		if d.sections[i].ID == realm {
			return &d.sections[i]
		}
	}
	return nil
}

func (d *domains) bytes() []byte { return sectioncfg.Print(d.sections) }

// types maps realm names to their types.
func (d *domains) types() map[string]string {
	out := make(map[string]string, len(d.sections))
	for _, s := range d.sections {
		out[s.ID] = s.Type
	}
	return out
}

// realmTypes reads domains.cfg as it is now.
func (s *Service) realmTypes(st *state) map[string]string { return st.domains.types() }

// checkRealmOptions validates a realm after a change: only options of its
// type, every required one, and values the realm type understands.
func checkRealmOptions(sec *sectioncfg.Section) error {
	allowed := realmOptions[sec.Type]
	for _, p := range sec.Props {
		if slices.Contains(commonRealmOptions, p.Key) || slices.Contains(allowed, p.Key) || slices.Contains(allowed, "!"+p.Key) {
			continue
		}
		return api.ParamError(p.Key, "not an option of %s realms", sec.Type)
	}
	for _, o := range allowed {
		if name, req := strings.CutPrefix(o, "!"); req {
			if _, ok := sec.Get(name); !ok {
				return api.ParamError(name, "required for %s realms", sec.Type)
			}
		}
	}
	return nil
}

// realmValue renders a decoded parameter as domains.cfg stores it.
func realmValue(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	default:
		return fmt.Sprint(x)
	}
}

// Handlers.

func (s *Service) listDomains(context.Context, *api.Call, *api.NoParams) ([]api.Domain, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	out := []api.Domain{}
	for _, sec := range st.domains.sections {
		d := api.Domain{Realm: sec.ID, Type: sec.Type}
		d.Comment, _ = sec.Get("comment")
		if tfa, ok := sec.Get("tfa"); ok {
			d.TFA = realmTFAType(tfa)
		}
		if v, ok := sec.Get("default"); ok && v == "1" {
			one := 1
			d.Default = &one
		}
		out = append(out, d)
	}
	return out, nil
}

// realmTFAType is the type key of a realm's tfa option.
func realmTFAType(v string) string {
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return k // the default key
		}
		if k == "type" {
			return val
		}
	}
	return ""
}

func (s *Service) getDomain(_ context.Context, _ *api.Call, in *api.RealmParam) (map[string]any, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	sec := st.domains.find(in.Realm)
	if sec == nil {
		return nil, api.NotFound("realm %s does not exist", in.Realm)
	}
	out := map[string]any{"type": sec.Type, "digest": cfs.Digest(st.domainsData)}
	for _, p := range sec.Props {
		if p.Key == "client-key" {
			continue // a secret written by Proxmox VE into the file
		}
		v, _ := sec.Get(p.Key)
		out[p.Key] = v
	}
	return out, nil
}

func (s *Service) createDomain(ctx context.Context, c *api.Call, in *api.Params) (any, error) {
	p := *in
	realm, _ := p["realm"].(string)
	typ, _ := p["type"].(string)
	if typ == "pam" || typ == "pve" {
		return nil, api.ParamError("type", "there is exactly one %s realm, and it always exists", typ)
	}
	check, _ := p["check-connection"].(bool)
	err := s.edit(ctx, func(t *txn) error {
		d, err := t.domains()
		if err != nil {
			return err
		}
		if d.find(realm) != nil {
			return api.ParamError("realm", "realm %s already exists", realm)
		}
		sec := sectioncfg.Section{Type: typ, ID: realm}
		for _, k := range sortedKeys(p) {
			if !slices.Contains(unstoredOptions, k) {
				sec.Set(k, realmValue(p[k]))
			}
		}
		if err := checkRealmOptions(&sec); err != nil {
			return err
		}
		secret, err := t.setRealmSecret(realm, p)
		if err != nil {
			return err
		}
		if err := s.validateRealm(ctx, &sec, secret, check); err != nil {
			return err
		}
		if v, _ := sec.Get("default"); v == "1" {
			clearDefault(d, realm)
		}
		d.sections = append(d.sections, sec)
		return nil
	})
	if err == nil {
		s.auditChange(c, "realm created", "realm", realm, "type", typ)
	}
	return nil, err
}

func (s *Service) updateDomain(ctx context.Context, c *api.Call, in *api.Params) (any, error) {
	p := *in
	realm, _ := p["realm"].(string)
	digest, _ := p["digest"].(string)
	del, _ := p["delete"].(string)
	deletes := splitIDs(del)
	err := s.edit(ctx, func(t *txn) error {
		d, err := t.domains()
		if err != nil {
			return err
		}
		if digest != "" {
			data, err := t.read(DomainsPath)
			if err != nil {
				return err
			}
			if !strings.EqualFold(digest, cfs.Digest(data)) {
				return api.Errorf(500, "domains.cfg was changed by someone else; reload and try again")
			}
		}
		sec := d.find(realm)
		if sec == nil {
			return api.NotFound("realm %s does not exist", realm)
		}
		for _, k := range deletes {
			switch k {
			case "password", "client-key":
				if err := t.remove(realmSecretPath(realm)); err != nil {
					return err
				}
			default:
				sec.Delete(k)
			}
		}
		for _, k := range sortedKeys(p) {
			if !slices.Contains(unstoredOptions, k) {
				if slices.Contains(deletes, k) {
					return api.ParamError("delete", "%s is both set and deleted", k)
				}
				sec.Set(k, realmValue(p[k]))
			}
		}
		if err := checkRealmOptions(sec); err != nil {
			return err
		}
		secret, err := t.setRealmSecret(realm, p)
		if err != nil {
			return err
		}
		if err := s.validateRealm(ctx, sec, secret, false); err != nil {
			return err
		}
		if v, _ := sec.Get("default"); v == "1" {
			clearDefault(d, realm)
		}
		return nil
	})
	if err == nil {
		s.auditChange(c, "realm changed", "realm", realm)
	}
	return nil, err
}

// clearDefault leaves only realm marked as the login form's default.
func clearDefault(d *domains, realm string) {
	for i := range d.sections {
		if d.sections[i].ID != realm {
			d.sections[i].Delete("default")
		}
	}
}

func (s *Service) deleteDomain(ctx context.Context, c *api.Call, in *api.RealmParam) (any, error) {
	if in.Realm == "pam" || in.Realm == "pve" {
		return nil, api.ParamError("realm", "the built-in realm %s cannot be removed", in.Realm)
	}
	err := s.edit(ctx, func(t *txn) error {
		d, err := t.domains()
		if err != nil {
			return err
		}
		sec := d.find(in.Realm)
		if sec == nil {
			return api.NotFound("realm %s does not exist", in.Realm)
		}
		d.sections = slices.DeleteFunc(d.sections, func(x sectioncfg.Section) bool { return x.ID == in.Realm })
		return t.remove(realmSecretPath(in.Realm))
	})
	if err == nil {
		s.auditChange(c, "realm deleted", "realm", in.Realm)
	}
	return nil, err
}

// domains returns domains.cfg within a transaction; it is written back at
// commit.
func (t *txn) domains() (*domains, error) {
	if t.dom == nil {
		data, err := t.read(DomainsPath)
		if err != nil {
			return nil, err
		}
		t.dom, _ = parseDomains(data)
	}
	return t.dom, nil
}

// setRealmSecret stores a given password or client key and returns the
// secret the realm will use.
func (t *txn) setRealmSecret(realm string, p api.Params) (string, error) {
	for _, k := range []string{"password", "client-key"} {
		if v, ok := p[k].(string); ok {
			return v, t.write(realmSecretPath(realm), []byte(v+"\n"))
		}
	}
	data, err := t.read(realmSecretPath(realm))
	return strings.TrimRight(string(data), "\n"), err
}

// realmSecret reads a realm's secret outside a transaction; a client-key
// left in domains.cfg by Proxmox VE counts too.
func (s *Service) realmSecret(sec *sectioncfg.Section) (string, error) {
	e, err := s.store.Get(realmSecretPath(sec.ID))
	switch {
	case errors.Is(err, cfs.ErrNotFound):
		v, _ := sec.Get("client-key")
		return v, nil
	case err != nil:
		return "", err
	}
	return strings.TrimRight(string(e.Data), "\n"), nil
}
