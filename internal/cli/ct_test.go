package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// The pct commands that are more than one call, against fakes of the
// real container declarations.

// ctFiles are the files the fake containers hold, by path: content and
// mode as the pull call answers them.
var ctFiles = map[string]struct{ content, mode string }{
	"/etc/hostname": {"ct100\n", "0640"},
	"/usr/bin/su":   {"\x7fELF\x00binary", "4755"},
	"/etc/damaged":  {"short", "0644"},
}

// ctRoutes serves exec, push, pull and create. exec runs nothing: it
// answers with what it was asked, "exit N" ends with N, "flood" marks
// both streams truncated.
func ctRoutes(f *fixture) []api.Route {
	return []api.Route{
		api.CTExec.Handle(func(_ context.Context, _ *api.Call, in *api.CTExecParams) (api.CTExecResult, error) {
			f.record("exec %s/%d %q input=%q", in.Node, in.VMID, in.Command, in.InputData)
			res := api.CTExecResult{OutData: "out:" + strings.Join(in.Command, " "), ErrData: "err:" + in.InputData}
			if len(in.Command) == 2 && in.Command[0] == "exit" {
				res.ExitCode, _ = strconv.Atoi(in.Command[1])
			}
			if in.Command[0] == "flood" {
				res.OutTruncated, res.ErrTruncated = true, true
			}
			return res, nil
		}),
		api.CTPull.Handle(func(_ context.Context, _ *api.Call, in *api.CTPullParams) (api.CTFile, error) {
			f.record("pull %s/%d %s", in.Node, in.VMID, in.Path)
			file, ok := ctFiles[in.Path]
			if !ok {
				return api.CTFile{}, api.Errorf(500, "no file %s in the container", in.Path)
			}
			size := int64(len(file.content))
			if in.Path == "/etc/damaged" {
				size++
			}
			return api.CTFile{Content: base64.StdEncoding.EncodeToString([]byte(file.content)), Size: size, Mode: file.mode}, nil
		}),
		api.CTPush.Handle(func(_ context.Context, c *api.Call, in *api.CTPushParams) (any, error) {
			var content []byte
			if c.Upload != nil {
				content, _ = io.ReadAll(c.Upload)
			}
			f.record("push %s/%d %s file=%s perms=%s content=%q", in.Node, in.VMID, in.Path, in.File, in.Perms, content)
			return nil, nil
		}),
		api.CTCreate.Handle(func(_ context.Context, _ *api.Call, in *api.CTCreateParams) (api.Task, error) {
			f.record("create %s/%d %s restore=%v keys=%q", in.Node, in.VMID, in.OSTemplate, in.Restore, in.SSHPublicKeys)
			return api.Task{Type: "vzcreate", ID: strconv.Itoa(in.VMID), Run: func(context.Context, api.TaskLog) error { return nil }}, nil
		}),
	}
}

func newCTFixture(t *testing.T) *fixture {
	return newFixture(t, fixtureOpts{routes: ctRoutes})
}

