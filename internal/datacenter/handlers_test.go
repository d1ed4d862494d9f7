package datacenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/cfs"
)

type fixture struct {
	store    *cfs.Store
	get, put api.Route
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	store, err := cfs.Open(ctx, cfs.Config{Dir: t.TempDir(), NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store}
	for _, r := range Routes(store) {
		switch r.Key() {
		case "GET /cluster/options":
			f.get = r
		case "PUT /cluster/options":
			f.put = r
		default:
			t.Fatalf("unexpected route %s", r.Key())
		}
	}
	if f.get.Invoke == nil || f.put.Invoke == nil {
		t.Fatal("a route is missing")
	}
	return f
}

// privs is a permission checker: path → privileges held there.
type privs map[string][]string

func (p privs) Has(path string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range p[path] {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func (p privs) HasAny(path string, want ...string) bool {
	for _, w := range want {
		if p.Has(path, w) {
			return true
		}
	}
	return false
}

var admin = &api.Call{User: "root@pam", Perm: privs{"/": {"Sys.Audit", "Sys.Modify"}}}

// call decodes raw parameters as the server does, then runs the route.
func call(t *testing.T, r api.Route, c *api.Call, params map[string]string) (any, error) {
	t.Helper()
	raw := schema.Raw{}
	for k, v := range params {
		raw.Set(k, v)
	}
	values, errs := schema.DecodeParams(r.Params, raw, r.AllowExtra)
	if errs != nil {
		return nil, &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs}
	}
	return r.Invoke(t.Context(), c, values)
}

func (f *fixture) options(t *testing.T, c *api.Call) map[string]any {
	t.Helper()
	out, err := call(t, f.get, c, nil)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	// Through JSON, as a client sees it.
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) mustPut(t *testing.T, params map[string]string) {
	t.Helper()
	if _, err := call(t, f.put, admin, params); err != nil {
		t.Fatalf("PUT %v: %v", params, err)
	}
}

func (f *fixture) file(t *testing.T) string {
	t.Helper()
	e, err := f.store.Get(Path)
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Data)
}

func (f *fixture) write(t *testing.T, path, data string) {
	t.Helper()
	if _, err := f.store.Apply(t.Context(), cfs.Write(path, []byte(data))); err != nil {
		t.Fatal(err)
	}
}

func wantParamError(t *testing.T, err error, param, text string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Errors[param], text) {
		t.Fatalf("got %#v, want a 400 on %s containing %q", err, param, text)
	}
}

func TestGetWithoutFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got := f.options(t, admin)
	want := map[string]any{"description": "", "allowed-tags": []any{}, "digest": cfs.Digest(nil)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GET = %v, want %v", got, want)
	}
}

func TestPutWritesTheCanonicalFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// One value first, then the rest, to see the file grow.
	f.mustPut(t, map[string]string{"keyboard": "de"})
	f.mustPut(t, map[string]string{
		"migration":       "network=10.0.0.0/8,type=insecure",
		"description":     "Lab\nsecond line: notes",
		"next-id":         "upper=5000",
		"max_workers":     "3",
		"registered-tags": "prod;base",
		"tag-style":       "shape=dense,case-sensitive=1",
	})
	want := "#Lab\n#second line%3A notes\n\n" +
		"keyboard: de\n" +
		"max_workers: 3\n" +
		"migration: insecure,network=10.0.0.0/8\n" +
		"next-id: upper=5000\n" +
		"registered-tags: base;prod\n" +
		"tag-style: case-sensitive=1,shape=dense\n"
	if got := f.file(t); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	got := f.options(t, admin)
	for key, want := range map[string]string{
		"description":     `"Lab\nsecond line: notes\n"`,
		"keyboard":        `"de"`,
		"max_workers":     `"3"`,
		"migration":       `{"network":"10.0.0.0/8","type":"insecure"}`,
		"next-id":         `{"upper":"5000"}`,
		"registered-tags": `["base","prod"]`,
		"tag-style":       `{"case-sensitive":1,"shape":"dense"}`,
		"digest":          `"` + cfs.Digest([]byte(want)) + `"`,
	} {
		if text, _ := json.Marshal(got[key]); string(text) != want {
			t.Errorf("%s = %s, want %s", key, text, want)
		}
	}
}

func TestPutDeletes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write(t, Path, "#old notes\n\nbwlimit: default=100\nconsole: vv\nkeyboard: de\n")
	f.mustPut(t, map[string]string{"delete": "keyboard, bwlimit;description", "language": "fr"})
	if got, want := f.file(t), "\nconsole: vv\nlanguage: fr\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
	// Removing what is not set is fine.
	f.mustPut(t, map[string]string{"delete": "keyboard"})
}

func TestPutRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write(t, Path, "\nmigration: secure\n")
	tests := []struct {
		name   string
		params map[string]string
		param  string
		text   string
	}{
		{"set and delete", map[string]string{"keyboard": "de", "delete": "console,keyboard"},
			"delete", `option "keyboard" cannot be set and deleted in the same call`},
		{"delete unknown", map[string]string{"delete": "keybaord"},
			"delete", `unknown option "keybaord"`},
		{"delete a parameter", map[string]string{"delete": "digest"},
			"delete", `unknown option "digest"`},
		{"schema: enum", map[string]string{"keyboard": "qwerty"},
			"keyboard", `"qwerty" is not allowed`},
		{"schema: property string", map[string]string{"crs": "ha=fast"},
			"crs", `ha: "fast" is not allowed`},
		{"empty next-id range", map[string]string{"next-id": "lower=5000,upper=5000"},
			"next-id", "the range is empty"},
		{"next-id above the default upper", map[string]string{"next-id": "lower=2000000"},
			"next-id", "lower (2000000) must be below upper (1000000)"},
		{"rebalance key without the flag", map[string]string{"crs": "ha-auto-rebalance-method=topsis"},
			"crs", "needs ha-auto-rebalance"},
		{"line break", map[string]string{"consent-text": "a\nb"},
			"consent-text", "line breaks are not allowed"},
		{"retired flag with migration set", map[string]string{"migration_unsecure": "1"},
			"migration_unsecure", "migration is set"},
		{"unknown parameter", map[string]string{"colour": "red"},
			"colour", "unknown parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(t, f.put, admin, tt.params)
			wantParamError(t, err, tt.param, tt.text)
			if got := f.file(t); got != "\nmigration: secure\n" {
				t.Errorf("a refused call changed the file: %q", got)
			}
		})
	}
}

func TestPutRetiredFlagWithoutMigration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustPut(t, map[string]string{"migration_unsecure": "1"})
	if got := f.file(t); got != "\nmigration: insecure\n" {
		t.Errorf("file %q", got)
	}
	// Removing migration and setting the flag in one call works: removals
	// come first.
	f.mustPut(t, map[string]string{"delete": "migration", "migration_unsecure": "0"})
	if got := f.file(t); got != "\nmigration: secure\n" {
		t.Errorf("file %q", got)
	}
}

func TestPutDigest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Without a file, the digest is that of empty content.
	empty := f.options(t, admin)["digest"].(string)
	f.mustPut(t, map[string]string{"digest": empty, "keyboard": "de"})

	_, err := call(t, f.put, admin, map[string]string{"digest": empty, "keyboard": "fr"})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusInternalServerError || e.Message != ModifiedMessage {
		t.Fatalf("stale digest: %#v", err)
	}
	if got := f.file(t); got != "\nkeyboard: de\n" {
		t.Errorf("a stale digest changed the file: %q", got)
	}

	current := f.options(t, admin)["digest"].(string)
	if current != cfs.Digest([]byte("\nkeyboard: de\n")) {
		t.Errorf("digest %s is not the SHA-1 of the file", current)
	}
	f.mustPut(t, map[string]string{"digest": strings.ToUpper(current), "keyboard": "fr"})
	if got := f.file(t); got != "\nkeyboard: fr\n" {
		t.Errorf("file %q", got)
	}

	// A digest for a file that has gone.
	if _, err := f.store.Apply(t.Context(), cfs.Delete(Path)); err != nil {
		t.Fatal(err)
	}
	_, err = call(t, f.put, admin, map[string]string{"digest": current, "keyboard": "de"})
	if !errors.As(err, &e) || e.Message != ModifiedMessage {
		t.Fatalf("digest of a deleted file: %#v", err)
	}
}

func TestPutWithoutChangeDoesNotWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write(t, Path, "\nkeyboard: de\n")
	before, _ := f.store.Get(Path)
	f.mustPut(t, map[string]string{"keyboard": "de"})
	if after, _ := f.store.Get(Path); after.Version != before.Version {
		t.Error("an unchanged file was written again")
	}
	// A messy file is rewritten canonically on any change, as Proxmox VE does.
	f.write(t, Path, "keyboard:de\nbogus: 1\n")
	f.mustPut(t, map[string]string{"console": "vv"})
	if got := f.file(t); got != "\nconsole: vv\nkeyboard: de\n" {
		t.Errorf("file %q", got)
	}
}

