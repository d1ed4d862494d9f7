package vm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/agent"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// stop ends a VM at once: QMP quit, and SIGKILL when QEMU does not exit
// within the timeout.
func (s *Service) stop(ctx context.Context, vmid int, timeout time.Duration, skipLock bool, log api.TaskLog) error {
	c, err := s.load(vmid)
	if err != nil {
		return err
	}
	if err := checkLock(c, skipLock); err != nil && c.Main().Value("lock") != "suspended" {
		return err
	}
	pid, running := s.paths(vmid).running()
	if !running {
		log.Printf("VM %d is not running", vmid)
		return nil
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if p, err := s.watch(ctx, vmid); err == nil && p != nil {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.qmp.Execute(qctx, "quit", nil, nil)
		cancel()
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, timeout)
			err = waitExit(wctx, pid)
			cancel()
		}
		if err == nil {
			s.waitCleanup(ctx, p)
			return nil
		}
		log.Warnf("VM %d did not quit in time; killing it", vmid)
	}
	if err := kill(pid); err != nil {
		return fmt.Errorf("killing VM %d: %w", vmid, err)
	}
	if p := s.procOf(vmid); p != nil {
		s.waitCleanup(ctx, p)
	} else {
		s.afterExit(vmid)
	}
	return nil
}

func (s *Service) procOf(vmid int) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[vmid]
}

// waitCleanup waits until the supervisor has cleaned up after the VM, so
// that a start right after a stop finds a clean host.
func (s *Service) waitCleanup(ctx context.Context, p *proc) {
	select {
	case <-p.exited:
	case <-ctx.Done():
	}
}

// shutdown asks the guest to power off (through the guest agent when it
// is turned on, else the ACPI power button) and waits. After the timeout
// it stops the VM with forceStop, or fails.
func (s *Service) shutdown(ctx context.Context, vmid int, timeout time.Duration, forceStop, skipLock bool, log api.TaskLog) error {
	ctx, cancel := context.WithCancel(ctx)
	defer s.trackShutdown(vmid, cancel)()
	c, err := s.load(vmid)
	if err != nil {
		return err
	}
	if err := checkLock(c, skipLock); err != nil {
		return err
	}
	pid, running := s.paths(vmid).running()
	if !running {
		log.Printf("VM %d is not running", vmid)
		return nil
	}
	p, err := s.watch(ctx, vmid)
	if err != nil || p == nil {
		return fmt.Errorf("VM %d: cannot reach QEMU: %v", vmid, err)
	}
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	st, err := p.qmp.QueryStatus(ctx)
	if err == nil && st.Status == "paused" && !forceStop {
		return api.Errorf(http.StatusInternalServerError, "VM %d is paused - cannot shutdown", vmid)
	}
	viaAgent := false
	if a, err := vmconf.ParseAgent(c.Main().Value("agent")); err == nil && a.Enabled {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.agentClient(vmid).Shutdown(actx, "powerdown")
		cancel()
		if err == nil {
			viaAgent = true
		} else {
			log.Warnf("the guest agent did not take the shutdown (%v); pressing the power button", err)
		}
	}
	if !viaAgent {
		if err := p.qmp.Execute(ctx, "system_powerdown", nil, nil); err != nil {
			return fmt.Errorf("VM %d: %w", vmid, err)
		}
	}
	log.Printf("waiting up to %s for VM %d to shut down", timeout, vmid)
	wctx, cancelWait := context.WithTimeout(ctx, timeout)
	err = waitExit(wctx, pid)
	cancelWait()
	if err == nil && ctx.Err() == nil {
		s.waitCleanup(ctx, p)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("shutdown of VM %d interrupted (stopped, or overruled by a stop)", vmid)
	}
	if !forceStop {
		return api.Errorf(http.StatusInternalServerError, "VM quit/powerdown failed - got timeout")
	}
	log.Warnf("VM %d still running after %s; stopping it", vmid, timeout)
	return s.stop(ctx, vmid, 10*time.Second, true, log)
}

// trackShutdown registers a running shutdown so that a stop with
// overrule-shutdown can end it; the returned function unregisters it.
func (s *Service) trackShutdown(vmid int, cancel context.CancelFunc) func() {
	key := new(int)
	s.mu.Lock()
	if s.shutdowns[vmid] == nil {
		s.shutdowns[vmid] = map[*int]context.CancelFunc{}
	}
	s.shutdowns[vmid][key] = cancel
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.shutdowns[vmid], key)
		s.mu.Unlock()
		cancel()
	}
}

// overruleShutdowns ends the running shutdowns of a VM; it reports how
// many there were.
func (s *Service) overruleShutdowns(vmid int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cancel := range s.shutdowns[vmid] {
		cancel()
	}
	return len(s.shutdowns[vmid])
}

// qmpCall runs one QMP command on a running VM.
func (s *Service) qmpCall(ctx context.Context, vmid int, command string, args, result any) error {
	p, err := s.watch(ctx, vmid)
	if err != nil {
		return err
	}
	if p == nil {
		return errNotRunning(vmid)
	}
	return p.qmp.Execute(ctx, command, args, result)
}

// waitIncoming waits until QEMU has loaded the state it is resuming.
func waitIncoming(ctx context.Context, p *proc) error {
	for {
		var info struct {
			Status string `json:"status"`
			Error  string `json:"error-desc"`
		}
		st, err := p.qmp.QueryStatus(ctx)
		if err != nil {
			return err
		}
		if st.Status != "inmigrate" {
			return nil
		}
		if err := p.qmp.Execute(ctx, "query-migrate", nil, &info); err == nil && info.Status == "failed" {
			return errors.New(info.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// agentClient returns the guest agent client of a VM. One client per VM
// is kept: the agent serves one conversation at a time.
func (s *Service) agentClient(vmid int) *agent.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.agents[vmid]
	if !ok {
		c = agent.New(s.paths(vmid).qga(), agent.Options{})
		s.agents[vmid] = c
	}
	return c
}

// dropAgent forgets the agent client of a VM that stopped.
func (s *Service) dropAgent(vmid int) {
	s.mu.Lock()
	c := s.agents[vmid]
	delete(s.agents, vmid)
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}
