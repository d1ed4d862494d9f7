package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// builtin is a pvesh command that is part of the engine rather than
// generated from one endpoint.
type builtin struct {
	name, synopsis, description string
}

func pveshBuiltins() []builtin {
	return []builtin{
		{"create", "pvesh create <api_path> [OPTIONS] [FORMAT_OPTIONS]", "Call POST on <api_path>: create an object or start an action."},
		{"delete", "pvesh delete <api_path> [OPTIONS] [FORMAT_OPTIONS]", "Call DELETE on <api_path>: remove an object."},
		{"get", "pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]", "Call GET on <api_path>: read an object or a list."},
		{"ls", "pvesh ls <api_path> [FORMAT_OPTIONS]", "List what is below <api_path>. Each line starts with five flags: D when the entry has entries below it, then r, w, c and d when GET, PUT (set), POST (create) and DELETE are available on it, '-' where not."},
		{"schema", "pvesh schema [FORMAT_OPTIONS]", "Print the whole API schema as JSON, in the shape of Proxmox VE's apidata.js."},
		{"set", "pvesh set <api_path> [OPTIONS] [FORMAT_OPTIONS]", "Call PUT on <api_path>: change an object."},
		{"usage", "pvesh usage <api_path> [--verbose] [--returns] [--command <create | delete | get | set>]", "Show how to call <api_path>: one line per method, with --verbose also every parameter, with --returns also the schema of the result."},
	}
}

func pveshBuiltin(name string) *builtin {
	for _, b := range pveshBuiltins() {
		if b.name == name {
			return &b
		}
	}
	return nil
}

func isPveshBuiltin(name string) bool { return pveshBuiltin(name) != nil }

// pvesh runs a built-in pvesh command; args[0] is its name.
func (r *run) pvesh(ctx context.Context, cmds []*toolCmd, args []string) int {
	verb, rest := args[0], args[1:]
	b := pveshBuiltin(verb)
	usage := func(w io.Writer) { fmt.Fprintln(w, "USAGE: "+b.synopsis) }
	if verb == "schema" {
		return r.pveshSchema(rest, usage)
	}
	path, rest, ok := takePath(rest)
	if !ok && verb == "ls" {
		path, ok = "/", true
	}
	if !ok {
		if _, _, err := parseArgs(rest, nil, &r.opts); err == nil && r.opts.help {
			return r.toolHelp("pvesh", cmds, []string{verb})
		}
		return r.usageError("missing <api_path>", usage)
	}
	switch verb {
	case "ls":
		return r.pveshLs(ctx, path, rest, usage)
	case "usage":
		return r.pveshUsage(path, rest, usage)
	}
	return r.pveshCall(ctx, verb, path, rest, usage)
}

// takePath finds the API path among the arguments: the first one, or the
// first that starts with '/' when options come first.
func takePath(args []string) (string, []string, bool) {
	idx := -1
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		idx = 0
	} else {
		for i, a := range args {
			if strings.HasPrefix(a, "/") {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		return "", args, false
	}
	rest := append(append([]string(nil), args[:idx]...), args[idx+1:]...)
	return normPath(args[idx]), rest, true
}

// pveshCall runs get, set, create or delete.
func (r *run) pveshCall(ctx context.Context, verb, path string, args []string, usage func(io.Writer)) int {
	method := methodOfVerb(verb)
	node, pathParams := r.tree.lookup(path)
	var ep *api.Endpoint
	if node != nil {
		ep = node.eps[method]
	}
	var props schema.Props
	if ep != nil {
		props = ep.Params
	}
	pos, raw, err := parseArgs(args, props, &r.opts)
	if err != nil {
		return r.usageError(err.Error(), usage)
	}
	if r.opts.help {
		return r.pveshUsage(path, []string{"--verbose", "--command", verb}, usage)
	}
	if len(pos) > 0 {
		return r.usageError("too many arguments: "+strings.Join(pos, " "), usage)
	}
	if ep == nil {
		// Not declared here: the daemon may be newer than this CLI, so
		// pass the call through unchecked and let it answer.
		c, err := r.connect(ctx)
		if err != nil {
			return r.fail(err)
		}
		res, err := c.Do(ctx, method, path, raw)
		if err != nil {
			return r.fail(err)
		}
		return r.fail(r.printResult(nil, nil, res.Data))
	}
	clash := schema.Errors{}
	for name, v := range pathParams {
		if _, dup := raw[name]; dup {
			clash[name] = "given in the path and again as an option"
			continue
		}
		raw.Set(name, v)
	}
	if len(clash) > 0 {
		return r.fail(&Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: clash})
	}
	return r.call(ctx, ep, nil, raw, nil)
}

// lsEntry is one line of pvesh ls.
type lsEntry struct {
	Name  string `json:"name"`
	Flags string `json:"capabilities"`
}

