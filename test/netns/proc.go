package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitDelay bounds how long Wait waits for output pipes after the process
// has exited: a grandchild that inherited stdout must not hang the test.
const waitDelay = 5 * time.Second

// killWait is how long a SIGKILLed process may take to be reaped before
// cleanup reports it (a process in D state, typically).
const killWait = 10 * time.Second

// Command returns a command that runs name inside the host's namespace.
//
// It is `ip netns exec NS name args...`: ip joins the namespace and then
// execs name in place, so the returned command's PID is the program's own
// and the command works with every exec.Cmd method (Run, Output, Start or
// Host.Start). The alternative, forking from an OS thread that did setns,
// would only work for commands started through this package. ip also
// remounts /sys for the child so that /sys/class/net shows the host's
// interfaces (the reason LXC inside a host needs cgroups mounted again).
//
// The command gets its own process group, so Process.Kill reaches its
// children too, and a WaitDelay so a child holding stdout open cannot hang
// Wait. Stdin, stdout, stderr and Env are left to the caller.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", h.NS, name}, args...)
	cmd := exec.CommandContext(ctx, h.lab.ipPath, argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = waitDelay
	return cmd
}

// Process is a command started by Host.Start. Wait for it with Wait or
// Done, never with Cmd.Wait: a goroutine of this package reaps it.
type Process struct {
	Cmd *exec.Cmd

	lab  *Lab
	done chan struct{}
	err  error // Cmd.Wait's result, set before done is closed

	mu     sync.Mutex
	reaped bool // set just before the process is reaped; guards group kills
}

// Start starts a command made by h.Command and registers it to be killed
// when the test ends (before the namespaces are removed, and before
// cleanups registered earlier, such as a t.TempDir it writes to). The
// process also gets SIGKILL if the test binary dies, see spawner.
func (h *Host) Start(cmd *exec.Cmd) *Process {
	h.lab.t.Helper()
	p, err := h.start(cmd)
	if err != nil {
		h.lab.t.Fatalf("netns: %s: start %v: %v", h.Name, cmd.Args, err)
	}
	h.lab.t.Cleanup(p.kill)
	return p
}

func (h *Host) start(cmd *exec.Cmd) (*Process, error) {
	// Refusing foreign commands keeps a daemon from ever running in the
	// machine's own network namespace by mistake.
	if cmd.Path != h.lab.ipPath || len(cmd.Args) < 5 || !slices.Equal(cmd.Args[1:4], []string{"netns", "exec", h.NS}) {
		return nil, errors.New("not made by this host's Command")
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The process group ID must be the PID: kill(-PID) is how Kill reaches
	// the children.
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pgid = true, 0
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL

	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock() // held so that close cannot miss a process
	if l.closed {
		return nil, errClosed
	}
	errc := make(chan error, 1)
	l.spawn <- spawnReq{cmd: cmd, errc: errc}
	if err := <-errc; err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, lab: l, done: make(chan struct{})}
	l.procs = append(l.procs, p)
	go p.wait()
	return p, nil
}

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

// spawner starts processes from one OS thread reserved for the lab.
// Pdeathsig is tied to the thread that forked, not to the process: forked
// from an ordinary thread, a child could be SIGKILLed whenever the Go
// runtime retires that thread (it does so when a goroutine exits while
// locked to it). This thread is locked for the whole life of the lab, so
// the signal fires only when the lab is over or the test binary dies (go
// test's timeout, a crash), which is exactly when the children must go.
func (l *Lab) spawner() {
	runtime.LockOSThread()
	// Never unlocked: the thread ends with this goroutine, after close has
	// killed every process started here.
	for req := range l.spawn {
		req.errc <- req.cmd.Start()
	}
}

// wait reaps the process. It first waits without reaping (WNOWAIT): while
// the zombie exists its PID, which is also its process group ID, cannot be
// reused, so a group kill sent before reaped is set can only hit our group.
func (p *Process) wait() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.Cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
	p.err = p.Cmd.Wait()
	close(p.done)
}

// signalGroup signals the process and its process group, if not reaped.
func (p *Process) signalGroup(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
	}
}

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns what exec.Cmd.Wait
// returned, or ctx's error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process only (not its group).
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL to the process and its process group and waits until
// it is reaped. Children that left the group (setsid) survive until the
// lab's cleanup, which kills everything left in its namespaces.
func (p *Process) Kill() {
	p.lab.t.Helper()
	if err := p.kill1(); err != nil {
		p.lab.t.Errorf("netns: %v", err)
	}
}

// kill is Kill for cleanups.
func (p *Process) kill() {
	if err := p.kill1(); err != nil {
		p.lab.t.Errorf("netns: cleanup: %v", err)
	}
}

func (p *Process) kill1() error {
	p.signalGroup(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("process %d (%s) not reaped %v after SIGKILL", p.Cmd.Process.Pid, p.Cmd.Args[4], killWait)
	}
}

// Stop asks the process to exit with SIGTERM and, if it has not exited
// after timeout, SIGKILLs it and its process group (systemd's "mixed" kill
// mode: a daemon gets to stop its children itself). It returns once the
// process is reaped.
func (p *Process) Stop(timeout time.Duration) {
	p.lab.t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
}

// killInNamespaces SIGKILLs, by PID, every process whose network namespace
// is one of the named ones, waits until they are gone, and describes them.
// It rescans until none is left, since a process may fork while we scan.
func killInNamespaces(names []string, wait time.Duration) ([]string, error) {
	ids := map[nsID]string{}
	for _, n := range names {
		if id, err := statNS(nsPath(n)); err == nil {
			ids[id] = n
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var killed []string
	deadline := time.Now().Add(wait)
	for {
		pidfds, found := scanAndKill(ids)
		killed = append(killed, found...)
		for _, fd := range pidfds {
			// A pidfd polls readable once the process has exited.
			ms := max(int(time.Until(deadline)/time.Millisecond), 0)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, ms); err != unix.EINTR {
					break
				}
			}
			_ = unix.Close(fd)
		}
		if len(pidfds) == 0 {
			return killed, nil
		}
		if time.Now().After(deadline) {
			return killed, fmt.Errorf("processes still alive in the lab's namespaces after %v: %s", wait, strings.Join(found, ", "))
		}
	}
}

func scanAndKill(ids map[nsID]string) (pidfds []int, found []string) {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		nsFile := fmt.Sprintf("/proc/%d/ns/net", pid)
		id, err := statNS(nsFile)
		if err != nil || ids[id] == "" {
			continue // gone, a zombie, or not ours
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		// Checked again through the pinned process: the PID may have been
		// reused between the stat and pidfd_open, and the signal must not
		// reach anything outside our namespaces.
		if id2, err := statNS(nsFile); err != nil || id2 != id {
			_ = unix.Close(fd)
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
			_ = unix.Close(fd)
			continue
		}
		pidfds = append(pidfds, fd)
		found = append(found, fmt.Sprintf("%d (%s) in %s", pid, strings.TrimSpace(string(comm)), ids[id]))
	}
	return pidfds, found
}

// nsID identifies a namespace: the nsfs inode behind /run/netns/NAME and
// /proc/PID/ns/net.
type nsID struct{ dev, ino uint64 }

func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}
