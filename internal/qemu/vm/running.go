package vm

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/agent"
	"github.com/hearth-virt/hearth/internal/qemu/qmp"
)

// proc is a running VM this service watches: its QEMU process and the
// one QMP connection everything after the start goes through.
type proc struct {
	vmid int
	pid  int
	qmp  *qmp.Client
	// exited is closed once the process is gone and cleaned up after.
	exited chan struct{}

	mu      sync.Mutex
	lastCPU cpuSample
}

type cpuSample struct {
	at    time.Time
	ticks uint64
}

// Attach finds the VMs of this node that run without being watched (the
// daemon restarted while they kept running) and takes them over. It also
// cleans up after VMs that ended while nobody watched.
func (s *Service) Attach(ctx context.Context) {
	for _, vmid := range s.pidFileVMIDs() {
		if _, err := s.watch(ctx, vmid); err != nil {
			s.o.Log.Warn("VM left by the previous daemon is not reachable", "vmid", vmid, "err", err)
		}
	}
}

// pidFileVMIDs lists the VMs with a pid file in the run directory: those
// that run, and those that ended while nobody watched.
func (s *Service) pidFileVMIDs() []int {
	entries, _ := os.ReadDir(s.o.RunDir)
	var out []int
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		if vmid, err := strconv.Atoi(id); err == nil {
			out = append(out, vmid)
		}
	}
	return out
}

// watch returns the watched process of a running VM, connecting to it if
// needed; nil (and no error) when the VM does not run.
func (s *Service) watch(ctx context.Context, vmid int) (*proc, error) {
	s.mu.Lock()
	p := s.procs[vmid]
	s.mu.Unlock()
	if p != nil {
		select {
		case <-p.exited:
		default:
			return p, nil
		}
	}
	paths := s.paths(vmid)
	pid, ok := paths.running()
	if !ok {
		s.cleanupFiles(vmid)
		return nil, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := qmp.Dial(dctx, paths.qmp())
	if err != nil {
		return nil, err
	}
	p = &proc{vmid: vmid, pid: pid, qmp: c, exited: make(chan struct{})}
	s.mu.Lock()
	if other := s.procs[vmid]; other != nil && other != p {
		select {
		case <-other.exited:
		default:
			// Another caller attached first; keep one connection.
			s.mu.Unlock()
			c.Close()
			return other, nil
		}
	}
	s.procs[vmid] = p
	s.mu.Unlock()
	go s.supervise(p)
	return p, nil
}

// supervise waits for the QMP connection to end. QEMU closes it when it
// exits, whoever ended it (a stop, a guest power-off, a crash); then the
// service cleans up what the VM left on the host.
func (s *Service) supervise(p *proc) {
	<-p.qmp.Done()
	if s.released.Load() {
		// The daemon is going away; the VM keeps running and the next
		// daemon attaches to it.
		close(p.exited)
		return
	}
	// The connection may end a moment before the process is reaped.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := waitExit(ctx, p.pid)
	cancel()
	if err != nil {
		// QMP went away but QEMU still runs (it should not happen):
		// leave the VM to the next watch, which reconnects.
		s.o.Log.Warn("QMP connection lost while QEMU still runs", "vmid", p.vmid, "pid", p.pid)
		s.mu.Lock()
		if s.procs[p.vmid] == p {
			delete(s.procs, p.vmid)
		}
		s.mu.Unlock()
		close(p.exited)
		return
	}
	s.afterExit(p.vmid)
	s.mu.Lock()
	if s.procs[p.vmid] == p {
		delete(s.procs, p.vmid)
	}
	s.mu.Unlock()
	close(p.exited)
}

// afterExit undoes what a start set up on the host: the guest's network
// ports, the TPM emulator, the runtime files.
func (s *Service) afterExit(vmid int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.unplugAll(ctx, vmid)
	s.stopTPM(vmid)
	s.dropAgent(vmid)
	s.cleanupFiles(vmid)
	s.o.Log.Info("VM stopped", "vmid", vmid)
}

// Release lets go of the running VMs without stopping them, when the
// daemon shuts down.
func (s *Service) Release() {
	s.released.Store(true)
	s.mu.Lock()
	procs := make([]*proc, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.procs = map[int]*proc{}
	agents := s.agents
	s.agents = map[int]*agent.Client{}
	s.mu.Unlock()
	for _, p := range procs {
		p.qmp.Close()
		<-p.exited
	}
	for _, a := range agents {
		a.Close()
	}
}

// cleanupFiles removes the runtime files of a VM that does not run.
func (s *Service) cleanupFiles(vmid int) {
	matches, _ := filepath.Glob(filepath.Join(s.o.RunDir, strconv.Itoa(vmid)+".*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// cpuFraction is the share of the VM's CPUs QEMU used since the last
// call (0 on the first).
func (p *proc) cpuFraction(cpus float64) float64 {
	ticks, err := procTicks(p.pid)
	if err != nil || cpus <= 0 {
		return 0
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.lastCPU
	p.lastCPU = cpuSample{at: now, ticks: ticks}
	if last.at.IsZero() || ticks < last.ticks {
		return 0
	}
	secs := now.Sub(last.at).Seconds()
	if secs <= 0 {
		return 0
	}
	f := float64(ticks-last.ticks) / clockTicks / secs / cpus
	return min(f, 1)
}

// clockTicks is USER_HZ, 100 on every Linux architecture we run on.
const clockTicks = 100

// procTicks returns utime+stime of pid in clock ticks.
func procTicks(pid int) (uint64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, os.ErrInvalid
	}
	u, err1 := strconv.ParseUint(fields[11], 10, 64)
	st, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, os.ErrInvalid
	}
	return u + st, nil
}

// rss returns the resident memory of pid in bytes.
func rss(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// uptime returns the seconds since pid started.
func uptime(pid int) int64 {
	start, err := procStart(pid)
	if err != nil {
		return 0
	}
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	up, _ := strconv.ParseFloat(f[0], 64)
	return max(int64(up-float64(start)/clockTicks), 0)
}
