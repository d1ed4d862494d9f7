package vm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/agent"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// guestAgent returns the agent client of a running VM whose agent is
// turned on, or the error Proxmox VE gives.
func (s *Service) guestAgent(vmid int) (*agent.Client, error) {
	c, err := s.load(vmid)
	if err != nil {
		return nil, err
	}
	if _, running := s.paths(vmid).running(); !running {
		return nil, errNotRunning(vmid)
	}
	if a, err := vmconf.ParseAgent(c.Main().Value("agent")); err != nil || !a.Enabled {
		return nil, api.Errorf(http.StatusInternalServerError, "No QEMU guest agent configured")
	}
	return s.agentClient(vmid), nil
}

// agentError keeps the agent's own messages (clients match "QEMU guest
// agent is not running") as the status line of a 500.
func agentError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, agent.ErrNotRunning) {
		return api.Errorf(http.StatusInternalServerError, "QEMU guest agent is not running")
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	return api.Errorf(http.StatusInternalServerError, "%v", err)
}

// agentRun runs a command without parameters and returns its answer.
func (s *Service) agentRun(ctx context.Context, vmid int, command string) (api.AgentResult, error) {
	a, err := s.guestAgent(vmid)
	if err != nil {
		return api.AgentResult{}, err
	}
	var res json.RawMessage
	switch command {
	case "shutdown":
		err = a.Shutdown(ctx, "")
	case "suspend-disk":
		err = a.SuspendDisk(ctx)
	case "suspend-ram":
		err = a.SuspendRAM(ctx)
	case "suspend-hybrid":
		err = a.SuspendHybrid(ctx)
	default:
		err = a.Call(ctx, "guest-"+command, nil, &res)
	}
	if err != nil {
		return api.AgentResult{}, agentError(err)
	}
	var out any = map[string]any{}
	if len(res) > 0 {
		if err := json.Unmarshal(res, &out); err != nil {
			return api.AgentResult{}, err
		}
	}
	return api.AgentResult{Result: out}, nil
}

func (s *Service) agentRoutes() []api.Route {
	routes := []api.Route{
		api.AgentIndex.Handle(func(context.Context, *api.Call, *api.VMParam) ([]api.Child, error) {
			names := []string{"exec", "exec-status", "file-read", "file-write", "set-user-password"}
			for _, c := range api.AgentCommands {
				names = append(names, c.Name)
			}
			return children("name", names...), nil
		}),
		api.AgentCommand.Handle(func(ctx context.Context, _ *api.Call, in *api.AgentCommandParams) (api.AgentResult, error) {
			return s.agentRun(ctx, in.VMID, in.Command)
		}),
		api.AgentExec.Handle(s.agentExec),
		api.AgentExecStatus.Handle(s.agentExecStatus),
		api.AgentFileRead.Handle(s.agentFileRead),
		api.AgentFileWrite.Handle(s.agentFileWrite),
		api.AgentSetPassword.Handle(func(ctx context.Context, _ *api.Call, in *api.AgentPasswordParams) (api.AgentResult, error) {
			a, err := s.guestAgent(in.VMID)
			if err != nil {
				return api.AgentResult{}, err
			}
			if err := a.SetUserPassword(ctx, in.Username, in.Password, in.Crypted); err != nil {
				return api.AgentResult{}, agentError(err)
			}
			return api.AgentResult{Result: map[string]any{}}, nil
		}),
	}
	for i, d := range api.AgentSimple {
		name := api.AgentCommands[i].Name
		routes = append(routes, d.Handle(func(ctx context.Context, _ *api.Call, in *api.VMParam) (api.AgentResult, error) {
			return s.agentRun(ctx, in.VMID, name)
		}))
	}
	return routes
}

func (s *Service) agentExec(ctx context.Context, _ *api.Call, in *api.AgentExecParams) (map[string]any, error) {
	a, err := s.guestAgent(in.VMID)
	if err != nil {
		return nil, err
	}
	if len(in.Command) == 0 {
		return nil, api.ParamError("command", "give the program to run")
	}
	req := agent.ExecRequest{Path: in.Command[0], Args: in.Command[1:], CaptureOutput: true}
	if in.InputData != "" {
		req.Input = []byte(in.InputData)
	}
	pid, err := a.Exec(ctx, req)
	if err != nil {
		return nil, agentError(err)
	}
	return map[string]any{"pid": pid}, nil
}

func (s *Service) agentExecStatus(ctx context.Context, _ *api.Call, in *api.AgentExecStatusParams) (map[string]any, error) {
	a, err := s.guestAgent(in.VMID)
	if err != nil {
		return nil, err
	}
	st, err := a.ExecStatus(ctx, in.PID)
	if err != nil {
		return nil, agentError(err)
	}
	out := map[string]any{"exited": boolNum(st.Exited)}
	if st.ExitCode != nil {
		out["exitcode"] = *st.ExitCode
	}
	if st.Signal != nil {
		out["signal"] = *st.Signal
	}
	if st.Out != nil {
		out["out-data"] = string(st.Out)
	}
	if st.Err != nil {
		out["err-data"] = string(st.Err)
	}
	if st.OutTruncated {
		out["out-truncated"] = 1
	}
	return out, nil
}

func (s *Service) agentFileRead(ctx context.Context, _ *api.Call, in *api.AgentFileReadParams) (map[string]any, error) {
	a, err := s.guestAgent(in.VMID)
	if err != nil {
		return nil, err
	}
	data, err := a.FileRead(ctx, in.File)
	if err != nil {
		return nil, agentError(err)
	}
	if in.Offset > 0 {
		data = data[min(int(in.Offset), len(data)):]
	}
	out := map[string]any{}
	if in.Count > 0 && int64(len(data)) > in.Count {
		data = data[:in.Count]
		out["truncated"] = 1
	}
	if in.Decode != nil && !*in.Decode {
		out["content"] = base64.StdEncoding.EncodeToString(data)
	} else {
		out["content"] = string(data)
	}
	return out, nil
}

func (s *Service) agentFileWrite(ctx context.Context, _ *api.Call, in *api.AgentFileWriteParams) (any, error) {
	a, err := s.guestAgent(in.VMID)
	if err != nil {
		return nil, err
	}
	data := []byte(in.Content)
	if in.Encode != nil && !*in.Encode {
		if data, err = base64.StdEncoding.DecodeString(in.Content); err != nil {
			return nil, api.ParamError("content", "not base64: %v", err)
		}
	}
	return nil, agentError(a.FileWrite(ctx, in.File, data))
}

func boolNum(b bool) int {
	if b {
		return 1
	}
	return 0
}
