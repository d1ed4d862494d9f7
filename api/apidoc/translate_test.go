package apidoc

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hearth-virt/hearth/api/schema"
)

// sameJSON compares a generated value with the expected JSON text, after
// a round trip so that Go types (int vs float64, []string vs []any) do not
// matter, only what a client would read.
func sameJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	gotText, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var g, w any
	if err := json.Unmarshal(gotText, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, gotText, want)
	}
}

func TestJSONSchema(t *testing.T) {
	keys := schema.NewPropString(schema.Props{
		"model":    schema.Schema{Type: schema.String, Enum: []string{"e1000", "virtio"}, DefaultKey: true}.Ptr(),
		"firewall": schema.Bool("").Opt(),
		"macaddr":  schema.Schema{Type: schema.String, Format: "mac-addr"}.Opt(),
		"virtio":   schema.Schema{Type: schema.String, Alias: "macaddr", KeyAlias: "model"}.Opt(),
	})
	obj := schema.Obj("o", schema.Props{
		"a": schema.Str("").Ptr(),
		"b": schema.Bool("").Opt(),
	})
	open := obj
	open.AdditionalProperties = true

	tests := []struct {
		name string
		s    *schema.Schema
		dir  direction
		want string
	}{
		{"nil", nil, request, `{}`},
		{"string", schema.Str("d").Ptr(), request, `{"type":"string","description":"d"}`},
		{"integer range default", schema.IntRange("n", 1, 10).Def(int64(5)).Ptr(), request,
			`{"type":"integer","description":"n","minimum":1,"maximum":10,"default":5}`},
		{"number", schema.Schema{Type: schema.Number, Minimum: schema.F(0.5)}.Ptr(), response,
			`{"type":"number","minimum":0.5}`},
		{"boolean request", schema.Bool("b").Def(true).Ptr(), request,
			`{"type":["boolean","integer"],"enum":[false,true,0,1],"description":"b","default":true}`},
		{"boolean response", schema.Bool("b").Def(true).Ptr(), response,
			`{"type":"integer","enum":[0,1],"description":"b","default":1}`},
		{"boolean response default false", schema.Bool("").Def(false).Ptr(), response,
			`{"type":"integer","enum":[0,1],"default":0}`},
		{"format kept", schema.Node().Ptr(), request,
			`{"type":"string","format":"pve-node","description":"Name of the cluster node."}`},
		{"list format kept", schema.Schema{Type: schema.String, Format: "pve-priv-list"}.Ptr(), request,
			`{"type":"string","format":"pve-priv-list"}`},
		{"pattern anchored", schema.Pat("", `a|b`).Ptr(), request, `{"type":"string","pattern":"^(?:a|b)$"}`},
		{"enum", schema.Enum("", "x", "y").Ptr(), response, `{"type":"string","enum":["x","y"]}`},
		{"enum ignored off strings", schema.Schema{Type: schema.Integer, Enum: []string{"1"}}.Ptr(), request, `{"type":"integer"}`},
		{"lengths", schema.Schema{Type: schema.String, MinLength: 2, MaxLength: 8}.Ptr(), request,
			`{"type":"string","minLength":2,"maxLength":8}`},
		{"string default", schema.Enum("", "a", "b").Def("a").Ptr(), request,
			`{"type":"string","enum":["a","b"],"default":"a"}`},
		{"sensitive plain string", schema.Schema{Type: schema.String, Sensitive: true}.Ptr(), request,
			`{"type":"string","format":"password","writeOnly":true}`},
		{"sensitive with format", schema.Schema{Type: schema.String, Format: "pem-string", Sensitive: true}.Ptr(), request,
			`{"type":"string","format":"pem-string","writeOnly":true}`},
		{"sensitive in response", schema.Schema{Type: schema.String, Sensitive: true}.Ptr(), response,
			`{"type":"string"}`},
		{"title and verbose description", schema.Schema{Type: schema.String, Title: "T", Description: "short", VerboseDescription: "long"}.Ptr(), request,
			`{"type":"string","title":"T","description":"short\n\nlong"}`},
		{"property string", schema.Schema{Type: schema.String, Prop: keys, Description: "NIC."}.Ptr(), request,
			`{"type":"string","description":"NIC.\n\nFormat: ` + "`" + keys.Synopsis() + "`" + `",
			  "x-property-string":{"type":"object","required":["model"],"properties":{
			    "model":{"type":"string","enum":["e1000","virtio"],"x-default-key":true},
			    "firewall":{"type":["boolean","integer"],"enum":[false,true,0,1]},
			    "macaddr":{"type":"string","format":"mac-addr"},
			    "virtio":{"type":"string","x-alias-of":"macaddr","x-key-alias":"model"}}}}`},
		{"array", schema.ArrayOf("l", schema.Bool("")).Ptr(), response,
			`{"type":"array","description":"l","items":{"type":"integer","enum":[0,1]}}`},
		{"array without items", schema.Schema{Type: schema.Array}.Ptr(), response, `{"type":"array"}`},
		{"object request", &obj, request,
			`{"type":"object","description":"o","additionalProperties":false,"required":["a"],
			  "properties":{"a":{"type":"string"},"b":{"type":["boolean","integer"],"enum":[false,true,0,1]}}}`},
		{"open object request", &open, request,
			`{"type":"object","description":"o","additionalProperties":true,"required":["a"],
			  "properties":{"a":{"type":"string"},"b":{"type":["boolean","integer"],"enum":[false,true,0,1]}}}`},
		{"object response", &obj, response,
			`{"type":"object","description":"o","required":["a"],
			  "properties":{"a":{"type":"string"},"b":{"type":"integer","enum":[0,1]}}}`},
		{"empty object response", schema.Schema{Type: schema.Object}.Ptr(), response, `{"type":"object"}`},
		{"any", schema.Schema{Type: schema.Any, Description: "x"}.Ptr(), response, `{"description":"x"}`},
		{"null", schema.Schema{Type: schema.Null}.Ptr(), response, `{"type":"null"}`},
		{"untyped request", &schema.Schema{MaxLength: 4}, request, `{"type":"string","maxLength":4}`},
		{"untyped response", &schema.Schema{}, response, `{}`},
	}
	for _, tt := range tests {
		sameJSON(t, tt.name, jsonSchema(tt.s, tt.dir), tt.want)
	}
}

