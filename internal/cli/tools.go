package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// toolCmd is one generated command: an endpoint placed in a tool by one
// of its CLI hints.
type toolCmd struct {
	tool  string
	words []string // the command words after the tool name; none for the tool itself
	ep    *api.Endpoint
	cmd   *api.Command
	// props are the options the command accepts (cmdProps).
	props schema.Props
}

func (c *toolCmd) name() string {
	return strings.TrimSpace(c.tool + " " + strings.Join(c.words, " "))
}

// commandsOf lists the commands of a tool, sorted by their words.
func commandsOf(eps []*api.Endpoint, tool string) []*toolCmd {
	var cmds []*toolCmd
	for _, e := range eps {
		for i := range e.CLI {
			c := &e.CLI[i]
			if c.Tool == tool {
				tc := &toolCmd{tool: tool, words: strings.Fields(c.Cmd), ep: e, cmd: c}
				tc.props = cmdProps(tc)
				cmds = append(cmds, tc)
			}
		}
	}
	sort.SliceStable(cmds, func(i, j int) bool {
		return strings.Join(cmds[i].words, " ") < strings.Join(cmds[j].words, " ")
	})
	return cmds
}

// findCommand picks the command whose words start args, the longest one
// when several do (a tool's own command has no words and matches last).
func findCommand(cmds []*toolCmd, args []string) (*toolCmd, []string) {
	var best *toolCmd
	for _, c := range cmds {
		if len(c.words) > len(args) || (best != nil && len(c.words) <= len(best.words)) {
			continue
		}
		match := true
		for i, w := range c.words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match {
			best = c
		}
	}
	if best == nil {
		return nil, args
	}
	return best, args[len(best.words):]
}

