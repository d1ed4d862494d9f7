package ct

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
)

// stop ends a container at once (lxc-stop --kill).
func (s *Service) stop(ctx context.Context, vmid int, skipLock bool, log api.TaskLog) error {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	return s.stopLocked(ctx, vmid, skipLock, log)
}

func (s *Service) stopLocked(ctx context.Context, vmid int, skipLock bool, log api.TaskLog) error {
	c, err := s.repo.Load(vmid)
	if err != nil {
		return err
	}
	if err := s.repo.CheckLock(c, skipLock); err != nil {
		return err
	}
	if _, ok := s.running(vmid); !ok {
		return errNotRunning(vmid)
	}
	if _, err := s.lxc(ctx, "lxc-stop", vmid, "--kill"); err != nil {
		return err
	}
	return s.afterStop(vmid, log)
}

// shutdown asks the container's init to power off and waits up to
// timeout; then it kills it if force is set, or fails and leaves it
// running.
func (s *Service) shutdown(ctx context.Context, vmid int, timeout time.Duration, force bool, log api.TaskLog) error {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return err
	}
	if err := s.repo.CheckLock(c, false); err != nil {
		return err
	}
	if _, ok := s.running(vmid); !ok {
		return errNotRunning(vmid)
	}
	// A frozen container cannot react to the signal.
	if st, _ := s.state(ctx, vmid); st == "FROZEN" {
		if _, err := s.lxc(ctx, "lxc-unfreeze", vmid); err != nil {
			return err
		}
	}
	secs := strconv.Itoa(max(int(timeout/time.Second), 1))
	_, err = s.lxc(ctx, "lxc-stop", vmid, "--nokill", "--timeout", secs)
	if _, running := s.running(vmid); running {
		if !force {
			if err == nil {
				err = fmt.Errorf("still running")
			}
			return fmt.Errorf("CT %d did not shut down within %s seconds: %w", vmid, secs, err)
		}
		if log != nil {
			log.Printf("CT %d did not shut down within %s seconds; stopping it", vmid, secs)
		}
		if _, err := s.lxc(ctx, "lxc-stop", vmid, "--kill"); err != nil {
			return err
		}
	}
	return s.afterStop(vmid, log)
}

// afterStop waits for the container's monitor (the daemonized
// lxc-start) to exit. lxc-stop returns once the init is gone, a moment
// before the monitor has run the post-stop hook; the volumes are mounted
// in the monitor's own mount namespace (lxc.monitor.unshare), so they
// are free only once it has gone.
func (s *Service) afterStop(vmid int, log api.TaskLog) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, alive := s.monitor(vmid); !alive {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CT %d stopped, but its LXC monitor did not exit within 30 seconds; its volumes may still be in use", vmid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if log != nil {
		log.Printf("CT %d stopped", vmid)
	}
	return nil
}

// state asks LXC for the container's state (RUNNING, FROZEN, STOPPED).
func (s *Service) state(ctx context.Context, vmid int) (string, error) {
	out, err := s.lxc(ctx, "lxc-info", vmid, "--state", "--no-humanize")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// suspend freezes every process of the container (cgroup freezer);
// resume thaws them.
func (s *Service) suspend(ctx context.Context, vmid int, resume bool) error {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return err
	}
	if err := s.repo.CheckLock(c, false); err != nil {
		return err
	}
	if _, ok := s.running(vmid); !ok {
		return errNotRunning(vmid)
	}
	tool := "lxc-freeze"
	if resume {
		tool = "lxc-unfreeze"
	}
	_, err = s.lxc(ctx, tool, vmid)
	return err
}
