package ct

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
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

// afterStop waits for the post-stop hook to have unmounted the
// container's file systems; lxc-stop returns once init is gone, a moment
// before the monitor runs the hook.
func (s *Service) afterStop(vmid int, log api.TaskLog) error {
	deadline := time.Now().Add(30 * time.Second)
	for hook.Mounted(s.rootDir(vmid)) {
		if time.Now().After(deadline) {
			// The monitor died without its hook; clean up in its place.
			if err := hook.UnmountAll(s.rootDir(vmid)); err != nil {
				return fmt.Errorf("CT %d stopped, but its file systems stay mounted: %w", vmid, err)
			}
			break
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
