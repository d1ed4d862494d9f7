package runner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Recorder is a Runner for tests: it records every command and answers
// from a list of expectations, matched in order of registration by the
// full command line. A command with no matching expectation fails the
// way a missing tool would, so an unplanned command never passes
// silently.
type Recorder struct {
	mu      sync.Mutex
	calls   []Cmd
	answers []answer
}

type answer struct {
	line   string // exact command line, as Cmd.String renders it
	prefix bool   // match line as a prefix instead
	res    Result
	err    error
	stdin  *[]byte // captures the input the command was given
	times  int     // 0 = any number of times
	used   int
}

// On registers an answer for an exact command line (Cmd.String form).
func (r *Recorder) On(line string, stdout string) *Recorder {
	return r.add(answer{line: line, res: Result{Stdout: []byte(stdout)}})
}

// OnPrefix answers every command whose line starts with prefix.
func (r *Recorder) OnPrefix(prefix string, stdout string) *Recorder {
	return r.add(answer{line: prefix, prefix: true, res: Result{Stdout: []byte(stdout)}})
}

// Fail makes the exact command line fail with the given exit code and
// standard error, as the real tool would.
func (r *Recorder) Fail(line string, code int, stderr string) *Recorder {
	return r.add(answer{line: line, err: &ExitError{Cmd: line, Code: code, Stderr: stderr}, res: Result{Stderr: []byte(stderr)}})
}

// Capture answers an exact command line and stores what it read from stdin.
func (r *Recorder) Capture(line string, stdout string, into *[]byte) *Recorder {
	return r.add(answer{line: line, res: Result{Stdout: []byte(stdout)}, stdin: into})
}

func (r *Recorder) add(a answer) *Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, a)
	return r
}

// Run records c and answers it.
func (r *Recorder) Run(_ context.Context, c Cmd) (Result, error) {
	line := c.String()
	r.mu.Lock()
	r.calls = append(r.calls, c)
	var match *answer
	for i := range r.answers {
		a := &r.answers[i]
		if (a.line == line || (a.prefix && strings.HasPrefix(line, a.line))) && (a.times == 0 || a.used < a.times) {
			match = a
			a.used++
			break
		}
	}
	r.mu.Unlock()
	if match == nil {
		return Result{}, fmt.Errorf("runner.Recorder: unexpected command '%s'", line)
	}
	if c.Stdin != nil {
		data, err := io.ReadAll(c.Stdin)
		if err != nil {
			return Result{}, err
		}
		if match.stdin != nil {
			*match.stdin = data
		}
	}
	if c.Stdout != nil && len(match.res.Stdout) > 0 {
		if _, err := c.Stdout.Write(match.res.Stdout); err != nil {
			return Result{}, err
		}
		return Result{Stderr: match.res.Stderr}, match.err
	}
	return match.res, match.err
}

// Lines returns the command lines run so far, in order.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.String()
	}
	return out
}

// Reset forgets recorded calls (answers stay).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}
