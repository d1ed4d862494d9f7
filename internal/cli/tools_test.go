package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestToolsListsEveryToolOfTheDeclarations(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	got := Tools(f.eps)
	want := []string{"pvecm", "pvenode", "pvesh", "pveversion", "thingctl"}
	if !slices.Equal(got, want) {
		t.Errorf("Tools = %q, want %q", got, want)
	}
	if got := Tools(nil); !slices.Equal(got, []string{"pvesh"}) {
		t.Errorf("Tools(nil) = %q; pvesh must always exist", got)
	}
	r := f.run("hearth", "tools")
	expectCode(t, r, 0)
	if r.out != strings.Join(want, "\n")+"\n" {
		t.Errorf("hearth tools printed %q", r.out)
	}
}

func TestToolCommandsMapArgsAndFixedLocalNode(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		argv []string
		call string
	}{
		// n1 is the row of /cluster/status marked local (n2 comes first).
		{[]string{"thingctl", "thing", "set", "box", "--size", "7", "--tags", "x"}, "PUT n1/box root@pam: size=7 mode=fast tags=x"},
		{[]string{"/usr/sbin/thingctl", "thing", "remove", "crate"}, "DELETE n1/crate root@pam"},
		// The multi-call form, with a global option before the tool.
		{[]string{"hearth", "--quiet", "thingctl", "thing", "show", "box"}, "GET n1/box root@pam"},
		{[]string{"hearth", "thingctl", "thing", "list", "--noborder"}, "GET n1 root@pam"},
	}
	for _, c := range cases {
		before := len(f.recorded())
		r := f.run(c.argv...)
		expectCode(t, r, 0)
		if calls := f.recorded(); len(calls) != before+1 || calls[before] != c.call {
			t.Errorf("%v: server saw %q, want %q", c.argv, calls[before:], c.call)
		}
	}
}

func TestLocalNodeFallsBackToTheOnlyNode(t *testing.T) {
	f := newFixture(t, fixtureOpts{solo: true})
	r := f.run("thingctl", "thing", "show", "box")
	expectCode(t, r, 0)
	if calls := f.recorded(); len(calls) != 1 || calls[0] != "GET solo/box root@pam" {
		t.Errorf("server saw %q", calls)
	}
}

func TestToolCommandErrors(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		argv []string
		code int
		err  []string
	}{
		{[]string{"thingctl", "thing", "set", "box", "--node", "n2"}, 1,
			[]string{"400 Parameter verification failed.\nnode: set by this command; it cannot be given\n", "USAGE: thingctl thing set <name> [OPTIONS]"}},
		{[]string{"thingctl", "thing", "set", "box", "--name", "b"}, 1,
			[]string{"name: given as an argument and again as an option"}},
		{[]string{"thingctl", "thing", "show"}, 1, []string{"name: required parameter is missing"}},
		{[]string{"thingctl", "thing", "show", "a", "b"}, 2, []string{"too many arguments: b"}},
		{[]string{"thingctl", "thing", "set", "box", "--size"}, 2, []string{"option --size needs a value"}},
		{[]string{"thingctl", "thing", "explode"}, 2, []string{"unknown command 'thingctl thing explode'", "thingctl thing show"}},
		{[]string{"thingctl", "thing"}, 2, []string{"incomplete command 'thingctl thing'", "thingctl thing list"}},
		{[]string{"thingctl", "dance"}, 2, []string{"unknown command 'thingctl dance'", "thingctl work <outcome>"}},
		{[]string{"thingctl"}, 2, []string{"no command given", "thingctl thing list"}},
		{[]string{"hearth", "nosuchtool"}, 2, []string{"unknown tool 'nosuchtool'", "thingctl", "pvesh"}},
		{[]string{"hearth"}, 2, []string{"no tool given"}},
		{[]string{"thingctl", "thing", "list", "--output-format", "xml"}, 2, []string{"--output-format: \"xml\" is not one of"}},
	}
	for _, c := range cases {
		r := f.run(c.argv...)
		if r.code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.argv, r.code, c.code, r.err)
		}
		for _, s := range c.err {
			if !strings.Contains(r.err, s) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.argv, s, r.err)
			}
		}
		if r.out != "" {
			t.Errorf("%v: printed %q on stdout", c.argv, r.out)
		}
		if strings.HasPrefix(strings.Join(c.argv, " "), "thingctl thing") && strings.Contains(r.err, "thingctl work") {
			t.Errorf("%v: the usage should list only the thing commands:\n%s", c.argv, r.err)
		}
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Errorf("failed commands reached the server: %q", calls)
	}
}

func TestToolHelpIsGeneratedFromTheSchema(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("thingctl", "help")
	expectCode(t, r, 0)
	for _, s := range []string{"thingctl thing list [FORMAT_OPTIONS]", "thingctl thing set <name> [OPTIONS]",
		"thingctl thing remove <name>\n", "thingctl work <outcome> [OPTIONS]"} {
		if !strings.Contains(r.out, s) {
			t.Errorf("help lacks %q:\n%s", s, r.out)
		}
	}
	r = f.run("thingctl", "help", "thing")
	expectCode(t, r, 0)
	if strings.Contains(r.out, "thingctl work") || !strings.Contains(r.out, "thingctl thing show <name>") {
		t.Errorf("help thing:\n%s", r.out)
	}
	want := `USAGE: thingctl thing set <name> [OPTIONS]

  Change a thing.

  <name>: <string>
        Name of the thing.

  --flag <boolean>
        Mark it.

  --mode <fast | slow> (default = fast)
        How it runs.

  --size <integer> (0 - 100)
        New size in GiB.

  --tags <string>
        Labels. Repeat the option to give several values.

  --target <string>
        Move it to this node.
`
	for _, argv := range [][]string{{"thingctl", "help", "thing", "set"}, {"thingctl", "thing", "set", "--help"}, {"thingctl", "thing", "set", "-h"}} {
		r = f.run(argv...)
		expectCode(t, r, 0)
		if r.out != want {
			t.Errorf("%v:\n%s\nwant\n%s", argv, r.out, want)
		}
	}
	r = f.run("thingctl", "help", "work")
	if !strings.Contains(r.out, "--wait <boolean> (default = 1)") || !strings.Contains(r.out, "<outcome>: <ok | warn | fail | hang>") {
		t.Errorf("help work:\n%s", r.out)
	}
	r = f.run("pvesh", "help")
	expectCode(t, r, 0)
	for _, s := range []string{"pvesh get <api_path>", "pvesh ls <api_path>", "pvesh usage <api_path>"} {
		if !strings.Contains(r.out, s) {
			t.Errorf("pvesh help lacks %q:\n%s", s, r.out)
		}
	}
	r = f.run("hearth", "help", "thingctl", "thing", "set")
	expectCode(t, r, 0)
	if r.out != want {
		t.Errorf("hearth help thingctl thing set:\n%s", r.out)
	}
	r = f.run("hearth", "help")
	expectCode(t, r, 0)
	if !strings.Contains(r.out, "thingctl") || !strings.Contains(r.out, "pvenode") {
		t.Errorf("hearth help:\n%s", r.out)
	}
}

func TestToolItselfIsACommand(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("pveversion", "--output-format", "json")
	expectCode(t, r, 0)
	if want := `{"version":"9.0.0","release":"9.0","repoid":"abc","hearth":"0.1.0"}` + "\n"; r.out != want {
		t.Errorf("pveversion: %q", r.out)
	}
}
