package api

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api/schema"
)

// pveCT is what Proxmox VE's schema says about one container call: its
// name, whether it answers with a task id, whether it is protected, and
// its permission in the shape of the schema dump.
type pveCT struct {
	method, path, name string
	task, protected    bool
	perm               string
}

const (
	ctAudit   = "[perm /vms/{vmid} [VM.Audit]]"
	ctPower   = "[perm /vms/{vmid} [VM.PowerMgmt]]"
	ctSnap    = "[perm /vms/{vmid} [VM.Snapshot]]"
	ctConsole = "[perm /vms/{vmid} [VM.Console]]"
	anyUser   = "user:all"
)

// pveCTCalls are the container and template calls of Proxmox VE that this
// package declares, as its API schema describes them.
var pveCTCalls = []pveCT{
	{"GET", "/nodes/{node}/lxc", "vmlist", false, true, anyUser},
	{"POST", "/nodes/{node}/lxc", "create_vm", true, true, anyUser},
	{"GET", "/nodes/{node}/lxc/{vmid}", "vmdiridx", false, false, anyUser},
	{"DELETE", "/nodes/{node}/lxc/{vmid}", "destroy_vm", true, true, "[perm /vms/{vmid} [VM.Allocate]]"},
	{"GET", "/nodes/{node}/lxc/{vmid}/config", "vm_config", false, false, ctAudit},
	{"PUT", "/nodes/{node}/lxc/{vmid}/config", "update_vm", false, true,
		"[perm /vms/{vmid} [VM.Config.Disk VM.Config.CPU VM.Config.Memory VM.Config.Network VM.Config.Options] any 1]"},
	{"GET", "/nodes/{node}/lxc/{vmid}/pending", "vm_pending", false, false, ctAudit},
	{"GET", "/nodes/{node}/lxc/{vmid}/status", "vmcmdidx", false, false, anyUser},
	{"GET", "/nodes/{node}/lxc/{vmid}/status/current", "vm_status", false, true, ctAudit},
	{"POST", "/nodes/{node}/lxc/{vmid}/status/start", "vm_start", true, true, ctPower},
	{"POST", "/nodes/{node}/lxc/{vmid}/status/stop", "vm_stop", true, true, ctPower},
	{"POST", "/nodes/{node}/lxc/{vmid}/status/shutdown", "vm_shutdown", true, true, ctPower},
	{"POST", "/nodes/{node}/lxc/{vmid}/status/reboot", "vm_reboot", true, true, ctPower},
	{"POST", "/nodes/{node}/lxc/{vmid}/status/suspend", "vm_suspend", true, true, ctPower},
	{"POST", "/nodes/{node}/lxc/{vmid}/status/resume", "vm_resume", true, true, ctPower},
	{"GET", "/nodes/{node}/lxc/{vmid}/snapshot", "list", false, true, ctAudit},
	{"POST", "/nodes/{node}/lxc/{vmid}/snapshot", "snapshot", true, true, ctSnap},
	{"GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", "snapshot_cmd_idx", false, false, anyUser},
	{"DELETE", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", "delsnapshot", true, true, ctSnap},
	{"GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", "get_snapshot_config", false, false,
		"[perm /vms/{vmid} [VM.Snapshot VM.Snapshot.Rollback VM.Audit] any 1]"},
	{"PUT", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", "update_snapshot_config", false, true, ctSnap},
	{"POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback", "rollback", true, true,
		"[perm /vms/{vmid} [VM.Snapshot VM.Snapshot.Rollback] any 1]"},
	{"GET", "/nodes/{node}/lxc/{vmid}/feature", "vm_feature", false, true, ctAudit},
	{"POST", "/nodes/{node}/lxc/{vmid}/clone", "clone_vm", true, true,
		"[and [perm /vms/{vmid} [VM.Clone]] [or [perm /vms/{newid} [VM.Allocate]] [perm /pool/{pool} [VM.Allocate]]]]"},
	{"POST", "/nodes/{node}/lxc/{vmid}/template", "template", false, true, "[perm /vms/{vmid} [VM.Allocate]]"},
	{"PUT", "/nodes/{node}/lxc/{vmid}/resize", "resize_vm", true, true, "[perm /vms/{vmid} [VM.Config.Disk] any 1]"},
	{"POST", "/nodes/{node}/lxc/{vmid}/move_volume", "move_volume", true, true, "[perm /vms/{vmid} [VM.Config.Disk]]"},
	{"POST", "/nodes/{node}/lxc/{vmid}/vncproxy", "vncproxy", false, true, ctConsole},
	{"POST", "/nodes/{node}/lxc/{vmid}/termproxy", "termproxy", false, true, ctConsole},
	{"GET", "/nodes/{node}/lxc/{vmid}/vncwebsocket", "vncwebsocket", false, false, ctConsole},
	{"GET", "/nodes/{node}/aplinfo", "aplinfo", false, false, anyUser},
	{"POST", "/nodes/{node}/aplinfo", "apl_download", true, true, "[perm /storage/{storage} [Datastore.AllocateTemplate]]"},
}

// hearthCTCalls are the calls Proxmox VE does not have, with the command
// each one's description must name.
var hearthCTCalls = []struct {
	pveCT
	cmd string
}{
	{pveCT{"POST", "/nodes/{node}/lxc/{vmid}/exec", "exec", false, true, ctConsole}, "pct exec"},
	{pveCT{"POST", "/nodes/{node}/lxc/{vmid}/push", "push", false, true, "user:root"}, "pct push"},
	{pveCT{"GET", "/nodes/{node}/lxc/{vmid}/pull", "pull", false, false, "user:root"}, "pct pull"},
	{pveCT{"POST", "/nodes/{node}/lxc/{vmid}/mount", "mount", false, true, "user:root"}, "pct mount"},
	{pveCT{"POST", "/nodes/{node}/lxc/{vmid}/unmount", "unmount", false, true, "user:root"}, "pct unmount"},
	{pveCT{"POST", "/nodes/{node}/lxc/{vmid}/fsck", "fsck", true, true, "user:root"}, "pct fsck"},
	{pveCT{"POST", "/nodes/{node}/aplinfo/build", "apl_build", true, true, "[perm /storage/{storage} [Datastore.AllocateTemplate]]"}, "pveam build"},
}

// permShape renders a rule as Proxmox VE's schema dump does, without the
// free-text description.
func permShape(p Permission) string {
	m := p.PVE()
	if u, ok := m["user"]; ok {
		return fmt.Sprint("user:", u)
	}
	return fmt.Sprint(m["check"])
}

func checkCall(t *testing.T, e *Endpoint, want pveCT) {
	t.Helper()
	if e.Name != want.name || e.Task != want.task || e.Protected != want.protected {
		t.Errorf("%s: name %q task %v protected %v, want %q %v %v", e.Key(), e.Name, e.Task, e.Protected,
			want.name, want.task, want.protected)
	}
	if got := permShape(e.Perm); got != want.perm {
		t.Errorf("%s: permission %s, want %s", e.Key(), got, want.perm)
	}
	// A task's answer is its id; every other call says what it returns.
	if e.Task != (e.OutType() == reflect.TypeFor[string]() && e.Returns.Type == schema.String && strings.Contains(e.Returns.Description, "UPID")) {
		t.Errorf("%s: task %v but returns %s %q", e.Key(), e.Task, e.Returns.Type, e.Returns.Description)
	}
}

// TestLXCEndpointsMatchPVE pins each declared call to Proxmox VE's
// method, path, name, task-ness, protection and permission, and each
// Hearth addition to a description saying so; nothing else is declared.
func TestLXCEndpointsMatchPVE(t *testing.T) {
	declared := map[string]*Endpoint{}
	for _, e := range LXCEndpoints() {
		if declared[e.Key()] != nil {
			t.Errorf("%s is declared twice", e.Key())
		}
		declared[e.Key()] = e
	}
	seen := map[string]bool{}
	for _, want := range pveCTCalls {
		key := want.method + " " + want.path
		seen[key] = true
		e := declared[key]
		if e == nil {
			t.Errorf("%s is not declared", key)
			continue
		}
		checkCall(t, e, want)
		if strings.Contains(e.Description, "Hearth addition") && !strings.Contains(e.Description, "parameter is a Hearth addition") {
			t.Errorf("%s: a Proxmox VE call described as a Hearth addition", key)
		}
	}
	for _, want := range hearthCTCalls {
		key := want.method + " " + want.path
		seen[key] = true
		e := declared[key]
		if e == nil {
			t.Errorf("%s is not declared", key)
			continue
		}
		checkCall(t, e, want.pveCT)
		if !strings.Contains(e.Description, "Hearth addition") || !strings.Contains(e.Description, "behind "+want.cmd) {
			t.Errorf("%s: the description must call it a Hearth addition behind %s: %q", key, want.cmd, e.Description)
		}
	}
	for key := range declared {
		if !seen[key] {
			t.Errorf("%s is declared but not expected", key)
		}
	}
	// The registry must not list a second declaration of the same call.
	for _, e := range All() {
		if d := declared[e.Key()]; d != nil && d != e {
			t.Errorf("%s is also declared elsewhere", e.Key())
		}
	}
}

// TestLXCDeclarationsAreConsistent applies the registry's rules to the
// container declarations: path and permission parameters exist, every
// call runs on the node of its path, input types bind, and CLI arguments
// name parameters (or, for a client-side file, a local option).
func TestLXCDeclarationsAreConsistent(t *testing.T) {
	for _, e := range LXCEndpoints() {
		key := e.Key()
		if e.Description == "" || !strings.HasPrefix(e.Path, "/nodes/{node}/") {
			t.Errorf("%s: missing description or not below a node", key)
		}
		for _, p := range e.PathParams() {
			if s, ok := e.Params[p]; !ok || s.Optional {
				t.Errorf("%s: path parameter %q is not declared as required", key, p)
			}
		}
		if e.ProxyTo != "node" || e.Params["node"] == nil || e.Params["node"].Format != "pve-node" {
			t.Errorf("%s: must run on the node of its path (ProxyTo %q)", key, e.ProxyTo)
		}
		for _, v := range placeholders(e.Perm.Path) {
			if _, ok := e.Params[v]; !ok {
				t.Errorf("%s: permission path uses undeclared parameter %q", key, v)
			}
		}
		for _, sub := range e.Perm.Sub {
			for _, v := range placeholders(sub.Path) {
				if _, ok := e.Params[v]; !ok {
					t.Errorf("%s: permission path uses undeclared parameter %q", key, v)
				}
			}
		}
		for name, s := range e.Params {
			checkSchema(t, key+" param "+name, s)
		}
		checkSchema(t, key+" returns", &e.Returns)
		if e.InType() != reflect.TypeFor[Params]() {
			if _, err := schema.NewBinder(e.InType(), e.Params); err != nil {
				t.Errorf("%s: %v", key, err)
			}
		}
		if e.Upload != "" && e.Params[e.Upload] == nil {
			t.Errorf("%s: upload parameter %q is not declared", key, e.Upload)
		}
		for _, c := range e.CLI {
			for _, a := range c.Args {
				if e.Params[a] == nil && c.Local[a] == nil {
					t.Errorf("%s: %s %s: argument %q is neither a parameter nor a local option", key, c.Tool, c.Cmd, a)
				}
			}
			for f := range c.Fixed {
				if _, ok := e.Params[f]; !ok {
					t.Errorf("%s: %s %s: fixed %q is not a parameter", key, c.Tool, c.Cmd, f)
				}
			}
			for l := range c.Local {
				if _, ok := e.Params[l]; ok {
					t.Errorf("%s: %s %s: local option %q hides a parameter", key, c.Tool, c.Cmd, l)
				}
			}
		}
	}
}

// TestPctVerbs checks that each pct command Proxmox VE users type exists
// once, with Proxmox VE's positional arguments in their order.
func TestPctVerbs(t *testing.T) {
	want := map[string][]string{
		"list": nil, "create": {"vmid", "ostemplate"}, "restore": {"vmid", "ostemplate"},
		"set": {"vmid"}, "config": {"vmid"}, "pending": {"vmid"},
		"start": {"vmid"}, "stop": {"vmid"}, "shutdown": {"vmid"}, "reboot": {"vmid"},
		"suspend": {"vmid"}, "resume": {"vmid"}, "destroy": {"vmid"}, "status": {"vmid"},
		"enter": {"vmid"}, "console": {"vmid"}, "exec": {"vmid", "command"},
		"push": {"vmid", "file", "path"}, "pull": {"vmid", "path", "destination"},
		"snapshot": {"vmid", "snapname"}, "listsnapshot": {"vmid"}, "rollback": {"vmid", "snapname"},
		"delsnapshot": {"vmid", "snapname"}, "clone": {"vmid", "newid"}, "template": {"vmid"},
		"resize":      {"vmid", "disk", "size"},
		"move-volume": {"vmid", "volume", "storage", "target-vmid", "target-volume"},
		"move_volume": {"vmid", "volume", "storage", "target-vmid", "target-volume"},
		"mount":       {"vmid"}, "unmount": {"vmid"}, "fsck": {"vmid"},
	}
	got := cliCommands(t, "pct")
	for verb, args := range want {
		c, ok := got[verb]
		if !ok {
			t.Errorf("pct %s is missing", verb)
			continue
		}
		if !slices.Equal(c.Args, args) {
			t.Errorf("pct %s: arguments %v, want %v", verb, c.Args, args)
		}
		if c.Fixed["node"] != LocalNode {
			t.Errorf("pct %s does not run on the local node", verb)
		}
	}
	for verb := range got {
		if _, ok := want[verb]; !ok {
			t.Errorf("pct %s is not expected", verb)
		}
	}
}

func TestPveamVerbs(t *testing.T) {
	want := map[string][]string{"available": nil, "download": {"storage", "template"}, "build": {"name", "storage"}, "list": {"storage"}}
	got := cliCommands(t, "pveam")
	for verb, args := range want {
		if c, ok := got[verb]; !ok || !slices.Equal(c.Args, args) {
			t.Errorf("pveam %s: %+v, want arguments %v", verb, c, args)
		}
	}
	if len(got) != len(want) {
		t.Errorf("pveam has %d commands, want %d", len(got), len(want))
	}
	if list := got["list"]; list.Fixed["content"] != "vztmpl" {
		t.Errorf("pveam list must only show templates: %v", list.Fixed)
	}
}

// cliCommands maps the words of a tool's commands, across the container
// endpoints and the registry, to their declaration; a command declared
// twice is an error.
func cliCommands(t *testing.T, tool string) map[string]Command {
	t.Helper()
	eps := LXCEndpoints()
	for _, e := range All() {
		if !slices.Contains(eps, e) {
			eps = append(eps, e)
		}
	}
	out := map[string]Command{}
	for _, e := range eps {
		for _, c := range e.CLI {
			if c.Tool != tool {
				continue
			}
			if _, dup := out[c.Cmd]; dup {
				t.Errorf("%s %s is declared twice", tool, c.Cmd)
			}
			out[c.Cmd] = c
		}
	}
	return out
}

// TestPctCommandShapes pins what the CLI's client procedures rely on.
func TestPctCommandShapes(t *testing.T) {
	cmds := cliCommands(t, "pct")
	// `pct exec 100 -- ls -l /`: everything after the id becomes the
	// command, which the CLI does for a last argument that is an array.
	exec := CTExec.E
	if last := cmds["exec"].Args[len(cmds["exec"].Args)-1]; exec.Params[last].Type != schema.Array || exec.Params[last].Optional {
		t.Errorf("pct exec: the last argument %q must be the required command array", last)
	}
	for verb, client := range map[string]string{"exec": "ct-exec", "pull": "ct-pull", "console": "terminal", "enter": "terminal"} {
		if cmds[verb].Client != client {
			t.Errorf("pct %s: client %q, want %q", verb, cmds[verb].Client, client)
		}
	}
	if cmds["console"].Fixed["mode"] != CTConsoleMode || cmds["enter"].Fixed["mode"] != CTEnterMode {
		t.Errorf("console and enter must fix the terminal mode: %v %v", cmds["console"].Fixed, cmds["enter"].Fixed)
	}
	if mode := CTTermProxy.E.Params["mode"]; mode.Default != CTConsoleMode || !slices.Equal(mode.Enum, []string{CTConsoleMode, CTEnterMode}) {
		t.Errorf("termproxy mode: %+v", mode)
	}
	// push streams the local file through the upload machinery.
	if CTPush.E.Upload != "file" || cmds["push"].Args[1] != "file" {
		t.Errorf("pct push must upload its file argument")
	}
	// pull's destination is the client's own, never sent.
	if CTPull.E.Params["destination"] != nil || cmds["pull"].Local["destination"] == nil || cmds["pull"].Local["destination"].Optional {
		t.Errorf("pct pull: destination must be a required local argument")
	}
	for _, key := range []string{"rootfs", "mp0", fmt.Sprintf("mp%d", ctMountPoints-1)} {
		if !slices.Contains(CTResize.E.Params["disk"].Enum, key) || !slices.Contains(CTFsck.E.Params["device"].Enum, key) {
			t.Errorf("resize and fsck must take %s", key)
		}
	}
	if slices.Contains(CTResize.E.Params["disk"].Enum, "unused0") || !slices.Contains(CTMoveVolume.E.Params["volume"].Enum, "unused0") {
		t.Error("only move_volume takes unused volumes")
	}
}

// TestLXCParamsDecode sends typical CLI values through the declared
// parameters: what must pass passes and bad values are refused by name.
func TestLXCParamsDecode(t *testing.T) {
	tests := []struct {
		e    *Endpoint
		args map[string][]string
		bad  string // the parameter that must be refused; "" for none
	}{
		{CTExec.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "command": {"ls", "-l", "/"}}, ""},
		{CTExec.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "command": {"true"}, "timeout": {"-1"}}, "timeout"},
		{CTPush.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "file": {"hosts"}, "path": {"/etc/hosts"}, "perms": {"0644"}}, ""},
		{CTPush.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "file": {"hosts"}, "path": {"/etc/hosts"}, "perms": {"0x1a4"}}, ""},
		{CTPush.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "file": {"hosts"}, "path": {"etc/hosts"}}, "path"},
		{CTPush.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "file": {"hosts"}, "path": {"/etc/hosts"}, "perms": {"rw-r--r--"}}, "perms"},
		{CTPull.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "path": {"/etc/os-release"}}, ""},
		{CTResize.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "disk": {"mp3"}, "size": {"+2G"}}, ""},
		{CTResize.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "disk": {"unused0"}, "size": {"+2G"}}, "disk"},
		{CTFsck.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}}, ""},
		{CTTermProxy.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "mode": {"attach"}}, "mode"},
		{CTCreate.E, map[string][]string{"node": {"n1"}, "vmid": {"100"}, "ostemplate": {"local:vztmpl/busybox.tar.zst"}, "password": {"abc"}}, "password"},
		{AplBuild.E, map[string][]string{"node": {"n1"}, "name": {"busybox"}, "storage": {"local"}}, ""},
		{AplBuild.E, map[string][]string{"node": {"n1"}, "name": {"alpine"}, "storage": {"local"}}, "name"},
	}
	for _, tt := range tests {
		_, errs := schema.DecodeParams(tt.e.Params, schema.Raw(tt.args), tt.e.AllowExtra)
		switch {
		case tt.bad == "" && errs != nil:
			t.Errorf("%s %v: %v", tt.e.Key(), tt.args, errs)
		case tt.bad != "" && errs[tt.bad] == "":
			t.Errorf("%s %v: %s accepted (errors %v)", tt.e.Key(), tt.args, tt.bad, errs)
		}
	}
}

// TestCTCreateBindsConfigKeys checks that the configuration keys of a
// create call reach the handler apart from the call's own parameters.
func TestCTCreateBindsConfigKeys(t *testing.T) {
	b, err := schema.NewBinder(CTCreate.E.InType(), CTCreate.E.Params)
	if err != nil {
		t.Fatal(err)
	}
	var in CTCreateParams
	if err := b.Bind(map[string]any{"node": "n1", "vmid": int64(100), "ostemplate": "local:vztmpl/x.tar.zst",
		"hostname": "web", "start": true}, &in); err != nil {
		t.Fatal(err)
	}
	if in.OSTemplate != "local:vztmpl/x.tar.zst" || !in.Start || in.Storage != "local" || in.Config["hostname"] != "web" || len(in.Config) != 1 {
		t.Errorf("bound %+v", in)
	}
}
