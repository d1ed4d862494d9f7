package apidoc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// OpenAPIVersion is the version of the OpenAPI specification the document
// follows. 3.1 is needed for "type": "null" and type arrays.
const OpenAPIVersion = "3.1.0"

// errorStatuses are the statuses every operation may answer with the
// shared error body (501: unknown path or method, or a body on GET).
var errorStatuses = []string{"400", "401", "403", "500", "501"}

// OpenAPI builds the OpenAPI 3.1 document describing eps, for the API
// version given. The result is plain maps and slices ready for
// encoding/json, which sorts map keys, so equal input gives equal bytes.
//
// Every endpoint becomes one operation, named by OperationID. Declarations
// are trusted to be consistent (api's registry test checks them); two
// endpoints with the same method and path would overwrite each other.
func OpenAPI(eps []*api.Endpoint, version string) map[string]any {
	paths := map[string]any{}
	for _, e := range eps {
		item, _ := paths[e.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[e.Path] = item
		}
		item[strings.ToLower(e.Method)] = operation(e)
	}
	return map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":       "Hearth API",
			"version":     version,
			"description": infoDescription,
		},
		"servers":    []any{map[string]any{"url": "/api2/json"}},
		"paths":      paths,
		"components": components(),
	}
}

// OpenAPIJSON is OpenAPI encoded as indented JSON, as the server sends it.
// HTML escaping is off because descriptions are full of <placeholders>.
func OpenAPIJSON(eps []*api.Endpoint, version string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(OpenAPI(eps, version)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const infoDescription = "The management API of Hearth, compatible with the Proxmox VE API. " +
	"Every answer is a JSON object whose `data` member holds the result. " +
	"Booleans may be sent as true/false or 1/0, and are always answered as 1/0. " +
	"Calls marked `x-task` start a background task and answer with its id (UPID) at once. " +
	"Calls marked `x-proxyto` are forwarded to the node named by that parameter."

// OperationID names the operation of an endpoint: the lower-case method,
// then every run of ASCII letters and digits in the path, joined by '_'.
// Slashes, braces and other characters only separate words, so
// GET /nodes/{node}/tasks/{upid}/status is get_nodes_node_tasks_upid_status
// and /cluster/backup-info gives ..._cluster_backup_info.
//
// The id depends on nothing but the method and the path, so it stays the
// same as other endpoints come and go, and clients generated from the
// document keep their method names. None of Proxmox VE's paths collide
// under this rule; a test checks that Hearth's do not either.
func OperationID(method, path string) string {
	words := strings.FieldsFunc(path, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	return strings.Join(append([]string{strings.ToLower(method)}, words...), "_")
}

func operation(e *api.Endpoint) map[string]any {
	perm := e.Perm.Describe()
	op := map[string]any{
		"operationId":  OperationID(e.Method, e.Path),
		"summary":      summary(e.Description),
		"description":  operationDescription(e, perm),
		"tags":         []any{tag(e.Path)},
		"x-permission": perm,
		"security":     security(e),
		"responses":    responses(e),
	}
	if e.ProxyTo != "" {
		op["x-proxyto"] = e.ProxyTo
	}
	if e.Task {
		op["x-task"] = true
	}
	if e.AllowExtra {
		op["x-allow-extra"] = true
	}
	params, body := parameters(e)
	if len(params) > 0 {
		op["parameters"] = params
	}
	if body != nil {
		op["requestBody"] = body
	}
	return op
}

// summary is the first sentence of the description: viewers show it in
// one line next to the path.
func summary(desc string) string {
	if i := strings.Index(desc, ". "); i >= 0 {
		desc = desc[:i]
	}
	return strings.TrimSuffix(desc, ".")
}

func operationDescription(e *api.Endpoint, perm string) string {
	parts := []string{e.Description}
	if e.Task {
		parts = append(parts, "Runs as a task: the answer is the task id (UPID) as soon as the task has started. "+
			"Follow it with GET /nodes/{node}/tasks/{upid}/status.")
	}
	if e.AllowExtra {
		parts = append(parts, "Parameters beyond those listed are accepted.")
	}
	parts = append(parts, "Permissions: "+perm)
	return strings.Join(parts, "\n\n")
}

// tag groups operations by the first path segment, the way the Proxmox VE
// API viewer groups them.
func tag(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "" {
		return "root"
	}
	return seg
}

// parameters splits the declared parameters the way the server reads
// them: path parameters from the path; the rest from the query string for
// GET and DELETE, and from the body (JSON or form) for POST and PUT.
func parameters(e *api.Endpoint) (params []any, body map[string]any) {
	inPath := map[string]bool{}
	for _, name := range e.PathParams() {
		inPath[name] = true
		params = append(params, parameter(name, "path", e.Params[name], true))
	}
	var rest []string
	for _, name := range e.Params.Names() {
		if !inPath[name] {
			rest = append(rest, name)
		}
	}
	if e.Method == "GET" || e.Method == "DELETE" {
		for _, name := range rest {
			s := e.Params[name]
			params = append(params, parameter(name, "query", s, !s.Optional))
		}
		return params, nil
	}
	if len(rest) == 0 && !e.AllowExtra {
		return params, nil
	}
	props := map[string]any{}
	var required []string
	for _, name := range rest {
		s := e.Params[name]
		props[name] = jsonSchema(s, request)
		if !s.Optional {
			required = append(required, name)
		}
	}
	obj := map[string]any{"type": "object", "additionalProperties": e.AllowExtra}
	if len(props) > 0 {
		obj["properties"] = props
	}
	if len(required) > 0 {
		obj["required"] = required
	}
	body = map[string]any{
		"required": len(required) > 0,
		"content": map[string]any{
			"application/json":                  map[string]any{"schema": obj},
			"application/x-www-form-urlencoded": map[string]any{"schema": obj},
		},
	}
	return params, body
}

func parameter(name, in string, s *schema.Schema, required bool) map[string]any {
	if s == nil {
		// A path parameter the declaration forgot: still a string in the
		// path, and the document stays valid.
		s = &schema.Schema{Type: schema.String}
	}
	sch := jsonSchema(s, request)
	p := map[string]any{"name": name, "in": in, "schema": sch}
	// The description belongs to the parameter, where viewers show it;
	// keeping it in the schema too would print it twice.
	if d, ok := sch["description"]; ok {
		p["description"] = d
		delete(sch, "description")
	}
	if required {
		p["required"] = true
	}
	return p
}

// pagedType is the method set of api.Paged, whose results the server
// sends with a "total" next to "data".
var pagedType = reflect.TypeFor[interface{ PagedData() (any, int) }]()

func isPaged(e *api.Endpoint) bool {
	t := e.OutType()
	return t != nil && t.Implements(pagedType)
}

func responses(e *api.Endpoint) map[string]any {
	props := map[string]any{"data": jsonSchema(&e.Returns, response)}
	required := []any{"data"}
	if isPaged(e) {
		props["total"] = map[string]any{
			"type":        "integer",
			"description": "Number of items before start and limit were applied.",
		}
		required = append(required, "total")
	}
	desc := "Success."
	if e.Task {
		desc = "The task started; data is its id (UPID)."
	}
	out := map[string]any{
		"200": map[string]any{
			"description": desc,
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type":       "object",
				"properties": props,
				"required":   required,
			}}},
		},
	}
	for _, status := range errorStatuses {
		out[status] = map[string]any{"$ref": "#/components/responses/Error"}
	}
	return out
}

