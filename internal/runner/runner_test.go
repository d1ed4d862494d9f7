package runner

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func needSh(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on this machine")
	}
}

func TestExecReportsExitCodeAndStderr(t *testing.T) {
	needSh(t)
	c := Cmd{Name: "sh", Args: []string{"-c", "echo out; echo err >&2; exit 3"}}
	res, err := Exec{}.Run(context.Background(), c)
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v (%T), want an *ExitError", err, err)
	}
	if ee.Code != 3 || ee.Stderr != "err\n" || ee.Cmd != c.String() {
		t.Fatalf("exit error %+v", ee)
	}
	msg := err.Error()
	for _, want := range []string{"exit code 3", ": err", "sh -c"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("result %q %q", res.Stdout, res.Stderr)
	}
}

func TestExecSucceeds(t *testing.T) {
	needSh(t)
	res, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", `printf '%s|' "$@"`, "sh", "a b", "", "it's"}})
	if err != nil {
		t.Fatal(err)
	}
	// Arguments reach the program as they are, with no shell in between.
	if string(res.Stdout) != "a b||it's|" {
		t.Fatalf("stdout %q", res.Stdout)
	}
}

func TestExecMissingProgramIsNamed(t *testing.T) {
	const name = "hearth-test-no-such-tool"
	_, err := Exec{}.Run(context.Background(), Cmd{Name: name, Args: []string{"--version"}})
	if err == nil {
		t.Fatal("a missing program ran")
	}
	if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("message %q should name %s and say it is not installed", err, name)
	}
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("%v does not wrap exec.ErrNotFound", err)
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		t.Fatal("a program that never ran has no exit code")
	}
}

func TestExecStreamsStdinToStdout(t *testing.T) {
	if _, err := exec.LookPath("cat"); err != nil {
		t.Skip("no cat on this machine")
	}
	in := strings.Repeat("stream data\n", 50000) // larger than a pipe buffer
	var out bytes.Buffer
	res, err := Exec{}.Run(context.Background(), Cmd{Name: "cat", Stdin: strings.NewReader(in), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Fatalf("streamed %d bytes, want %d", out.Len(), len(in))
	}
	if len(res.Stdout) != 0 {
		t.Fatalf("streamed output also collected: %d bytes", len(res.Stdout))
	}
}

func TestExecAddsEnvironment(t *testing.T) {
	needSh(t)
	t.Setenv("HEARTH_TEST_INHERITED", "kept")
	res, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", `printf '%s %s' "$HEARTH_TEST_ADDED" "$HEARTH_TEST_INHERITED"`},
		Env: []string{"HEARTH_TEST_ADDED=added"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "added kept" {
		t.Fatalf("stdout %q", res.Stdout)
	}
}

func TestExecStopsWhenTheContextEnds(t *testing.T) {
	needSh(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The shell waits for a child that inherits its output pipes.
	_, err := Exec{}.Run(ctx, Cmd{Name: "sh", Args: []string{"-c", "sleep 10; echo done"}})
	if took := time.Since(start); took > waitDelay+5*time.Second {
		t.Fatalf("took %v after the context ended", took)
	}
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("got %v, want an interrupted command wrapping the deadline", err)
	}
}

// A tool that starts a daemon leaves it holding the output; the tool's
// own success is what counts.
func TestExecReturnsWhenAToolLeavesADaemonBehind(t *testing.T) {
	needSh(t)
	t.Parallel()
	start := time.Now()
	res, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "sleep 10 & echo started"}})
	if took := time.Since(start); took > waitDelay+5*time.Second {
		t.Fatalf("took %v", took)
	}
	if err != nil || string(res.Stdout) != "started\n" {
		t.Fatalf("got %q, %v", res.Stdout, err)
	}
}

