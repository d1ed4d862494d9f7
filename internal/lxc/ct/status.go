package ct

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"golang.org/x/sys/unix"
)

// cpuSample is a container's CPU time at one moment.
type cpuSample struct {
	at    time.Time
	usage time.Duration
}

// vmids lists the containers of this node.
func (s *Service) vmids() []int {
	entries, err := s.o.Store.List("nodes/" + s.o.Node + "/lxc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		name, ok := strings.CutSuffix(filepath.Base(e.Path), ".conf")
		if !ok || e.Dir {
			continue
		}
		if id, err := strconv.Atoi(name); err == nil {
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out
}

// status reports a container's state and its counters from the cgroups
// and the host ends of its NICs.
func (s *Service) status(c *guestconf.Config) api.CTStatus {
	m := c.Main()
	st := api.CTStatus{VMID: c.VMID, Name: m.Value("hostname"), Status: "stopped", Type: "lxc",
		Lock: m.Value("lock"), Tags: m.Value("tags")}
	if st.Name == "" {
		st.Name = "CT" + strconv.Itoa(c.VMID)
	}
	if m.Value("template") == "1" {
		st.Template = 1
	}
	cores := atoiOr(m.Value("cores"), 0)
	if cores <= 0 || cores > s.host.cpus {
		cores = s.host.cpus
	}
	st.CPUs = float64(cores)
	if v, err := strconv.ParseFloat(m.Value("cpulimit"), 64); err == nil && v > 0 && v < st.CPUs {
		st.CPUs = v
	}
	st.MaxMem = int64(atoiOr(m.Value("memory"), 512)) << 20
	st.MaxSwap = int64(atoiOr(m.Value("swap"), 512)) << 20
	if rootfs, err := ctconf.ParseMountPoint("rootfs", m.Value("rootfs")); err == nil {
		st.MaxDisk = rootfs.Size.Or(0)
	}
	pid, ok := s.running(c.VMID)
	if !ok {
		return st
	}
	st.Status, st.PID = "running", pid
	if fi, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		st.Uptime = int64(time.Since(fi.ModTime()) / time.Second)
	}
	st.Mem, st.Swap = s.memory(pid)
	st.CPU = s.cpuUse(c.VMID, pid, st.CPUs)
	st.DiskRead, st.DiskWrite = s.blkio(pid)
	var fs unix.Statfs_t
	// The root file system is mounted in the monitor's own mount
	// namespace (lxc.monitor.unshare); the init's root shows it.
	if unix.Statfs("/proc/"+strconv.Itoa(pid)+"/root", &fs) == nil {
		st.Disk = int64(fs.Blocks-fs.Bfree) * fs.Bsize
		if st.MaxDisk == 0 {
			st.MaxDisk = int64(fs.Blocks) * fs.Bsize
		}
	}
	st.NetIn, st.NetOut = s.netCounters(c)
	return st
}

// memory reads the memory and swap in use, without the page cache (it
// is the host's to reclaim), as Proxmox VE reports them.
func (s *Service) memory(pid int) (mem, swap int64) {
	if s.host.cgroup == 2 {
		dir, ok := s.cgroupDir(pid, "")
		if !ok {
			return 0, 0
		}
		cur := readInt(filepath.Join(dir, "memory.current"))
		stat := readStat(filepath.Join(dir, "memory.stat"))
		return max(cur-stat["file"], 0), readInt(filepath.Join(dir, "memory.swap.current"))
	}
	dir, ok := s.cgroupDir(pid, "memory")
	if !ok {
		return 0, 0
	}
	usage := readInt(filepath.Join(dir, "memory.usage_in_bytes"))
	stat := readStat(filepath.Join(dir, "memory.stat"))
	mem = max(usage-stat["total_cache"], 0)
	if s.host.memsw {
		swap = max(readInt(filepath.Join(dir, "memory.memsw.usage_in_bytes"))-usage, 0)
	}
	return mem, swap
}

// cpuUse is the CPU used since the last read, as a fraction of the
// container's CPUs.
func (s *Service) cpuUse(vmid, pid int, cpus float64) float64 {
	var usage time.Duration
	if s.host.cgroup == 2 {
		dir, ok := s.cgroupDir(pid, "")
		if !ok {
			return 0
		}
		usage = time.Duration(readStat(filepath.Join(dir, "cpu.stat"))["usage_usec"]) * time.Microsecond
	} else {
		dir, ok := s.cgroupDir(pid, "cpuacct")
		if !ok {
			return 0
		}
		usage = time.Duration(readInt(filepath.Join(dir, "cpuacct.usage")))
	}
	now := time.Now()
	s.mu.Lock()
	last, had := s.cpu[vmid]
	s.cpu[vmid] = cpuSample{at: now, usage: usage}
	s.mu.Unlock()
	if !had || cpus <= 0 || !now.After(last.at) || usage < last.usage {
		return 0
	}
	return float64(usage-last.usage) / float64(now.Sub(last.at)) / cpus
}

// blkio sums the bytes the container read and wrote.
func (s *Service) blkio(pid int) (read, write int64) {
	if s.host.cgroup == 2 {
		dir, ok := s.cgroupDir(pid, "")
		if !ok {
			return 0, 0
		}
		data, _ := os.ReadFile(filepath.Join(dir, "io.stat"))
		for _, line := range strings.Split(string(data), "\n") {
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(v, 10, 64)
				switch k {
				case "rbytes":
					read += n
				case "wbytes":
					write += n
				}
			}
		}
		return read, write
	}
	dir, ok := s.cgroupDir(pid, "blkio")
	if !ok {
		return 0, 0
	}
	data, _ := os.ReadFile(filepath.Join(dir, "blkio.throttle.io_service_bytes"))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseInt(f[2], 10, 64)
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}

// netCounters sums the traffic of the host ends of the container's
// veths; what the host end receives the container sent, so the
// directions swap.
func (s *Service) netCounters(c *guestconf.Config) (in, out int64) {
	if s.o.Netlink == nil {
		return 0, 0
	}
	nets := ctconf.Nets(sectionValues(c.Main()))
	for _, n := range nets {
		l, err := s.o.Netlink.LinkByName(vethName(c.VMID, n.Index))
		if err != nil || l.Attrs().Statistics == nil {
			continue
		}
		in += int64(l.Attrs().Statistics.TxBytes)
		out += int64(l.Attrs().Statistics.RxBytes)
	}
	return in, out
}

func readInt(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// readStat reads a cgroup "key value" file such as memory.stat.
func readStat(path string) map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		out[k] = n
	}
	return out
}

func (s *Service) list(_ context.Context, c *api.Call, _ *api.NodeParam) ([]api.CTStatus, error) {
	out := []api.CTStatus{}
	for _, vmid := range s.vmids() {
		if c.Perm != nil && !c.Perm.Has("/vms/"+strconv.Itoa(vmid), "VM.Audit") {
			continue
		}
		cf, err := s.repo.Load(vmid)
		if err != nil {
			continue
		}
		out = append(out, s.status(cf))
	}
	return out, nil
}

func (s *Service) current(_ context.Context, _ *api.Call, in *api.CTParam) (api.CTStatus, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.CTStatus{}, err
	}
	return s.status(c), nil
}
