package cli

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// complete runs `hearth __complete` for the words, the last being the one
// under the cursor, and returns the candidates.
func (f *fixture) complete(words ...string) []string {
	f.t.Helper()
	argv := append([]string{"hearth", "__complete", strconv.Itoa(len(words) - 1)}, words...)
	r := f.run(argv...)
	if r.code != 0 || r.err != "" {
		f.t.Fatalf("__complete %q: exit %d, stderr %q", words, r.code, r.err)
	}
	if r.out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
}

func TestCompletionCandidates(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	globals := globalOptionNames()
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"hearth", ""}, []string{"completion", "gen-man", "help", "pvecm", "pvenode", "pvesh", "pveversion", "thingctl", "tools"}},
		{[]string{"hearth", "pve"}, []string{"pvecm", "pvenode", "pvesh", "pveversion"}},
		{[]string{"hearth", "thingctl", ""}, []string{"help", "thing", "work"}},
		{[]string{"thingctl", ""}, []string{"help", "thing", "work"}},
		{[]string{"thingctl", "thing", ""}, []string{"list", "remove", "set", "show"}},
		{[]string{"thingctl", "thing", "s"}, []string{"set", "show"}},
		{[]string{"thingctl", "help", "thing", ""}, []string{"list", "remove", "set", "show"}},
		{[]string{"thingctl", "thing", "set", "box", "--"}, append([]string{"--flag", "--mode", "--size", "--tags", "--target"}, globals...)},
		{[]string{"thingctl", "thing", "set", "box", "--size", "3", "--t"}, []string{"--tags", "--target", "--token"}},
		{[]string{"thingctl", "thing", "set", "box", "--mode", ""}, []string{"fast", "slow"}},
		{[]string{"thingctl", "thing", "set", "box", "--flag", "--mode", "s"}, []string{"slow"}},
		{[]string{"thingctl", "work", ""}, []string{"fail", "hang", "ok", "warn"}},
		{[]string{"thingctl", "thing", "list", "--output-format", "j"}, []string{"json", "json-pretty"}},
		{[]string{"thingctl", "thing", "list", "--noborder", "", "x"}, nil},
		{[]string{"thingctl", "thing", "set", "box", "--flag", ""}, []string{"0", "1"}},
		{[]string{"thingctl", "--quiet", "t"}, []string{"thing"}},
		{[]string{"thingctl", "work", "--noheader", ""}, []string{"0", "1", "fail", "hang", "ok", "warn"}},
		{[]string{"pvesh", ""}, []string{"create", "delete", "get", "help", "ls", "schema", "set", "usage"}},
		{[]string{"pvesh", "get", ""}, []string{"/access/", "/cluster/", "/nodes/", "/version"}},
		{[]string{"pvesh", "get", "/no"}, []string{"/nodes/"}},
		{[]string{"pvesh", "ls", "nodes/n1/t"}, []string{"nodes/n1/tasks/", "nodes/n1/things/"}},
		{[]string{"pvesh", "set", "/nodes/n1/things/box", "--"}, append([]string{"--flag", "--mode", "--size", "--tags", "--target"}, globals...)},
		{[]string{"pvesh", "usage", "/version", "--command", ""}, []string{"create", "delete", "get", "set"}},
	}
	for _, c := range cases {
		got := f.complete(c.words...)
		want := append([]string(nil), c.want...)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("complete %q:\n got %q\nwant %q", c.words, got, want)
		}
	}
}

func TestCompletionLiveValues(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	expectCode(t, f.run("thingctl", "work", "ok"), 0)
	upids := f.tasks.upids()
	cases := []struct {
		words []string
		want  []string
	}{
		// Node names from GET /nodes, for a pve-node parameter.
		{[]string{"thingctl", "thing", "set", "box", "--target", ""}, []string{"n1", "n2"}},
		// Path segments of a {param} from the list on the parent path.
		{[]string{"pvesh", "get", "/nodes/"}, []string{"/nodes/n1/", "/nodes/n2/"}},
		{[]string{"pvesh", "get", "/nodes/n2/things/a"}, []string{"/nodes/n2/things/alpha"}},
		// Guest ids from GET /cluster/resources.
		{[]string{"pvenode", "task", "list", "--vmid", "2"}, []string{"205"}},
		// Task ids from the local node's task list, ':' and all.
		{[]string{"pvenode", "task", "log", "UPID:n1:"}, upids},
	}
	for _, c := range cases {
		if got := f.complete(c.words...); !slices.Equal(got, c.want) {
			t.Errorf("complete %q:\n got %q\nwant %q", c.words, got, c.want)
		}
	}
}

func TestCompletionIsSilentAndQuickWithoutADaemon(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	start := time.Now()
	r := f.runWith(cliOpts{env: map[string]string{"HEARTH_SOCKET": "/nonexistent/sock"}},
		"hearth", "__complete", "2", "pvesh", "get", "/nodes/")
	expectCode(t, r, 0)
	if r.out != "" || r.err != "" {
		t.Errorf("stdout %q, stderr %q", r.out, r.err)
	}
	// Even a prompt for a password must not happen.
	r = f.run("hearth", "__complete", "7", "pvesh", "--host", "127.0.0.1", "--user", "root@pam", "get", "/nodes/", "--port", "1")
	expectCode(t, r, 0)
	if r.err != "" {
		t.Errorf("stderr %q", r.err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("completion took %v", time.Since(start))
	}
	for _, bad := range [][]string{{"hearth", "__complete"}, {"hearth", "__complete", "x", "pvesh"}, {"hearth", "__complete", "9", "pvesh"}} {
		r := f.run(bad...)
		if r.code != 0 || r.out != "" || r.err != "" {
			t.Errorf("%q: %+v", bad, r)
		}
	}
}

func TestBashCompletionScript(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.run("hearth", "completion", "bash")
	expectCode(t, r, 0)
	for _, s := range []string{
		"complete -F _hearth_complete hearth pvecm pvenode pvesh pveversion thingctl\n",
		`hearth __complete "$cword" "${words[@]}"`,
		"_get_comp_words_by_ref -n =:",
	} {
		if !strings.Contains(r.out, s) {
			t.Errorf("script lacks %q:\n%s", s, r.out)
		}
	}
	r = f.run("hearth", "completion", "zsh")
	expectCode(t, r, 2)
}
