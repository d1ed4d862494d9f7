package cmdline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/qmp"
)

// realConfigs are the golden configurations QEMU starts in this test,
// with the keys that need host hardware (a parallel port, a hardware RNG,
// a CD-ROM drive) or leave files behind (ivshmem) taken out. Storage
// other than files, huge pages, host NUMA nodes, PCI passthrough and the
// GL display cannot be had on a test host; configurations that only
// repeat what others prove are left out to keep the test short.
var realConfigs = map[string][]string{
	"linux-typical": nil, "windows11": nil, "ovmf-no-efidisk": nil, "buses-all": nil, "ide-q35": {"ide3"},
	"scsihw-lsi": nil, "scsihw-lsi53c810": nil, "scsihw-megasas": nil, "scsihw-pvscsi": nil,
	"scsihw-virtio-scsi-pci": nil, "scsihw-virtio-scsi-single": nil, "disk-options": nil, "throttling": nil,
	"nics": nil, "serial-console": {"parallel0", "serial1"}, "vga-std-memory": nil, "vga-qxl-linux": nil,
	"vga-qxl-windows": nil, "vga-vmware-clipboard": nil, "usb": nil, "usb-old-machine": nil, "numa-hotplug": nil,
	"cpu-flags": nil, "cpu-host-tcg": nil, "cpu-windows-hyperv": nil, "cloudinit": nil, "args": nil,
	"tcg-fallback": nil, "machine-pinned": nil, "viommu-intel": nil, "viommu-virtio": nil,
	"devices-misc": {"ivshmem"}, "agent-isa": {"rng0"}, "smbios-base64": nil, "boot-legacy": nil, "resume": nil,
	"windows-xp": nil,
}

// TestQEMUAcceptsCommandLines starts QEMU (paused, under TCG) with the
// command line of each runnable golden configuration and asks its monitor
// for the status: what qm showcmd prints is what QEMU takes. The QEMUs
// mostly wait on I/O while starting, so four run at a time.
func TestQEMUAcceptsCommandLines(t *testing.T) {
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86); skipping the real-QEMU test")
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (Debian package qemu-utils); skipping the real-QEMU test")
	}
	out, err := exec.Command(bin, "--version").Output()
	m := regexp.MustCompile(`version (\d+)\.(\d+)(\.\d+)?`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("cannot read the QEMU version: %v %q", err, out)
	}
	host := Host{QEMUVersion: string(m[1]) + "." + string(m[2]) + string(m[3]), MachineVersion: string(m[1]) + "." + string(m[2]),
		CPUs: 64, CPUVendor: "GenuineIntel"}
	// A tap needs a network namespace of its own, so that the test leaves
	// the host's network alone; without root the NICs use user networking.
	netns := os.Geteuid() == 0
	if _, err := exec.LookPath("unshare"); err != nil {
		netns = false
	}
	// Copying one small qcow2 image is much faster than a qemu-img run per
	// volume.
	tmpl := filepath.Join(t.TempDir(), "template.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", tmpl, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v %s", err, out)
	}
	qcow2, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(realConfigs))
	for n := range realConfigs {
		names = append(names, n)
	}
	slices.Sort(names)

	runs := make([]*realRun, len(names))
	for i, name := range names {
		runs[i] = prepareRealRun(t, bin, host, name, netns, qcow2)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r.err = r.run()
		}()
	}
	wg.Wait()
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip(r.skip)
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
		})
	}
}

// realRun is one configuration's QEMU start.
type realRun struct {
	name     string
	argv     []string
	qmp, tpm string // sockets
	dir      string
	incoming bool
	skip     string
	err      error
}

