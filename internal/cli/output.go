package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"gopkg.in/yaml.v3"
)

// printResult prints an answer in the chosen output format. s is the
// declared return schema and cmd the CLI hint; either may be nil.
func (r *run) printResult(s *schema.Schema, cmd *api.Command, data json.RawMessage) error {
	if r.opts.quiet {
		return nil
	}
	switch r.opts.format {
	case "json":
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			return fmt.Errorf("the answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := r.stdout.Write(buf.Bytes())
		return err
	case "json-pretty":
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "  "); err != nil {
			return fmt.Errorf("the answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := r.stdout.Write(buf.Bytes())
		return err
	}
	v, err := decodeJSON(data)
	if err != nil {
		return err
	}
	if r.opts.format == "yaml" {
		out, err := yaml.Marshal(yamlValue(v))
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = r.stdout.Write(out)
		return err
	}
	return r.printText(r.stdout, s, cmd, v)
}

func decodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("the answer is not JSON: %w", err)
	}
	return v, nil
}

// yamlValue turns JSON numbers into Go numbers, which YAML prints bare
// (it would quote json.Number, a string type).
func yamlValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = yamlValue(it)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, it := range x {
			out[k] = yamlValue(it)
		}
		return out
	}
	return v
}

// printText prints a value as PVE's text format does: lists of objects
// as tables, objects as key/value tables, other values as they are.
func (r *run) printText(w io.Writer, s *schema.Schema, cmd *api.Command, v any) error {
	out := ""
	if cmd != nil {
		out = cmd.Output
	}
	switch out {
	case "raw":
		if printRaw(w, v) {
			return nil
		}
	case "log":
		if printLog(w, v) {
			return nil
		}
	case "created":
		if id, ok := v.(string); ok {
			fmt.Fprintf(w, "successfully created '%s'\n", id)
			return nil
		}
	}
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		var item *schema.Schema
		if s != nil && s.Type == schema.Array {
			item = s.Items
		}
		// An empty list still shows the header when the columns are known.
		hasColumns := cmd != nil && len(cmd.Columns) > 0
		if rows, ok := objects(x); ok && (len(rows) > 0 || hasColumns) {
			r.printList(w, item, cmd, rows)
			return nil
		}
		for _, it := range x {
			fmt.Fprintln(w, r.render(it, item))
		}
	case map[string]any:
		r.printObject(w, s, x)
	default:
		fmt.Fprintln(w, r.render(x, s))
	}
	return nil
}

func objects(items []any) ([]map[string]any, bool) {
	rows := make([]map[string]any, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, false
		}
		rows = append(rows, m)
	}
	return rows, true
}

// printRaw prints strings as they are, one per line (Output "raw").
func printRaw(w io.Writer, v any) bool {
	line := func(s string) {
		if strings.HasSuffix(s, "\n") {
			fmt.Fprint(w, s)
		} else {
			fmt.Fprintln(w, s)
		}
	}
	switch x := v.(type) {
	case string:
		line(x)
	case json.Number:
		line(x.String())
	case []any:
		for _, it := range x {
			switch y := it.(type) {
			case string:
				line(y)
			case json.Number:
				line(y.String())
			default:
				return false
			}
		}
	default:
		return false
	}
	return true
}

// printLog prints the text of numbered log lines (Output "log").
func printLog(w io.Writer, v any) bool {
	items, ok := v.([]any)
	if !ok {
		return false
	}
	rows, ok := objects(items)
	if !ok {
		return false
	}
	for _, row := range rows {
		t, _ := row["t"].(string)
		fmt.Fprintln(w, t)
	}
	return true
}

func (r *run) render(v any, s *schema.Schema) string {
	return renderValue(v, s, r.opts.human, r.env.Location)
}

func propOf(s *schema.Schema, key string) *schema.Schema {
	if s == nil {
		return nil
	}
	return s.Properties[key]
}

// printList prints rows as a table: the hint's columns, else the item
// schema's properties found in the data (every key when there is no
// schema), sorted by the hint's SortBy or the first column.
func (r *run) printList(w io.Writer, item *schema.Schema, cmd *api.Command, rows []map[string]any) {
	var keys []string
	sortBy := ""
	if cmd != nil {
		keys, sortBy = cmd.Columns, cmd.SortBy
	}
	if len(keys) == 0 {
		keys = listColumns(item, rows)
	}
	if len(keys) == 0 {
		return
	}
	if sortBy == "" {
		sortBy = keys[0]
	}
	sort.SliceStable(rows, func(i, j int) bool { return compareValues(rows[i][sortBy], rows[j][sortBy]) < 0 })
	cols := make([]column, len(keys))
	for i, k := range keys {
		cols[i] = column{title: k, right: isNumeric(propOf(item, k))}
	}
	cells := make([][]string, len(rows))
	for i, row := range rows {
		cells[i] = make([]string, len(keys))
		for j, k := range keys {
			cells[i][j] = r.render(row[k], propOf(item, k))
		}
	}
	writeTable(w, cols, cells, !r.opts.noBorder, !r.opts.noHeader)
}

// printObject prints an object as a key/value table sorted by key.
func (r *run) printObject(w io.Writer, s *schema.Schema, obj map[string]any) {
	keys := slices.Sorted(maps.Keys(obj))
	cells := make([][]string, len(keys))
	for i, k := range keys {
		cells[i] = []string{k, r.render(obj[k], propOf(s, k))}
	}
	writeTable(w, []column{{title: "key"}, {title: "value"}}, cells, !r.opts.noBorder, !r.opts.noHeader)
}

func isNumeric(s *schema.Schema) bool {
	return s != nil && (s.Type == schema.Integer || s.Type == schema.Number)
}

// idKeys come first among the default columns, in this order.
func idKeys() []string { return []string{"id", "name", "node", "vmid", "upid"} }

func listColumns(item *schema.Schema, rows []map[string]any) []string {
	present := map[string]bool{}
	for _, row := range rows {
		for k := range row {
			if item == nil || len(item.Properties) == 0 || item.Properties[k] != nil {
				present[k] = true
			}
		}
	}
	var keys []string
	for _, k := range idKeys() {
		if present[k] {
			keys = append(keys, k)
			delete(present, k)
		}
	}
	return append(keys, slices.Sorted(maps.Keys(present))...)
}

// compareValues orders cells: absent first, numbers by value, the rest
// as text.
func compareValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	na, aok := a.(json.Number)
	nb, bok := b.(json.Number)
	if aok && bok {
		fa, _ := na.Float64()
		fb, _ := nb.Float64()
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}
