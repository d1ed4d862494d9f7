package vm

import (
	"context"
	"os"
	"regexp"
	"runtime"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
)

// hostFacts are what the command line depends on besides the
// configuration. They are read once, when the service starts.
type hostFacts struct {
	// KVM is true when /dev/kvm can be opened; without it VMs run under
	// TCG, slowly but correctly.
	KVM bool
	// Version is the QEMU version, such as "7.2.22"; MachineVersion the
	// newest machine version it offers ("7.2").
	Version, MachineVersion string
	// CPUs is the number of logical CPUs of the host.
	CPUs int
}

var qemuVersionRE = regexp.MustCompile(`version (\d+)\.(\d+)\.(\d+)`)

func detectHost(o Options) hostFacts {
	h := hostFacts{KVM: kvmUsable(), CPUs: runtime.NumCPU()}
	if o.KVM != nil {
		h.KVM = *o.KVM
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := o.Runner.Run(ctx, runner.Cmd{Name: o.QEMU, Args: []string{"--version"}})
	if err == nil {
		if m := qemuVersionRE.FindStringSubmatch(string(res.Stdout)); m != nil {
			h.Version = m[1] + "." + m[2] + "." + m[3]
			h.MachineVersion = m[1] + "." + m[2]
		}
	}
	return h
}

func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
