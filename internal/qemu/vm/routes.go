package vm

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
)

// Routes binds the VM endpoints.
func (s *Service) Routes() []api.Route {
	return append([]api.Route{
		api.VMList.Handle(s.list),
		api.VMCreate.Handle(s.createVM),
		api.VMIndex.Handle(func(context.Context, *api.Call, *api.VMParam) ([]api.Child, error) {
			return children("subdir", "config", "pending", "status", "snapshot", "clone", "template", "resize",
				"move_disk", "unlink", "showcmd", "vncproxy", "termproxy", "vncwebsocket", "sendkey", "monitor",
				"agent", "cloudinit", "feature", "rrd", "rrddata", "firewall", "migrate"), nil
		}),
		api.VMDestroy.Handle(s.destroyVM),
		api.VMConfigGet.Handle(s.getConfig),
		api.VMConfigUpdateAsync.Handle(s.updateAsync),
		api.VMConfigUpdate.Handle(s.updateSync),
		api.VMPendingGet.Handle(s.pending),
		api.VMShowCmd.Handle(s.showCmd),
		api.VMStatusIndex.Handle(func(context.Context, *api.Call, *api.VMParam) ([]api.Child, error) {
			return children("subdir", "current", "start", "stop", "shutdown", "reboot", "reset", "suspend", "resume"), nil
		}),
		api.VMStatusCurrent.Handle(s.current),
		api.VMStart.Handle(s.startTask),
		api.VMStop.Handle(s.stopTask),
		api.VMShutdown.Handle(s.shutdownTask),
		api.VMReboot.Handle(s.rebootTask),
		api.VMReset.Handle(s.resetTask),
		api.VMSuspend.Handle(s.suspendTask),
		api.VMResume.Handle(s.resumeTask),
		api.NodeStartAll.Handle(s.startAll),
		api.NodeStopAll.Handle(s.stopAll),
	}, slices.Concat(s.agentRoutes(), s.cloudInitRoutes(), s.snapshotRoutes(), s.cloneRoutes(), s.diskRoutes())...)
}

func children(key string, names ...string) []api.Child {
	out := make([]api.Child, len(names))
	for i, n := range names {
		if key == "name" {
			out[i].Name = n
		} else {
			out[i].Subdir = n
		}
	}
	return out
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func vmTask(typ string, vmid int, run func(ctx context.Context, log api.TaskLog) error) api.Task {
	return api.Task{Type: typ, ID: strconv.Itoa(vmid), Run: run}
}

// exists checks a VM is on this node before a task is started for it, so
// that a wrong id fails the call rather than the task.
func (s *Service) exists(vmid int) error {
	_, err := s.load(vmid)
	return err
}

func (s *Service) startTask(_ context.Context, _ *api.Call, in *api.VMStartParams) (api.Task, error) {
	if err := s.exists(in.VMID); err != nil {
		return api.Task{}, err
	}
	if _, running := s.paths(in.VMID).running(); running {
		return api.Task{}, errRunning(in.VMID)
	}
	o := startOptions{SkipLock: in.SkipLock, Timeout: seconds(in.Timeout), Machine: in.Machine, ForceCPU: in.ForceCPU}
	return vmTask("qmstart", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.start(ctx, in.VMID, o, log)
	}), nil
}

func (s *Service) stopTask(_ context.Context, _ *api.Call, in *api.VMStopParams) (api.Task, error) {
	if err := s.exists(in.VMID); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmstop", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		if in.OverruleShutdown {
			if n := s.overruleShutdowns(in.VMID); n > 0 {
				log.Printf("ended %d running shutdown task(s) of VM %d", n, in.VMID)
			}
		}
		return s.stop(ctx, in.VMID, seconds(in.Timeout), in.SkipLock, log)
	}), nil
}

func (s *Service) shutdownTask(_ context.Context, _ *api.Call, in *api.VMShutdownParams) (api.Task, error) {
	if err := s.exists(in.VMID); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmshutdown", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.shutdown(ctx, in.VMID, seconds(in.Timeout), in.ForceStop, in.SkipLock, log)
	}), nil
}

func (s *Service) rebootTask(_ context.Context, _ *api.Call, in *api.VMRebootParams) (api.Task, error) {
	if err := s.exists(in.VMID); err != nil {
		return api.Task{}, err
	}
	if _, running := s.paths(in.VMID).running(); !running {
		return api.Task{}, errNotRunning(in.VMID)
	}
	return vmTask("qmreboot", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		if err := s.shutdown(ctx, in.VMID, seconds(in.Timeout), false, false, log); err != nil {
			return err
		}
		return s.start(ctx, in.VMID, startOptions{}, log)
	}), nil
}

func (s *Service) resetTask(_ context.Context, _ *api.Call, in *api.VMSkipLockParams) (api.Task, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if err := checkLock(c, in.SkipLock); err != nil {
		return api.Task{}, err
	}
	return vmTask("qmreset", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.qmpCall(ctx, in.VMID, "system_reset", nil, nil)
	}), nil
}

func (s *Service) suspendTask(_ context.Context, c *api.Call, in *api.VMSuspendParams) (api.Task, error) {
	cf, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if err := checkLock(cf, in.SkipLock); err != nil {
		return api.Task{}, err
	}
	if _, running := s.paths(in.VMID).running(); !running {
		return api.Task{}, errNotRunning(in.VMID)
	}
	if in.ToDisk {
		vmPath := "/vms/" + strconv.Itoa(in.VMID)
		if c.Perm != nil && !c.Perm.Has(vmPath, "VM.Config.Disk") {
			return api.Task{}, &api.Denied{Path: vmPath, Priv: "VM.Config.Disk"}
		}
		target := s.stateStorage(cf, in.StateStorage)
		if err := checkAllocate(c, target); err != nil {
			return api.Task{}, err
		}
		return vmTask("qmsuspend", in.VMID, func(ctx context.Context, log api.TaskLog) error {
			return s.hibernate(ctx, in.VMID, target, log)
		}), nil
	}
	return vmTask("qmpause", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.qmpCall(ctx, in.VMID, "stop", nil, nil)
	}), nil
}

func (s *Service) resumeTask(_ context.Context, _ *api.Call, in *api.VMResumeParams) (api.Task, error) {
	cf, err := s.load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if !in.NoCheck && !in.SkipLock {
		if l := cf.Main().Value("lock"); l != "" && l != "suspended" {
			return api.Task{}, api.Errorf(http.StatusInternalServerError, "VM is locked (%s)", l)
		}
	}
	if _, running := s.paths(in.VMID).running(); !running {
		if cf.Main().Value("lock") == "suspended" {
			// Hibernated: resuming is starting from the saved state.
			return vmTask("qmresume", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				return s.start(ctx, in.VMID, startOptions{}, log)
			}), nil
		}
		return api.Task{}, errNotRunning(in.VMID)
	}
	return vmTask("qmresume", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.qmpCall(ctx, in.VMID, "cont", nil, nil)
	}), nil
}

func (s *Service) showCmd(ctx context.Context, _ *api.Call, in *api.ShowCmdParams) (string, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return "", err
	}
	input, err := s.cmdlineInput(ctx, c, in.Snapshot)
	if err != nil {
		return "", err
	}
	argv, _, err := cmdline.Build(input)
	if err != nil {
		return "", err
	}
	if in.Pretty {
		return cmdline.Pretty(argv), nil
	}
	return cmdline.Quote(argv), nil
}
