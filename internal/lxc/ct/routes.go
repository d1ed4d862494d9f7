package ct

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/hearth-virt/hearth/api"
)

// Routes binds the container endpoints.
func (s *Service) Routes() []api.Route {
	return append([]api.Route{
		api.CTList.Handle(s.list),
		api.CTCreate.Handle(s.createCT),
		api.CTIndex.Handle(func(context.Context, *api.Call, *api.CTParam) ([]api.Child, error) {
			return children("config", "pending", "status", "snapshot", "clone", "template", "resize", "move_volume",
				"feature", "termproxy", "vncproxy", "vncwebsocket", "exec", "push", "pull", "mount", "unmount", "fsck",
				"interfaces", "rrd", "rrddata", "firewall", "migrate"), nil
		}),
		api.CTDestroy.Handle(s.destroyTask),
		api.CTConfigGet.Handle(s.getConfig),
		api.CTConfigUpdate.Handle(s.updateConfig),
		api.CTPendingGet.Handle(s.pending),
		api.CTStatusIndex.Handle(func(context.Context, *api.Call, *api.CTParam) ([]api.Child, error) {
			return children("current", "start", "stop", "shutdown", "reboot", "suspend", "resume"), nil
		}),
		api.CTStatusCurrent.Handle(s.current),
		api.CTStart.Handle(func(_ context.Context, _ *api.Call, in *api.CTStartParams) (api.Task, error) {
			if err := s.exists(in.VMID); err != nil {
				return api.Task{}, err
			}
			if _, ok := s.running(in.VMID); ok {
				return api.Task{}, errRunning(in.VMID)
			}
			return ctTask("vzstart", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				return s.start(ctx, in.VMID, startOptions{SkipLock: in.SkipLock, Debug: in.Debug}, log)
			}), nil
		}),
		api.CTStop.Handle(func(_ context.Context, _ *api.Call, in *api.CTStopParams) (api.Task, error) {
			if err := s.exists(in.VMID); err != nil {
				return api.Task{}, err
			}
			return ctTask("vzstop", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				return s.stop(ctx, in.VMID, in.SkipLock, log)
			}), nil
		}),
		api.CTShutdown.Handle(func(_ context.Context, _ *api.Call, in *api.CTShutdownParams) (api.Task, error) {
			if err := s.exists(in.VMID); err != nil {
				return api.Task{}, err
			}
			timeout := in.Timeout
			if timeout == 0 {
				timeout = api.CTShutdownTimeout
			}
			return ctTask("vzshutdown", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				return s.shutdown(ctx, in.VMID, seconds(timeout), in.ForceStop, log)
			}), nil
		}),
		api.CTReboot.Handle(func(_ context.Context, _ *api.Call, in *api.VMRebootParams) (api.Task, error) {
			if err := s.exists(in.VMID); err != nil {
				return api.Task{}, err
			}
			if _, ok := s.running(in.VMID); !ok {
				return api.Task{}, errNotRunning(in.VMID)
			}
			timeout := in.Timeout
			if timeout == 0 {
				timeout = api.CTShutdownTimeout
			}
			// A reboot is a shutdown and a start, so that pending changes
			// take effect, as on Proxmox VE.
			return ctTask("vzreboot", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				if err := s.shutdown(ctx, in.VMID, seconds(timeout), false, log); err != nil {
					return err
				}
				return s.start(ctx, in.VMID, startOptions{}, log)
			}), nil
		}),
		api.CTSuspend.Handle(func(_ context.Context, _ *api.Call, in *api.CTParam) (api.Task, error) {
			if err := s.exists(in.VMID); err != nil {
				return api.Task{}, err
			}
			return ctTask("vzsuspend", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				return s.suspend(ctx, in.VMID, false)
			}), nil
		}),
		api.CTResume.Handle(func(_ context.Context, _ *api.Call, in *api.CTParam) (api.Task, error) {
			if err := s.exists(in.VMID); err != nil {
				return api.Task{}, err
			}
			return ctTask("vzresume", in.VMID, func(ctx context.Context, log api.TaskLog) error {
				return s.suspend(ctx, in.VMID, true)
			}), nil
		}),
	}, slices.Concat(s.templateRoutes(), s.volumeRoutes(), s.extraRoutes())...)
}

func children(names ...string) []api.Child {
	out := make([]api.Child, len(names))
	for i, n := range names {
		out[i].Subdir = n
	}
	return out
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func ctTask(typ string, vmid int, run func(ctx context.Context, log api.TaskLog) error) api.Task {
	return api.Task{Type: typ, ID: strconv.Itoa(vmid), Run: run}
}

// exists checks a container is on this node before a task is started
// for it, so that a wrong id fails the call rather than the task.
func (s *Service) exists(vmid int) error {
	_, err := s.repo.Load(vmid)
	return err
}
