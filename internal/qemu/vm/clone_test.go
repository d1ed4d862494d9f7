package vm

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

func section(t *testing.T, kv map[string]string) *guestconf.Section {
	t.Helper()
	sec := guestconf.NewSection()
	for k, v := range kv {
		if err := sec.Set(k, v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	return sec
}

// seeded is a reproducible stream of random bytes.
func seeded(seed uint64) *bytes.Reader {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return bytes.NewReader(b)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCloneValues(t *testing.T) {
	src := map[string]string{
		"name":           "web",
		"memory":         "2048",
		"description":    "front end",
		"net0":           "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1",
		"net1":           "e1000=BC:24:11:00:00:02,bridge=vmbr1,tag=5",
		"smbios1":        "uuid=0d7c3f6c-1c4c-4c7f-9a55-6a0b0e5f2f11,manufacturer=QUNNRQ==,base64=1",
		"vmgenid":        "5b1f2f0a-3c59-4d3e-8a6b-0b9f7f6c2a10",
		"template":       "1",
		"lock":           "backup",
		"parent":         "snap1",
		"snaptime":       "1700000000",
		"vmstate":        "local:100/vm-100-state-snap1.raw",
		"runningmachine": "pc-i440fx-7.2",
		"unused0":        "local:100/vm-100-disk-3.qcow2",
		"scsi0":          "local:100/base-100-disk-0.qcow2,size=8G",
		"ide0":           "local:100/vm-100-cloudinit.qcow2,media=cdrom",
		"ide2":           "local:iso/debian.iso,media=cdrom",
		"ide3":           "none,media=cdrom",
		"boot":           "order=scsi0;ide2;net0",
	}
	tests := []struct {
		name, newName, desc string
		wantName, wantDesc  string
	}{
		{"defaults", "", "", "Copy-of-VM-web", "front end"},
		{"given", "db", "copy", "db", "copy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := cloneValues(section(t, src), 100, tc.newName, tc.desc, "BC:24:11", seeded(1))
			if out["name"] != tc.wantName || out["description"] != tc.wantDesc {
				t.Errorf("name %q description %q", out["name"], out["description"])
			}
			for _, k := range []string{"template", "lock", "parent", "snaptime", "vmstate", "runningmachine", "unused0", "scsi0", "ide0"} {
				if v, ok := out[k]; ok {
					t.Errorf("%s copied: %q", k, v)
				}
			}
			for _, k := range []string{"memory", "ide2", "ide3", "boot"} {
				if out[k] != src[k] {
					t.Errorf("%s: %q, want the source's %q", k, out[k], src[k])
				}
			}
			for _, k := range []string{"net0", "net1"} {
				old, err1 := vmconf.ParseNet(k, src[k])
				n, err2 := vmconf.ParseNet(k, out[k])
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: %v %v", k, err1, err2)
				}
				if n.MACAddr == old.MACAddr || !strings.HasPrefix(n.MACAddr, "BC:24:11:") {
					t.Errorf("%s: MAC %s (source %s)", k, n.MACAddr, old.MACAddr)
				}
				n.MACAddr = old.MACAddr
				if n.String() != old.String() {
					t.Errorf("%s: %s, want the source's settings %s", k, out[k], src[k])
				}
			}
			sm, err := vmconf.ParseSMBIOS1(out["smbios1"])
			if err != nil {
				t.Fatal(err)
			}
			old, _ := vmconf.ParseSMBIOS1(src["smbios1"])
			if sm.UUID == old.UUID || !uuidRE.MatchString(sm.UUID) || sm.Manufacturer != old.Manufacturer || !sm.Base64.Or(false) {
				t.Errorf("smbios1: %s (source %s)", out["smbios1"], src["smbios1"])
			}
			if g := out["vmgenid"]; g == src["vmgenid"] || !uuidRE.MatchString(g) {
				t.Errorf("vmgenid: %q", g)
			}
		})
	}
}

func TestCloneValuesWithoutNameOrIDs(t *testing.T) {
	out := cloneValues(section(t, map[string]string{"memory": "512", "vmgenid": "0"}), 123, "", "", "", nil)
	if out["name"] != "Copy-of-VM-123" {
		t.Errorf("name: %q", out["name"])
	}
	if out["vmgenid"] != "0" {
		t.Errorf("a turned-off vmgenid was turned on: %q", out["vmgenid"])
	}
	sm, err := vmconf.ParseSMBIOS1(out["smbios1"])
	if err != nil || !uuidRE.MatchString(sm.UUID) {
		t.Errorf("smbios1 of a source without one: %q %v", out["smbios1"], err)
	}
	if _, ok := out["description"]; ok {
		t.Errorf("description appeared: %q", out["description"])
	}
}

func TestCloneFormat(t *testing.T) {
	file := []string{"raw", "qcow2", "vmdk", "subvol"}
	block := []string{"raw"}
	tests := []struct {
		key, asked, src string
		formats         []string
		want            string
		ok              bool
	}{
		{"scsi0", "", "qcow2", file, "qcow2", true},
		{"scsi0", "raw", "qcow2", file, "raw", true},
		{"scsi0", "", "qcow2", block, "raw", true},
		{"scsi0", "qcow2", "raw", block, "qcow2", false},
		{"scsi0", "", "subvol", file, "raw", true},
		{"tpmstate0", "qcow2", "raw", file, "raw", true},
		{"efidisk0", "", "vmdk", file, "vmdk", true},
	}
	for _, tc := range tests {
		got, ok := cloneFormat(tc.key, tc.asked, tc.src, tc.formats, "raw")
		if got != tc.want || ok != tc.ok {
			t.Errorf("cloneFormat(%s, %q, %q, %v) = %q, %v; want %q, %v", tc.key, tc.asked, tc.src, tc.formats, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStorageBandwidthLimits(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"", 0},
		{"clone=100", 100},
		{"default=50,clone=200", 200},
		{"default=50", 50},
		{"clone=0,default=50", 0},
		{"restore=10, default = 70.5", 70.5},
		{"clone=fast,default=5", 5},
	}
	for _, tc := range tests {
		got, _ := limitsOf(tc.in).For("clone")
		if got != tc.want {
			t.Errorf("limitsOf(%q).For(clone) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ a, b, want float64 }{{0, 0, 0}, {0, 5, 5}, {5, 0, 5}, {3, 5, 3}, {5, 3, 3}} {
		if got := lowerLimit(tc.a, tc.b); got != tc.want {
			t.Errorf("lowerLimit(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// progressLog records the progress a task reports.
type progressLog struct{ done []int64 }

func (*progressLog) Printf(string, ...any)        {}
func (*progressLog) Warnf(string, ...any)         {}
func (l *progressLog) Progress(done, total int64) { l.done = append(l.done, done*100/total) }

func TestProgressWriter(t *testing.T) {
	l := &progressLog{}
	w := &progressWriter{log: l}
	for _, chunk := range []string{"    (0.00/100%)\r", "    (0.50/100%)\r    (1.01/100%)\r", "garbage", "    (1.50/100%)\r", "    (57.", "10/100%)\r    (100.00/100%)\r\n"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	// A split line is lost rather than misread; whole percents only.
	want := []int64{1, 100}
	if len(l.done) != len(want) || l.done[0] != want[0] || l.done[1] != want[1] {
		t.Errorf("progress %v, want %v", l.done, want)
	}
}
