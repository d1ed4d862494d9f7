package datacenter

import (
	"bytes"
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
)

// ModifiedMessage answers a PUT whose digest no longer matches the file.
// It is the text Proxmox VE uses for a stale digest, which users and
// scripts know; Proxmox VE sends it as a plain error, hence status 500.
const ModifiedMessage = "detected modified configuration - file changed by other user? Try again."

// maxAttempts bounds how often a PUT without digest re-reads the file
// after another writer changed it between the read and the write. Each
// attempt re-applies the same change to the newer content, so a retry
// loses nothing; the bound only stops a pathological livelock.
const maxAttempts = 8

type service struct{ store *cfs.Store }

// Routes binds GET and PUT /cluster/options to handlers that read and
// write datacenter.cfg in store.
func Routes(store *cfs.Store) []api.Route {
	s := &service{store: store}
	return []api.Route{
		api.ClusterOptionsGet.Handle(s.get),
		api.ClusterOptionsSet.Handle(s.set),
	}
}

// Read loads datacenter.cfg from store, for the parts of Hearth that
// follow its settings (GET /cluster/nextid, MAC generation, migrations).
// A missing file gives the defaults. The warnings are Parse's, for the
// caller to log.
func Read(store *cfs.Store) (*Config, []string, error) {
	data, _, _, err := readFile(store)
	if err != nil {
		return nil, nil, err
	}
	cfg, warnings := Parse(data)
	return cfg, warnings, nil
}

// read returns the file's content and version; a missing file reads as
// empty, which means every option at its default.
func (s *service) read() (data []byte, version uint64, exists bool, err error) {
	return readFile(s.store)
}

func readFile(store *cfs.Store) (data []byte, version uint64, exists bool, err error) {
	e, err := store.Get(Path)
	switch {
	case errors.Is(err, cfs.ErrNotFound):
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, err
	case e.Dir:
		return nil, 0, false, fmt.Errorf("%s is a directory", Path)
	}
	return e.Data, e.Version, true, nil
}

// get answers with the parsed file, as Proxmox VE does: everything for
// callers with Sys.Audit on /, only the display settings (console and
// tag-style, which the web interface needs for every user) otherwise, and
// for everyone the tags they may use. The digest is a Hearth addition for
// the digest parameter of PUT.
func (s *service) get(_ context.Context, c *api.Call, _ *api.NoParams) (map[string]any, error) {
	data, _, _, err := s.read()
	if err != nil {
		return nil, err
	}
	cfg, _ := Parse(data)
	full := cfg.Options()
	out := full
	if has(c, "/", "Sys.Audit") {
		out["digest"] = cfs.Digest(data)
	} else {
		out = map[string]any{}
		for _, k := range []string{"console", "tag-style"} {
			if v, ok := full[k]; ok {
				out[k] = v
			}
		}
	}
	out["allowed-tags"] = s.allowedTags(cfg, c)
	return out, nil
}

// set applies a PUT: removals first, then the new values, on the current
// file, written back in one conditional transaction. With a digest the
// write happens only if the file is still the one the client read;
// without one, a concurrent change makes it start over on the newer file,
// so two writers never silently undo each other.
func (s *service) set(ctx context.Context, _ *api.Call, in *api.ClusterOptionsParams) (any, error) {
	deletes, values, err := checkRequest(in)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		data, version, exists, err := s.read()
		if err != nil {
			return nil, err
		}
		if in.Digest != "" && !strings.EqualFold(in.Digest, cfs.Digest(data)) {
			return nil, errModified()
		}
		cfg, _ := Parse(data)
		if err := change(cfg, deletes, values); err != nil {
			return nil, err
		}
		out := cfg.Bytes()
		if exists && bytes.Equal(out, data) {
			return nil, nil
		}
		cond := cfs.Cond{Version: version, Digest: in.Digest}
		if !exists {
			cond = cfs.Cond{MustNotExist: true}
		}
		_, err = s.store.Apply(ctx, cfs.Write(Path, out).If(cond))
		switch {
		case err == nil:
			return nil, nil
		case !errors.Is(err, cfs.ErrConflict):
			return nil, err
		case in.Digest != "":
			return nil, errModified()
		case attempt == maxAttempts:
			return nil, fmt.Errorf("%s kept changing while this update was being written (%d attempts); try again", Path, maxAttempts)
		}
	}
}

func errModified() error {
	return &api.Error{Status: http.StatusInternalServerError, Message: ModifiedMessage}
}

// checkRequest validates a PUT before the file is read: every value on
// its own (strictly, as Set does) and the delete list. Problems are
// reported per parameter, like schema errors.
func checkRequest(in *api.ClusterOptionsParams) (deletes []string, values map[string]string, err error) {
	errs := map[string]string{}
	values = make(map[string]string, len(in.Options))
	scratch := New()
	for key, v := range in.Options {
		text := valueText(v)
		if err := scratch.Set(key, text); err != nil {
			errs[key] = err.Error()
			continue
		}
		values[key] = text
	}
	var bad []string
	for _, key := range schema.SplitList(in.Delete) {
		switch {
		case !IsOption(key):
			bad = append(bad, unknownOption(key).Error())
		case hasKey(in.Options, key):
			bad = append(bad, fmt.Sprintf("option %q cannot be set and deleted in the same call", key))
		default:
			deletes = append(deletes, key)
		}
	}
	if len(bad) > 0 {
		errs["delete"] = strings.Join(bad, "; ")
	}
	if len(errs) > 0 {
		return nil, nil, &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs}
	}
	return deletes, values, nil
}

// change applies removals, then values in name order, so that the result
// does not depend on map order. Values were checked on their own; what can
// still fail here depends on the file (the retired migration_unsecure
// when migration is set).
func change(cfg *Config, deletes []string, values map[string]string) error {
	for _, key := range deletes {
		if err := cfg.Delete(key); err != nil {
			return api.ParamError("delete", "%v", err)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if err := cfg.Set(key, values[key]); err != nil {
			return api.ParamError(key, "%v", err)
		}
	}
	return nil
}

// valueText turns a decoded parameter back into the text the file holds.
func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return boolText(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func hasKey(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

// has asks the caller's permissions; a call without a checker has none.
func has(c *api.Call, path, priv string) bool {
	return c != nil && c.Perm != nil && c.Perm.Has(path, priv)
}
