package ct

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/network/guestport"
)

// applyLive applies changed limits and NICs to a running container.
// Limits go through lxc-cgroup, which knows where the container's
// cgroups are on v1 and v2 hosts; a NIC whose inside (name, address)
// stays the same is plugged again with its new bridge, tag, rate or link
// state. Inside changes wait for the next start like any pending value.
func (s *Service) applyLive(ctx context.Context, cf *guestconf.Config, pid int, keys []string) error {
	vals := sectionValues(cf.Main())
	var errs []error
	limits := false
	for _, k := range keys {
		if slices.Contains(liveKeys, k) {
			limits = true
			continue
		}
		if err := s.replug(ctx, cf.VMID, k, vals[k]); err != nil {
			errs = append(errs, err)
		}
	}
	if limits {
		if err := s.applyLimits(ctx, cf.VMID, vals); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyLimits writes memory, swap and CPU limits into the cgroups.
func (s *Service) applyLimits(ctx context.Context, vmid int, vals map[string]string) error {
	mem := int64(atoiOr(vals["memory"], 512)) << 20
	swap := int64(atoiOr(vals["swap"], 512)) << 20
	quota := int64(-1)
	if f, err := strconv.ParseFloat(vals["cpulimit"], 64); err == nil && f > 0 {
		quota = int64(f*100000 + 0.5)
	}
	set := func(key, value string) error {
		_, err := s.lxc(ctx, "lxc-cgroup", vmid, key, value)
		return err
	}
	var steps [][2]string
	if s.host.cgroup == 2 {
		cpuMax := "max"
		if quota > 0 {
			cpuMax = strconv.FormatInt(quota, 10)
		}
		steps = [][2]string{{"memory.max", strconv.FormatInt(mem, 10)}, {"memory.swap.max", strconv.FormatInt(swap, 10)},
			{"cpu.max", cpuMax + " 100000"}}
		if u := atoiOr(vals["cpuunits"], 0); u > 0 {
			steps = append(steps, [2]string{"cpu.weight", strconv.Itoa(min(max(u, 1), 10000))})
		}
	} else {
		memSteps := [][2]string{{"memory.limit_in_bytes", strconv.FormatInt(mem, 10)}}
		if s.host.memsw {
			// memsw must stay at least the memory limit at every step:
			// raise it first when growing, lower it last when shrinking.
			sw := [2]string{"memory.memsw.limit_in_bytes", strconv.FormatInt(mem+swap, 10)}
			cur, _ := s.lxc(ctx, "lxc-cgroup", vmid, "memory.memsw.limit_in_bytes")
			if n, err := strconv.ParseInt(strings.TrimSpace(cur), 10, 64); err == nil && n < mem+swap {
				memSteps = append([][2]string{sw}, memSteps...)
			} else {
				memSteps = append(memSteps, sw)
			}
		}
		steps = append(memSteps, [2]string{"cpu.cfs_period_us", "100000"}, [2]string{"cpu.cfs_quota_us", strconv.FormatInt(quota, 10)})
		if u := atoiOr(vals["cpuunits"], 0); u > 0 {
			steps = append(steps, [2]string{"cpu.shares", strconv.Itoa(min(max(u, 2), 262144))})
		}
	}
	cpus := s.cpuSet(vmid, atoiOr(vals["cores"], 0))
	if cpus == "" {
		cpus = fmt.Sprintf("0-%d", s.host.cpus-1)
	}
	steps = append(steps, [2]string{"cpuset.cpus", cpus})
	for _, st := range steps {
		if err := set(st[0], st[1]); err != nil {
			return fmt.Errorf("set %s of CT %d: %w", st[0], vmid, err)
		}
	}
	return nil
}

// replug applies a NIC's host-side settings to its running veth.
func (s *Service) replug(ctx context.Context, vmid int, key, value string) error {
	if s.o.Netlink == nil {
		return fmt.Errorf("%s: this node cannot plug guest ports (no network access)", key)
	}
	n, err := ctconf.ParseNet(key, value)
	if err != nil {
		return err
	}
	if n.Bridge == "" {
		return nil
	}
	if _, err := s.o.Netlink.LinkByName(vethName(vmid, n.Index)); err != nil {
		return fmt.Errorf("%s: the NIC is not in the running container yet; it appears at the next start", key)
	}
	port := guestport.Port{Name: vethName(vmid, n.Index), Bridge: n.Bridge, MTU: n.MTU.Or(0), Tag: n.Tag.Or(0), Trunks: n.Trunks,
		LinkDown: n.LinkDown.Or(false), RateMBps: n.Rate.Or(0), Firewall: n.Firewall.Or(false)}
	if s.o.NetLock != nil {
		unlock, err := s.o.NetLock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	return guestport.Plug(ctx, s.o.Netlink, port, nil)
}