// commandsWithPrefix lists the commands whose words start with prefix.
func commandsWithPrefix(cmds []*toolCmd, prefix []string) []*toolCmd {
	var out []*toolCmd
	for _, c := range cmds {
		if len(c.words) < len(prefix) {
			continue
		}
		ok := true
		for i, w := range prefix {
			if c.words[i] != w {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

func (r *run) runTool(ctx context.Context, tool string, args []string) int {
	args, err := parseLeading(args, &r.opts)
	if err != nil {
		return r.usageError(err.Error(), nil)
	}
	cmds := commandsOf(r.eps, tool)
	if tool == "pvesh" && len(args) > 0 && isPveshBuiltin(args[0]) {
		return r.pvesh(ctx, cmds, args)
	}
	if len(args) > 0 && args[0] == "help" {
		return r.toolHelp(tool, cmds, args[1:])
	}
	c, rest := findCommand(cmds, args)
	if c == nil {
		overview := func(w io.Writer) { r.writeOverview(w, tool, cmds) }
		switch {
		case len(args) == 0 && r.opts.help:
			overview(r.stdout)
			return exitOK
		case len(args) == 0:
			return r.usageError("no command given", overview)
		}
		var words []string
		for _, a := range args {
			if strings.HasPrefix(a, "-") {
				break
			}
			words = append(words, a)
		}
		// List the commands sharing the longest known prefix of the words.
		k := len(words)
		for k > 0 && len(commandsWithPrefix(cmds, words[:k])) == 0 {
			k--
		}
		what := "unknown"
		if k > 0 && k == len(words) {
			what = "incomplete"
		}
		if k > 0 {
			sub := commandsWithPrefix(cmds, words[:k])
			overview = func(w io.Writer) { r.writeOverview(w, tool, sub) }
		}
		return r.usageError(fmt.Sprintf("%s command '%s %s'", what, tool, strings.Join(words, " ")), overview)
	}
	return r.runCommand(ctx, c, rest)
}

// runCommand maps positional arguments and options to the endpoint's
// parameters and the command's local options, fills the fixed ones and
// makes the call. Nothing is sent before every local check passed.
func (r *run) runCommand(ctx context.Context, c *toolCmd, rest []string) int {
	usage := func(w io.Writer) { fmt.Fprintln(w, "USAGE: "+cmdSynopsis(c)) }
	pos, raw, err := parseArgs(rest, c.props, &r.opts)
	if err != nil {
		return r.usageError(err.Error(), usage)
	}
	if r.opts.help {
		r.writeCmdHelp(r.stdout, c)
		return exitOK
	}
	args := c.cmd.Args
	if len(pos) > len(args) && !c.restIsArray() {
		return r.usageError(fmt.Sprintf("too many arguments: %s", strings.Join(pos[len(args):], " ")), usage)
	}
	clash := schema.Errors{}
	for i, name := range args {
		if i >= len(pos) {
			break
		}
		if _, dup := raw[name]; dup {
			clash[name] = "given as an argument and again as an option"
			continue
		}
		if i == len(args)-1 && c.restIsArray() {
			raw[name] = append([]string(nil), pos[i:]...)
		} else {
			raw[name] = []string{pos[i]}
		}
	}
	// The command's own options, given as options or as arguments, stay
	// here.
	local := schema.Raw{}
	for name, v := range raw {
		if c.isLocal(name) {
			local[name] = v
			delete(raw, name)
		}
	}
	r.local = local
	for _, name := range slices.Sorted(maps.Keys(c.cmd.Fixed)) {
		if _, dup := raw[name]; dup {
			clash[name] = "set by this command; it cannot be given"
			continue
		}
		v := c.cmd.Fixed[name]
		switch v {
		case api.LocalNode:
			if v, err = r.localNode(ctx); err != nil {
				return r.fail(err)
			}
		case api.StorageOfVolume:
			vol, _ := raw.Get("volume")
			sid, _, ok := strings.Cut(vol, ":")
			if !ok {
				continue // the server names what is missing
			}
			v = sid
		}
		raw.Set(name, v)
	}
	if len(clash) == 0 && len(c.cmd.Local) > 0 {
		_, errs := schema.DecodeParams(c.cmd.Local, local, false)
		maps.Copy(clash, errs)
	}
	if len(clash) > 0 {
		r.fail(&Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: clash})
		fmt.Fprintln(r.stderr)
		usage(r.stderr)
		return exitFail
	}
	if err := readFileParams(c, raw); err != nil {
		return r.fail(err)
	}
	if err := r.prepareClient(c.cmd, raw); err != nil {
		return r.fail(err)
	}
	if c.cmd.Client == "monitor" {
		if _, given := raw["command"]; !given {
			return r.monitorLoop(ctx, c, raw, usage)
		}
	}
	return r.call(ctx, c.ep, c.cmd, raw, usage)
}

// call validates raw against the declaration, calls the endpoint and
// prints the answer (or follows the task it started). usage, when set, is
// printed after a parameter error, as PVE's tools do.
func (r *run) call(ctx context.Context, ep *api.Endpoint, cmd *api.Command, raw schema.Raw, usage func(io.Writer)) int {
	if err := r.askSecrets(ep, raw); err != nil {
		return r.fail(err)
	}
	if _, errs := schema.DecodeParams(ep.Params, raw, ep.AllowExtra); errs != nil {
		r.fail(&Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs})
		if usage != nil {
			fmt.Fprintln(r.stderr)
			usage(r.stderr)
		}
		return exitFail
	}
	file, err := uploadFile(ep, raw)
	if err != nil {
		return r.fail(err)
	}
	path, send := fillPath(ep, raw)
	c, err := r.connect(ctx)
	if err != nil {
		return r.fail(err)
	}
	var res *Result
	if file != "" {
		up, ok := c.(Uploader)
		if !ok {
			return r.fail(fmt.Errorf("this connection cannot send files"))
		}
		res, err = up.Upload(ctx, ep.Method, path, send, ep.Upload, file)
	} else {
		res, err = c.Do(ctx, ep.Method, path, send)
	}
	if err != nil {
		return r.fail(err)
	}
	if ep.Task {
		return r.task(ctx, res.Data)
	}
	if cmd != nil && cmd.Client != "" {
		return r.clientProc(ctx, c, cmd, path, send, res.Data)
	}
	return r.fail(r.printResult(&ep.Returns, cmd, res.Data))
}

// uploadFile returns the local file to send with an upload call: the
// value of its file parameter, which must name a regular file here. An
// upload whose data a front end already put on the node (tmpfilename)
// sends the name alone.
func uploadFile(ep *api.Endpoint, params schema.Raw) (string, error) {
	if ep.Upload == "" {
		return "", nil
	}
	v, ok := params.Get(ep.Upload)
	if !ok {
		return "", nil // the parameter check names what is missing
	}
	if _, stored := params["tmpfilename"]; stored {
		return "", nil
	}
	if err := checkRegularFile(v); err != nil {
		return "", fmt.Errorf("%s: %w", ep.Upload, err)
	}
	return v, nil
}

// askSecrets fills required secret parameters (passwords) that were not
// given: typed at a terminal without echo, or read as one line from
// standard input, so that they never need to appear on a command line
// (where other users could see them in the process list).
func (r *run) askSecrets(ep *api.Endpoint, raw schema.Raw) error {
	for _, name := range ep.Params.Names() {
		s := ep.Params[name]
		if !s.Sensitive {
			continue
		}
		if _, given := raw[name]; given {
			continue
		}
		// Talking to the local node, --password-file is free for the call's
		// own password (pvecm add, pveum user add); with --host it is the
		// login's. Other optional secrets are only sent when given.
		fromFile := name == "password" && r.opts.passwordFile != "" && r.opts.host == ""
		if s.Optional && !fromFile {
			continue
		}
		if fromFile {
			b, err := os.ReadFile(r.opts.passwordFile)
			if err != nil {
				return fmt.Errorf("reading the password file: %w", err)
			}
			line, _, _ := strings.Cut(string(b), "\n")
			raw.Set(name, strings.TrimSuffix(line, "\r"))
			r.opts.passwordFile = ""
			continue
		}
		if f, ok := r.env.Stdin.(*os.File); ok && !r.noPrompt && r.env.IsTerminal(r.env.Stdin) {
			fmt.Fprintf(r.stderr, "%s (%s): ", strings.TrimSuffix(s.Description, "."), name)
			v, err := readSecret(f)
			fmt.Fprintln(r.stderr)
			if err != nil {
				return fmt.Errorf("reading %s: %w", name, err)
			}
			raw.Set(name, v)
			continue
		}
		if r.env.Stdin == nil {
			return fmt.Errorf("%s is required: give it on standard input (one line) or type it at a terminal", name)
		}
		line, err := bufio.NewReader(r.env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("%s is required: give it on standard input (one line) or type it at a terminal", name)
		}
		raw.Set(name, strings.TrimRight(line, "\r\n"))
	}
	return nil
}

// fillPath puts the path parameters into the declared path and returns
// the other parameters, which travel in the query or the body.
func fillPath(ep *api.Endpoint, raw schema.Raw) (string, schema.Raw) {
	send := schema.Raw{}
	for k, v := range raw {
		send[k] = v
	}
	segs := splitPath(ep.Path)
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			v, _ := raw.Get(name)
			// A value may hold a slash (a volume id such as
			// local:100/vm-100-disk-0.qcow2); it stays one segment.
			segs[i] = url.PathEscape(v)
			delete(send, name)
		}
	}
	return "/" + strings.Join(segs, "/"), send
}

