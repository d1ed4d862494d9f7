package daemon

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/apidoc"
	"github.com/hearth-virt/hearth/internal/cli"
)

var verbs = map[string]string{"GET": "get", "POST": "create", "PUT": "set", "DELETE": "delete"}

// TestEveryEndpointIsServedDocumentedAndReachable checks, for every
// declared endpoint, that the daemon binds a handler, the OpenAPI document
// has the operation, and the CLI reaches it: through pvesh always, and
// through its tool command when it declares one.
func TestEveryEndpointIsServedDocumentedAndReachable(t *testing.T) {
	td := startDaemon(t, "alpha")
	bound := map[string]bool{}
	for _, r := range td.routes() {
		if bound[r.Key()] {
			t.Errorf("%s is bound twice", r.Key())
		}
		bound[r.Key()] = true
	}
	paths := apidoc.OpenAPI(api.All(), "test")["paths"].(map[string]any)
	declared := map[string]bool{}
	for _, e := range api.All() {
		declared[e.Key()] = true
		if !bound[e.Key()] {
			t.Errorf("%s has no handler", e.Key())
		}
		item, _ := paths[e.Path].(map[string]any)
		if _, ok := item[strings.ToLower(e.Method)]; !ok {
			t.Errorf("%s is missing from the OpenAPI document", e.Key())
		}
		if out, code := runCLI(t, "pvesh", "usage", e.Path, "--command", verbs[e.Method]); code != 0 || !strings.Contains(out, e.Path) {
			t.Errorf("pvesh usage %s --command %s: exit %d: %s", e.Path, verbs[e.Method], code, out)
		}
		for _, c := range e.CLI {
			args := append([]string{c.Tool, "help"}, strings.Fields(c.Cmd)...)
			if out, code := runCLI(t, args...); code != 0 || !strings.Contains(out, c.Tool) {
				t.Errorf("%s: %v: exit %d: %s", e.Key(), args, code, out)
			}
		}
	}
	for key := range bound {
		if !declared[key] {
			t.Errorf("%s is bound but not listed in api.All()", key)
		}
	}
}

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" },
		Endpoints: api.All(), IsTerminal: func(any) bool { return false }}
	code := cli.Main(context.Background(), append([]string{"hearth"}, args...), env)
	return out.String(), code
}