func TestPctCommandsSendWhatTheCommandLineSays(t *testing.T) {
	f := newCTFixture(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.pub")
	if err := os.WriteFile(keys, []byte("ssh-ed25519 AAAAC3 me@host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "motd")
	if err := os.WriteFile(local, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		argv  []string
		stdin string
		code  int
		call  string // what the server saw; "" for nothing
		out   string
		err   []string
	}{
		{argv: []string{"pct", "exec", "100", "--", "ls", "-l", "/"},
			call: `exec n1/100 ["ls" "-l" "/"] input=""`, out: "out:ls -l /", err: []string{"err:"}},
		{argv: []string{"pct", "exec", "100", "--pass-stdin", "1", "--", "cat"}, stdin: "some input",
			call: `exec n1/100 ["cat"] input="some input"`, out: "out:cat", err: []string{"err:some input"}},
		// Without --pass-stdin the input stays here.
		{argv: []string{"pct", "exec", "100", "--", "cat"}, stdin: "kept",
			call: `exec n1/100 ["cat"] input=""`, out: "out:cat"},
		{argv: []string{"pct", "exec", "100", "--pass-stdin", "--", "cat"}, stdin: strings.Repeat("x", api.CTExecInputMax+1),
			code: 1, err: []string{"standard input is larger than the 64 KiB"}},
		{argv: []string{"pct", "exec", "100"}, code: 1, err: []string{"command: required parameter is missing", "USAGE: pct exec"}},
		{argv: []string{"pct", "pull", "100", "/etc/hostname", filepath.Join(dir, "x"), "--perms", "0600"},
			call: "pull n1/100 /etc/hostname"},
		{argv: []string{"pct", "pull", "100", "/etc/hostname"}, code: 1,
			err: []string{"destination: required parameter is missing", "USAGE: pct pull <vmid> <path> <destination>"}},
		{argv: []string{"pct", "pull", "100", "/etc/hostname", filepath.Join(dir, "x"), "--destination", "/tmp/y"}, code: 1,
			err: []string{"destination: given as an argument and again as an option"}},
		{argv: []string{"pct", "pull", "100", "/etc/hostname", filepath.Join(dir, "x"), "--perms", "999"}, code: 1,
			err: []string{`perms: "999" does not match`}},
		{argv: []string{"pct", "pull", "100", "/etc/hostname", filepath.Join(dir, "x"), "--user", "no-such-user-here"}, code: 1,
			err: []string{`--user: no user "no-such-user-here" on this machine`}},
		{argv: []string{"pct", "pull", "100", "/etc/hostname", filepath.Join(dir, "nodir", "x")}, code: 1,
			err: []string{"directory " + filepath.Join(dir, "nodir") + " does not exist"}},
		{argv: []string{"pct", "push", "100", local, "/etc/motd", "--perms", "644"},
			call: `push n1/100 /etc/motd file=motd perms=644 content="hello\n"`},
		{argv: []string{"pct", "push", "100", filepath.Join(dir, "missing"), "/etc/motd"}, code: 1,
			err: []string{"file: no local file " + filepath.Join(dir, "missing")}},
		{argv: []string{"pct", "push", "100", dir, "/etc/motd"}, code: 1,
			err: []string{"file: " + dir + " is not a regular file"}},
		{argv: []string{"pct", "create", "100", "local:vztmpl/t.tar.zst", "--ssh-public-keys", keys, "--wait", "0"},
			call: `create n1/100 local:vztmpl/t.tar.zst restore=false keys="ssh-ed25519 AAAAC3 me@host\n"`},
		{argv: []string{"pct", "restore", "100", "local:backup/b.tar", "--ssh-public-keys", keys, "--wait", "0"},
			call: `create n1/100 local:backup/b.tar restore=true keys="ssh-ed25519 AAAAC3 me@host\n"`},
		{argv: []string{"pct", "create", "100", "local:vztmpl/t.tar.zst", "--ssh-public-keys", filepath.Join(dir, "nokeys")}, code: 1,
			err: []string{"--ssh-public-keys: no local file " + filepath.Join(dir, "nokeys")}},
	}
	for _, c := range cases {
		before := len(f.recorded())
		r := f.runWith(cliOpts{stdin: strings.NewReader(c.stdin)}, c.argv...)
		if r.code != c.code {
			t.Errorf("%q: exit %d, want %d\nstdout %q\nstderr %q", c.argv, r.code, c.code, r.out, r.err)
		}
		calls := f.recorded()[before:]
		if c.call == "" && len(calls) != 0 {
			t.Errorf("%q: the server was called: %q", c.argv, calls)
		}
		if c.call != "" && !slices.Equal(calls, []string{c.call}) {
			t.Errorf("%q: server saw %q, want %q", c.argv, calls, c.call)
		}
		if c.code == 0 && r.out != c.out && !slices.Contains(c.argv, "--wait") {
			t.Errorf("%q: stdout %q, want %q", c.argv, r.out, c.out)
		}
		for _, s := range c.err {
			if !strings.Contains(r.err, s) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.argv, s, r.err)
			}
		}
	}
}

func TestPctExecEndsWithTheCommandsExitCode(t *testing.T) {
	f := newCTFixture(t)
	for _, code := range []int{0, 1, 3, 42, 255} {
		r := f.run("pct", "exec", "100", "--", "exit", strconv.Itoa(code))
		if r.code != code {
			t.Errorf("exit %d: pct ended with %d (stderr %q)", code, r.code, r.err)
		}
		// The streams are written as they are, without a newline added.
		if want := "out:exit " + strconv.Itoa(code); r.out != want || r.err != "err:" {
			t.Errorf("exit %d: stdout %q stderr %q", code, r.out, r.err)
		}
	}
	r := f.run("pct", "exec", "100", "--", "flood")
	expectCode(t, r, 0)
	for _, s := range []string{"standard output; the rest was dropped", "standard error; the rest was dropped"} {
		if !strings.Contains(r.err, s) {
			t.Errorf("flood: stderr lacks %q:\n%s", s, r.err)
		}
	}
}

func TestPctPullWritesTheFileWithItsMode(t *testing.T) {
	f := newCTFixture(t)
	dir := t.TempDir()
	uid, gid := strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	cases := []struct {
		args    []string
		dest    string // the file written, relative to dir
		content string
		mode    os.FileMode
	}{
		// The container's mode, by default.
		{[]string{"/etc/hostname", "a"}, "a", "ct100\n", 0o640},
		{[]string{"/etc/hostname", "b", "--perms", "0600"}, "b", "ct100\n", 0o600},
		{[]string{"/etc/hostname", "c", "--perms", "0x1a4", "--user", uid, "--group", gid}, "c", "ct100\n", 0o644},
		// A set-id bit of the container's file is not carried over…
		{[]string{"/usr/bin/su", "d"}, "d", "\x7fELF\x00binary", 0o755},
		// …unless asked for.
		{[]string{"/usr/bin/su", "e", "--perms", "4750"}, "e", "\x7fELF\x00binary", 0o750 | os.ModeSetuid},
		// A directory takes the file under its name in the container.
		{[]string{"/etc/hostname", "."}, "hostname", "ct100\n", 0o640},
	}
	for _, c := range cases {
		argv := append([]string{"pct", "pull", "100", c.args[0], filepath.Join(dir, c.args[1])}, c.args[2:]...)
		r := f.run(argv...)
		expectCode(t, r, 0)
		path := filepath.Join(dir, c.dest)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		fi, _ := os.Stat(path)
		if string(b) != c.content || fi.Mode() != c.mode {
			t.Errorf("%q: wrote %q with mode %v, want %q %v", c.args, b, fi.Mode(), c.content, c.mode)
		}
	}
	// A damaged answer writes nothing.
	r := f.run("pct", "pull", "100", "/etc/damaged", filepath.Join(dir, "damaged"))
	expectCode(t, r, 1)
	if !strings.Contains(r.err, "damaged") {
		t.Errorf("damaged answer: %q", r.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "damaged")); !os.IsNotExist(err) {
		t.Errorf("a damaged answer left a file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestParsePerms(t *testing.T) {
	cases := []struct {
		in   string
		mode os.FileMode
		err  bool
	}{
		{"644", 0o644, false},
		{"0600", 0o600, false},
		{"0x1a4", 0o644, false},
		{"0X1FF", 0o777, false},
		{"4755", 0o755 | os.ModeSetuid, false},
		{"2775", 0o775 | os.ModeSetgid, false},
		{"1777", 0o777 | os.ModeSticky, false},
		{"7777", 0o777 | os.ModeSetuid | os.ModeSetgid | os.ModeSticky, false},
		{"0xffff", 0, true},
		{"999", 0, true},
		{"", 0, true},
		{"rw-r--r--", 0, true},
	}
	for _, c := range cases {
		m, err := parsePerms(c.in)
		if (err != nil) != c.err || (err == nil && m != c.mode) {
			t.Errorf("parsePerms(%q) = %v, %v; want %v (error %v)", c.in, m, err, c.mode, c.err)
		}
	}
}

// FuzzParsePerms checks that accepted permission bits survive a round
// trip through their octal form, and never go beyond 07777.
func FuzzParsePerms(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parsePerms(s)
		if err != nil {
			return
		}
		bits := uint32(m.Perm())
		if m&os.ModeSetuid != 0 {
			bits |= 0o4000
		}
		if m&os.ModeSetgid != 0 {
			bits |= 0o2000
		}
		if m&os.ModeSticky != 0 {
			bits |= 0o1000
		}
		if m&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			t.Fatalf("parsePerms(%q) = %v: bits beyond permissions", s, m)
		}
		again, err := parsePerms(fmt.Sprintf("%o", bits))
		if err != nil || again != m {
			t.Fatalf("parsePerms(%q) = %v, but its octal form %o gives %v, %v", s, m, bits, again, err)
		}
	})
}

