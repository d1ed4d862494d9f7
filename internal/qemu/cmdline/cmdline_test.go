package cmdline

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

func TestMachineType(t *testing.T) {
	host := Host{MachineVersion: "7.2"}
	for _, c := range []struct {
		machine string
		host    Host
		want    string
	}{
		{"", host, "pc-i440fx-7.2"},
		{"pc", host, "pc-i440fx-7.2"},
		{"q35", host, "pc-q35-7.2"},
		{"q35,viommu=intel", host, "pc-q35-7.2"},
		{"type=q35,viommu=virtio", host, "pc-q35-7.2"},
		{"pc-q35-6.2", host, "pc-q35-6.2"},
		{"pc-i440fx-5.1", host, "pc-i440fx-5.1"},
		{"pc-q35-7.2+pve0", host, "pc-q35-7.2"},
		{"pc-i440fx-6.0+pve1", host, "pc-i440fx-6.0"},
		{"pc-i440fx-2.12.pxe", host, "pc-i440fx-2.12"},
		{"pc", Host{}, "pc"},
		{"q35", Host{MachineVersion: "9.2"}, "pc-q35-9.2"},
	} {
		conf := map[string]string{}
		if c.machine != "" {
			conf["machine"] = c.machine
		}
		if got := MachineType(conf, c.host); got != c.want {
			t.Errorf("MachineType(machine: %q) = %q, want %q", c.machine, got, c.want)
		}
	}
}