// security lists the ways to authenticate a call. A ticket is a cookie;
// with it, every call but GET also needs the CSRF header, unless the
// endpoint is exempt (login). API tokens need no CSRF header, since a
// browser never sends them by itself.
func security(e *api.Endpoint) []any {
	if e.Perm.Kind == api.PermPublic {
		return []any{}
	}
	ticket := map[string]any{"ticket": []any{}}
	if e.Method != "GET" && !e.NoCSRF {
		ticket["csrf"] = []any{}
	}
	alts := []any{ticket}
	if !e.NoToken {
		alts = append(alts, map[string]any{"token": []any{}})
	}
	return alts
}

func components() map[string]any {
	return map[string]any{
		"securitySchemes": map[string]any{
			"ticket": map[string]any{
				"type": "apiKey", "in": "cookie", "name": "PVEAuthCookie",
				"description": "The ticket returned by POST /access/ticket.",
			},
			"token": map[string]any{
				"type": "apiKey", "in": "header", "name": "Authorization",
				"description": "An API token, sent as `PVEAPIToken=<user>@<realm>!<tokenid>=<secret>`.",
			},
			"csrf": map[string]any{
				"type": "apiKey", "in": "header", "name": "CSRFPreventionToken",
				"description": "The CSRF token returned with the ticket; required together with the ticket on every call but GET.",
			},
		},
		"responses": map[string]any{
			"Error": map[string]any{
				"description": "The call failed. The reason phrase of the HTTP status line carries the message as well, " +
					"which is where Proxmox VE clients read it.",
				"content": map[string]any{"application/json": map[string]any{
					"schema": map[string]any{"$ref": "#/components/schemas/Error"},
				}},
			},
		},
		"schemas": map[string]any{
			"Error": map[string]any{
				"type":     "object",
				"required": []any{"data"},
				"properties": map[string]any{
					"data":    map[string]any{"type": "null"},
					"message": map[string]any{"type": "string", "description": "What went wrong."},
					"errors": map[string]any{
						"type":                 "object",
						"description":          "Problems by parameter name (400 answers).",
						"additionalProperties": map[string]any{"type": "string"},
					},
				},
			},
		},
	}
}
