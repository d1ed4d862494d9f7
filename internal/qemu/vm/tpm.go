package vm

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/hearth-virt/hearth/internal/runner"
)

// startTPM runs swtpm for a VM with a tpmstate0 volume. The emulator keeps
// its state in the volume (a raw file or device) and QEMU talks to it
// over a unix socket; --terminate makes it exit with QEMU's connection.
func (s *Service) startTPM(ctx context.Context, vmid int, statePath, version string) error {
	p := s.paths(vmid)
	args := []string{"socket",
		"--tpmstate", "backend-uri=file://" + statePath + ",mode=0600",
		"--ctrl", "type=unixio,path=" + p.tpm() + ",mode=0600",
		"--pid", "file=" + p.tpmPid(),
		"--terminate", "--daemon",
		"--flags", "not-need-init,startup-clear",
	}
	if version != "v1.2" {
		args = append(args, "--tpm2")
	}
	if _, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "swtpm", Args: args}); err != nil {
		return fmt.Errorf("starting the TPM emulator: %w", err)
	}
	return nil
}

// stopTPM ends a VM's swtpm if it still runs (QEMU failed to start).
func (s *Service) stopTPM(vmid int) {
	p := s.paths(vmid)
	pid, err := readPID(p.tpmPid())
	if err != nil || !alive(pid, "file="+p.tpmPid()) {
		os.Remove(p.tpmPid())
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
}
