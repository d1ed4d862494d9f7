package vm

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// startOptions are the parameters of a start besides the VM.
type startOptions struct {
	SkipLock bool
	Timeout  time.Duration
	Machine  string
	ForceCPU string
	// Paused leaves the CPUs stopped after the start (snapshot rollback
	// loads the memory first); so does the VM's freeze option.
	Paused bool
}

// versionedMachineRE matches a machine type that names its version.
var versionedMachineRE = regexp.MustCompile(`^pc-(i440fx|q35)-\d+\.\d+`)

// start starts a stopped VM: pending changes are applied, the machine
// version is pinned on the first start (so the guest keeps seeing the
// same hardware after QEMU upgrades and across migrations), the volumes
// are resolved, QEMU starts paused, the NICs are plugged and the CPUs
// start.
func (s *Service) start(ctx context.Context, vmid int, o startOptions, log api.TaskLog) error {
	unlock := s.lock(vmid)
	defer unlock()
	if _, running := s.paths(vmid).running(); running {
		return errRunning(vmid)
	}
	c, err := s.load(vmid)
	if err != nil {
		return err
	}
	resume := c.Main().Value("lock") == "suspended" && c.Main().Value("vmstate") != ""
	if !resume {
		if err := checkLock(c, o.SkipLock); err != nil {
			return err
		}
	}
	if c.Main().Value("template") == "1" {
		return api.Errorf(500, "VM %d is a template; templates cannot be started", vmid)
	}
	changed, err := s.applyPending(ctx, c, log)
	if err != nil {
		return err
	}
	if o.Machine == "" && !resume {
		m := c.Main().Value("machine")
		if !versionedMachineRE.MatchString(m) {
			pinned := cmdline.MachineType(mainValues(c), s.cmdlineHost())
			if mm, err := vmconf.ParseMachine(m); err == nil && mm.Viommu != "" {
				pinned += ",viommu=" + mm.Viommu
			}
			if err := c.Main().Set("machine", pinned); err != nil {
				return err
			}
			log.Printf("pinning machine type %s for VM %d", pinned, vmid)
			changed = true
		}
	}
	if changed {
		if err := s.save(ctx, c); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.o.RunDir, 0o700); err != nil {
		return err
	}
	in, err := s.cmdlineInput(ctx, c, "")
	if err != nil {
		return err
	}
	in.Machine, in.ForceCPU = o.Machine, o.ForceCPU
	if resume {
		state, err := s.attachFile(ctx, c.Main().Value("vmstate"), "")
		if err != nil {
			return fmt.Errorf("reading the saved state: %w", err)
		}
		in.Incoming = "exec:cat " + shellQuote(state.Path)
	}
	if err := s.prepareCloudInit(ctx, c, &in, log); err != nil {
		return err
	}
	argv, warnings, err := cmdline.Build(in)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		if strings.Contains(w, "(TCG)") {
			// Running under TCG on a host without KVM is how such a host
			// works, not a fault of this start: it is said in the log but
			// not counted, so the task ends OK and clients that check for
			// OK (go-proxmox, Terraform providers) see a successful start.
			log.Printf("NOTE: %s", w)
			continue
		}
		log.Warnf("%s", w)
	}
	argv = append(argv, "-S")
	if tpm, ok := in.Volumes["tpmstate0"]; ok {
		d, _ := vmconf.ParseDrive("tpmstate0", c.Main().Value("tpmstate0"))
		if err := s.startTPM(ctx, vmid, tpm.Path, d.TPMVersion); err != nil {
			return err
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pid, err := launch(lctx, s.o.Runner, s.o.NetNS, argv, s.paths(vmid).pid())
	if err != nil {
		s.stopTPM(vmid)
		s.cleanupFiles(vmid)
		return err
	}
	p, err := s.watch(lctx, vmid)
	if err == nil && p == nil {
		err = fmt.Errorf("QEMU exited right after starting")
	}
	if err != nil {
		_ = kill(pid)
		s.afterExit(vmid)
		return fmt.Errorf("VM %d: %w", vmid, err)
	}
	if err := s.plugAllNICs(lctx, c); err != nil {
		_ = p.qmp.Execute(context.WithoutCancel(ctx), "quit", nil, nil)
		return err
	}
	if resume {
		if err := waitIncoming(lctx, p); err != nil {
			_ = p.qmp.Execute(context.WithoutCancel(ctx), "quit", nil, nil)
			return fmt.Errorf("resuming from the saved state: %w", err)
		}
	}
	if o.Paused || c.Main().Value("freeze") == "1" {
		log.Printf("VM %d started with pid %d, its CPUs stopped", vmid, pid)
		return nil
	}
	if err := p.qmp.Execute(lctx, "cont", nil, nil); err != nil {
		_ = p.qmp.Execute(context.WithoutCancel(ctx), "quit", nil, nil)
		return fmt.Errorf("VM %d: starting the CPUs: %w", vmid, err)
	}
	if resume {
		s.finishResume(context.WithoutCancel(ctx), c, log)
	}
	log.Printf("VM %d started with pid %d", vmid, pid)
	return nil
}

// plugAllNICs connects every NIC's tap to its bridge.
func (s *Service) plugAllNICs(ctx context.Context, c *conf) error {
	list, err := nets(c.Main().Get)
	if err != nil {
		return err
	}
	for _, n := range list {
		if err := s.plug(ctx, c.VMID, n); err != nil {
			return err
		}
	}
	return nil
}

// mainValues returns the main section as a map.
func mainValues(c *conf) map[string]string {
	m := map[string]string{}
	for _, k := range c.Main().Keys() {
		m[k] = c.Main().Value(k)
	}
	return m
}

func (s *Service) cmdlineHost() cmdline.Host {
	return cmdline.Host{KVM: s.host.KVM, QEMUVersion: s.host.Version, MachineVersion: s.host.MachineVersion, CPUs: s.host.CPUs,
		OVMFCode: "/usr/share/OVMF/OVMF_CODE_4M.fd", OVMFCode2M: "/usr/share/OVMF/OVMF_CODE.fd"}
}

// cmdlineInput resolves everything the command line needs: the volumes
// of the drives (of the snapshot snap, or the current state).
func (s *Service) cmdlineInput(ctx context.Context, c *conf, snap string) (cmdline.Input, error) {
	values := mainValues(c)
	if snap != "" {
		sec := c.File.Snapshot(snap)
		if sec == nil {
			return cmdline.Input{}, api.Errorf(500, "snapshot '%s' does not exist", snap)
		}
		values = map[string]string{}
		for _, k := range sec.Keys() {
			values[k] = sec.Value(k)
		}
	}
	p := s.paths(c.VMID)
	in := cmdline.Input{VMID: c.VMID, Config: values, Host: s.cmdlineHost(), Volumes: map[string]cmdline.Volume{},
		Paths: cmdline.Paths{QMP: p.qmp(), PID: p.pid(), VNC: p.vnc(), QGA: p.qga(), TPM: p.tpm()}}
	for i := range in.Paths.Serial {
		in.Paths.Serial[i] = p.serial(i)
	}
	// A hand-written file may still say cdrom: for ide2.
	for _, key := range append(vmconf.DriveKeys(), "cdrom") {
		v, ok := values[key]
		if !ok {
			continue
		}
		d, err := vmconf.ParseDrive(key, v)
		if err != nil {
			return in, fmt.Errorf("%s: %w", key, err)
		}
		if d.IsNone() || d.File == "cdrom" {
			continue
		}
		a, err := s.attachFile(ctx, d.File, "")
		if err != nil {
			return in, fmt.Errorf("%s: %w", key, err)
		}
		vol := cmdline.Volume{Blockdev: a.Blockdev, Format: a.Format, Path: a.Path, ReadOnly: d.IsCDROM()}
		if d.Format != "" {
			vol.Format = d.Format
		}
		if !isPath(d.File) {
			if v, err := s.openVolume(ctx, d.File); err == nil && v.vol.IsBase {
				vol.ReadOnly = true
			}
		}
		in.Volumes[key] = vol
	}
	return in, nil
}

// shellQuote quotes a path for QEMU's exec: migration URIs, which run
// through /bin/sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
