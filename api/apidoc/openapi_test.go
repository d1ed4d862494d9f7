package apidoc

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hearth-virt/hearth/api"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.golden.json")

// validate loads an encoded document with kin-openapi and validates it.
// kin-openapi reads the "openapi" field and, for 3.1, checks schemas by
// JSON Schema 2020-12 rules (type arrays, "null", numeric exclusive
// bounds), so no other validator is needed.
func validate(data []byte) error {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return err
	}
	return doc.Validate(context.Background())
}

// generic returns v as encoding/json would decode it, so tests can walk
// the document without caring which Go types built it.
func generic(t *testing.T, v any) any {
	t.Helper()
	text, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(text, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func docOf(t *testing.T, eps []*api.Endpoint) map[string]any {
	t.Helper()
	return generic(t, OpenAPI(eps, "1.2.3")).(map[string]any)
}

func op(t *testing.T, doc map[string]any, method, path string) map[string]any {
	t.Helper()
	item, _ := doc["paths"].(map[string]any)[path].(map[string]any)
	o, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		t.Fatalf("no operation %s %s", method, path)
	}
	return o
}

func TestOpenAPIValidates(t *testing.T) {
	for name, eps := range map[string][]*api.Endpoint{"api.All": api.All(), "fixtures": fixtures()} {
		data, err := OpenAPIJSON(eps, "1.2.3")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := validate(data); err != nil {
			t.Errorf("%s: invalid document: %v", name, err)
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			t.Fatal(err)
		}
		if !doc.IsOpenAPI31OrLater() {
			t.Errorf("%s: validated as OpenAPI %q, not 3.1", name, doc.OpenAPI)
		}
	}
}

// TestValidatorCatchesBrokenDocuments shows the validation above has
// teeth: each of these documents is wrong in one place and must fail.
func TestValidatorCatchesBrokenDocuments(t *testing.T) {
	breaks := map[string]func(doc map[string]any){
		"duplicate operationId": func(doc map[string]any) {
			op(t, doc, "GET", "/version")["operationId"] = op(t, doc, "GET", "/nodes/{node}/tasks")["operationId"]
		},
		"undeclared path parameter": func(doc map[string]any) {
			delete(op(t, doc, "GET", "/nodes/{node}/tasks/{upid}/status"), "parameters")
		},
		"unknown schema type": func(doc map[string]any) {
			p := op(t, doc, "GET", "/nodes/{node}/tasks")["parameters"].([]any)[0].(map[string]any)
			p["schema"].(map[string]any)["type"] = "strnig"
		},
		"dangling $ref": func(doc map[string]any) {
			op(t, doc, "GET", "/version")["responses"].(map[string]any)["400"] =
				map[string]any{"$ref": "#/components/responses/Missing"}
		},
		"path parameter not required": func(doc map[string]any) {
			p := op(t, doc, "GET", "/nodes/{node}/tasks")["parameters"].([]any)[0].(map[string]any)
			delete(p, "required")
		},
		"default outside enum": func(doc map[string]any) {
			for _, p := range op(t, doc, "GET", "/nodes/{node}/tasks")["parameters"].([]any) {
				if p := p.(map[string]any); p["name"] == "source" {
					p["schema"].(map[string]any)["default"] = "nowhere"
				}
			}
		},
	}
	for name, breakIt := range breaks {
		doc := docOf(t, fixtures())
		breakIt(doc)
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(data); err == nil {
			t.Errorf("%s: broken document validated", name)
		}
	}
}

func TestEveryEndpointIsOneOperation(t *testing.T) {
	for name, eps := range map[string][]*api.Endpoint{"api.All": api.All(), "fixtures": fixtures()} {
		doc := docOf(t, eps)
		ids := map[string]string{}
		count := 0
		for path, item := range doc["paths"].(map[string]any) {
			for method, o := range item.(map[string]any) {
				count++
				id := o.(map[string]any)["operationId"].(string)
				key := strings.ToUpper(method) + " " + path
				if prev, dup := ids[id]; dup {
					t.Errorf("%s: %s and %s share operationId %s", name, prev, key, id)
				}
				ids[id] = key
			}
		}
		if count != len(eps) {
			t.Errorf("%s: %d operations for %d endpoints", name, count, len(eps))
		}
		for _, e := range eps {
			if got := op(t, doc, e.Method, e.Path)["operationId"]; got != OperationID(e.Method, e.Path) {
				t.Errorf("%s: %s has operationId %v", name, e.Key(), got)
			}
		}
	}
}

func TestOperationID(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"GET", "/nodes/{node}/tasks/{upid}/status", "get_nodes_node_tasks_upid_status"},
		{"POST", "/access/ticket", "post_access_ticket"},
		{"DELETE", "/cluster/backup-info/not-backed-up", "delete_cluster_backup_info_not_backed_up"},
		{"PUT", "/nodes/{node}/hardware/pci/{pci-id-or-mapping}", "put_nodes_node_hardware_pci_pci_id_or_mapping"},
		{"GET", "/", "get"},
	}
	for _, tt := range tests {
		if got := OperationID(tt.method, tt.path); got != tt.want {
			t.Errorf("OperationID(%s, %s) = %s, want %s", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestOperationParameters(t *testing.T) {
	doc := docOf(t, fixtures())

	// GET: path parameters first, in path order, then the query in name order.
	list := op(t, doc, "GET", "/nodes/{node}/tasks")
	sameJSON(t, "GET parameters", names(list["parameters"]),
		`["path:node:required","query:errors","query:since","query:source","query:start","query:types","query:user","query:vmid"]`)
	if _, ok := list["requestBody"]; ok {
		t.Error("GET has a request body")
	}
	sameJSON(t, "query parameter", list["parameters"].([]any)[1],
		`{"name":"errors","in":"query","description":"Only failed tasks.",
		  "schema":{"type":["boolean","integer"],"enum":[false,true,0,1],"default":false}}`)

	del := op(t, doc, "DELETE", "/nodes/{node}/tasks/{upid}")
	sameJSON(t, "DELETE parameters", names(del["parameters"]), `["path:node:required","path:upid:required"]`)

	// POST: the path in the path, everything else in one body schema,
	// offered as JSON and as a form.
	create := op(t, doc, "POST", "/nodes/{node}/guests")
	sameJSON(t, "POST parameters", names(create["parameters"]), `["path:node:required"]`)
	body := create["requestBody"].(map[string]any)
	content := body["content"].(map[string]any)
	js := content["application/json"].(map[string]any)["schema"].(map[string]any)
	form := content["application/x-www-form-urlencoded"].(map[string]any)["schema"].(map[string]any)
	if !reflect.DeepEqual(js, form) {
		t.Errorf("JSON and form bodies differ:\n%v\n%v", js, form)
	}
	if body["required"] != true || js["additionalProperties"] != false {
		t.Errorf("body: required %v, additionalProperties %v", body["required"], js["additionalProperties"])
	}
	sameJSON(t, "body required", js["required"], `["vmid"]`)
	sameJSON(t, "body properties", keysOf(js["properties"]), `["name","net0","password","start","vmid"]`)
	sameJSON(t, "sensitive", js["properties"].(map[string]any)["password"],
		`{"type":"string","format":"password","writeOnly":true,"description":"Root password."}`)

	// PUT with AllowExtra: an open body that nothing requires.
	cfg := op(t, doc, "PUT", "/nodes/{node}/config")
	cfgBody := cfg["requestBody"].(map[string]any)
	cfgSchema := cfgBody["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if cfgBody["required"] != false || cfgSchema["additionalProperties"] != true || cfg["x-allow-extra"] != true {
		t.Errorf("AllowExtra body: %v", cfgBody)
	}
}

// names summarises parameters as in:name[:required].
func names(params any) []string {
	var out []string
	for _, p := range params.([]any) {
		p := p.(map[string]any)
		s := p["in"].(string) + ":" + p["name"].(string)
		if p["required"] == true {
			s += ":required"
		}
		out = append(out, s)
	}
	return out
}

func keysOf(m any) []string { return slices.Sorted(maps.Keys(m.(map[string]any))) }

func TestOperationSecurity(t *testing.T) {
	doc := docOf(t, fixtures())
	tests := []struct{ method, path, want string }{
		{"POST", "/access/ticket", `[]`},
		{"GET", "/version", `[{"ticket":[]},{"token":[]}]`},
		{"POST", "/nodes/{node}/guests", `[{"ticket":[],"csrf":[]},{"token":[]}]`},
		{"DELETE", "/nodes/{node}/tasks/{upid}", `[{"ticket":[],"csrf":[]},{"token":[]}]`},
	}
	for _, tt := range tests {
		sameJSON(t, tt.method+" "+tt.path, op(t, doc, tt.method, tt.path)["security"], tt.want)
	}
	// Not public, so the alternatives show: no token, and login's CSRF exemption.
	e := *fxFind("POST", "/access/ticket")
	e.Perm = api.AnyUser("")
	sameJSON(t, "NoToken, NoCSRF", security(&e), `[{"ticket":[]}]`)
	e.NoCSRF = false
	sameJSON(t, "NoToken", security(&e), `[{"ticket":[],"csrf":[]}]`)

	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	sameJSON(t, "ticket scheme", without(schemes["ticket"], "description"), `{"type":"apiKey","in":"cookie","name":"PVEAuthCookie"}`)
	sameJSON(t, "token scheme", without(schemes["token"], "description"), `{"type":"apiKey","in":"header","name":"Authorization"}`)
	sameJSON(t, "csrf scheme", without(schemes["csrf"], "description"), `{"type":"apiKey","in":"header","name":"CSRFPreventionToken"}`)
	if d := schemes["token"].(map[string]any)["description"].(string); !strings.Contains(d, "PVEAPIToken=<user>@<realm>!<tokenid>=<secret>") {
		t.Errorf("token scheme description: %s", d)
	}
}

func without(v any, key string) map[string]any {
	m := map[string]any{}
	for k, x := range v.(map[string]any) {
		if k != key {
			m[k] = x
		}
	}
	return m
}

func TestOperationResponses(t *testing.T) {
	doc := docOf(t, fixtures())
	data := func(o map[string]any) map[string]any {
		ok := o["responses"].(map[string]any)["200"].(map[string]any)
		return ok["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	}

	paged := data(op(t, doc, "GET", "/nodes/{node}/tasks"))
	sameJSON(t, "paged required", paged["required"], `["data","total"]`)
	sameJSON(t, "paged total", paged["properties"].(map[string]any)["total"].(map[string]any)["type"], `"integer"`)

	version := data(op(t, doc, "GET", "/version"))
	sameJSON(t, "plain envelope", version, `{"type":"object","required":["data"],"properties":{"data":{
		"type":"object","required":["version"],"properties":{
		  "version":{"type":"string","description":"The version."},
		  "beta":{"type":"integer","enum":[0,1],"default":0,"description":"A test build."}}}}}`)

	task := op(t, doc, "POST", "/nodes/{node}/guests")
	if task["x-task"] != true || task["x-proxyto"] != "node" {
		t.Errorf("task extensions: x-task %v, x-proxyto %v", task["x-task"], task["x-proxyto"])
	}
	sameJSON(t, "task data", data(task)["properties"].(map[string]any)["data"].(map[string]any)["type"], `"string"`)
	if _, ok := op(t, doc, "GET", "/version")["x-task"]; ok {
		t.Error("x-task on a plain call")
	}

	for _, status := range errorStatuses {
		sameJSON(t, "error "+status, task["responses"].(map[string]any)[status], `{"$ref":"#/components/responses/Error"}`)
	}
	errSchema := doc["components"].(map[string]any)["schemas"].(map[string]any)["Error"].(map[string]any)
	sameJSON(t, "error data", errSchema["properties"].(map[string]any)["data"], `{"type":"null"}`)
	sameJSON(t, "error errors", errSchema["properties"].(map[string]any)["errors"].(map[string]any)["additionalProperties"], `{"type":"string"}`)
}

func TestOperationTexts(t *testing.T) {
	doc := docOf(t, fixtures())
	e := fxFind("GET", "/nodes/{node}/tasks")
	o := op(t, doc, e.Method, e.Path)
	perm := e.Perm.Describe()
	if o["summary"] != "List the node's tasks" {
		t.Errorf("summary %q", o["summary"])
	}
	if o["x-permission"] != perm || !strings.HasSuffix(o["description"].(string), "Permissions: "+perm) ||
		!strings.HasPrefix(o["description"].(string), e.Description) {
		t.Errorf("description %q, x-permission %q", o["description"], o["x-permission"])
	}
	sameJSON(t, "tags", o["tags"], `["nodes"]`)
	task := op(t, doc, "POST", "/nodes/{node}/guests")
	if !strings.Contains(task["description"].(string), "UPID") {
		t.Errorf("task description does not mention the UPID: %q", task["description"])
	}
}

func TestOpenAPIGolden(t *testing.T) {
	got, err := OpenAPIJSON(fixtures(), "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := OpenAPIJSON(fixtures(), "0.0.0-test")
	if !bytes.Equal(got, again) {
		t.Fatal("two runs gave different documents")
	}
	path := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("document differs from %s; if the change is intended, run go test ./api/apidoc -update and review the diff", path)
	}
}
