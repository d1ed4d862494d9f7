package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// The /storage endpoints: storage.cfg itself.

// unstored parameters are arguments of the calls, not storage.cfg keys.
var unstored = []string{"storage", "type", "delete", "digest", "password", "keyring"}

var optionSchemas = api.StorageOptions()

// canSee reports whether the caller may see a storage at all.
func canSee(c *api.Call, id string) bool {
	return c.Perm != nil && c.Perm.HasAny("/storage/"+id, "Datastore.Audit", "Datastore.AllocateSpace")
}

// typedValue renders a storage.cfg value with its schema's JSON type.
func typedValue(key, v string) any {
	if s, ok := optionSchemas[key]; ok {
		switch s.Type {
		case schema.Boolean, schema.Integer:
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		case schema.Number:
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return v
}

// cfgValue renders a decoded parameter as storage.cfg stores it.
func cfgValue(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	case []string:
		return strings.Join(x, ",")
	default:
		return fmt.Sprint(x)
	}
}

func sectionItem(sec *sectioncfg.Section) map[string]any {
	out := map[string]any{"storage": sec.ID, "type": sec.Type}
	for _, p := range sec.Props {
		v, _ := sec.Get(p.Key)
		out[p.Key] = typedValue(p.Key, v)
	}
	return out
}

func (s *Service) listDefinitions(_ context.Context, c *api.Call, in *api.StorageTypeFilter) ([]api.StorageItem, error) {
	d, data, _, err := s.definitions()
	if err != nil {
		return nil, err
	}
	out := []api.StorageItem{}
	for i := range d.Sections {
		sec := &d.Sections[i]
		if (in.Type != "" && sec.Type != in.Type) || !canSee(c, sec.ID) {
			continue
		}
		item := sectionItem(sec)
		item["digest"] = cfs.Digest(data)
		out = append(out, item)
	}
	return out, nil
}

func (s *Service) getDefinition(_ context.Context, _ *api.Call, in *api.StorageParam) (api.StorageItem, error) {
	d, data, _, err := s.definitions()
	if err != nil {
		return nil, err
	}
	sec := d.Find(in.Storage)
	if sec == nil {
		return nil, api.NotFound("storage '%s' does not exist", in.Storage)
	}
	item := sectionItem(sec)
	item["digest"] = cfs.Digest(data)
	return item, nil
}

// editDefinitions changes storage.cfg (and the storage's secret) in one
// conditional cluster write, starting over when someone else wrote first.
// A non-nil secret replaces the storage's secret ("" removes it).
func (s *Service) editDefinitions(ctx context.Context, fn func(d *Definitions, data []byte) (secret *string, id string, err error)) error {
	for attempt := 1; ; attempt++ {
		d, data, version, err := s.definitions()
		if err != nil {
			return err
		}
		secret, id, err := fn(d, data)
		if err != nil {
			return err
		}
		cond := cfs.Cond{Version: version}
		if version == 0 {
			cond = cfs.Cond{MustNotExist: true}
		}
		ops := []cfs.Op{cfs.Write(CfgPath, d.Bytes()).If(cond)}
		if secret != nil {
			for _, key := range secretKeys {
				path := secretPath(id, key)
				_, serr := s.o.Store.Get(path)
				if *secret != "" && d.Find(id) != nil && key == secretKey(s.plugins[d.Find(id).Type].Info()) {
					ops = append(ops, cfs.Write(path, []byte(*secret)))
				} else if serr == nil {
					ops = append(ops, cfs.Delete(path))
				}
			}
		}
		_, err = s.o.Store.Apply(ctx, ops...)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, cfs.ErrConflict):
			return err
		case attempt == 5:
			return fmt.Errorf("storage.cfg kept changing while this change was being written; try again")
		}
	}
}

// secretParam returns the secret a create or update sets, if any.
func secretParam(p api.Params) *string {
	for _, k := range secretKeys {
		if v, ok := p[k].(string); ok {
			return &v
		}
	}
	return nil
}

