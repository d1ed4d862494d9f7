package daemon

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cli"
)

// TestVMHotplugCPUAndMemory grows the vCPUs and the memory of a running
// VM whose hotplug option allows it, and checks that shrinking waits for
// the next start. The VM needs no guest: QEMU takes the devices while the
// firmware runs.
func TestVMHotplugCPUAndMemory(t *testing.T) {
	requireQEMUBinary(t)
	td := startDaemon(t, "alpha")
	killVMs(t, td.cfg.RunDir)
	sock := "--socket=" + td.cfg.Socket
	if out, code := runCLI(t, "qm", "create", "130", "--memory", "1024", "--numa", "1", "--sockets", "1", "--cores", "2",
		"--vcpus", "1", "--hotplug", "network,disk,cpu,memory", sock); code != 0 {
		t.Fatalf("qm create: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "qm", "start", "130", sock); code != 0 {
		t.Fatalf("qm start: %d\n%s", code, out)
	}
	s := td.loginAs(t, "admin@pve", testPassword)
	monitor := func(cmd string) string {
		t.Helper()
		r := s.must(t, "POST", "/nodes/alpha/qemu/130/monitor", url.Values{"command": {cmd}})
		return r.body["data"].(string)
	}
	if n := strings.Count(monitor("info cpus"), "CPU #"); n != 1 {
		t.Fatalf("the VM starts with %d vCPUs, want 1", n)
	}
	if out, code := runCLI(t, "qm", "set", "130", "--vcpus", "2", "--memory", "2048", sock); code != 0 {
		t.Fatalf("qm set: %d\n%s", code, out)
	}
	pendingOf := func() map[string]any {
		t.Helper()
		out := map[string]any{}
		for _, row := range s.must(t, "GET", "/nodes/alpha/qemu/130/pending", nil).body["data"].([]any) {
			r := row.(map[string]any)
			if r["pending"] != nil {
				out[r["key"].(string)] = r["pending"]
			}
		}
		return out
	}
	if p := pendingOf(); len(p) != 0 {
		t.Fatalf("vcpus and memory should be hot-plugged, not pending: %v", p)
	}
	if n := strings.Count(monitor("info cpus"), "CPU #"); n != 2 {
		t.Fatalf("after hot-plug the VM has %d vCPUs, want 2", n)
	}
	if mem := monitor("info memory-devices"); !strings.Contains(mem, "dimm0") || !strings.Contains(mem, "dimm1") {
		t.Fatalf("memory devices after hot-plug:\n%s", mem)
	}
	// Taking memory away needs the guest; it waits for the next start.
	if out, code := runCLI(t, "qm", "set", "130", "--memory", "1536", sock); code != 0 {
		t.Fatalf("qm set: %d\n%s", code, out)
	}
	if p := pendingOf(); p["memory"] != "1536" {
		t.Fatalf("a smaller memory should be pending: %v", p)
	}
	// qm monitor without a command reads commands from its input.
	var mon bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader("info status\n\ninfo version\nquit\ninfo cpus\n"), Stdout: &mon, Stderr: &mon,
		Getenv: func(string) string { return "" }, Endpoints: api.All(), IsTerminal: func(any) bool { return false }}
	if code := cli.Main(context.Background(), []string{"hearth", "qm", "monitor", "130", sock}, env); code != 0 ||
		!strings.Contains(mon.String(), "VM status: running") || !strings.Contains(mon.String(), "7.2") || strings.Contains(mon.String(), "CPU #") {
		t.Fatalf("qm monitor reading commands: %d\n%s", code, mon.String())
	}
	// qm wait gives up while the VM runs and returns once it stopped.
	if out, code := runCLI(t, "qm", "wait", "130", "--timeout", "1", sock); code == 0 || !strings.Contains(out, "timeout") {
		t.Fatalf("qm wait on a running VM: %d\n%s", code, out)
	}
	done := make(chan string, 1)
	go func() {
		out, code := runCLI(t, "qm", "wait", "130", "--timeout", "60", sock)
		done <- strconv.Itoa(code) + " " + out
	}()
	if out, code := runCLI(t, "qm", "stop", "130", sock); code != 0 {
		t.Fatalf("qm stop: %d\n%s", code, out)
	}
	if res := <-done; !strings.HasPrefix(res, "0 ") {
		t.Fatalf("qm wait after the stop: %s", res)
	}
}
