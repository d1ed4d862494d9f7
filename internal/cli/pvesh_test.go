package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
)

func TestPveshVerbsSendOptionsAndPathParams(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		argv []string
		call string
	}{
		{[]string{"pvesh", "set", "/nodes/n2/things/box", "--size", "5", "--flag", "--tags", "a", "-tags", "b"},
			"PUT n2/box root@pam: size=5 mode=fast flag=true tags=a,b"},
		{[]string{"pvesh", "set", "nodes/n1/things/box/", "--flag", "no", "--mode=slow"},
			"PUT n1/box root@pam: mode=slow flag=false"},
		{[]string{"pvesh", "create", "/nodes/n1/things", "--name", "new-one", "--size", "0"},
			"POST n1/new-one root@pam: size=0 mode=fast"},
		{[]string{"pvesh", "delete", "/nodes/n2/things/old"}, "DELETE n2/old root@pam"},
		{[]string{"pvesh", "get", "/nodes/n1/things/box", "--output-format", "json"}, "GET n1/box root@pam"},
	}
	for _, c := range cases {
		before := len(f.recorded())
		r := f.run(c.argv...)
		expectCode(t, r, 0)
		calls := f.recorded()
		if len(calls) != before+1 || calls[before] != c.call {
			t.Errorf("%v: server saw %q, want %q", c.argv, calls[before:], c.call)
		}
	}
}

func TestPveshValidatesLocallyBeforeSending(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		argv    []string
		wantErr string
	}{
		{[]string{"pvesh", "set", "/nodes/n1/things/box", "--size", "101"},
			"400 Parameter verification failed.\nsize: must be at most 100\n"},
		{[]string{"pvesh", "set", "/nodes/n1/things/box", "--mode", "warp", "--size", "x"},
			"400 Parameter verification failed.\nmode: \"warp\" is not allowed; expected one of: fast, slow\nsize: expected an integer, got \"x\"\n"},
		{[]string{"pvesh", "set", "/nodes/n1/things/Bad_Name"},
			"400 Parameter verification failed.\nname: \"Bad_Name\" does not match the pattern [a-z][a-z0-9-]*\n"},
		{[]string{"pvesh", "create", "/nodes/n1/things"},
			"400 Parameter verification failed.\nname: required parameter is missing\n"},
		{[]string{"pvesh", "set", "/nodes/n1/things/box", "--name", "other"},
			"400 Parameter verification failed.\nname: given in the path and again as an option\n"},
	}
	for _, c := range cases {
		r := f.run(c.argv...)
		expectCode(t, r, 1)
		if r.err != c.wantErr {
			t.Errorf("%v: stderr\n%q\nwant\n%q", c.argv, r.err, c.wantErr)
		}
	}
	r := f.run("pvesh", "set", "/nodes/n1/things/box", "--colour", "red")
	expectCode(t, r, 1)
	if !strings.Contains(r.err, "colour: unknown parameter; allowed: flag, mode, name, node, size, tags, target") {
		t.Errorf("unknown option: stderr %q", r.err)
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Errorf("invalid calls reached the server: %q", calls)
	}
}

func TestPveshPrintsServerErrorsLikePVE(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("pvesh", "set", "/nodes/n1/things/taken")
	expectCode(t, r, 1)
	if want := "400 Parameter verification failed.\nname: thing taken is locked\n"; r.err != want {
		t.Errorf("param error: %q, want %q", r.err, want)
	}
	r = f.run("pvesh", "delete", "/nodes/n1/things/busy")
	expectCode(t, r, 1)
	if want := "thing busy is in use\n"; r.err != want {
		t.Errorf("handler error: %q, want %q", r.err, want)
	}
	// Paths not declared locally go to the daemon, which knows best.
	r = f.run("pvesh", "get", "/nowhere")
	expectCode(t, r, 1)
	if want := "501 Path 'GET /nowhere' not implemented\n"; r.err != want {
		t.Errorf("unknown path: %q, want %q", r.err, want)
	}
}

func TestPveshLsListsDeclaredAndLiveChildren(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := map[string]string{
		"/":        "D----  access\nD----  cluster\nDr---  nodes\n-r---  version\n",
		"/nodes":   "Dr---  n1\nDr---  n2\n",
		"nodes/n2": "Dr---  tasks\nDr-c-  things\n---c-  work\n",
		// Values of a {param} child come from the list's own key.
		"/nodes/n1/things": "-rw-d  alpha\n-rw-d  zeta\n",
	}
	for path, want := range cases {
		r := f.run("pvesh", "ls", path)
		expectCode(t, r, 0)
		if r.out != want {
			t.Errorf("ls %s:\n%s\nwant\n%s", path, r.out, want)
		}
	}
	r := f.run("pvesh", "ls", "/nodes", "--output-format", "json")
	expectCode(t, r, 0)
	if want := `[{"name":"n1","capabilities":"Dr---"},{"name":"n2","capabilities":"Dr---"}]` + "\n"; r.out != want {
		t.Errorf("ls json: %s", r.out)
	}
	r = f.run("pvesh", "ls", "/nodes/n1/nothing")
	expectCode(t, r, 1)
}

func TestPveshUsage(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("pvesh", "usage", "/nodes/n1/things")
	expectCode(t, r, 0)
	want := "USAGE: pvesh get /nodes/n1/things [FORMAT_OPTIONS]\n" +
		"USAGE: pvesh create /nodes/n1/things --name <string> [OPTIONS]\n"
	if r.out != want {
		t.Errorf("usage:\n%s\nwant\n%s", r.out, want)
	}
	r = f.run("pvesh", "usage", "/nodes/n1/things/x", "-v", "--command", "set")
	expectCode(t, r, 0)
	for _, s := range []string{"USAGE: pvesh set /nodes/n1/things/x [OPTIONS]", "Change a thing.",
		"--mode <fast | slow> (default = fast)", "--size <integer> (0 - 100)", "--tags <string>"} {
		if !strings.Contains(r.out, s) {
			t.Errorf("verbose usage lacks %q:\n%s", s, r.out)
		}
	}
	if strings.Contains(r.out, "pvesh get") || strings.Contains(r.out, "--node") {
		t.Errorf("usage --command set shows other methods or path parameters:\n%s", r.out)
	}
	r = f.run("pvesh", "usage", "/version", "--returns")
	expectCode(t, r, 0)
	if !strings.Contains(r.out, "RETURNS:") || !strings.Contains(r.out, `"hearth"`) {
		t.Errorf("usage --returns:\n%s", r.out)
	}
	// --help after a path shows the same.
	r = f.run("pvesh", "set", "/nodes/n1/things/x", "--help")
	expectCode(t, r, 0)
	if !strings.Contains(r.out, "--flag <boolean>") {
		t.Errorf("set --help:\n%s", r.out)
	}
}

func TestPveshSchemaUsesTheInjectedBuilder(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("pvesh", "schema")
	expectCode(t, r, 1)
	var got []string
	build := func(eps []*api.Endpoint) any {
		var paths []string
		for _, e := range eps {
			paths = append(paths, e.Key())
		}
		slices.Sort(paths)
		return map[string]any{"paths": paths}
	}
	r = f.runWith(cliOpts{schema: build}, "pvesh", "schema")
	expectCode(t, r, 0)
	var doc struct{ Paths []string }
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("schema output is not JSON: %v\n%s", err, r.out)
	}
	got = doc.Paths
	if len(got) != len(f.eps) || !slices.Contains(got, "PUT /nodes/{node}/things/{name}") {
		t.Errorf("schema lists %q", got)
	}
}