// pveshLs lists the children of a path: the literal sub-paths declared
// below it, and for a {param} child the values the path's GET returns.
func (r *run) pveshLs(ctx context.Context, path string, args []string, usage func(io.Writer)) int {
	pos, raw, err := parseArgs(args, schema.Props{}, &r.opts)
	if err != nil {
		return r.usageError(err.Error(), usage)
	}
	if len(pos) > 0 || len(raw) > 0 {
		return r.usageError("pvesh ls takes only a path and format options", usage)
	}
	node, pathParams := r.tree.lookup(path)
	if node == nil {
		return r.fail(fmt.Errorf("no path '%s' in the API", path))
	}
	var entries []lsEntry
	for _, name := range node.literalNames() {
		entries = append(entries, lsEntry{Name: name, Flags: node.literal[name].flags()})
	}
	if v := node.variable; v != nil {
		get := node.eps["GET"]
		if get == nil {
			return r.fail(fmt.Errorf("'%s' has entries below it but no GET to list them", path))
		}
		c, err := r.connect(ctx)
		if err != nil {
			return r.fail(err)
		}
		send := schema.Raw{}
		for k, val := range pathParams {
			send.Set(k, val)
		}
		if _, errs := schema.DecodeParams(get.Params, send, get.AllowExtra); errs != nil {
			return r.fail(&Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs})
		}
		res, err := c.Do(ctx, "GET", path, nil)
		if err != nil {
			return r.fail(err)
		}
		names, err := childValues(res.Data, node.childKey())
		if err != nil {
			return r.fail(fmt.Errorf("listing %s: %w", path, err))
		}
		for _, n := range names {
			entries = append(entries, lsEntry{Name: n, Flags: v.flags()})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	if r.opts.quiet {
		return exitOK
	}
	if r.opts.format == "text" {
		for _, e := range entries {
			fmt.Fprintf(r.stdout, "%s  %s\n", e.Flags, e.Name)
		}
		return exitOK
	}
	if entries == nil {
		entries = []lsEntry{}
	}
	data, _ := json.Marshal(entries)
	return r.fail(r.printResult(nil, nil, data))
}

// childValues reads the key of every item of a list answer.
func childValues(data json.RawMessage, key string) ([]string, error) {
	var items []map[string]any
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.UseNumber()
	if err := d.Decode(&items); err != nil {
		return nil, fmt.Errorf("the answer is not a list of objects")
	}
	var out []string
	for _, it := range items {
		switch v := it[key].(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, v.String())
		}
	}
	return out, nil
}

// pveshUsage prints how to call each method of a path.
func (r *run) pveshUsage(path string, args []string, usage func(io.Writer)) int {
	props := schema.Props{
		"verbose": schema.Bool("").Opt(), "v": schema.Bool("").Opt(),
		"returns": schema.Bool("").Opt(),
		"command": schema.Enum("", pveshVerbs()...).Opt(),
	}
	pos, raw, err := parseArgs(args, props, &r.opts)
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("too many arguments: %s", strings.Join(pos, " "))
	}
	if err != nil {
		return r.usageError(err.Error(), usage)
	}
	vals, errs := schema.DecodeParams(props, raw, false)
	if errs != nil {
		return r.fail(&Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs})
	}
	verbose := vals["verbose"] == true || vals["v"] == true
	only, _ := vals["command"].(string)
	node, pathParams := r.tree.lookup(path)
	if node == nil {
		return r.fail(fmt.Errorf("no path '%s' in the API", path))
	}
	found := false
	for _, verb := range pveshVerbs() {
		ep := node.eps[methodOfVerb(verb)]
		if ep == nil || (only != "" && verb != only) {
			continue
		}
		if found && (verbose || vals["returns"] == true) {
			fmt.Fprintln(r.stdout)
		}
		found = true
		var names []string
		for _, n := range ep.Params.Names() {
			if _, inPath := pathParams[n]; !inPath {
				names = append(names, n)
			}
		}
		line := append([]string{"pvesh", verb, path}, optionsSynopsis(ep.Params, names, ep.Task, printsResult(ep, nil))...)
		fmt.Fprintf(r.stdout, "USAGE: %s\n", strings.Join(line, " "))
		if verbose {
			fmt.Fprintln(r.stdout)
			writeWrapped(r.stdout, "  ", ep.Description)
			for _, n := range names {
				s := ep.Params[n]
				fmt.Fprintln(r.stdout)
				fmt.Fprintf(r.stdout, "  --%s %s%s\n", n, typeText(s), defaultText(s))
				writeWrapped(r.stdout, "        ", paramDescription(s))
			}
		}
		if vals["returns"] == true {
			fmt.Fprintln(r.stdout)
			fmt.Fprintln(r.stdout, "RETURNS:")
			b, _ := json.MarshalIndent(ep.Returns.PVE(), "", "  ")
			fmt.Fprintln(r.stdout, string(b))
		}
	}
	if !found {
		what := "no method"
		if only != "" {
			what = "no '" + only + "' method"
		}
		return r.fail(fmt.Errorf("%s is declared on '%s'", what, path))
	}
	return exitOK
}

// pveshSchema prints the PVE-shaped API schema.
func (r *run) pveshSchema(args []string, usage func(io.Writer)) int {
	pos, raw, err := parseArgs(args, schema.Props{}, &r.opts)
	if err == nil && (len(pos) > 0 || len(raw) > 0) {
		err = fmt.Errorf("pvesh schema takes only format options")
	}
	if err != nil {
		return r.usageError(err.Error(), usage)
	}
	if r.env.Schema == nil {
		return r.fail(fmt.Errorf("the API schema document is not available in this build"))
	}
	data, err := json.Marshal(r.env.Schema(r.eps))
	if err != nil {
		return r.fail(fmt.Errorf("encoding the schema: %w", err))
	}
	if r.opts.format == "text" {
		// The document is for programs; text means plain JSON here.
		r.opts.format = "json"
	}
	return r.fail(r.printResult(nil, nil, data))
}
