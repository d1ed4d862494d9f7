package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
)

// runPaths names the runtime files of one VM. They live in the node's
// run directory (/run/hearth/qemu), so a reboot clears them, and they
// outlive the daemon: a restarted daemon finds its VMs through them.
type runPaths struct {
	dir  string
	vmid int
}

func (p runPaths) file(suffix string) string {
	return filepath.Join(p.dir, strconv.Itoa(p.vmid)+suffix)
}

func (p runPaths) pid() string { return p.file(".pid") }
func (p runPaths) qmp() string { return p.file(".qmp") }
func (p runPaths) vnc() string { return p.file(".vnc") }
func (p runPaths) qga() string { return p.file(".qga") }
func (p runPaths) serial(n int) string {
	return p.file(".serial" + strconv.Itoa(n))
}
func (p runPaths) tpm() string    { return p.file(".swtpm") }
func (p runPaths) tpmPid() string { return p.file(".swtpm.pid") }

// launch runs QEMU with -daemonize: the first process exits once the
// guest is set up (or failed to), leaving the VM running on its own,
// re-parented to init. A daemon restart therefore never takes VMs down.
// Errors QEMU prints before it daemonizes come back in the error.
func launch(ctx context.Context, run runner.Runner, netns string, argv []string, pidfile string) (int, error) {
	name, args := argv[0], argv[1:]
	if netns != "" {
		// Test nodes live in a network namespace of their own; the taps
		// QEMU creates must appear there.
		args = append([]string{"--net=" + netns, "--", name}, args...)
		name = "nsenter"
	}
	if _, err := run.Run(ctx, runner.Cmd{Name: name, Args: args}); err != nil {
		var ee *runner.ExitError
		if errors.As(err, &ee) && strings.TrimSpace(ee.Stderr) != "" {
			return 0, fmt.Errorf("QEMU failed to start: %s", strings.TrimSpace(ee.Stderr))
		}
		return 0, fmt.Errorf("QEMU failed to start: %w", err)
	}
	pid, err := readPID(pidfile)
	if err != nil {
		return 0, fmt.Errorf("QEMU started but left no usable pid file: %w", err)
	}
	return pid, nil
}

// readPID reads a pid file QEMU or swtpm wrote.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: not a process id: %q", path, strings.TrimSpace(string(data)))
	}
	return pid, nil
}

// alive reports whether pid is still the process that wrote pidfile:
// after a crash and a reboot the number may belong to something else,
// so the command line must name the same pid file.
func alive(pid int, pidfile string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(cmdline, []byte{0}) {
		if string(arg) == pidfile {
			return !zombie(pid)
		}
	}
	return false
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses and
	// may itself contain spaces or parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// running returns the pid of the VM's QEMU if it runs.
func (p runPaths) running() (int, bool) {
	pid, err := readPID(p.pid())
	if err != nil || !alive(pid, p.pid()) {
		return 0, false
	}
	return pid, true
}

// waitExit waits until pid has exited or ctx ends. A pidfd tells the
// exit of a process that is not our child without polling /proc.
func waitExit(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return waitExitPolling(ctx, pid)
	}
	defer unix.Close(fd)
	for {
		ms := 200
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < 200*time.Millisecond {
				ms = max(int(left/time.Millisecond), 0)
			}
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if n > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitExitPolling is the fallback for kernels without pidfd_open.
func waitExitPolling(ctx context.Context, pid int) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) || zombie(pid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// kill ends pid with SIGKILL and waits for it to be gone.
func kill(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return waitExit(ctx, pid)
}

// procStart returns the start time of pid in clock ticks since boot
// (field 22 of /proc/<pid>/stat), for the uptime of a VM.
func procStart(pid int) (uint64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is the state (field 3); the start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
