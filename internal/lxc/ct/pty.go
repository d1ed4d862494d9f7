package ct

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ptyProcess is a program running on its own pseudo-terminal, as the
// console tools need: lxc-console and an interactive lxc-attach refuse a
// plain pipe, and only a terminal carries a window size. Reading returns
// what the program prints, writing types at it.
type ptyProcess struct {
	master *os.File
	cmd    *exec.Cmd
	// exited is closed once the program has ended and was reaped.
	exited chan struct{}
	// grace is how long Close lets the program end by itself after the
	// hang-up before killing its process group.
	grace time.Duration

	closeOnce sync.Once
}

// ptyKillGrace is how long a console program gets to exit after its
// terminal hung up.
const ptyKillGrace = 3 * time.Second

// openPTY opens a new pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	// Opened through os.OpenFile so that reads go through the runtime's
	// poller: closing the master then wakes a reader blocked on it.
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	var n int
	err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		var err error
		n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN)
		return err
	})
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("set up a pseudo-terminal: %w", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	return master, slave, nil
}

// control runs fn on f's descriptor without taking it out of the
// poller's non-blocking mode, which f.Fd() would.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// makeRaw turns off the terminal's own line editing, echo and output
// translation, as cfmakeraw(3) does. The console tools do so themselves
// once they run, but keystrokes arriving before would be echoed here
// and then again by the terminal inside the container; and the client
// (xterm.js) is the terminal that interprets what the program prints.
func makeRaw(f *os.File) error {
	return control(f, func(fd int) error {
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		return unix.IoctlSetTermios(fd, unix.TCSETS, t)
	})
}

// startPTY starts argv as the leader of a new session whose controlling
// terminal is a new pseudo-terminal of cols×rows (0: the kernel's
// default). env is the program's whole environment.
func startPTY(argv, env []string, cols, rows int) (*ptyProcess, error) {
	if len(argv) == 0 {
		return nil, errors.New("no program to run")
	}
	master, slave, err := openPTY()
	if err != nil {
		return nil, err
	}
	defer slave.Close()
	if err := makeRaw(slave); err != nil {
		master.Close()
		return nil, fmt.Errorf("set up a pseudo-terminal: %w", err)
	}
	p := &ptyProcess{master: master, exited: make(chan struct{}), grace: ptyKillGrace}
	if cols > 0 && rows > 0 {
		if err := p.Resize(cols, rows); err != nil {
			master.Close()
			return nil, err
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// A session of its own makes the terminal the program's controlling
	// one (Ctty is the child's descriptor 0), and its process group the
	// one hang-ups and kills reach.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		return nil, err
	}
	p.cmd = cmd
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Read returns the program's output; io.EOF once nothing holds the
// terminal any more (the program and its children have ended).
func (p *ptyProcess) Read(b []byte) (int, error) {
	n, err := p.master.Read(b)
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}

// Write types at the program.
func (p *ptyProcess) Write(b []byte) (int, error) { return p.master.Write(b) }

// Resize sets the terminal's window size; the program gets SIGWINCH.
func (p *ptyProcess) Resize(cols, rows int) error {
	if cols <= 0 || rows <= 0 || cols > 0xffff || rows > 0xffff {
		return fmt.Errorf("window size %dx%d is out of range", cols, rows)
	}
	return control(p.master, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)})
	})
}

// Close hangs up the terminal, which ends an interactive program, and
// kills the program's process group if it is still there after the
// grace period. It does not wait; Wait does.
func (p *ptyProcess) Close() error {
	p.closeOnce.Do(func() {
		p.master.Close()
		go func() {
			t := time.NewTimer(p.grace)
			defer t.Stop()
			select {
			case <-p.exited:
			case <-t.C:
				// Not reaped yet, so the group id still is this
				// program's own (its number cannot have been reused).
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			}
		}()
	})
	return nil
}

// Exited is closed once the program has ended.
func (p *ptyProcess) Exited() <-chan struct{} { return p.exited }

// Wait waits for the program to end.
func (p *ptyProcess) Wait() { <-p.exited }
