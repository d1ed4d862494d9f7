package vm

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/qmp"
)

// Who may run which human monitor command. The monitor can do anything
// QEMU can, including reading and writing host files (migrate to a file,
// dump memory, add drives by path) and changing host networking, so the
// commands are split in three as Proxmox VE 8 does: the reading ones
// (info, help) need only the endpoint's Sys.Audit; the ones that act on
// the VM itself need Sys.Modify on the VM; everything else, including
// commands this list does not know, is for root@pam alone.
var monitorVMCommands = strings.Fields(`announce_self backup_cancel balloon
block_job_cancel block_job_complete block_job_pause block_job_resume
block_job_set_speed block_resize block_set_io_throttle boot_set c
calc_dirty_rate cancel_vcpu_dirty_limit chardev-send-break closefd commit
cont cpu delvm eject exit_preconfig expire_password getfd gpa2hpa gpa2hva
gva2gpa i loadvm log migrate_cancel migrate_continue migrate_pause
migrate_set_capability migrate_set_parameter migrate_start_postcopy
mouse_button mouse_move mouse_set one-insn-per-tb p print q qemu-io qom-get
qom-list quit replay_break replay_delete_break replay_seek ringbuf_read
ringbuf_write s savevm sendkey set_link set_password set_vcpu_dirty_limit
snapshot_blkdev_internal snapshot_delete_blkdev_internal stop stopcapture
sum sync-profile system_powerdown system_reset system_wakeup trace-event x
x_colo_lost_heartbeat xp`)

// monitorReadCommands only show things.
var monitorReadCommands = []string{"info", "help", "?"}

// monitorPrivilege returns what running the command line needs beyond
// the endpoint's check: "" for nothing, "Sys.Modify" on the VM, or
// "root" for root@pam only.
func monitorPrivilege(command string) string {
	fields := strings.Fields(command)
	if len(fields) == 0 {
		return ""
	}
	switch name := fields[0]; {
	case slices.Contains(monitorReadCommands, name):
		return ""
	case slices.Contains(monitorVMCommands, name):
		return "Sys.Modify"
	}
	return "root"
}

func (s *Service) monitor(ctx context.Context, c *api.Call, in *api.VMMonitorParams) (string, error) {
	if strings.TrimSpace(in.Command) == "" {
		return "", api.ParamError("command", "give a monitor command, such as 'info status' or 'help'")
	}
	if err := checkMonitorCommand(c, in.VMID, in.Command); err != nil {
		return "", err
	}
	if _, err := s.load(in.VMID); err != nil {
		return "", err
	}
	p, err := s.watch(ctx, in.VMID)
	if err != nil {
		return "", err
	}
	if p == nil {
		return "", errNotRunning(in.VMID)
	}
	return p.qmp.HumanMonitorCommand(ctx, in.Command)
}

// checkMonitorCommand checks the caller may run a monitor command line.
func checkMonitorCommand(c *api.Call, vmid int, command string) error {
	if c == nil || c.Perm == nil || (c.User == api.RootUser && c.Token == "") {
		return nil
	}
	name := strings.Fields(command)[0]
	switch monitorPrivilege(command) {
	case "Sys.Modify":
		if path := "/vms/" + strconv.Itoa(vmid); !c.Perm.Has(path, "Sys.Modify") {
			return &api.Denied{Path: path, Priv: "Sys.Modify"}
		}
	case "root":
		return api.Errorf(http.StatusForbidden, "monitor command '%s' can reach the host; only root@pam may run it", name)
	}
	return nil
}

// sendKey presses a key combination on the VM's keyboard.
func (s *Service) sendKey(ctx context.Context, c *api.Call, in *api.VMSendKeyParams) (any, error) {
	if err := checkSkipLock(c, in.SkipLock); err != nil {
		return nil, err
	}
	if _, err := qmp.ParseKeys(in.Key); err != nil {
		return nil, api.ParamError("key", "%v", err)
	}
	cf, err := s.load(in.VMID)
	if err != nil {
		return nil, err
	}
	if err := checkLock(cf, in.SkipLock); err != nil {
		return nil, err
	}
	p, err := s.watch(ctx, in.VMID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errNotRunning(in.VMID)
	}
	return nil, p.qmp.SendKey(ctx, in.Key, 0)
}
