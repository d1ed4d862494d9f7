package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// Env is everything Main takes from its surroundings, so tests can run
// the tools in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up an environment variable ("" when unset); nil means
	// an empty environment.
	Getenv func(key string) string
	// Endpoints are the declarations the tools are generated from,
	// normally api.All().
	Endpoints []*api.Endpoint
	// Schema builds the document `pvesh schema` prints (the PVE-shaped
	// API schema, apidoc.PVESchema). Nil makes that command fail.
	Schema func(eps []*api.Endpoint) any
	// IsTerminal reports whether a stream (Stdin, Stdout) is a terminal,
	// which enables password prompts and progress bars. Nil detects it.
	IsTerminal func(stream any) bool
	// Location is the time zone of rendered timestamps; nil is time.Local.
	Location *time.Location
}

// OSEnv is the environment of a real process.
func OSEnv(eps []*api.Endpoint) Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Endpoints: eps}
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	// exitInterrupted is returned when Ctrl-C stops following a task.
	exitInterrupted = 130
)

// Tools lists the tool names the declarations define, sorted; pvesh is
// always one. `make install` links each to the hearth binary.
func Tools(eps []*api.Endpoint) []string {
	seen := map[string]bool{"pvesh": true}
	for _, e := range eps {
		for _, c := range e.CLI {
			if c.Tool != "" {
				seen[c.Tool] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// run is the state of one invocation.
type run struct {
	env    Env
	stdout io.Writer
	stderr io.Writer
	eps    []*api.Endpoint
	tree   *pathNode
	opts   globalOpts
	client Client
	// node caches the name of the node the CLI talks to.
	node string
	// noPrompt forbids asking for a password (completion runs unattended).
	noPrompt bool
	// local holds the values of the running command's own options
	// (api.Command.Local).
	local schema.Raw
	// pull is where ct-pull writes, checked before the call.
	pull *pullTarget
}

func newRun(env Env) *run {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.IsTerminal == nil {
		env.IsTerminal = isTerminal
	}
	if env.Location == nil {
		env.Location = time.Local
	}
	return &run{env: env, stdout: env.Stdout, stderr: env.Stderr, eps: env.Endpoints,
		tree: buildTree(env.Endpoints), opts: defaultOpts()}
}

// Main runs one command line and returns the exit status. The tool is
// the base name of argv[0] (pvesh, qm, …, when called through a link), or
// argv[1] when argv[0] is hearth itself. `hearth daemon` is not handled
// here. Cancelling ctx (Ctrl-C) stops waiting; a followed task keeps
// running.
func Main(ctx context.Context, argv []string, env Env) int {
	r := newRun(env)
	defer r.close()
	tools := Tools(r.eps)
	name := ""
	if len(argv) > 0 {
		name = filepath.Base(argv[0])
	}
	if isTool(tools, name) {
		return r.runTool(ctx, name, argv[1:])
	}
	args, err := parseLeading(argv[min(1, len(argv)):], &r.opts)
	if err != nil {
		return r.usageError(err.Error(), r.hearthUsage)
	}
	if len(args) == 0 {
		if r.opts.help {
			r.hearthUsage(r.stdout)
			return exitOK
		}
		return r.usageError("no tool given", r.hearthUsage)
	}
	switch args[0] {
	case "help":
		if len(args) > 1 && isTool(tools, args[1]) {
			return r.runTool(ctx, args[1], append([]string{"help"}, args[2:]...))
		}
		r.hearthUsage(r.stdout)
		return exitOK
	case "tools":
		for _, t := range tools {
			fmt.Fprintln(r.stdout, t)
		}
		return exitOK
	case "completion":
		if len(args) != 2 || args[1] != "bash" {
			return r.usageError("usage: hearth completion bash", nil)
		}
		fmt.Fprint(r.stdout, bashCompletion(tools))
		return exitOK
	case "__complete":
		r.complete(ctx, args[1:])
		return exitOK
	case "gen-man":
		if len(args) != 2 {
			return r.usageError("usage: hearth gen-man DIR", nil)
		}
		if err := writeManPages(args[1], r.eps); err != nil {
			fmt.Fprintln(r.stderr, err)
			return exitFail
		}
		return exitOK
	}
	if !isTool(tools, args[0]) {
		return r.usageError(fmt.Sprintf("unknown tool '%s'", args[0]), r.hearthUsage)
	}
	return r.runTool(ctx, args[0], args[1:])
}

func isTool(tools []string, name string) bool {
	for _, t := range tools {
		if t == name {
			return true
		}
	}
	return false
}

func (r *run) close() {
	if c, ok := r.client.(io.Closer); ok {
		c.Close()
	}
}

// usageError prints msg and, when given, a usage text on stderr.
func (r *run) usageError(msg string, usage func(w io.Writer)) int {
	fmt.Fprintln(r.stderr, msg)
	if usage != nil {
		fmt.Fprintln(r.stderr)
		usage(r.stderr)
	}
	return exitUsage
}

func (r *run) hearthUsage(w io.Writer) {
	fmt.Fprintln(w, "USAGE: hearth <tool> [ARGS] [OPTIONS]")
	fmt.Fprintln(w, "       hearth daemon [OPTIONS]")
	fmt.Fprintln(w, "       hearth help [<tool> [<command>]]")
	fmt.Fprintln(w, "       hearth completion bash | gen-man DIR | tools")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Tools (also callable by their own name through a link to hearth):")
	for _, t := range Tools(r.eps) {
		fmt.Fprintf(w, "  %-12s %s\n", t, toolSummary(t))
	}
}

// fail prints an error the way PVE's tools do and returns the status.
func (r *run) fail(err error) int {
	if err == nil {
		return exitOK
	}
	msg := err.Error()
	if errors.Is(err, context.Canceled) {
		msg = "interrupted"
	}
	fmt.Fprintln(r.stderr, strings.TrimRight(msg, "\n"))
	return exitFail
}

// connect creates the client from the options and the environment, once.
func (r *run) connect(ctx context.Context) (Client, error) {
	if r.client != nil {
		return r.client, nil
	}
	g := r.opts
	if g.host == "" {
		if g.user != "" || g.token != "" || g.passwordFile != "" {
			return nil, errors.New("--user, --token and --password-file need --host; the local socket needs no login")
		}
		sock := g.socket
		if sock == "" {
			sock = r.env.Getenv("HEARTH_SOCKET")
		}
		if sock == "" {
			sock = DefaultSocket
		}
		r.client = NewSocketClient(sock)
		return r.client, nil
	}
	auth := RemoteAuth{Token: g.token}
	if auth.Token == "" && g.user == "" {
		auth.Token = r.env.Getenv("HEARTH_TOKEN")
	}
	if auth.Token == "" {
		if g.user == "" {
			return nil, errors.New("--host needs --user (with a password) or --token (or HEARTH_TOKEN)")
		}
		pw, err := r.password(g.user)
		if err != nil {
			return nil, err
		}
		auth.User, auth.Password = g.user, pw
	}
	c, err := NewRemoteClient(ctx, g.host, g.port, TLSOptions{Fingerprint: g.fingerprint, CAFile: g.caFile}, auth)
	if err != nil {
		return nil, err
	}
	r.client = c
	return c, nil
}

// password finds the password of a remote login: a file, the
// environment, or a prompt on the terminal.
func (r *run) password(user string) (string, error) {
	if f := r.opts.passwordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading the password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSuffix(line, "\r"), nil
	}
	if pw := r.env.Getenv("HEARTH_PASSWORD"); pw != "" {
		return pw, nil
	}
	f, ok := r.env.Stdin.(*os.File)
	if !ok || r.noPrompt || !r.env.IsTerminal(r.env.Stdin) {
		return "", errors.New("no password: use --password-file, HEARTH_PASSWORD or a terminal")
	}
	fmt.Fprintf(r.stderr, "Password for %s: ", user)
	pw, err := readSecret(f)
	fmt.Fprintln(r.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return pw, nil
}

// localNode finds the name of the node the CLI talks to: the row of
// GET /cluster/status marked local, or the only entry of GET /nodes on a
// node that is not clustered (or that cannot say).
func (r *run) localNode(ctx context.Context) (string, error) {
	if r.node != "" {
		return r.node, nil
	}
	c, err := r.connect(ctx)
	if err != nil {
		return "", err
	}
	var rows []map[string]any
	if res, err := c.Do(ctx, "GET", "/cluster/status", nil); err == nil && json.Unmarshal(res.Data, &rows) == nil {
		for _, row := range rows {
			if row["type"] == "node" && truthy(row["local"]) {
				if name, _ := row["name"].(string); name != "" {
					r.node = name
					return name, nil
				}
			}
		}
	} else if errors.Is(err, context.Canceled) {
		return "", err
	}
	res, err := c.Do(ctx, "GET", "/nodes", nil)
	if err != nil {
		return "", fmt.Errorf("finding the local node: %w", err)
	}
	rows = nil
	if err := json.Unmarshal(res.Data, &rows); err != nil || len(rows) != 1 {
		return "", errors.New("cannot tell which node this is: /cluster/status marks none as local and /nodes lists more than one")
	}
	name, _ := rows[0]["node"].(string)
	if name == "" {
		return "", errors.New("finding the local node: /nodes lists a node without a name")
	}
	r.node = name
	return name, nil
}

// truthy reads the 0/1 (or true/false) flags of JSON answers.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case json.Number:
		return x != "0" && x != ""
	case string:
		return x == "1" || x == "true"
	}
	return false
}
