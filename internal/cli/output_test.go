package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"gopkg.in/yaml.v3"
)

func TestTextTablesGolden(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		golden string
		argv   []string
	}{
		{"list_border.txt", []string{"pvesh", "get", "/nodes/n1/things"}},
		{"list_noborder.txt", []string{"pvesh", "get", "/nodes/n1/things", "--noborder"}},
		{"list_noheader.txt", []string{"pvesh", "get", "/nodes/n1/things", "--noborder", "1", "--noheader"}},
		{"list_raw_numbers.txt", []string{"pvesh", "get", "/nodes/n1/things", "--human-readable", "0"}},
		{"object_border.txt", []string{"thingctl", "thing", "show", "box"}},
		{"object_noborder.txt", []string{"thingctl", "thing", "show", "box", "--noborder"}},
		{"nodes_columns.txt", []string{"pvecm", "status"}},
	}
	for _, c := range cases {
		r := f.run(c.argv...)
		expectCode(t, r, 0)
		golden(t, c.golden, r.out)
	}
}

func TestOutputFormats(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("thingctl", "thing", "show", "box", "--output-format", "json")
	expectCode(t, r, 0)
	want := `{"name":"box","size":2048,"uptime":3600,"created":1700000000,"load":0.5,"active":false}` + "\n"
	if r.out != want {
		t.Errorf("json:\n%s\nwant\n%s", r.out, want)
	}
	r = f.run("thingctl", "thing", "show", "box", "--output-format", "json-pretty")
	expectCode(t, r, 0)
	if !strings.Contains(r.out, "{\n  \"name\": \"box\",\n  \"size\": 2048,") || strings.Count(r.out, "\n") != 8 {
		t.Errorf("json-pretty:\n%s", r.out)
	}
	r = f.run("thingctl", "thing", "list", "--output-format", "yaml")
	expectCode(t, r, 0)
	var items []map[string]any
	if err := yaml.Unmarshal([]byte(r.out), &items); err != nil {
		t.Fatalf("yaml: %v\n%s", err, r.out)
	}
	// The server's order is kept; numbers stay numbers.
	if len(items) != 2 || items[0]["name"] != "zeta" || items[1]["size"] != 5368709120 || items[0]["load"] != 0.1234 {
		t.Errorf("yaml decoded to %v\n%s", items, r.out)
	}
	if !strings.Contains(r.out, "size: 1536\n") {
		t.Errorf("yaml quotes numbers:\n%s", r.out)
	}
	r = f.run("thingctl", "thing", "list", "--quiet")
	expectCode(t, r, 0)
	if r.out != "" {
		t.Errorf("--quiet printed %q", r.out)
	}
}

func TestSpecialPrinters(t *testing.T) {
	r := &run{opts: defaultOpts(), env: Env{Location: time.UTC}}
	cases := []struct {
		name string
		s    *schema.Schema
		cmd  *api.Command
		data string
		want string
	}{
		{"raw strings", nil, &api.Command{Output: "raw"}, `["a line","another\n"]`, "a line\nanother\n"},
		{"raw scalar", nil, &api.Command{Output: "raw"}, `"105"`, "105\n"},
		{"log lines", nil, &api.Command{Output: "log"}, `[{"n":1,"t":"first"},{"n":2,"t":"second"}]`, "first\nsecond\n"},
		{"scalar", &schema.Schema{Type: schema.Integer, Renderer: "bytes"}, nil, `1048576`, "1.00 MiB\n"},
		{"bool", nil, nil, `true`, "1\n"},
		{"null", nil, nil, `null`, ""},
		{"scalar list", nil, nil, `["x",2]`, "x\n2\n"},
		{"empty list with columns", nil, &api.Command{Columns: []string{"a", "b"}}, `[]`,
			"┌───┬───┐\n│ a │ b │\n╞═══╪═══╡\n└───┴───┘\n"},
		{"empty list without schema", nil, nil, `[]`, ""},
		{"id keys first", nil, nil, `[{"b":1,"vmid":100,"a":"x","name":"n"}]`,
			"┌──────┬──────┬───┬───┐\n│ name │ vmid │ a │ b │\n╞══════╪══════╪═══╪═══╡\n│ n    │ 100  │ x │ 1 │\n└──────┴──────┴───┴───┘\n"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		v, err := decodeJSON([]byte(c.data))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.printText(&buf, c.s, c.cmd, v); err != nil {
			t.Fatal(err)
		}
		if buf.String() != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.name, buf.String(), c.want)
		}
	}
}

func TestRenderers(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	cases := []struct {
		renderer string
		in       string
		want     string
	}{
		{"bytes", "0", "0.00 B"},
		{"bytes", "1023", "1023.00 B"},
		{"bytes", "1536", "1.50 KiB"},
		{"bytes", "5368709120", "5.00 GiB"},
		{"bytes", "1152921504606846976", "1024.00 PiB"},
		{"duration", "0", "0s"},
		{"duration", "59", "59s"},
		{"duration", "3600", "1h"},
		{"duration", "104580", "1d 5h 3m"},
		{"duration", "694861", "1w 1d 1h 1m 1s"},
		{"timestamp", "1700000000", "2023-11-15 00:13:20"},
		{"timestamp_gmt", "1700000000", "2023-11-14 22:13:20"},
		{"fraction_as_percentage", "0.1234", "12.34%"},
		{"fraction_as_percentage", "1", "100.00%"},
		{"unknown", "42", "42"},
	}
	for _, c := range cases {
		s := &schema.Schema{Type: schema.Number, Renderer: c.renderer}
		if got := renderValue(json.Number(c.in), s, true, loc); got != c.want {
			t.Errorf("%s(%s) = %q, want %q", c.renderer, c.in, got, c.want)
		}
		if got := renderValue(json.Number(c.in), s, false, loc); got != c.in {
			t.Errorf("%s(%s) without human-readable = %q", c.renderer, c.in, got)
		}
	}
	if got := renderValue("2048", &schema.Schema{Renderer: "bytes"}, true, loc); got != "2.00 KiB" {
		t.Errorf("numeric string: %q", got)
	}
	if got := renderValue(map[string]any{"b": []any{true}, "a": "<x>"}, nil, true, loc); got != `{"a":"<x>","b":[true]}` {
		t.Errorf("nested: %q", got)
	}
}

func TestTableMultilineCells(t *testing.T) {
	var buf bytes.Buffer
	writeTable(&buf, []column{{title: "k"}, {title: "n", right: true}}, [][]string{{"a\nbb", "1"}, {"c", "22"}}, true, true)
	want := "┌────┬────┐\n│ k  │  n │\n╞════╪════╡\n│ a  │  1 │\n│ bb │    │\n├────┼────┤\n│ c  │ 22 │\n└────┴────┘\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}