func TestQuoteAndPretty(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"/run/x.pid", "/run/x.pid"},
		{"kvm64,+aes,-pcid", "kvm64,+aes,-pcid"},
		{"", "''"},
		{"type=pc", "'type=pc'"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{`{"driver":"raw"}`, `'{"driver":"raw"}'`},
		{"$HOME", "'$HOME'"},
	} {
		if got := shellQuote(c.in); got != c.want {
			t.Errorf("shellQuote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	argv := []string{"qemu-system-x86_64", "-name", "vm 1", "-daemonize", "-m", "512", "-device", "VGA,id=vga"}
	if got, want := Quote(argv), "qemu-system-x86_64 -name 'vm 1' -daemonize -m 512 -device 'VGA,id=vga'"; got != want {
		t.Errorf("Quote = %s\nwant  %s", got, want)
	}
	want := "qemu-system-x86_64 \\\n  -name 'vm 1' \\\n  -daemonize \\\n  -m 512 \\\n  -device 'VGA,id=vga'"
	if got := Pretty(argv); got != want {
		t.Errorf("Pretty =\n%s\nwant\n%s", got, want)
	}
	if got := Pretty(nil); got != "" {
		t.Errorf("Pretty(nil) = %q", got)
	}
}

func TestSplitArgs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  -a  b ", []string{"-a", "b"}},
		{`-smbios 'type=0,vendor=A B'`, []string{"-smbios", "type=0,vendor=A B"}},
		{`x="say \"hi\" \$5 \n"`, []string{`x=say "hi" $5 \n`}},
		{`a\ b c\\d`, []string{"a b", `c\d`}},
		{`''`, []string{""}},
		{"a'b'\"c\"d", []string{"abcd"}},
	} {
		got, err := splitArgs(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`} {
		if _, err := splitArgs(bad); err == nil {
			t.Errorf("splitArgs(%q) succeeded; want an error", bad)
		}
	}
}

// baseInput is a small VM that error cases change one thing of.
func baseInput() Input {
	return Input{VMID: 100, Host: testHost(), Paths: testPaths("/run/hearth/qemu", 100), Config: map[string]string{
		"memory": "1024",
		"scsi0":  "local:100/vm-100-disk-0.qcow2,size=4G",
		"net0":   "virtio=BC:24:11:00:00:01,bridge=vmbr0",
	}, Volumes: map[string]Volume{"scsi0": {Blockdev: map[string]any{"driver": "file", "filename": "/x.qcow2"}, Format: "qcow2"}}}
}

func TestBuildErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(in *Input)
		want   string
	}{
		{"drive index past the bus", func(in *Input) { in.Config["scsi31"] = "local:1/x.raw" }, "scsi31: there is no such drive; scsi takes indexes 0 to 30"},
		{"ide index past the bus", func(in *Input) { in.Config["ide4"] = "none,media=cdrom" }, "ide4: there is no such drive; ide takes indexes 0 to 3"},
		{"second efidisk", func(in *Input) { in.Config["efidisk1"] = "local:1/x.raw" }, "efidisk1: there is no such drive; only efidisk0 exists"},
		{"nic past the end", func(in *Input) { in.Config["net32"] = "virtio=BC:24:11:00:00:02" }, "net32: there is no such device; net takes 0 to 31"},
		{"unresolved volume", func(in *Input) { delete(in.Volumes, "scsi0") }, "scsi0: volume local:100/vm-100-disk-0.qcow2 was not resolved"},
		{"bad drive value", func(in *Input) { in.Config["scsi0"] = "local:1/x.raw,cache=sometimes" }, "scsi0: "},
		{"none on a disk", func(in *Input) { in.Config["scsi0"] = "none" }, "scsi0: none only works for a CD-ROM drive"},
		{"snapshot mode", func(in *Input) { in.Config["scsi0"] += ",snapshot=1" }, "snapshot=1"},
		{"aio native with page cache", func(in *Input) { in.Config["scsi0"] += ",aio=native,cache=writeback" }, "aio=native needs cache=none"},
		{"nic without mac", func(in *Input) { in.Config["net0"] = "model=virtio,bridge=vmbr0" }, "net0: has no MAC address"},
		{"nic mtu too small", func(in *Input) { in.Config["net0"] += ",mtu=500" }, "below the IPv4 minimum"},
		{"nic mtu above bridge", func(in *Input) {
			in.Config["net0"] += ",mtu=9000"
			in.BridgeMTU = map[string]int{"vmbr0": 1500}
		}, "above the MTU of bridge vmbr0"},
		{"machine newer than qemu", func(in *Input) { in.Config["machine"] = "pc-q35-8.1" }, "machine pc-q35-8.1 is newer than this host's QEMU 7.2.22"},
		{"intel iommu on i440fx", func(in *Input) { in.Config["machine"] = "pc,viommu=intel" }, "viommu=intel needs a q35 machine"},
		{"aarch64 guest", func(in *Input) { in.Config["arch"] = "aarch64" }, "arch aarch64: only x86_64 guests"},
		{"more vcpus than the topology", func(in *Input) { in.Config["vcpus"] = "3"; in.Config["cores"] = "2" }, "vcpus: 3 is outside 1 to 2"},
		{"more vcpus than the host", func(in *Input) { in.Config["cores"] = "32" }, "32 vCPUs (sockets × cores) but this host has only 16"},
		{"custom cpu model", func(in *Input) { in.Config["cpu"] = "custom-mine" }, "custom CPU models"},
		{"bad cpu flag", func(in *Input) { in.Config["cpu"] = "kvm64,flags=+avx" }, "cpu: "},
		{"hugepages without numa", func(in *Input) { in.Config["hugepages"] = "2" }, "hugepages: needs numa: 1"},
		{"memory hotplug without numa", func(in *Input) { in.Config["hotplug"] = "memory" }, "hotplug memory: needs numa: 1"},
		{"memory hotplug below static", func(in *Input) {
			in.Config["hotplug"], in.Config["numa"], in.Config["memory"] = "memory", "1", "512"
		}, "less than the 1024 MiB"},
		{"numa memory mismatch", func(in *Input) {
			in.Config["numa"], in.Config["numa0"] = "1", "cpus=0,memory=512"
		}, "the nodes have 512 MiB together but the VM has 1024 MiB"},
		{"numa hostnodes without policy", func(in *Input) {
			in.Config["numa"], in.Config["numa0"] = "1", "cpus=0,memory=1024,hostnodes=0"
		}, "hostnodes needs a policy"},
		{"numa uneven split", func(in *Input) { in.Config["numa"], in.Config["sockets"] = "1", "3" }, "cannot be split evenly across 3 sockets"},
		{"tpm without socket", func(in *Input) { in.Config["tpmstate0"] = "local:1/t.raw"; in.Paths.TPM = "" }, "tpmstate0: the TPM emulator's socket path"},
		{"agent without socket", func(in *Input) { in.Config["agent"] = "1"; in.Paths.QGA = "" }, "agent: the guest agent socket path"},
		{"serial socket without path", func(in *Input) { in.Config["serial2"] = "socket"; in.Paths.Serial[2] = "" }, "serial2: the socket path"},
		{"no qmp path", func(in *Input) { in.Paths.QMP = "" }, "QMP socket"},
		{"args with an open quote", func(in *Input) { in.Config["args"] = "-device 'x" }, "args: unterminated single quote"},
		{"usb mapping", func(in *Input) { in.Config["usb0"] = "mapping=stick" }, "usb0: resource mappings"},
		{"pcie passthrough on i440fx", func(in *Input) { in.Config["hostpci0"] = "01:00.0,pcie=1" }, "hostpci0: pcie=1 needs a q35 machine"},
		{"efidisk unresolved", func(in *Input) { in.Config["bios"], in.Config["efidisk0"] = "ovmf", "local:100/e.raw" }, "efidisk0: volume local:100/e.raw was not resolved"},
		{"confidential computing", func(in *Input) { in.Config["amd-sev"] = "type=std" }, "amd-sev: confidential computing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := baseInput()
			c.change(&in)
			_, _, err := Build(in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build error = %v; want one containing %q", err, c.want)
			}
		})
	}
}

func TestAccelerator(t *testing.T) {
	const tcgWarning = "KVM virtualisation is not available on this host; running VM 100 under software emulation (TCG), which is slow"
	for _, c := range []struct {
		name              string
		hostKVM           bool
		kvm, cpu          string
		accel, cpuArg     string
		warnTCG, warnHost bool
	}{
		{"kvm host", true, "", "", "kvm", "kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt,+lahf_lm,+sep", false, false},
		{"fallback to tcg", false, "", "", "tcg", "kvm64,+lahf_lm,+sep", true, false},
		{"kvm off by config", true, "0", "", "tcg", "qemu64", false, false},
		{"kvm off on a host without kvm", false, "0", "", "tcg", "qemu64", false, false},
		{"host cpu with kvm", true, "", "host", "kvm", "host,+kvm_pv_eoi,+kvm_pv_unhalt", false, false},
		// The documented choice: cpu host becomes max under TCG, with a warning.
		{"host cpu under tcg", false, "", "host", "tcg", "max", true, true},
		{"host cpu with kvm off", true, "0", "host", "tcg", "max", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := baseInput()
			in.Host.KVM = c.hostKVM
			if c.kvm != "" {
				in.Config["kvm"] = c.kvm
			}
			if c.cpu != "" {
				in.Config["cpu"] = c.cpu
			}
			argv, warnings, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := argAfter(argv, "-accel"); got != c.accel {
				t.Errorf("-accel %s, want %s", got, c.accel)
			}
			if got := argAfter(argv, "-cpu"); got != c.cpuArg {
				t.Errorf("-cpu %s, want %s", got, c.cpuArg)
			}
			if got := slices.Contains(warnings, tcgWarning); got != c.warnTCG {
				t.Errorf("TCG warning given: %v, want %v (warnings %q)", got, c.warnTCG, warnings)
			}
			hostWarned := slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, "cpu host needs KVM") })
			if hostWarned != c.warnHost {
				t.Errorf("cpu host warning given: %v, want %v (warnings %q)", hostWarned, c.warnHost, warnings)
			}
			vhost := strings.Contains(argAfter(argv, "-netdev"), "vhost=on")
			if vhost != (c.accel == "kvm") {
				t.Errorf("vhost in %q, want it only with KVM", argAfter(argv, "-netdev"))
			}
		})
	}
}

func argAfter(argv []string, name string) string {
	if i := slices.Index(argv, name); i >= 0 && i+1 < len(argv) {
		return argv[i+1]
	}
	return ""
}

func TestNonDeviceOptionsChangeNothing(t *testing.T) {
	in := baseInput()
	want, _, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"protection": "1", "onboot": "1", "startup": "order=1,up=5", "description": "notes", "tags": "a;b",
		"lock": "backup", "keyboard": "de", "cpuunits": "200", "cpulimit": "2", "shares": "500", "template": "0",
		"ciuser": "x", "ipconfig0": "ip=dhcp", "hookscript": "local:snippets/h.pl", "vmstatestorage": "local",
		"migrate_downtime": "1", "migrate_speed": "100", "spice_enhancements": "foldersharing=1", "meta": "ctime=1",
	} {
		in := baseInput()
		in.Config[k] = v
		got, _, err := Build(in)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s changed the command line:\n%s", k, v, lineDiff(Pretty(want), Pretty(got)))
		}
	}
}

func TestDefaultBootOrderIsLegacyCDN(t *testing.T) {
	got, err := bootIndexes(map[string]string{
		"scsi0": "local:1/a.raw", "ide2": "local:iso/x.iso,media=cdrom", "sata0": "none,media=cdrom",
		"net0": "virtio=BC:24:11:00:00:01", "net3": "e1000=BC:24:11:00:00:02",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"scsi0": 100, "ide2": 200, "sata0": 201, "net0": 300, "net3": 301}
	if !maps.Equal(got, want) {
		t.Errorf("boot indexes %v, want %v", got, want)
	}
}

// parseOpt splits a QEMU key=value option, undoing doubled commas; the
// bare first item comes back under "driver".
func parseOpt(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var items []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			if i+1 < len(s) && s[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			items = append(items, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	items = append(items, cur.String())
	for i, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok && i == 0 {
			k, v = "driver", it
		}
		if _, dup := out[k]; dup {
			t.Fatalf("key %s twice in %s", k, s)
		}
		out[k] = v
	}
	return out
}

// asOptStrings renders QMP arguments as the command line writes them.
func asOptStrings(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = optValue(v)
	}
	return out
}

// normalizeJSON round-trips a value through JSON, so that values built
// in Go and values decoded from the command line compare equal.
func normalizeJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// flatten undoes nest: each inline child becomes a node of its own,
// named by its parent.
func flatten(top map[string]any) []map[string]any {
	var chain []map[string]any
	for cur := top; cur != nil; {
		n := maps.Clone(cur)
		child, _ := cur["file"].(map[string]any)
		if child != nil {
			n["file"] = child["node-name"]
		}
		chain = append([]map[string]any{n}, chain...)
		cur = child
	}
	return chain
}

// TestHotplugMatchesBuild checks, for every drive and NIC of every golden
// configuration, that the QMP arguments for hot-plugging it describe
// exactly what a fresh start creates.
func TestHotplugMatchesBuild(t *testing.T) {
	for _, file := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".conf")
		in := goldenInput(t, name, loadConfig(t, file), "/var/lib/vz")
		argv, _, err := Build(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		devices, netdevs, blockdevs, objects := map[string]map[string]string{}, map[string]map[string]string{}, map[string]any{}, map[string]any{}
		for i := 1; i+1 < len(argv); i++ {
			switch argv[i] {
			case "-device":
				d := parseOpt(t, argv[i+1])
				devices[d["id"]] = d
			case "-netdev":
				d := parseOpt(t, argv[i+1])
				netdevs[d["id"]] = d
			case "-blockdev":
				var m map[string]any
				if err := json.Unmarshal([]byte(argv[i+1]), &m); err != nil {
					t.Fatalf("%s: -blockdev is not JSON: %v", name, err)
				}
				blockdevs[m["node-name"].(string)] = normalizeJSON(t, flatten(m))
			case "-object":
				if strings.HasPrefix(argv[i+1], "{") {
					var m map[string]any
					if err := json.Unmarshal([]byte(argv[i+1]), &m); err != nil {
						t.Fatal(err)
					}
					objects[m["id"].(string)] = normalizeJSON(t, m)
				} else if id, ok := strings.CutPrefix(argv[i+1], "iothread,id="); ok {
					objects[id] = normalizeJSON(t, map[string]any{"qom-type": "iothread", "id": id})
				}
			}
		}
		for _, key := range vmconf.DriveKeys() {
			if _, ok := in.Config[key]; !ok || key == "efidisk0" || key == "tpmstate0" {
				continue
			}
			a, err := DriveAttachment(in, key)
			if err != nil {
				t.Errorf("%s %s: %v", name, key, err)
				continue
			}
			if got, want := asOptStrings(a.Device), devices[key]; !maps.Equal(got, want) {
				t.Errorf("%s %s: hot-plug device %v\nbut the start has %v", name, key, got, want)
			}
			if a.Controller != nil {
				id := a.Controller["id"].(string)
				if got, want := asOptStrings(a.Controller), devices[id]; !maps.Equal(got, want) {
					t.Errorf("%s %s: hot-plug controller %v\nbut the start has %v", name, key, got, want)
				}
			}
			if a.Blockdevs != nil {
				if got, want := normalizeJSON(t, a.Blockdevs), blockdevs[NodeName(key)]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s: hot-plug nodes %v\nbut the start has %v", name, key, got, want)
				}
			} else if _, ok := blockdevs[NodeName(key)]; ok {
				t.Errorf("%s %s: no hot-plug nodes, but the start has some", name, key)
			}
			for _, o := range a.Objects {
				if got, want := normalizeJSON(t, o), objects[o["id"].(string)]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s: hot-plug object %v\nbut the start has %v", name, key, got, want)
				}
			}
			blockdevs2, device2, err := DriveObjects(in, key)
			if err != nil || !reflect.DeepEqual(blockdevs2, a.Blockdevs) || !reflect.DeepEqual(device2, a.Device) {
				t.Errorf("%s %s: DriveObjects disagrees with DriveAttachment (%v)", name, key, err)
			}
		}
		for i := 0; i < 32; i++ {
			key := "net" + optValue(i)
			if _, ok := in.Config[key]; !ok {
				continue
			}
			nd, dev, err := NetObjects(in, key)
			if err != nil {
				t.Errorf("%s %s: %v", name, key, err)
				continue
			}
			if got, want := asOptStrings(dev), devices[key]; !maps.Equal(got, want) {
				t.Errorf("%s %s: hot-plug device %v\nbut the start has %v", name, key, got, want)
			}
			if got, want := asOptStrings(nd), netdevs[key]; !maps.Equal(got, want) {
				t.Errorf("%s %s: hot-plug netdev %v\nbut the start has %v", name, key, got, want)
			}
		}
	}
}

func TestHotplugOfUnknownDevices(t *testing.T) {
	in := baseInput()
	for _, key := range []string{"scsi5", "scsi31", "efidisk0"} {
		if _, _, err := DriveObjects(in, key); err == nil {
			t.Errorf("DriveObjects(%s) succeeded", key)
		}
	}
	if _, _, err := NetObjects(in, "net1"); err == nil {
		t.Error("NetObjects(net1) succeeded for a VM without net1")
	}
}

func TestCDROMShorthandIsIDE2(t *testing.T) {
	in := baseInput()
	in.Config["cdrom"] = "local:iso/x.iso"
	in.Volumes["cdrom"] = Volume{Blockdev: map[string]any{"driver": "file", "filename": "/iso/x.iso"}, Format: "raw", ReadOnly: true}
	argv, _, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(argv, "ide-cd,bus=ide.1,unit=0,drive=drive-ide2,id=ide2,bootindex=200") {
		t.Errorf("cdrom did not become ide2:\n%s", Pretty(argv))
	}
	if _, ok := in.Volumes["ide2"]; ok {
		t.Error("Build changed the caller's volume map")
	}
}

func TestNames(t *testing.T) {
	if got := TapName(100, 3); got != "tap100i3" {
		t.Errorf("TapName = %s", got)
	}
	if got := NodeName("virtio7"); got != "drive-virtio7" {
		t.Errorf("NodeName = %s", got)
	}
}