// TestConcurrentWritersKeepEachOthersChanges runs writers of different
// options at once; each re-applies its change when the file moved under
// it, so every change survives.
func TestConcurrentWritersKeepEachOthersChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	changes := map[string]string{
		"keyboard": "de", "language": "fr", "console": "vv", "fencing": "both",
		"max_workers": "7", "mac_prefix": "02:00:00", "email_from": "a@example.com", "http_proxy": "http://p:1",
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(changes))
	for k, v := range changes {
		wg.Go(func() {
			if _, err := call(t, f.put, admin, map[string]string{k: v}); err != nil {
				errs <- fmt.Errorf("%s: %w", k, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cfg := parseOK(t, f.file(t))
	for k, v := range changes {
		if got, _ := cfg.Get(k); got != v {
			t.Errorf("%s = %q, want %q (lost update)", k, got, v)
		}
	}
}

func TestGetWithoutAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write(t, Path, "#secret notes\n\nconsole: xtermjs\nhttp_proxy: http://user:pw@proxy:3128\n"+
		"keyboard: de\ntag-style: shape=full\n")
	user := &api.Call{User: "alice@pve", Perm: privs{}}
	got, _ := json.Marshal(f.options(t, user))
	if want := `{"allowed-tags":[],"console":"xtermjs","tag-style":{"shape":"full"}}`; string(got) != want {
		t.Errorf("GET without Sys.Audit:\n got %s\nwant %s", got, want)
	}
	// Nothing but the display settings, even with a checker missing.
	got, _ = json.Marshal(f.options(t, &api.Call{User: "bob@pve"}))
	if want := `{"allowed-tags":[],"console":"xtermjs","tag-style":{"shape":"full"}}`; string(got) != want {
		t.Errorf("GET without a checker: %s", got)
	}
}

func TestAllowedTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write(t, "nodes/n1/qemu-server/100.conf", "cores: 2\ntags: web;db\n[snap1]\ntags: old\n")
	f.write(t, "nodes/n1/qemu-server/101.conf", "tags: prod\n")
	f.write(t, "nodes/n2/lxc/200.conf", "tags: hidden\n")
	f.write(t, "nodes/n2/lxc/notes.txt", "tags: nope\n")
	user := &api.Call{User: "alice@pve", Perm: privs{"/vms/100": {"VM.Audit"}, "/vms/101": {"VM.Audit"}}}
	boss := &api.Call{User: "root@pam", Perm: privs{"/": {"Sys.Audit", "Sys.Modify"},
		"/vms/100": {"VM.Audit"}, "/vms/101": {"VM.Audit"}, "/vms/200": {"VM.Audit"}}}
	tests := []struct {
		access    string
		user, mod string
	}{
		// free (the default): tags in use on visible guests, minus the
		// registered ones.
		{"", `["db","web"]`, `["db","hidden","prod","web"]`},
		{"user-tag-access: user-allow=none\n", `[]`, `["db","hidden","prod","web"]`},
		{"user-tag-access: user-allow=list,user-allow-list=ci;prod\n", `["ci"]`, `["ci","db","hidden","prod","web"]`},
		{"user-tag-access: user-allow=existing,user-allow-list=ci\n", `["ci","db","web"]`, `["ci","db","hidden","prod","web"]`},
	}
	for _, tt := range tests {
		f.write(t, Path, "\nregistered-tags: prod\n"+tt.access)
		for _, check := range []struct {
			c    *api.Call
			want string
		}{{user, tt.user}, {boss, tt.mod}} {
			if got, _ := json.Marshal(f.options(t, check.c)["allowed-tags"]); string(got) != check.want {
				t.Errorf("%q as %s: %s, want %s", tt.access, check.c.User, got, check.want)
			}
		}
	}
}

func TestConfigTags(t *testing.T) {
	got := configTags([]byte("name: x\ntags: a;b, c  bad!tag\n[PENDING]\ntags: d\n"))
	if fmt.Sprint(got) != "[a b c]" {
		t.Errorf("configTags = %v", got)
	}
}

func TestRoutesAreTheDeclarations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if f.get.Endpoint != api.ClusterOptionsGet.E || f.put.Endpoint != api.ClusterOptionsSet.E {
		t.Error("routes are not bound to the declarations")
	}
	// Every option of the file is a parameter of PUT, and nothing else
	// besides delete and digest.
	for _, name := range OptionNames() {
		if _, ok := f.put.Params[name]; !ok {
			t.Errorf("option %s is not a PUT parameter", name)
		}
	}
	if len(f.put.Params) != len(OptionNames())+2 {
		t.Errorf("PUT has %d parameters for %d options", len(f.put.Params), len(OptionNames()))
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg, warnings, err := Read(f.store)
	if err != nil || len(warnings) != 0 || len(cfg.Keys()) != 0 {
		t.Fatalf("missing file: %v %q %v", err, warnings, cfg.Keys())
	}
	f.write(t, Path, "next-id: lower=300\nbogus: 1\n")
	cfg, warnings, err = Read(f.store)
	if lower, upper := cfg.NextIDRange(); err != nil || lower != 300 || upper != DefaultNextIDUpper {
		t.Errorf("range %d..%d, %v", lower, upper, err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `unknown option "bogus"`) {
		t.Errorf("warnings %q", warnings)
	}
	var zero Config
	if err := zero.Set("keyboard", "de"); err != nil || string(zero.Bytes()) != "\nkeyboard: de\n" {
		t.Errorf("zero Config: %v %q", err, zero.Bytes())
	}
}
