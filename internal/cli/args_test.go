package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

func TestParseArgs(t *testing.T) {
	props := schema.Props{
		"flag":  schema.Bool("").Opt(),
		"count": schema.Int("").Opt(),
		"tags":  schema.Schema{Type: schema.Array, Items: &schema.Schema{Type: schema.String}}.Opt(),
		// A parameter sharing a global option's name wins over it.
		"port": schema.Int("").Opt(),
	}
	cases := []struct {
		args []string
		pos  []string
		raw  schema.Raw
		opts func(g *globalOpts) bool
		err  string
	}{
		{args: []string{"a", "--flag", "b"}, pos: []string{"a", "b"}, raw: schema.Raw{"flag": {"1"}}},
		{args: []string{"--flag", "no", "a"}, pos: []string{"a"}, raw: schema.Raw{"flag": {"no"}}},
		{args: []string{"--flag=0"}, raw: schema.Raw{"flag": {"0"}}},
		{args: []string{"-count", "-5"}, raw: schema.Raw{"count": {"-5"}}},
		{args: []string{"--tags", "x", "--tags=y", "-tags", "z"}, raw: schema.Raw{"tags": {"x", "y", "z"}}},
		{args: []string{"-1", "--", "--flag"}, pos: []string{"-1", "--flag"}},
		{args: []string{"--unknown", "v", "--bare"}, raw: schema.Raw{"unknown": {"v"}, "bare": {"1"}}},
		{args: []string{"--port", "22", "--host", "h", "--output-format", "yaml", "--noborder", "--quiet", "1"},
			raw: schema.Raw{"port": {"22"}},
			opts: func(g *globalOpts) bool {
				return g.host == "h" && g.port == "" && g.format == "yaml" && g.noBorder && g.quiet
			}},
		{args: []string{"--human-readable", "0", "--wait", "no"},
			opts: func(g *globalOpts) bool { return !g.human && g.wait != nil && !*g.wait }},
		{args: []string{"--count"}, err: "option --count needs a value"},
		{args: []string{"--host"}, err: "option --host needs a value"},
		{args: []string{"--noheader", "maybe"}, pos: []string{"maybe"}, opts: func(g *globalOpts) bool { return g.noHeader }},
		{args: []string{"--quiet=maybe"}, err: "option --quiet"},
	}
	for _, c := range cases {
		g := defaultOpts()
		pos, raw, err := parseArgs(c.args, props, &g)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if c.raw == nil {
			c.raw = schema.Raw{}
		}
		if !reflect.DeepEqual(pos, c.pos) || !reflect.DeepEqual(raw, c.raw) {
			t.Errorf("%q: pos %q raw %v, want %q %v", c.args, pos, raw, c.pos, c.raw)
		}
		if c.opts != nil && !c.opts(&g) {
			t.Errorf("%q: options %+v", c.args, g)
		}
	}
}

func TestTakePath(t *testing.T) {
	cases := []struct {
		args []string
		path string
		rest []string
		ok   bool
	}{
		{[]string{"nodes/x", "--a", "1"}, "/nodes/x", []string{"--a", "1"}, true},
		{[]string{"--a", "1", "/nodes"}, "/nodes", []string{"--a", "1"}, true},
		{[]string{"--a", "1"}, "", []string{"--a", "1"}, false},
	}
	for _, c := range cases {
		path, rest, ok := takePath(c.args)
		if path != c.path || ok != c.ok || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("%q: %q %q %v", c.args, path, rest, ok)
		}
	}
}

// TestRealDeclarationsGenerateEveryTool runs the generated help of every
// command of api.All() and writes its man pages, which fails on a hint
// the engine cannot express.
func TestRealDeclarationsGenerateEveryTool(t *testing.T) {
	eps := api.All()
	for _, tool := range Tools(eps) {
		r := runMain(t, eps, nil, cliOpts{}, tool, "help")
		expectCode(t, r, 0)
		for _, c := range commandsOf(eps, tool) {
			argv := append([]string{tool}, c.words...)
			r := runMain(t, eps, nil, cliOpts{}, append(argv, "--help")...)
			expectCode(t, r, 0)
			if !strings.HasPrefix(r.out, "USAGE: "+c.name()) {
				t.Errorf("%s --help: %q", c.name(), r.out)
			}
		}
	}
	r := runMain(t, eps, nil, cliOpts{}, "hearth", "gen-man", t.TempDir())
	expectCode(t, r, 0)
	r = runMain(t, eps, nil, cliOpts{}, "pvenode", "help", "task", "log")
	if !strings.Contains(r.out, "USAGE: pvenode task log <upid> [OPTIONS] [FORMAT_OPTIONS]") || strings.Contains(r.out, "--node") {
		t.Errorf("pvenode help task log:\n%s", r.out)
	}
}
