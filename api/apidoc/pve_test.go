package apidoc

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
)

// pveTree returns the tree as a client reads it (after JSON), so the
// tests check the encoded shape, not Go types.
func pveTree(t *testing.T, eps []*api.Endpoint) []any {
	t.Helper()
	return generic(t, PVESchema(eps)).([]any)
}

// walk follows a path segment by segment, as pvesh does, and fails when
// a segment is missing.
func walk(t *testing.T, tree []any, path string) map[string]any {
	t.Helper()
	level := tree
	var n map[string]any
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		n = nil
		for _, c := range level {
			if c := c.(map[string]any); c["text"] == seg {
				n = c
			}
		}
		if n == nil {
			t.Fatalf("%s: no node %q", path, seg)
		}
		level, _ = n["children"].([]any)
	}
	return n
}

func TestPVESchemaShape(t *testing.T) {
	tree := pveTree(t, fixtures())
	var top []string
	for _, n := range tree {
		top = append(top, n.(map[string]any)["text"].(string))
	}
	sameJSON(t, "top level", top, `["access","nodes","version"]`)

	// Each step of /nodes/{node}/tasks/{upid}/status is its own node; the
	// ones without an endpoint carry no info.
	steps := []struct {
		path    string
		leaf    float64
		methods string
	}{
		{"/nodes", 0, ""},
		{"/nodes/{node}", 0, ""},
		{"/nodes/{node}/tasks", 0, "GET"},
		{"/nodes/{node}/tasks/{upid}", 0, "DELETE"},
		{"/nodes/{node}/tasks/{upid}/status", 1, "GET"},
		{"/version", 1, "GET"},
		{"/access/ticket", 1, "POST"},
	}
	for _, s := range steps {
		n := walk(t, tree, s.path)
		text := s.path[strings.LastIndex(s.path, "/")+1:]
		if n["path"] != s.path || n["text"] != text || n["leaf"] != s.leaf {
			t.Errorf("%s: path %v, text %v, leaf %v", s.path, n["path"], n["text"], n["leaf"])
		}
		_, hasChildren := n["children"]
		if hasChildren != (s.leaf == 0) {
			t.Errorf("%s: leaf %v but children present: %v", s.path, n["leaf"], hasChildren)
		}
		info, hasInfo := n["info"].(map[string]any)
		if (s.methods == "") == hasInfo {
			t.Errorf("%s: info %v, want methods %q", s.path, n["info"], s.methods)
		}
		if hasInfo {
			if _, ok := info[s.methods]; !ok || len(info) != 1 {
				t.Errorf("%s: methods %v, want %s", s.path, info, s.methods)
			}
		}
	}
	sameJSON(t, "children of {node}", texts(walk(t, tree, "/nodes/{node}")), `["config","guests","tasks"]`)
}

func texts(n map[string]any) []string {
	var out []string
	for _, c := range n["children"].([]any) {
		out = append(out, c.(map[string]any)["text"].(string))
	}
	return out
}

func TestPVESchemaInfo(t *testing.T) {
	tree := pveTree(t, fixtures())
	e := fxFind("GET", "/nodes/{node}/tasks/{upid}/status")
	want := map[string]any{
		"method":      "GET",
		"name":        "read_task_status",
		"description": e.Description,
		"parameters": map[string]any{"additionalProperties": 0, "properties": map[string]any{
			"node": e.Params["node"].PVE(), "upid": e.Params["upid"].PVE(),
		}},
		"returns":     e.Returns.PVE(),
		"permissions": e.Perm.PVE(),
		"protected":   1,
		"proxyto":     "node",
		"allowtoken":  1,
	}
	got := walk(t, tree, e.Path)["info"].(map[string]any)["GET"]
	text, _ := json.Marshal(want)
	sameJSON(t, "status info", got, string(text))

	// Login: tokens refused, public, no proxy.
	login := walk(t, tree, "/access/ticket")["info"].(map[string]any)["POST"].(map[string]any)
	if login["allowtoken"] != 0.0 || login["protected"] != 1.0 {
		t.Errorf("login: allowtoken %v, protected %v", login["allowtoken"], login["protected"])
	}
	if _, ok := login["proxyto"]; ok {
		t.Error("login has proxyto")
	}
	sameJSON(t, "login permissions", login["permissions"], `{"user":"world"}`)

	// No parameters: no properties, as in Proxmox VE's dump; not protected.
	version := walk(t, tree, "/version")["info"].(map[string]any)["GET"].(map[string]any)
	sameJSON(t, "version parameters", version["parameters"], `{"additionalProperties":0}`)
	if _, ok := version["protected"]; ok {
		t.Error("version is marked protected")
	}

	cfg := walk(t, tree, "/nodes/{node}/config")["info"].(map[string]any)["PUT"].(map[string]any)
	if cfg["parameters"].(map[string]any)["additionalProperties"] != 1.0 {
		t.Errorf("AllowExtra: %v", cfg["parameters"])
	}
}

// TestPVESchemaAll checks the real API: every endpoint is found by
// walking its path, and every node is consistent.
func TestPVESchemaAll(t *testing.T) {
	tree := pveTree(t, api.All())
	for _, e := range api.All() {
		info, _ := walk(t, tree, e.Path)["info"].(map[string]any)
		got, _ := info[e.Method].(map[string]any)
		if got == nil || got["name"] != e.Name || got["method"] != e.Method {
			t.Errorf("%s: info %v", e.Key(), got)
		}
	}
	var check func(parent string, level []any)
	check = func(parent string, level []any) {
		var names []string
		for _, c := range level {
			n := c.(map[string]any)
			names = append(names, n["text"].(string))
			if n["path"] != parent+"/"+n["text"].(string) {
				t.Errorf("%v under %s", n["path"], parent)
			}
			children, has := n["children"].([]any)
			if has != (n["leaf"] == 0.0) || (has && len(children) == 0) {
				t.Errorf("%v: leaf %v with %d children", n["path"], n["leaf"], len(children))
			}
			check(n["path"].(string), children)
		}
		if !slices.IsSorted(names) {
			t.Errorf("children of %q not sorted: %v", parent, names)
		}
	}
	check("", tree)
}

func TestPVESchemaEdges(t *testing.T) {
	// An empty API is an empty list, not null.
	if text, _ := json.Marshal(PVESchema(nil)); string(text) != "[]" {
		t.Errorf("empty API: %s", text)
	}
	// apidata.js has no node for "/"; an endpoint there is left out
	// rather than breaking the tree.
	root := &api.Endpoint{Path: "/", Method: "GET", Name: "index", Perm: api.AnyUser("")}
	tree := pveTree(t, append(fixtures(), root))
	if len(tree) != 3 {
		t.Errorf("root endpoint changed the top level: %d nodes", len(tree))
	}
}
