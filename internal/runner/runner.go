// Package runner is the one way Hearth runs host tools (qemu-img, btrfs,
// lvm, zfs, iscsiadm, rbd, mount, ...). Drivers build a Cmd and hand it to
// a Runner; the daemon passes the real Exec, and unit tests pass a
// Recorder that answers with fixtures taken from the real tools, so a
// driver's exact command plan can be tested on machines without the tool
// or the hardware behind it.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Cmd is one command line.
type Cmd struct {
	Name string   // the program, looked up in PATH
	Args []string // arguments after the program name
	// Stdin feeds the command's standard input; nil means none.
	Stdin io.Reader
	// Stdout receives the standard output as it is produced (streams such
	// as exports); nil means it is collected into Result.Stdout.
	Stdout io.Writer
	// Env adds variables to the daemon's environment.
	Env []string
}

// String renders the command line for logs and error messages, quoting
// arguments that need it.
func (c Cmd) String() string {
	parts := make([]string, 0, len(c.Args)+1)
	parts = append(parts, quote(c.Name))
	for _, a := range c.Args {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}

func quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// Result is what a finished command printed.
type Result struct {
	Stdout []byte
	Stderr []byte
}

// Runner runs commands.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// ExitError is a command that ran and failed. Its message names the
// command and carries the tool's own complaint, so that a user reading a
// task log sees why, not just "exit status 1".
type ExitError struct {
	Cmd    string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("command '%s' failed: exit code %d", e.Cmd, e.Code)
	}
	return fmt.Sprintf("command '%s' failed: exit code %d: %s", e.Cmd, e.Code, msg)
}

// waitDelay is how long Run waits for the pipes once the command has
// exited or its context has ended.
const waitDelay = 3 * time.Second

// Exec runs commands on this host.
type Exec struct{}

// Run starts the command and waits for it. A command that cannot be
// started (not installed) fails with an error naming the program.
func (Exec) Run(ctx context.Context, c Cmd) (Result, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	var out, errb bytes.Buffer
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	} else {
		cmd.Stdout = &out
	}
	// Tools print progress on stderr; keep only the tail for messages.
	cmd.Stderr = &tailWriter{buf: &errb, max: 64 << 10}
	// A descendant still holding the output (a daemon the tool started,
	// a child outliving a cancelled command) must not keep Run waiting.
	// Not for streams: closing the pipe early could cut off the end of
	// the output while a slow reader still takes it.
	if c.Stdout == nil {
		cmd.WaitDelay = waitDelay
	}
	err := cmd.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	if err == nil || (errors.Is(err, exec.ErrWaitDelay) && ctx.Err() == nil) {
		// ErrWaitDelay: the command itself exited successfully.
		return res, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil {
			return res, fmt.Errorf("command '%s' interrupted: %w", c, ctx.Err())
		}
		return res, &ExitError{Cmd: c.String(), Code: ee.ExitCode(), Stderr: errb.String()}
	}
	if errors.Is(err, exec.ErrNotFound) {
		return res, fmt.Errorf("command '%s' is not installed on this node: %w", c.Name, err)
	}
	return res, fmt.Errorf("command '%s': %w", c, err)
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	buf *bytes.Buffer
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}