// prepareRealRun creates the volumes of a configuration and builds its
// command line, runnable without -daemonize and paused.
func prepareRealRun(t *testing.T, bin string, host Host, name string, netns bool, qcow2 []byte) *realRun {
	// Unix socket paths are short; t.TempDir's can be too long for them.
	dir, err := os.MkdirTemp("", "cmdline")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := loadConfig(t, filepath.Join("testdata", name+".conf"))
	for _, k := range realConfigs[name] {
		delete(conf, k)
	}
	if !netns {
		for k, v := range conf {
			if strings.HasPrefix(k, "net") {
				conf[k] = regexp.MustCompile(`,bridge=[^,]+`).ReplaceAllString(v, "")
			}
		}
	}
	in := goldenInput(t, name, conf, dir)
	in.Host, in.Paths = host, testPaths(dir, 100)
	if in.Incoming != "" {
		in.Incoming = "defer" // no saved state to read; wait for one instead
	}
	for key, vol := range in.Volumes {
		if err := makeVolume(key, vol, conf, qcow2); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	argv, _, err := Build(in)
	if err != nil {
		t.Fatalf("%s: Build: %v", name, err)
	}
	argv = slices.DeleteFunc(argv, func(a string) bool { return a == "-daemonize" })
	argv = append(argv, "-S")
	argv[0] = bin
	if netns {
		argv = append([]string{"unshare", "--net"}, argv...)
	}
	r := &realRun{name: name, argv: argv, qmp: in.Paths.QMP, dir: dir, incoming: in.Incoming != ""}
	if _, ok := conf["tpmstate0"]; ok {
		r.tpm = in.Paths.TPM
		if _, err := exec.LookPath("swtpm"); err != nil {
			r.skip = "swtpm is not installed (Debian package swtpm); skipping a configuration with a TPM"
		}
	}
	return r
}

// run starts QEMU, checks its status over QMP and makes it quit. It
// kills only the processes it started, and only if they did not end.
func (r *realRun) run() error {
	if r.skip != "" {
		return nil
	}
	if r.tpm != "" {
		stop, err := startSWTPM(r.dir, r.tpm)
		if err != nil {
			return err
		}
		defer stop()
	}
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	c, err := dialQMP(r.qmp, exited, &stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.QueryStatus(ctx)
	if err != nil {
		return fmt.Errorf("query-status: %w", err)
	}
	want := "prelaunch"
	if r.incoming {
		want = "inmigrate"
	}
	if st.Status != want {
		return fmt.Errorf("status %q, want %q", st.Status, want)
	}
	_ = c.Execute(ctx, "quit", nil, nil)
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("QEMU did not quit")
	}
}

// dialQMP waits for QEMU's monitor, failing with QEMU's own message when
// the process ends first.
func dialQMP(path string, exited <-chan struct{}, stderr *bytes.Buffer) (*qmp.Client, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := qmp.Dial(ctx, path)
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("QEMU refused the command line: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("QEMU's monitor did not come up: %v", err)
		}
	}
}

// makeVolume creates a small image for a file volume: a copy of the
// qcow2 template, or a sparse raw file. An EFI variable store gets the
// size of the firmware's store.
func makeVolume(key string, vol Volume, conf map[string]string, qcow2 []byte) error {
	path, _ := vol.Blockdev["filename"].(string)
	if vol.Blockdev["driver"] != "file" || path == "" {
		return fmt.Errorf("%s: the real test only has file volumes", key)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return nil // an ISO two drives share
	}
	size := int64(16 << 20)
	if key == "efidisk0" {
		size = 131072
		if strings.Contains(conf["efidisk0"], "efitype=4m") {
			size = 540672
		}
	}
	var err error
	switch {
	case vol.Format == "raw":
		err = os.WriteFile(path, nil, 0o644)
		if err == nil {
			err = os.Truncate(path, size)
		}
	case vol.Format == "qcow2" && key != "efidisk0":
		err = os.WriteFile(path, qcow2, 0o644)
	default:
		var out []byte
		out, err = exec.Command("qemu-img", "create", "-q", "-f", vol.Format, path, fmt.Sprint(size)).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	return nil
}

// startSWTPM runs the TPM emulator QEMU connects to, as the VM service
// does, and returns how to stop it; it also ends by itself when QEMU
// closes the connection.
func startSWTPM(dir, sock string) (stop func(), err error) {
	state := filepath.Join(dir, "tpm")
	if err := os.Mkdir(state, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command("swtpm", "socket", "--tpmstate", "dir="+state, "--ctrl", "type=unixio,path="+sock,
		"--tpm2", "--terminate", "--flags", "not-need-init,startup-clear")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return stop, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("swtpm exited: %s", stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("swtpm's socket %s did not appear", sock)
		}
	}
}
