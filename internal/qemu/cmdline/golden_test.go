package cmdline

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

var update = flag.Bool("update", false, "rewrite the golden .cmd files from the current output")

// testHost is the host every golden file is built for: a KVM host with
// QEMU 7.2, like Debian 12.
func testHost() Host {
	return Host{KVM: true, QEMUVersion: "7.2.22", MachineVersion: "7.2", CPUs: 16,
		OVMFCode: "/usr/share/OVMF/OVMF_CODE_4M.fd", OVMFCode2M: "/usr/share/OVMF/OVMF_CODE.fd",
		CPUVendor: "GenuineIntel", PhysBits: 46, HugePageSizes: []int{2, 1024}}
}

func testPaths(dir string, vmid int) Paths {
	p := func(ext string) string { return filepath.Join(dir, fmt.Sprintf("%d.%s", vmid, ext)) }
	return Paths{QMP: p("qmp"), PID: p("pid"), VNC: p("vnc"), QGA: p("qga"), TPM: p("swtpm"),
		Serial: [4]string{p("serial0"), p("serial1"), p("serial2"), p("serial3")}}
}

// goldenInputs adjusts the input of golden files that test something
// besides the configuration: the host, or the parameters of a start.
var goldenInputs = map[string]func(*Input){
	"tcg-fallback": func(in *Input) { in.Host.KVM = false },
	"cpu-host-tcg": func(in *Input) { in.Host.KVM = false },
	"resume": func(in *Input) {
		in.Machine = "pc-i440fx-6.2"
		in.ForceCPU = "kvm64,flags=+aes"
		in.Incoming = "exec:cat '/var/lib/vz/images/100/vm-100-state-hibernate.raw'"
	},
	"nics":            func(in *Input) { in.BridgeMTU = map[string]int{"vmbr0": 9000} },
	"ovmf-no-efidisk": func(in *Input) { in.Paths.EFIVars = "/run/hearth/qemu/100.efivars" },
}

// loadConfig reads a golden configuration as the VM service would hand
// it over: the main section of the parsed file.
func loadConfig(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, warnings, err := guestconf.Parse(guestconf.KindQemu, data)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%s does not parse cleanly: %v %v", path, err, warnings)
	}
	conf := map[string]string{}
	for _, k := range f.Main.Keys() {
		conf[k] = f.Main.Value(k)
	}
	return conf
}

// goldenInput builds the input of a golden configuration, with volumes
// resolved below root.
func goldenInput(t *testing.T, name string, conf map[string]string, root string) Input {
	in := Input{VMID: 100, Config: conf, Volumes: resolveVolumes(t, conf, root), Host: testHost(),
		Paths: testPaths("/run/hearth/qemu", 100)}
	if adjust := goldenInputs[name]; adjust != nil {
		adjust(&in)
	}
	return in
}

// resolveVolumes plays storage: each storage id of the golden files
// stands for one kind of storage.
func resolveVolumes(t *testing.T, conf map[string]string, root string) map[string]Volume {
	t.Helper()
	out := map[string]Volume{}
	for _, key := range vmconf.DriveKeys() {
		v, ok := conf[key]
		if !ok {
			continue
		}
		d, err := vmconf.ParseDrive(key, v)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if d.IsNone() || d.File == "cdrom" {
			continue
		}
		vol := resolveVolume(t, d.File, root)
		if d.IsCDROM() {
			vol.ReadOnly = true
		}
		if d.Format != "" {
			vol.Format = d.Format
		}
		out[key] = vol
	}
	return out
}

func resolveVolume(t *testing.T, file, root string) Volume {
	t.Helper()
	format := func(name string) string {
		switch filepath.Ext(name) {
		case ".qcow2":
			return "qcow2"
		case ".vmdk":
			return "vmdk"
		}
		return "raw"
	}
	if strings.HasPrefix(file, "/") {
		if strings.HasPrefix(file, "/dev/") {
			return Volume{Blockdev: map[string]any{"driver": "host_device", "filename": file}, Format: "raw", Path: file}
		}
		return Volume{Blockdev: map[string]any{"driver": "file", "filename": file}, Format: format(file), Path: file}
	}
	storage, name, _ := strings.Cut(file, ":")
	switch storage {
	case "local", "btrfs":
		path := filepath.Join(root, "images", name)
		if dir, iso, ok := strings.Cut(name, "/"); ok && dir == "iso" {
			path = filepath.Join(root, "template", "iso", iso)
		}
		return Volume{Blockdev: map[string]any{"driver": "file", "filename": path}, Format: format(name), Path: path,
			NoCacheDirect: storage == "btrfs"}
	case "lvm":
		path := "/dev/pve/" + name
		return Volume{Blockdev: map[string]any{"driver": "host_device", "filename": path}, Format: "raw", Path: path}
	case "nfs":
		return Volume{Blockdev: map[string]any{"driver": "nfs", "server": map[string]any{"type": "inet", "host": "127.0.0.1"},
			"path": "/export/images/" + name}, Format: format(name)}
	case "iscsi":
		return Volume{Blockdev: map[string]any{"driver": "iscsi", "transport": "tcp", "portal": "127.0.0.1:3260",
			"target": "iqn.2024-01.org.hearth:store", "lun": 1}, Format: "raw"}
	case "rbd":
		return Volume{Blockdev: map[string]any{"driver": "rbd", "pool": "rbd", "image": name,
			"conf": "/etc/pve/ceph.conf", "user": "admin"}, Format: "raw"}
	}
	t.Fatalf("the golden test has no storage %q (volume %s)", storage, file)
	return Volume{}
}

// goldenFiles lists the configurations under testdata.
func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden configurations: %v", err)
	}
	return files
}

// renderGolden is the content of a .cmd file: the pretty command line
// and the start's warnings as shell comments.
func renderGolden(argv, warnings []string) string {
	var b strings.Builder
	b.WriteString(Pretty(argv))
	b.WriteString("\n")
	for _, w := range warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	return b.String()
}

func TestGoldenCommandLines(t *testing.T) {
	for _, conf := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		t.Run(name, func(t *testing.T) {
			in := goldenInput(t, name, loadConfig(t, conf), "/var/lib/vz")
			argv, warnings, err := Build(in)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got := renderGolden(argv, warnings)
			golden := strings.TrimSuffix(conf, ".conf") + ".cmd"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("command line differs from %s (run go test -update after checking the change):\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW, inG := map[string]int{}, map[string]int{}
	for _, l := range w {
		inW[l]++
	}
	for _, l := range g {
		inG[l]++
	}
	var out []string
	for _, l := range w {
		if inG[l] == 0 {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if inW[l] == 0 {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 {
		return "(same lines, different order)"
	}
	return strings.Join(out, "\n")
}