func (s *Service) createDefinition(ctx context.Context, c *api.Call, in *api.Params) (api.StorageCreated, error) {
	p := *in
	id, _ := p["storage"].(string)
	typ, _ := p["type"].(string)
	plugin, ok := s.plugins[typ]
	if !ok {
		return api.StorageCreated{}, api.ParamError("type", "storage type %s is not available in this build", typ)
	}
	info := plugin.Info()
	sec := sectioncfg.Section{Type: typ, ID: id}
	// Keys that say where the data is come first, as Proxmox VE writes
	// them; the others follow in name order.
	keys := slices.Sorted(maps.Keys(p))
	slices.SortStableFunc(keys, func(a, b string) int { return boolInt(!info.Options[a].Fixed) - boolInt(!info.Options[b].Fixed) })
	for _, k := range keys {
		if !slices.Contains(unstored, k) {
			sec.Set(k, cfgValue(p[k]))
		}
	}
	if err := CheckSection(&sec, info, nil); err != nil {
		return api.StorageCreated{}, err
	}
	secret := secretParam(p)
	for _, k := range secretKeys {
		if _, given := p[k]; given {
			if _, takes := info.Options[k]; !takes {
				return api.StorageCreated{}, api.ParamError(k, "%s storages take no %s", typ, k)
			}
		}
	}
	// Check that the storage works here before anyone relies on it, as
	// Proxmox VE does: a typo in a server name fails now, not at the first
	// backup.
	cfg := ConfigOf(&sec, info)
	if secret != nil {
		cfg.Secret = *secret
	}
	if !cfg.Disable && cfg.OnNode(s.o.Env.Node) {
		st, err := plugin.Open(cfg, s.o.Env)
		if err != nil {
			return api.StorageCreated{}, api.Errorf(http.StatusBadRequest, "storage '%s': %v", id, err)
		}
		if err := s.activate(ctx, cfg, st); err != nil {
			return api.StorageCreated{}, api.Errorf(http.StatusBadRequest, "%v", err)
		}
	}
	err := s.editDefinitions(ctx, func(d *Definitions, _ []byte) (*string, string, error) {
		if d.Find(id) != nil {
			return nil, "", api.ParamError("storage", "storage '%s' already exists", id)
		}
		d.Sections = append(d.Sections, sec)
		return secret, id, nil
	})
	if err != nil {
		return api.StorageCreated{}, err
	}
	s.log.Info("storage created", "storage", id, "type", typ, "user", c.User)
	return api.StorageCreated{Storage: id, Type: typ}, nil
}

func (s *Service) updateDefinition(ctx context.Context, c *api.Call, in *api.Params) (api.StorageCreated, error) {
	p := *in
	id, _ := p["storage"].(string)
	digest, _ := p["digest"].(string)
	del, _ := p["delete"].(string)
	deletes := splitList(del)
	var typ string
	err := s.editDefinitions(ctx, func(d *Definitions, data []byte) (*string, string, error) {
		if digest != "" && !strings.EqualFold(digest, cfs.Digest(data)) {
			return nil, "", api.Errorf(http.StatusInternalServerError, "storage.cfg was changed by someone else; reload and try again")
		}
		sec := d.Find(id)
		if sec == nil {
			return nil, "", api.NotFound("storage '%s' does not exist", id)
		}
		typ = sec.Type
		info := s.plugins[typ].Info()
		before := *sec
		before.Props = slices.Clone(sec.Props)
		var secret *string
		for _, k := range deletes {
			if _, given := p[k]; given {
				return nil, "", api.ParamError("delete", "%s is both set and deleted", k)
			}
			if slices.Contains(secretKeys, k) {
				empty := ""
				secret = &empty
				continue
			}
			sec.Delete(k)
		}
		for _, k := range slices.Sorted(maps.Keys(p)) {
			if !slices.Contains(unstored, k) {
				sec.Set(k, cfgValue(p[k]))
			}
		}
		if err := CheckSection(sec, info, &before); err != nil {
			return nil, "", err
		}
		if s := secretParam(p); s != nil {
			secret = s
		}
		return secret, id, nil
	})
	if err != nil {
		return api.StorageCreated{}, err
	}
	s.log.Info("storage changed", "storage", id, "user", c.User)
	return api.StorageCreated{Storage: id, Type: typ}, nil
}

func (s *Service) deleteDefinition(ctx context.Context, c *api.Call, in *api.StorageParam) (any, error) {
	err := s.editDefinitions(ctx, func(d *Definitions, _ []byte) (*string, string, error) {
		if d.Find(in.Storage) == nil {
			return nil, "", api.NotFound("storage '%s' does not exist", in.Storage)
		}
		for _, sec := range d.Sections {
			if base, ok := sec.Get("base"); ok && strings.HasPrefix(base, in.Storage+":") {
				return nil, "", api.Errorf(http.StatusBadRequest, "storage '%s' is the base of storage '%s'; remove that one first", in.Storage, sec.ID)
			}
		}
		d.Remove(in.Storage)
		empty := ""
		return &empty, in.Storage, nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.instances, in.Storage)
	s.mu.Unlock()
	s.log.Info("storage removed", "storage", in.Storage, "user", c.User)
	return nil, nil
}
