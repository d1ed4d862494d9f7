package ct

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hearth-virt/hearth/api"
)

// lxcArgv is the command line of one of LXC's tools on a container, run
// in the network namespace the containers started in (see lxc), for the
// tools that run on a terminal or stream rather than through the runner.
func (s *Service) lxcArgv(tool string, vmid int, args ...string) []string {
	argv := append([]string{tool, "-n", strconv.Itoa(vmid), "-P", s.o.LXCPath}, args...)
	if s.o.NetNS != "" {
		argv = append([]string{"nsenter", "--net=" + s.o.NetNS, "--"}, argv...)
	}
	return argv
}

// procRoot is the root directory of a running container as its init
// sees it: its mount namespace, mount points included.
func procRoot(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/root" }

// execCT runs a command in a running container (`pct exec`) and waits
// for its end.
func (s *Service) execCT(ctx context.Context, _ *api.Call, in *api.CTExecParams) (api.CTExecResult, error) {
	if len(in.Command) == 0 || in.Command[0] == "" {
		return api.CTExecResult{}, api.ParamError("command", "give at least the program to run")
	}
	if len(in.InputData) > api.CTExecInputMax {
		return api.CTExecResult{}, api.ParamError("input-data", "%d bytes is more than the %d allowed", len(in.InputData), api.CTExecInputMax)
	}
	if err := s.exists(in.VMID); err != nil {
		return api.CTExecResult{}, err
	}
	if _, ok := s.running(in.VMID); !ok {
		return api.CTExecResult{}, errNotRunning(in.VMID)
	}
	// HOME is the one variable besides the PATH lxc-attach sets that
	// many programs cannot do without.
	argv := s.lxcArgv("lxc-attach", in.VMID, append([]string{"--clear-env", "--set-var", "HOME=/root", "--"}, in.Command...)...)
	res, err := runCapped(ctx, argv, in.InputData, seconds(in.Timeout), api.CTExecOutputMax)
	if errors.Is(err, errExecTimeout) {
		return res, api.Errorf(http.StatusInternalServerError, "CT %d: '%s' did not end within %d seconds and was killed",
			in.VMID, strings.Join(in.Command, " "), in.Timeout)
	}
	return res, err
}

var errExecTimeout = errors.New("timed out")

// execKillDelay bounds the wait for the output pipes once the command
// was killed or has exited, in case something it started holds them.
const execKillDelay = 2 * time.Second

// runCapped runs argv with input on its standard input and returns its
// exit code and output, each stream cut at max bytes (the rest is read
// and dropped, so the command never blocks on a full pipe). A timeout
// above zero kills the command's whole process group: lxc-attach leaves
// the program in the container running when it is killed alone, but the
// program stays in its process group.
func runCapped(ctx context.Context, argv []string, input string, timeout time.Duration, max int) (api.CTExecResult, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Cancel runs before the command is reaped, so the group id is still
	// the command's own.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = execKillDelay
	cmd.Stdin = strings.NewReader(input)
	out, errOut := &capWriter{max: max}, &capWriter{max: max}
	cmd.Stdout, cmd.Stderr = out, errOut
	err := cmd.Run()
	res := api.CTExecResult{OutData: string(out.buf), ErrData: string(errOut.buf),
		OutTruncated: out.truncated, ErrTruncated: errOut.truncated}
	if err != nil && ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && timeout > 0 {
			return res, errExecTimeout
		}
		return res, ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		// ErrWaitDelay is a command that exited well while something it
		// started kept the pipes; any other error, one that never ran.
		return res, fmt.Errorf("running %s: %w", argv[0], err)
	}
	res.ExitCode = exitCode(cmd.ProcessState)
	return res, nil
}

// exitCode is the shell's view of how a process ended: its exit status,
// or 128 plus the number of the signal that killed it.
func exitCode(ps interface{ Sys() any }) int {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return -1
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// capWriter keeps the first max bytes written to it and notes whether
// more came.
type capWriter struct {
	buf       []byte
	max       int
	truncated bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	room := w.max - len(w.buf)
	if len(p) > room {
		w.buf = append(w.buf, p[:max(room, 0)]...)
		w.truncated = true
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}