func TestExitErrorWithoutStderr(t *testing.T) {
	e := &ExitError{Cmd: "lvs --noheadings", Code: 5, Stderr: "  \n"}
	if got, want := e.Error(), "command 'lvs --noheadings' failed: exit code 5"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	e.Stderr = "  Volume group \"pve\" not found\n"
	if got, want := e.Error(), `command 'lvs --noheadings' failed: exit code 5: Volume group "pve" not found`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCmdStringQuotesForAShell(t *testing.T) {
	for _, tc := range []struct {
		cmd  Cmd
		want string
	}{
		{Cmd{Name: "lvs"}, "lvs"},
		{Cmd{Name: "qemu-img", Args: []string{"create", "-f", "qcow2", "/var/lib/vz/images/100/vm-100-disk-0.qcow2", "33554432K"}},
			"qemu-img create -f qcow2 /var/lib/vz/images/100/vm-100-disk-0.qcow2 33554432K"},
		{Cmd{Name: "zfs", Args: []string{"create", "-o", "volblocksize=16k", "-V", "1G", "rpool/data/vm-100-disk-0"}},
			"zfs create -o volblocksize=16k -V 1G rpool/data/vm-100-disk-0"},
		{Cmd{Name: "mount", Args: []string{"-o", "vers=4.2,soft", "192.0.2.1:/srv/pve", "/mnt/pve/nas"}},
			"mount -o vers=4.2,soft 192.0.2.1:/srv/pve /mnt/pve/nas"},
		{Cmd{Name: "echo", Args: []string{"a b"}}, "echo 'a b'"},
		{Cmd{Name: "echo", Args: []string{""}}, "echo ''"},
		{Cmd{Name: "echo", Args: []string{"it's"}}, `echo 'it'\''s'`},
		{Cmd{Name: "echo", Args: []string{"$HOME", "*.iso", "a;b", "a|b", "`x`", "~", "#c", "a\tb", "x\"y", `back\slash`}},
			`echo '$HOME' '*.iso' 'a;b' 'a|b' '` + "`x`" + `' '~' '#c' 'a	b' 'x"y' 'back\slash'`},
	} {
		if got := tc.cmd.String(); got != tc.want {
			t.Errorf("String() = %s\nwant       %s", got, tc.want)
		}
	}
}

// TestCmdStringIsReadBackByAShell feeds the rendered line to sh: it must
// see the same arguments, whatever characters they hold.
func TestCmdStringIsReadBackByAShell(t *testing.T) {
	needSh(t)
	args := []string{"plain", "", "two words", "it's", `"double"`, "$HOME", "${x}", "$(id)", "`id`", "*", "?", "[a]",
		"{a,b}", "~root", "#no comment", "a;b", "a&b", "a|b", "a>b", "a<b", "(x)", `back\slash`, "tab\there", "new\nline", "!bang", "ünï"}
	line := Cmd{Name: "printf", Args: append([]string{"%s\\0"}, args...)}.String()
	res, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", line}})
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00")
	if len(got) != len(args) {
		t.Fatalf("%s\nshell saw %q", line, got)
	}
	for i := range args {
		if got[i] != args[i] {
			t.Errorf("argument %q came back as %q", args[i], got[i])
		}
	}
}

func TestTailWriterKeepsTheEnd(t *testing.T) {
	var b bytes.Buffer
	w := &tailWriter{buf: &b, max: 10}
	for _, s := range []string{"0123", "456789", "abcdef", "XYZ"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.String() != "89abcdefXYZ"[1:] {
		t.Fatalf("kept %q", b.String())
	}
}

func TestExecKeepsTheTailOfLongStderr(t *testing.T) {
	needSh(t)
	// 100000 bytes of progress, then the complaint.
	script := `i=0; while [ $i -lt 10000 ]; do printf 'progress.\n' >&2; i=$((i+1)); done; echo 'the real error' >&2; exit 1`
	_, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", script}})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v", err)
	}
	if len(ee.Stderr) > 64<<10 || !strings.HasSuffix(ee.Stderr, "the real error\n") {
		t.Fatalf("stderr of %d bytes ending %q", len(ee.Stderr), ee.Stderr[max(0, len(ee.Stderr)-40):])
	}
}