// toolHelp answers `<tool> help [command words]`.
func (r *run) toolHelp(tool string, cmds []*toolCmd, words []string) int {
	if len(words) == 0 {
		r.writeOverview(r.stdout, tool, cmds)
		return exitOK
	}
	if tool == "pvesh" && len(words) == 1 {
		if b := pveshBuiltin(words[0]); b != nil {
			fmt.Fprintf(r.stdout, "USAGE: %s\n\n", b.synopsis)
			writeWrapped(r.stdout, "  ", b.description)
			return exitOK
		}
	}
	for _, c := range cmds {
		if strings.Join(c.words, " ") == strings.Join(words, " ") {
			r.writeCmdHelp(r.stdout, c)
			return exitOK
		}
	}
	if sub := commandsWithPrefix(cmds, words); len(sub) > 0 {
		r.writeOverview(r.stdout, tool, sub)
		return exitOK
	}
	return r.usageError(fmt.Sprintf("no command '%s %s'", tool, strings.Join(words, " ")),
		func(w io.Writer) { r.writeOverview(w, tool, cmds) })
}

// writeOverview lists the synopsis of every command of a tool.
func (r *run) writeOverview(w io.Writer, tool string, cmds []*toolCmd) {
	fmt.Fprintf(w, "USAGE: %s <COMMAND> [ARGS] [OPTIONS]\n", tool)
	if tool == "pvesh" {
		for _, b := range pveshBuiltins() {
			fmt.Fprintf(w, "       %s\n", b.synopsis)
		}
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "       %s\n", cmdSynopsis(c))
	}
	fmt.Fprintf(w, "       %s help [<command>]\n", tool)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Run '%s help <command>' for the options of a command.\n", tool)
	fmt.Fprintln(w, "FORMAT_OPTIONS: --output-format text|json|json-pretty|yaml, --noborder, --noheader,")
	fmt.Fprintln(w, "  --human-readable 0|1, --quiet.")
	fmt.Fprintln(w, "Connection: the local socket (--socket, HEARTH_SOCKET) by default; or --host H")
	fmt.Fprintln(w, "  [--port P] with --user U [--password-file F] or --token T, and --fingerprint or --ca-file.")
}

