package ct

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
)

// lxc runs one of LXC's tools on a container. The tools find a running
// container through an abstract socket bound to the network namespace
// lxc-start ran in, so they run in the same one.
func (s *Service) lxc(ctx context.Context, tool string, vmid int, args ...string) (string, error) {
	name := tool
	args = append([]string{"-n", strconv.Itoa(vmid), "-P", s.o.LXCPath}, args...)
	if s.o.NetNS != "" {
		args = append([]string{"--net=" + s.o.NetNS, "--", name}, args...)
		name = "nsenter"
	}
	res, err := s.o.Runner.Run(ctx, runner.Cmd{Name: name, Args: args})
	if err != nil {
		var ee *runner.ExitError
		if errors.As(err, &ee) && strings.TrimSpace(ee.Stderr) != "" {
			return string(res.Stdout), fmt.Errorf("%s: %s", tool, lastLine(ee.Stderr))
		}
		return string(res.Stdout), fmt.Errorf("%s: %w", tool, err)
	}
	return string(res.Stdout), nil
}

// lastLine is the last non-empty line of a tool's error output, which is
// where LXC puts the reason.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// running reports the pid of the container's init if it runs.
// lxc-start writes the pid of the container's monitor (the daemonized
// lxc-start) to the pid file; the init is the monitor's child. Either is
// trusted only while it sits in the container's cgroups, so a stale file
// and a reused pid never count.
func (s *Service) running(vmid int) (int, bool) {
	monitor, ok := s.monitor(vmid)
	if !ok {
		return 0, false
	}
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", monitor, monitor))
	if err != nil {
		return 0, false
	}
	for _, f := range strings.Fields(string(kids)) {
		pid, err := strconv.Atoi(f)
		if err == nil && inCgroup(pid, "lxc.payload."+strconv.Itoa(vmid)) {
			return pid, true
		}
	}
	return 0, false
}

// monitor returns the pid of the container's LXC monitor while it runs.
func (s *Service) monitor(vmid int) (int, bool) {
	data, err := os.ReadFile(s.pidFile(vmid))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || !inCgroup(pid, "lxc.monitor."+strconv.Itoa(vmid)) {
		return 0, false
	}
	return pid, true
}

// inCgroup says whether a process sits in a cgroup of the given name.
// LXC appends -1, -2, … when a cgroup of that name is still there from
// an earlier run, so those count too.
func inCgroup(pid int, name string) bool {
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(cg), "\n") {
		i := strings.LastIndex(line, "/"+name)
		if i < 0 {
			continue
		}
		rest := line[i+1+len(name):]
		rest, _, _ = strings.Cut(rest, "/")
		if rest == "" {
			return true
		}
		if n, ok := strings.CutPrefix(rest, "-"); ok {
			if _, err := strconv.Atoi(n); err == nil {
				return true
			}
		}
	}
	return false
}

// Running reports the running containers of this node with their pids,
// for the node's status and the cluster resources.
func (s *Service) Running() map[int]int {
	out := map[int]int{}
	entries, err := os.ReadDir(s.o.LXCPath)
	if err != nil {
		return out
	}
	for _, e := range entries {
		vmid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid, ok := s.running(vmid); ok {
			out[vmid] = pid
		}
	}
	return out
}

// cgroupDir returns the directory of one controller ("memory", "cpu",
// … or "" for the unified hierarchy) of a running container's init.
func (s *Service) cgroupDir(pid int, controller string) (string, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if controller == "" && parts[0] == "0" {
			if s.host.cgroup == 2 {
				return filepath.Join(s.o.CgroupRoot, parts[2]), true
			}
			return filepath.Join(s.o.CgroupRoot, "unified", parts[2]), true
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller && controller != "" {
				return filepath.Join(s.o.CgroupRoot, parts[1], parts[2]), true
			}
		}
	}
	return "", false
}
