package vm

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// vmids lists the VMs of this node.
func (s *Service) vmids() []int {
	entries, err := s.o.Store.List("nodes/" + s.o.Node + "/qemu-server")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Path[strings.LastIndexByte(e.Path, '/')+1:], ".conf")
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

// status reports a VM's state. With full, the counters that need QMP
// (disk I/O, the QEMU status) are read too.
func (s *Service) status(ctx context.Context, c *conf, full bool) api.VMStatus {
	m := c.Main()
	st := api.VMStatus{VMID: c.VMID, Name: m.Value("name"), Status: "stopped", Lock: m.Value("lock"), Tags: m.Value("tags")}
	if st.Name == "" {
		st.Name = "VM " + strconv.Itoa(c.VMID)
	}
	if m.Value("template") == "1" {
		st.Template = 1
	}
	sockets, cores := atoiOr(m.Value("sockets"), 1), atoiOr(m.Value("cores"), 1)
	cpus := float64(sockets * cores)
	if v := atoiOr(m.Value("vcpus"), 0); v > 0 {
		cpus = float64(v)
	}
	if l, err := strconv.ParseFloat(m.Value("cpulimit"), 64); err == nil && l > 0 && l < cpus {
		cpus = l
	}
	st.CPUs = cpus
	mem := int64(vmconf.DefaultMemoryMiB)
	if mm, err := vmconf.ParseMemory(m.Value("memory")); err == nil && mm.Current > 0 {
		mem = int64(mm.Current)
	}
	st.MaxMem = mem << 20
	st.MaxDisk = bootDiskSize(c)
	for i := range 4 {
		if strings.HasPrefix(m.Value("serial"+strconv.Itoa(i)), "socket") {
			st.Serial = 1
		}
	}
	if a, err := vmconf.ParseAgent(m.Value("agent")); err == nil && a.Enabled {
		st.Agent = 1
	}
	pid, running := s.paths(c.VMID).running()
	if !running {
		return st
	}
	st.Status, st.PID = "running", pid
	st.Uptime = uptime(pid)
	st.Mem = min(rss(pid), st.MaxMem)
	p, err := s.watch(ctx, c.VMID)
	if err != nil || p == nil {
		return st
	}
	st.CPU = p.cpuFraction(cpus)
	st.NetIn, st.NetOut = s.netCounters(c)
	if !full {
		return st
	}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if qs, err := p.qmp.QueryStatus(qctx); err == nil {
		st.QMPStatus = qs.Status
	}
	if m, err := p.qmp.CurrentMachine(qctx); err == nil {
		st.RunningMachine = m
	}
	st.RunningQemu = p.qmp.Greeting().Version.String()
	if stats, err := p.qmp.QueryBlockstats(qctx, false); err == nil {
		for _, b := range stats {
			st.DiskRead += b.Stats.RdBytes
			st.DiskWrite += b.Stats.WrBytes
		}
	}
	return st
}

// netCounters sums the traffic of a VM's taps. A tap's receive counter is
// what the guest sent, so the directions swap, as Proxmox VE reports them.
func (s *Service) netCounters(c *conf) (in, out int64) {
	if s.o.Netlink == nil {
		return 0, 0
	}
	list, _ := nets(c.Main().Get)
	for _, n := range list {
		l, err := s.o.Netlink.LinkByName(tapName(c.VMID, n.Index))
		if err != nil || l.Attrs().Statistics == nil {
			continue
		}
		in += int64(l.Attrs().Statistics.TxBytes)
		out += int64(l.Attrs().Statistics.RxBytes)
	}
	return in, out
}

// bootDiskSize is the size of the first disk in boot order.
func bootDiskSize(c *conf) int64 {
	order := []string{}
	if b, err := vmconf.ParseBoot(c.Main().Value("boot")); err == nil {
		order = b.Order
	}
	order = append(order, vmconf.DriveKeys()...)
	for _, key := range order {
		v, ok := c.Main().Get(key)
		if !ok || !vmconf.IsDriveKey(key) {
			continue
		}
		d, err := vmconf.ParseDrive(key, v)
		if err != nil || d.IsCDROM() || d.Bus == "efidisk" || d.Bus == "tpmstate" {
			continue
		}
		return d.Size.Or(0)
	}
	return 0
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func (s *Service) list(ctx context.Context, c *api.Call, in *api.VMListParams) ([]api.VMStatus, error) {
	out := []api.VMStatus{}
	for _, vmid := range s.vmids() {
		if c.Perm != nil && !c.Perm.Has("/vms/"+strconv.Itoa(vmid), "VM.Audit") {
			continue
		}
		cf, err := s.load(vmid)
		if err != nil {
			continue
		}
		out = append(out, s.status(ctx, cf, in.Full))
	}
	return out, nil
}

func (s *Service) current(ctx context.Context, _ *api.Call, in *api.VMParam) (api.VMStatus, error) {
	cf, err := s.load(in.VMID)
	if err != nil {
		return api.VMStatus{}, err
	}
	st := s.status(ctx, cf, true)
	st.HA = map[string]any{"managed": 0}
	return st, nil
}

// Running reports the running VMs of this node with their pids, for the
// node's status and the cluster resources.
func (s *Service) Running() map[int]int {
	out := map[int]int{}
	for _, vmid := range s.pidFileVMIDs() {
		if pid, ok := s.paths(vmid).running(); ok {
			out[vmid] = pid
		}
	}
	return out
}
