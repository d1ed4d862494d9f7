package ct

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/lxc/lxcconf"
)

// startOptions are the knobs of one start.
type startOptions struct {
	SkipLock bool
	Debug    bool
}

func errRunning(vmid int) error {
	return api.Errorf(http.StatusInternalServerError, "CT %d already running", vmid)
}

func errNotRunning(vmid int) error {
	return api.Errorf(http.StatusInternalServerError, "CT %d not running", vmid)
}

// start applies pending changes, writes the LXC configuration and the
// hooks' plan, and runs lxc-start, which returns once the container's
// init runs (or failed to).
func (s *Service) start(ctx context.Context, vmid int, o startOptions, log api.TaskLog) error {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return err
	}
	if err := s.repo.CheckLock(c, o.SkipLock); err != nil {
		return err
	}
	if c.Main().Value("template") == "1" {
		return api.Errorf(http.StatusInternalServerError, "CT %d is a template and cannot be started; clone it", vmid)
	}
	if _, ok := s.running(vmid); ok {
		return errRunning(vmid)
	}
	changed, err := c.File.ApplyPending(
		func(key, old, now string) {
			if mpVolume(old) != mpVolume(now) {
				s.detachVolume(c, key, old)
			}
		},
		func(key, old string, _ bool) { s.detachVolume(c, key, old) })
	if err != nil {
		return err
	}
	if changed {
		if err := s.repo.Save(ctx, c); err != nil {
			return err
		}
	}
	spec, plan, err := s.prepare(ctx, vmid, c.Main())
	if err != nil {
		return err
	}
	spec.Debug = spec.Debug || o.Debug
	return s.launch(ctx, vmid, spec, plan, log)
}

// launch writes the container's files and starts it.
func (s *Service) launch(ctx context.Context, vmid int, spec *lxcconf.Spec, plan *hook.Plan, log api.TaskLog) error {
	text, err := lxcconf.Build(spec)
	if err != nil {
		return err
	}
	dir := s.dir(vmid)
	// The directory must be reachable by an unprivileged container's
	// root, which LXC resolves the rootfs path as.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for _, stale := range []string{hook.ErrorFile, "pid"} {
		if err := os.Remove(filepath.Join(dir, stale)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if file, policy, err := lxcconf.SeccompPolicy(spec); err != nil {
		return err
	} else if policy != nil {
		if err := atomicfile.Write(file, policy, 0o644); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(filepath.Join(dir, "config"), text, 0o644); err != nil {
		return err
	}
	if err := hook.Write(dir, plan); err != nil {
		return err
	}
	level := "INFO"
	if spec.Debug {
		level = "DEBUG"
	}
	logFile := filepath.Join(dir, "start.log")
	_ = os.Remove(logFile)
	if _, err := s.lxc(ctx, "lxc-start", vmid, "-p", s.pidFile(vmid), "-o", logFile, "-l", level); err != nil {
		// What a hook said is the most useful reason; then LXC's errors.
		if msg, rerr := os.ReadFile(filepath.Join(dir, hook.ErrorFile)); rerr == nil {
			return fmt.Errorf("CT %d failed to start: %s", vmid, strings.TrimSpace(string(msg)))
		}
		if lines := errorLines(logFile); lines != "" {
			if log != nil {
				log.Printf("%s", lines)
			}
		}
		return fmt.Errorf("CT %d failed to start: %w", vmid, err)
	}
	if log != nil {
		log.Printf("CT %d started", vmid)
	}
	return nil
}

// errorLines picks LXC's ERROR lines out of a start log.
func errorLines(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, " ERROR ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
