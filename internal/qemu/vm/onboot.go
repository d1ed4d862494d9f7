package vm

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

func splitIDs(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// checkPowerAll checks VM.PowerMgmt for startall/stopall: on / or on each
// listed guest.
func checkPowerAll(c *api.Call, only map[int]bool) error {
	if c.Perm == nil || c.Perm.Has("/", "VM.PowerMgmt") {
		return nil
	}
	if len(only) == 0 {
		return &api.Denied{Path: "/", Priv: "VM.PowerMgmt"}
	}
	for id := range only {
		if p := "/vms/" + strconv.Itoa(id); !c.Perm.Has(p, "VM.PowerMgmt") {
			return &api.Denied{Path: p, Priv: "VM.PowerMgmt"}
		}
	}
	return nil
}

// order returns the node's VMs sorted by their startup order (then id).
func (s *Service) order(only map[int]bool) []startupOrder {
	var out []startupOrder
	for _, vmid := range s.vmids() {
		if only != nil && !only[vmid] {
			continue
		}
		c, err := s.load(vmid)
		if err != nil || c.Main().Value("template") == "1" {
			continue
		}
		out = append(out, startupOf(c))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].order != out[j].order {
			return out[i].order < out[j].order
		}
		return out[i].vmid < out[j].vmid
	})
	return out
}

func (s *Service) startAll(_ context.Context, c *api.Call, in *api.StartAllParams) (api.Task, error) {
	only := vmidList(in.VMs)
	if err := checkPowerAll(c, only); err != nil {
		return api.Task{}, err
	}
	return api.Task{Type: "startall", Run: func(ctx context.Context, log api.TaskLog) error {
		s.StartOnBoot(ctx, in.Force, only, log)
		return nil
	}}, nil
}

// HasOnBoot reports whether any VM of the node is marked onboot, so that
// a node without such guests does not log an empty start task.
func (s *Service) HasOnBoot() bool {
	for _, g := range s.order(nil) {
		if g.onboot {
			return true
		}
	}
	return false
}

// StartOnBoot starts the VMs marked onboot (all with force) in startup
// order, waiting each one's up delay before the next, as a node does
// when it boots.
func (s *Service) StartOnBoot(ctx context.Context, force bool, only map[int]bool, log api.TaskLog) {
	for _, g := range s.order(only) {
		if !g.onboot && !force {
			continue
		}
		if _, running := s.paths(g.vmid).running(); running {
			continue
		}
		log.Printf("starting VM %d", g.vmid)
		if err := s.start(ctx, g.vmid, startOptions{}, log); err != nil {
			log.Warnf("VM %d: %v", g.vmid, err)
			continue
		}
		if g.up > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(g.up):
			}
		}
	}
}

func (s *Service) stopAll(_ context.Context, c *api.Call, in *api.StopAllParams) (api.Task, error) {
	only := vmidList(in.VMs)
	if err := checkPowerAll(c, only); err != nil {
		return api.Task{}, err
	}
	force := in.ForceStop == nil || *in.ForceStop
	timeout := seconds(in.Timeout)
	if in.Timeout == 0 {
		timeout = 180 * time.Second
	}
	return api.Task{Type: "stopall", Run: func(ctx context.Context, log api.TaskLog) error {
		list := s.order(only)
		for i := len(list) - 1; i >= 0; i-- {
			g := list[i]
			if _, running := s.paths(g.vmid).running(); !running {
				continue
			}
			t := timeout
			if g.down > 0 {
				t = g.down
			}
			log.Printf("shutting down VM %d", g.vmid)
			if err := s.shutdown(ctx, g.vmid, t, force, true, log); err != nil {
				log.Warnf("VM %d: %v", g.vmid, err)
			}
		}
		return nil
	}}, nil
}

// startupOrder is a guest's place in the start sequence.
type startupOrder struct {
	vmid   int
	onboot bool
	order  int
	up     time.Duration
	down   time.Duration
}

// startupOf reads onboot and startup of a VM.
func startupOf(c *conf) startupOrder {
	o := startupOrder{vmid: c.VMID, onboot: c.Main().Value("onboot") == "1", order: math.MaxInt32}
	if st, err := vmconf.ParseStartup(c.Main().Value("startup")); err == nil {
		if v, ok := st.Order.Get(); ok {
			o.order = v
		}
		if v, ok := st.Up.Get(); ok {
			o.up = time.Duration(v) * time.Second
		}
		if v, ok := st.Down.Get(); ok {
			o.down = time.Duration(v) * time.Second
		}
	}
	return o
}

func vmidList(v string) map[int]bool {
	if v == "" {
		return nil
	}
	out := map[int]bool{}
	for _, s := range splitIDs(v) {
		if n, err := strconv.Atoi(s); err == nil {
			out[n] = true
		}
	}
	return out
}