// writeCmdHelp prints the detailed usage of one command.
func (r *run) writeCmdHelp(w io.Writer, c *toolCmd) {
	fmt.Fprintf(w, "USAGE: %s\n\n", cmdSynopsis(c))
	writeWrapped(w, "  ", c.ep.Description)
	for _, name := range c.cmd.Args {
		s := c.props[name]
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  <%s>: %s%s\n", name, typeText(s), defaultText(s))
		writeWrapped(w, "        ", s.Description)
	}
	for _, name := range optionNames(c) {
		s := c.props[name]
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  --%s %s%s\n", name, typeText(s), defaultText(s))
		writeWrapped(w, "        ", paramDescription(s))
	}
	if c.ep.Task {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  --wait <boolean> (default = 1)")
		writeWrapped(w, "        ", "Follow the task and print its log until it ends; with 0, print the task id and return at once.")
	}
}

// cmdSynopsis is the one-line usage of a command, such as
// "pvenode task log <upid> [OPTIONS] [FORMAT_OPTIONS]".
func cmdSynopsis(c *toolCmd) string {
	parts := []string{c.name()}
	for _, a := range c.cmd.Args {
		s := c.props[a]
		arg := "<" + a + ">"
		if s.Type == schema.Array {
			arg = "{" + arg + "}"
		}
		if s.Optional {
			arg = "[" + arg + "]"
		}
		parts = append(parts, arg)
	}
	parts = append(parts, optionsSynopsis(c.props, optionNames(c), c.ep.Task, printsResult(c.ep, c.cmd))...)
	return strings.Join(parts, " ")
}

// optionsSynopsis shows the required options, then [OPTIONS] when there
// are optional ones (a task always has --wait) and [FORMAT_OPTIONS] when
// the call's result is printed.
func optionsSynopsis(props schema.Props, names []string, task, prints bool) []string {
	var parts []string
	optional := false
	for _, n := range names {
		s := props[n]
		if s.Optional {
			optional = true
			continue
		}
		parts = append(parts, "--"+n+" "+typeText(s))
	}
	if optional || task {
		parts = append(parts, "[OPTIONS]")
	}
	if prints {
		parts = append(parts, "[FORMAT_OPTIONS]")
	}
	return parts
}

// printsResult reports whether the format options apply: the call
// returns something and the tool prints it through the formatter, which
// commands with their own client procedure do not (but monitor).
func printsResult(ep *api.Endpoint, cmd *api.Command) bool {
	if cmd != nil && cmd.Client != "" && cmd.Client != "monitor" {
		return false
	}
	return !ep.Task && ep.Returns.Type != schema.Null && ep.Returns.Type != ""
}

// typeText is the type hint of a parameter; an array shows its item
// type, since each value is given with its own option.
func typeText(s *schema.Schema) string {
	if s.Type == schema.Array && s.Items != nil && s.TypeHint == "" {
		return s.Items.TypeText()
	}
	return s.TypeText()
}

// defaultText is " (default = x)" for parameters with a default.
func defaultText(s *schema.Schema) string {
	if s.Default == nil {
		return ""
	}
	return " (default = " + formatDefault(s.Default) + ")"
}

func formatDefault(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func paramDescription(s *schema.Schema) string {
	d := s.Description
	if s.Type == schema.Array {
		d = strings.TrimSpace(d + " Repeat the option to give several values.")
	}
	return d
}

// writeWrapped prints text word-wrapped at 80 columns with an indent.
func writeWrapped(w io.Writer, indent, text string) {
	for _, line := range wrap(text, 80-len(indent)) {
		fmt.Fprintln(w, strings.TrimRight(indent+line, " "))
	}
}

func wrap(text string, width int) []string {
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			if line != "" && len(line)+1+len(word) > width {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		lines = append(lines, line)
	}
	return lines
}

// toolSummary is the one-line description of a tool for usage texts and
// man pages.
func toolSummary(tool string) string {
	switch tool {
	case "pvesh":
		return "call any API path from the shell"
	case "pvenode":
		return "manage the local node and its tasks"
	case "pvecm":
		return "manage the cluster and its membership"
	case "pveum":
		return "manage users, groups, roles, permissions and realms"
	case "pvesm":
		return "manage storages and their content"
	case "qm":
		return "manage QEMU/KVM virtual machines"
	case "pct":
		return "manage LXC containers"
	case "pveversion":
		return "show the version of the software"
	case "vzdump":
		return "back up guests"
	case "ha-manager":
		return "manage high availability of guests"
	case "pvesr":
		return "manage storage replication of guests"
	case "pveam":
		return "manage appliance and container templates"
	case "pvesubscription":
		return "show subscription state"
	}
	return "Hearth command-line tool"
}