func TestTerminalBanner(t *testing.T) {
	cases := []struct {
		path string
		sent schema.Raw
		want string
	}{
		{"/nodes/n1/lxc/100/termproxy", schema.Raw{"mode": {"console"}}, "attaching to the console of CT 100"},
		{"/nodes/n1/lxc/100/termproxy", nil, "attaching to the console of CT 100"},
		{"/nodes/n1/lxc/101/termproxy", schema.Raw{"mode": {"enter"}}, "starting a root shell in CT 101"},
		{"/nodes/n1/qemu/200/termproxy", nil, "starting serial terminal of VM 200"},
		{"/nodes/n1/qemu/200/termproxy", schema.Raw{"serial": {"serial1"}}, "starting serial terminal of VM 200 on serial1"},
	}
	for _, c := range cases {
		if got := terminalBanner(c.path, c.sent); got != c.want {
			t.Errorf("terminalBanner(%q, %v) = %q, want %q", c.path, c.sent, got, c.want)
		}
	}
}

// TestPctAndPveamHelpGolden pins the generated usage of the container
// tools, local options and file parameters included.
func TestPctAndPveamHelpGolden(t *testing.T) {
	eps := api.All()
	for _, argv := range [][]string{
		{"pct", "help"}, {"pct", "help", "exec"}, {"pct", "help", "pull"}, {"pct", "help", "push"},
		{"pct", "help", "enter"}, {"pveam", "help"}, {"pveam", "help", "download"},
	} {
		r := runMain(t, eps, nil, cliOpts{}, argv...)
		expectCode(t, r, 0)
		golden(t, filepath.Join("help", strings.Join(argv, "_")+".txt"), r.out)
	}
	r := runMain(t, eps, nil, cliOpts{}, "pct", "help", "create")
	expectCode(t, r, 0)
	if !strings.Contains(r.out, "--ssh-public-keys <filepath>\n") {
		t.Errorf("pct help create does not show --ssh-public-keys as a file:\n%s", r.out)
	}
}

func TestPctCompletion(t *testing.T) {
	f := newCTFixture(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "id.pub"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	globals := globalOptionNames()
	cases := []struct {
		words []string
		want  []string
	}{
		// Local options are offered with the parameters (--user is also a
		// global option); the positional destination is not.
		{[]string{"pct", "pull", "100", "/etc/hostname", "/tmp/x", "--"}, append([]string{"--group", "--perms"}, globals...)},
		{[]string{"pct", "exec", "100", "--pass-stdin", ""}, []string{"0", "1"}},
		{[]string{"pct", "exec", "100", "--p"}, []string{"--pass-stdin", "--password-file", "--port"}},
		{[]string{"pct", "create", "100", "local:vztmpl/t.tar.zst", "--ssh-public-keys", dir + "/i"}, []string{dir + "/id.pub"}},
		{[]string{"pct", "push", "100", dir + "/"}, []string{dir + "/id.pub"}},
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
