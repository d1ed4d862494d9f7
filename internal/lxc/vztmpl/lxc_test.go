package vztmpl

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBusyboxTemplateBootsInLXCAndHaltsOnSIGPWR starts the template as
// a privileged LXC container with a network namespace of its own (only
// loopback), waits until its init script has run and login prompts are
// up, then stops it the way lxc-stop does without -k: LXC sends SIGPWR,
// which busybox init takes as halt.
func TestBusyboxTemplateBootsInLXCAndHaltsOnSIGPWR(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"lxc-start", "lxc-stop", "lxc-attach", "lxc-wait", "lxc-info"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (Debian package lxc)", tool)
		}
	}
	common := "/usr/share/lxc/config/common.conf"
	if _, err := os.Stat(common); err != nil {
		t.Skipf("skipping: LXC's %s is missing", common)
	}
	archive := busyboxTemplate(t)
	lxcpath := t.TempDir()
	const name = "vztmpl-busybox"
	dir := filepath.Join(lxcpath, name)
	rootfs := filepath.Join(dir, "rootfs")
	if err := Extract(context.Background(), archive, rootfs, nil, t.Logf); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(dir, "console.log")
	config := fmt.Sprintf(`lxc.include = %s
lxc.arch = amd64
lxc.uts.name = bbtest
lxc.rootfs.path = dir:%s
lxc.net.0.type = empty
lxc.tty.max = 2
lxc.apparmor.profile = unconfined
lxc.console.logfile = %s
`, common, rootfs, console)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	lxc := func(tool string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, tool, append([]string{"-P", lxcpath, "-n", name}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := lxc("lxc-start", "-l", "INFO", "-o", filepath.Join(dir, "lxc.log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "lxc.log"))
		t.Fatalf("lxc-start: %v %s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, _ := lxc("lxc-info", "-s", "-H"); strings.TrimSpace(out) != "STOPPED" {
			lxc("lxc-stop", "-k")
		}
	})
	if out, err := lxc("lxc-wait", "-s", "RUNNING", "-t", "10"); err != nil {
		t.Fatalf("lxc-wait: %v %s", err, out)
	}

	// rcS has run when ifup recorded loopback; the login prompts come
	// from init's respawn lines after it.
	deadline := time.Now().Add(20 * time.Second)
	var state string
	for {
		ifstate, _ := lxc("lxc-attach", "--", "/bin/cat", "/run/ifstate")
		ps, _ := lxc("lxc-attach", "--", "/bin/ps")
		host, _ := lxc("lxc-attach", "--", "/bin/hostname")
		state = "ifstate: " + ifstate + "\nps:\n" + ps + "hostname: " + host
		if strings.Contains(ifstate, "lo=lo") && strings.Contains(ps, "getty -L 38400 tty1") &&
			strings.Contains(ps, "getty -L 38400 console") && strings.TrimSpace(host) == "bbtest" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container did not come up:\n%s", state)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// tty3 and tty4 are not configured: their lines must idle, not spin.
	if n := strings.Count(state, "sleep 2147483647"); n != 2 {
		t.Errorf("%d idle lines for missing ttys, want 2:\n%s", n, state)
	}

	start := time.Now()
	if out, err := lxc("lxc-stop", "--nokill", "-t", "20"); err != nil {
		t.Fatalf("clean stop failed: %v %s", err, out)
	}
	t.Logf("halted in %v", time.Since(start).Round(time.Millisecond))
	if out, _ := lxc("lxc-info", "-s", "-H"); strings.TrimSpace(out) != "STOPPED" {
		t.Errorf("state after lxc-stop: %q", out)
	}
	log, _ := os.ReadFile(console)
	if !bytes.Contains(log, []byte("Requesting system halt")) {
		t.Errorf("busybox init did not halt; console:\n%s", log)
	}
}
