package vm

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// CPU and memory hot-plug. With hotplug cpu, a VM starts with one vCPU
// on the command line and one -device per further vCPU (cpu2, cpu3, …);
// with hotplug memory, with a fixed base and DIMMs (dimm0, … backed by
// mem-dimm0, …). Changing vcpus or memory of a running VM adds the
// devices a start with the new value would have. They are added through
// the human monitor with the very option strings the command line
// carries, so hot-plugged and cold-plugged devices cannot differ.

var (
	cpuDeviceRE = regexp.MustCompile(`(?:^|,)id=cpu(\d+)(?:,|$)`)
	dimmRE      = regexp.MustCompile(`(?:^|,)id=(mem-)?dimm(\d+)(?:,|$)`)
)

// hotArg is one -object or -device of a command line.
type hotArg struct {
	flag string // "-object" or "-device"
	opts string // its option string
	id   string
}

// hotArgs picks the -object and -device options matching re from argv.
func hotArgs(argv []string, re *regexp.Regexp) []hotArg {
	var out []hotArg
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] != "-object" && argv[i] != "-device" {
			continue
		}
		if re.MatchString(argv[i+1]) {
			out = append(out, hotArg{flag: argv[i], opts: argv[i+1], id: optID(argv[i+1])})
		}
	}
	return out
}

func optID(opts string) string {
	for _, part := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(part, "id="); ok {
			return v
		}
	}
	return ""
}

// peripherals lists the ids of the VM's devices and user-created objects.
func peripherals(ctx context.Context, p *proc) (map[string]bool, error) {
	out := map[string]bool{}
	for _, path := range []string{"/machine/peripheral", "/objects"} {
		var list []struct {
			Name string `json:"name"`
		}
		if err := p.qmp.Execute(ctx, "qom-list", map[string]any{"path": path}, &list); err != nil {
			return nil, err
		}
		for _, e := range list {
			out[e.Name] = true
		}
	}
	return out, nil
}

// hmp runs a human monitor command that prints nothing on success.
func hmp(ctx context.Context, p *proc, line string) error {
	out, err := p.qmp.HumanMonitorCommand(ctx, line)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("%s", strings.TrimSpace(out))
	}
	return nil
}

// hotplugCPUMem applies a new vcpus or memory value to a running VM. It
// only grows: taking vCPUs or memory away needs the guest's cooperation
// for every device, so those changes wait for the next start.
func (s *Service) hotplugCPUMem(ctx context.Context, cf *conf, key, old, now string) error {
	p, err := s.watch(ctx, cf.VMID)
	if err != nil || p == nil {
		return errNotRunning(cf.VMID)
	}
	in, err := s.hotInput(ctx, cf, key, now)
	if err != nil {
		return err
	}
	argv, _, err := cmdline.Build(in)
	if err != nil {
		return err
	}
	re := cpuDeviceRE
	if key == "memory" {
		re = dimmRE
		if shrinks(old, now) {
			return errNeedsRestart
		}
	}
	want := hotArgs(argv, re)
	have, err := peripherals(ctx, p)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, a := range want {
		wanted[a.id] = true
	}
	for id := range have {
		if re.MatchString("id="+id) && !wanted[id] {
			return errNeedsRestart // fewer vCPUs or DIMMs than now
		}
	}
	for _, a := range want {
		if have[a.id] {
			continue
		}
		cmd := "device_add "
		if a.flag == "-object" {
			cmd = "object_add "
		}
		if err := hmp(ctx, p, cmd+a.opts); err != nil {
			return fmt.Errorf("adding %s: %w", a.id, err)
		}
	}
	return nil
}

// shrinks reports whether a memory value is smaller than the old one.
func shrinks(old, now string) bool {
	o, err1 := vmconf.ParseMemory(old)
	n, err2 := vmconf.ParseMemory(now)
	if err1 != nil || err2 != nil {
		return false
	}
	oc, nc := o.Current, n.Current
	if oc == 0 {
		oc = vmconf.DefaultMemoryMiB
	}
	if nc == 0 {
		nc = vmconf.DefaultMemoryMiB
	}
	return nc < oc
}
