package compat

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/hearth-virt/hearth/internal/daemon"
)

// startNetNode starts a node whose guests plug into a bridge vmbr0 of a
// network namespace of the test's own.
func startNetNode(t *testing.T) (*daemon.Daemon, string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: running VMs needs root (taps, bridges, namespaces)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("skipping: qemu-system-x86_64 is not installed (make deps installs it)")
	}
	var b [4]byte
	rand.Read(b[:])
	ns := "hearth-compat-" + hex.EncodeToString(b[:])
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "add", "vmbr0", "type", "bridge"},
		{"-n", ns, "link", "set", "vmbr0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	ifaces := filepath.Join(dir, "interfaces")
	os.WriteFile(pw, []byte("s3cret-password\n"), 0o600)
	os.WriteFile(ifaces, []byte("auto lo\niface lo inet loopback\n"), 0o644)
	ctx := context.Background()
	cfg := daemon.Config{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", Node: "pve1",
		InitialPasswordFile: pw, AuthFailDelay: 10 * time.Millisecond, Announce: &bytes.Buffer{},
		NetworkNamespace: "/run/netns/" + ns, NetworkInterfaces: ifaces, NATNetwork: "none"}
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "state", "run", "qemu")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		// VMs outlive their daemon on purpose; end what the test left.
		pids, _ := filepath.Glob(filepath.Join(runDir, "*.pid"))
		for _, f := range pids {
			data, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return d, "https://" + d.Addr().String() + "/api2/json", ns
}

// TestGoProxmoxVMLifecycle is the round trip a go-proxmox user makes: a
// VM with a 1 GiB disk on local and a NIC on a bridge, started, read as
// running, stopped and destroyed with purge.
func TestGoProxmoxVMLifecycle(t *testing.T) {
	_, base, ns := startNetNode(t)
	ctx := context.Background()
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	client := proxmox.NewClient(base, proxmox.WithHTTPClient(insecure),
		proxmox.WithCredentials(&proxmox.Credentials{Username: "admin@pve", Password: "s3cret-password"}))
	node, err := client.Node(ctx, "pve1")
	if err != nil {
		t.Fatal(err)
	}
	task, err := node.NewVirtualMachine(ctx, 101,
		proxmox.VirtualMachineOption{Name: "name", Value: "compat"},
		proxmox.VirtualMachineOption{Name: "memory", Value: 128},
		proxmox.VirtualMachineOption{Name: "scsi0", Value: "local:1"},
		proxmox.VirtualMachineOption{Name: "net0", Value: "virtio,bridge=vmbr0"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	waitOK(t, ctx, task)
	vm, err := node.VirtualMachine(ctx, 101)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if vm.Name != "compat" || !strings.HasPrefix(vm.VirtualMachineConfig.SCSIs["scsi0"], "local:101/vm-101-disk-0.") || vm.MaxDisk != 1<<30 {
		t.Fatalf("VM decoded as %+v / %+v", vm, vm.VirtualMachineConfig)
	}
	task, err = vm.Start(ctx)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	waitOK(t, ctx, task)
	if vm, err = node.VirtualMachine(ctx, 101); err != nil || !vm.IsRunning() {
		t.Fatalf("after start: %+v %v", vm, err)
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "show", "master", "vmbr0").CombinedOutput(); err != nil || !strings.Contains(string(out), "tap101i0") {
		t.Fatalf("the NIC's tap is not on the bridge: %v\n%s", err, out)
	}
	task, err = vm.Stop(ctx)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitOK(t, ctx, task)
	if vm, err = node.VirtualMachine(ctx, 101); err != nil || vm.IsRunning() || vm.Status != "stopped" {
		t.Fatalf("after stop: %+v %v", vm, err)
	}
	task, err = vm.Delete(ctx, &proxmox.VirtualMachineDeleteOptions{Purge: true})
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	waitOK(t, ctx, task)
	if _, err := node.VirtualMachine(ctx, 101); err == nil {
		t.Fatal("the VM is still there after destroy")
	}
}

func waitOK(t *testing.T, ctx context.Context, task *proxmox.Task) {
	t.Helper()
	if err := task.Wait(ctx, 100*time.Millisecond, 2*time.Minute); err != nil {
		t.Fatalf("task %s: %v", task.UPID, err)
	}
	if !task.IsSuccessful {
		t.Fatalf("task %s ended with %q", task.UPID, task.ExitStatus)
	}
}
