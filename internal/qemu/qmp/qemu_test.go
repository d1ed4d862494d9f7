package qmp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// startQEMU runs a paused QEMU with a QMP socket and returns a connected
// client and a channel closed when the process has exited. The process is
// killed (by its PID) at cleanup if the test did not make it exit.
func startQEMU(t *testing.T, machine string, extra ...string) (*Client, <-chan struct{}) {
	t.Helper()
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86); skipping the real-QEMU test")
	}
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	args := append([]string{"-machine", machine, "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
		"-qmp", "unix:" + sock + ",server=on,wait=off"}, extra...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("QEMU stderr:\n%s", stderr.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := Dial(ctx, sock)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c, exited
		}
		select {
		case <-exited:
			t.Fatalf("QEMU exited before its monitor came up: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("QEMU monitor not reachable: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
	}
}

func TestRealQEMURunStateEventsAndExit(t *testing.T) {
	c, exited := startQEMU(t, "q35", "-m", "64")
	ctx := testCtx(t)

	st, err := c.QueryStatus(ctx)
	if err != nil || st.Status != "prelaunch" || st.Running {
		t.Fatalf("status of a -S VM = %+v, %v", st, err)
	}
	m, err := c.CurrentMachine(ctx)
	if err != nil || !strings.HasPrefix(m, "pc-q35-") {
		t.Errorf("CurrentMachine = %q, %v", m, err)
	}
	v, err := c.QueryVersion(ctx)
	if err != nil || v.String() != c.Greeting().Version.String() {
		t.Errorf("QueryVersion = %v, greeting %v, %v", v, c.Greeting().Version, err)
	}
	out, err := c.HumanMonitorCommand(ctx, "info version")
	if err != nil || !strings.HasPrefix(out, v.String()) {
		t.Errorf("info version = %q, %v; want it to start with %s", out, err, v)
	}
	cpus, err := c.QueryCPUsFast(ctx)
	if err != nil || len(cpus) != 1 || cpus[0].ThreadID <= 0 {
		t.Errorf("QueryCPUsFast = %+v, %v", cpus, err)
	}

	sub, cancel := c.Subscribe(Named("STOP", "RESUME"))
	defer cancel()
	if err := c.Cont(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitEvent(ctx, sub, "RESUME"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.QueryStatus(ctx); err != nil || !st.Running {
		t.Errorf("status after cont = %+v, %v", st, err)
	}
	if err := c.SendKey(ctx, "ctrl-alt-delete", 0); err != nil {
		t.Errorf("send-key: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitEvent(ctx, sub, "STOP"); err != nil {
		t.Fatal(err)
	}

	// Concurrent callers on one connection, against the real monitor.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			st, err := c.QueryStatus(ctx)
			if err == nil && st.Status != "paused" {
				err = errors.New("status " + st.Status)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent query-status: %v", err)
	}

	// Hibernation writes the state through an exec: migration.
	state := filepath.Join(t.TempDir(), "state")
	if err := c.Migrate(ctx, "exec:cat > "+state); err != nil {
		t.Fatal(err)
	}
	if info, err := c.WaitMigration(ctx); err != nil {
		t.Fatalf("migration to file: %+v, %v", info, err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Size() == 0 {
		t.Errorf("state file: %v, %v", fi, err)
	}

	// File descriptors pass over the socket.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := c.GetFD(ctx, "testfd", w); err != nil {
		t.Fatalf("getfd: %v", err)
	}
	if err := c.CloseFD(ctx, "testfd"); err != nil {
		t.Errorf("closefd of a passed fd: %v", err)
	}
	info, err := c.AddFD(ctx, -1, "test", r)
	if err != nil {
		t.Fatalf("add-fd: %v", err)
	}
	if err := c.RemoveFD(ctx, info.FDSetID, info.FD); err != nil {
		t.Errorf("remove-fd %+v: %v", info, err)
	}

	if err := c.Quit(ctx); err != nil {
		t.Fatalf("quit: %v", err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not see QEMU disconnect after quit")
	}
	if err := c.Execute(ctx, "query-status", nil, nil); !errors.Is(err, ErrDisconnected) {
		t.Errorf("call after quit = %v, want ErrDisconnected", err)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("QEMU did not exit after quit")
	}
}

func TestRealQEMUBlockNodesJobsAndHotplug(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (Debian package qemu-utils); skipping the real-QEMU block test")
	}
	c, _ := startQEMU(t, "q35", "-m", "64", "-device", "virtio-scsi-pci,id=scsi0")
	ctx := testCtx(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", disk, "16M")

	err := c.BlockdevAdd(ctx, map[string]any{
		"driver": "qcow2", "node-name": "disk0",
		"file": map[string]any{"driver": "file", "filename": disk},
	})
	if err != nil {
		t.Fatalf("blockdev-add: %v", err)
	}
	if err := c.DeviceAdd(ctx, "scsi-hd", "scsi-disk0", map[string]any{"drive": "disk0", "bus": "scsi0.0"}); err != nil {
		t.Fatalf("device_add: %v", err)
	}
	if err := c.BlockResize(ctx, "disk0", 32<<20); err != nil {
		t.Fatalf("block_resize: %v", err)
	}
	drive := func() *BlockDeviceInfo {
		t.Helper()
		blocks, err := c.QueryBlock(ctx)
		if err != nil {
			t.Fatalf("query-block: %v", err)
		}
		for _, b := range blocks {
			if b.QDev == "scsi-disk0" && b.Inserted != nil {
				return b.Inserted
			}
		}
		t.Fatalf("query-block has no medium for scsi-disk0: %+v", blocks)
		return nil
	}
	if got := drive().Image.VirtualSize; got != 32<<20 {
		t.Errorf("virtual size after resize = %d, want %d", got, 32<<20)
	}
	if _, err := c.QueryBlockstats(ctx, true); err != nil {
		t.Errorf("query-blockstats: %v", err)
	}

	// Internal snapshot with RAM state, through QEMU's job API.
	if err := c.SnapshotSave(ctx, "save0", "snap1", "disk0", []string{"disk0"}); err != nil {
		t.Fatalf("snapshot-save: %v", err)
	}
	snaps := drive().Image.Snapshots
	if !slices.ContainsFunc(snaps, func(s SnapshotInfo) bool { return s.Name == "snap1" && s.VMStateSize > 0 }) {
		t.Errorf("snapshot snap1 with VM state not in image: %+v", snaps)
	}
	err = c.SnapshotSave(ctx, "save1", "snap2", "disk0", []string{"disk0", "nosuchnode"})
	var jerr *JobError
	if !errors.As(err, &jerr) || jerr.ID != "save1" {
		t.Errorf("snapshot-save on a missing node = %v, want a JobError", err)
	}
	if err := c.SnapshotLoad(ctx, "load0", "snap1", "disk0", []string{"disk0"}); err != nil {
		t.Errorf("snapshot-load: %v", err)
	}
	if jobs, err := c.QueryJobs(ctx); err != nil || len(jobs) != 0 {
		t.Errorf("jobs left after snapshots: %+v, %v", jobs, err)
	}
	if err := c.SnapshotDelete(ctx, "del0", "snap1", []string{"disk0"}); err != nil {
		t.Fatalf("snapshot-delete: %v", err)
	}
	if snaps := drive().Image.Snapshots; len(snaps) != 0 {
		t.Errorf("snapshots after delete: %+v", snaps)
	}

	// Mirror to a new image and switch the drive over to it.
	target := filepath.Join(dir, "target.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", target, "32M")
	err = c.BlockdevAdd(ctx, map[string]any{
		"driver": "qcow2", "node-name": "target0",
		"file": map[string]any{"driver": "file", "filename": target},
	})
	if err != nil {
		t.Fatal(err)
	}
	sub, cancel := c.SubscribeJob("mirror0")
	defer cancel()
	if err := c.BlockdevMirror(ctx, MirrorOptions{JobID: "mirror0", Device: "disk0", Target: "target0"}); err != nil {
		t.Fatalf("blockdev-mirror: %v", err)
	}
	if err := c.WaitJobStatus(ctx, sub, "mirror0", "ready"); err != nil {
		t.Fatalf("mirror never got ready: %v", err)
	}
	if err := c.JobComplete(ctx, "mirror0"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitJob(ctx, sub, "mirror0"); err != nil {
		t.Fatalf("mirror: %v", err)
	}
	if got := drive().NodeName; got != "target0" {
		t.Errorf("drive node after mirror = %q, want target0", got)
	}

	// External snapshot: an overlay on top of the mirrored image.
	overlay := filepath.Join(dir, "overlay.qcow2")
	err = c.BlockdevSnapshotSync(ctx, SnapshotSyncOptions{NodeName: "target0", SnapshotFile: overlay, SnapshotNodeName: "overlay0", Format: "qcow2"})
	if err != nil {
		t.Fatalf("blockdev-snapshot-sync: %v", err)
	}
	if d := drive(); d.NodeName != "overlay0" || d.BackingFileDepth != 1 {
		t.Errorf("after snapshot-sync the drive is %q with backing depth %d", d.NodeName, d.BackingFileDepth)
	}

	if err := c.DeviceDel(ctx, "scsi-disk0"); err != nil {
		t.Fatalf("device_del: %v", err)
	}
	if blocks, err := c.QueryBlock(ctx); err != nil || len(blocks) != 0 {
		t.Errorf("drives after unplug: %+v, %v", blocks, err)
	}
	// The overlay was QEMU's own and went with the device; the nodes this
	// client added stay until deleted.
	for _, n := range []string{"target0", "disk0"} {
		if err := c.BlockdevDel(ctx, n); err != nil {
			t.Errorf("blockdev-del %s: %v", n, err)
		}
	}
	if nodes, err := c.QueryNamedBlockNodes(ctx); err != nil || len(nodes) != 0 {
		t.Errorf("block nodes left: %+v, %v", nodes, err)
	}
	var qerr *Error
	if err := c.BlockdevDel(ctx, "disk0"); !errors.As(err, &qerr) {
		t.Errorf("deleting a node twice = %v, want a QEMU error", err)
	}
}