// TestJSONSchemaSemantics runs values through a JSON Schema 2020-12
// validator, to show the translated schemas accept what the server
// accepts (request) or sends (response), and refuse the rest.
func TestJSONSchemaSemantics(t *testing.T) {
	tests := []struct {
		name   string
		s      *schema.Schema
		dir    direction
		accept []any
		refuse []any
	}{
		{"boolean request", schema.Bool("").Ptr(), request,
			[]any{true, false, 0.0, 1.0}, []any{2.0, -1.0, "1", "true", nil}},
		{"boolean response", schema.Bool("").Ptr(), response,
			[]any{0.0, 1.0}, []any{true, false, 2.0, "1"}},
		{"pattern is anchored", schema.Pat("", `a|b`).Ptr(), request,
			[]any{"a", "b"}, []any{"xa", "bx", "ab"}},
		{"null", schema.Schema{Type: schema.Null}.Ptr(), response,
			[]any{nil}, []any{"", 0.0}},
		{"any", schema.Schema{Type: schema.Any}.Ptr(), response,
			[]any{nil, "s", 1.0, true, map[string]any{}, []any{}}, nil},
		{"closed request object", schema.Obj("", schema.Props{"a": schema.Str("").Ptr()}).Ptr(), request,
			[]any{map[string]any{"a": "x"}}, []any{map[string]any{}, map[string]any{"a": "x", "b": "y"}}},
		{"open response object", schema.Obj("", schema.Props{"a": schema.Str("").Ptr()}).Ptr(), response,
			[]any{map[string]any{"a": "x", "later": 1.0}}, []any{map[string]any{"later": 1.0}}},
	}
	for _, tt := range tests {
		text, err := json.Marshal(jsonSchema(tt.s, tt.dir))
		if err != nil {
			t.Fatal(err)
		}
		var s openapi3.Schema
		if err := json.Unmarshal(text, &s); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, v := range tt.accept {
			if err := s.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("%s: %#v refused: %v", tt.name, v, err)
			}
		}
		for _, v := range tt.refuse {
			if err := s.VisitJSON(v, openapi3.EnableJSONSchema2020()); err == nil {
				t.Errorf("%s: %#v accepted", tt.name, v)
			}
		}
	}
}
