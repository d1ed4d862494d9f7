package lvmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Skip skips the test unless it can create loop devices and run lvm2.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create loop devices and volume groups")
	}
	for _, tool := range []string{"losetup", "pvcreate", "vgcreate", "vgcfgbackup", "vgcfgrestore", "lvs", "vgs", "pvremove", "file"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

// Run runs a host command for test setup and fails the test if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1", "LC_ALL=C")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// LoopDevice attaches a sparse file of size bytes to a loop device and
// detaches it (wiping any LVM label first) when the test ends.
func LoopDevice(t testing.TB, size int64) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dev := strings.TrimSpace(Run(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() {
		// pvremove -ff drops the label even while the group still lists
		// volumes that cannot be deactivated without device-mapper.
		c := exec.Command("pvremove", "-ff", "-y", dev)
		c.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
		_ = c.Run()
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// LV is a logical volume to write into a group's metadata.
type LV struct {
	Name string
	// Extents is the size in 4 MiB extents (the virtual size of thin volumes).
	Extents int
	Tags    []string
	CTime   int64
	// Segment kinds: "" linear (allocated on pv0 in order), "thin-pool"
	// (with its _tdata and _tmeta volumes added), or "thin" in Pool.
	Kind     string
	Pool     string
	Origin   string // thin snapshots: the origin volume
	ReadOnly bool
	Skip     bool // activation skip flag
}

// Restore adds lvs to volume group vg by rewriting its metadata.
func Restore(t testing.TB, vg string, lvs []LV) {
	t.Helper()
	backup := filepath.Join(t.TempDir(), vg+".vg")
	Run(t, "vgcfgbackup", "-f", backup, vg)
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	next, dev, thin := 0, 0, false
	linear := func(name string, n int, status string, tags []string, ctime int64) {
		fmt.Fprintf(&b, "\t\t%s {\n\t\t\tid = %q\n\t\t\tstatus = [%s]\n\t\t\tflags = []\n", name, uuid(name), status)
		if len(tags) > 0 {
			fmt.Fprintf(&b, "\t\t\ttags = [\"%s\"]\n", strings.Join(tags, `", "`))
		}
		fmt.Fprintf(&b, "\t\t\tcreation_time = %d\n\t\t\tcreation_host = \"pve1\"\n\t\t\tsegment_count = 1\n\n", ctime)
		fmt.Fprintf(&b, "\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = %d\n\n\t\t\t\ttype = \"striped\"\n\t\t\t\tstripe_count = 1\n\n\t\t\t\tstripes = [\n\t\t\t\t\t\"pv0\", %d\n\t\t\t\t]\n\t\t\t}\n\t\t}\n", n, next)
		next += n
	}
	for _, lv := range lvs {
		status := `"READ", "WRITE", "VISIBLE"`
		if lv.ReadOnly {
			status = `"READ", "VISIBLE"`
		}
		if lv.Kind == "" {
			linear(lv.Name, lv.Extents, status, lv.Tags, lv.CTime)
			continue
		}
		fmt.Fprintf(&b, "\t\t%s {\n\t\t\tid = %q\n\t\t\tstatus = [%s]\n", lv.Name, uuid(lv.Name), status)
		if lv.Skip {
			b.WriteString("\t\t\tflags = [\"ACTIVATION_SKIP\"]\n")
		} else {
			b.WriteString("\t\t\tflags = []\n")
		}
		if len(lv.Tags) > 0 {
			fmt.Fprintf(&b, "\t\t\ttags = [\"%s\"]\n", strings.Join(lv.Tags, `", "`))
		}
		fmt.Fprintf(&b, "\t\t\tcreation_time = %d\n\t\t\tcreation_host = \"pve1\"\n\t\t\tsegment_count = 1\n\n\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = %d\n\n", lv.CTime, lv.Extents)
		switch lv.Kind {
		case "thin-pool":
			thin = true
			fmt.Fprintf(&b, "\t\t\t\ttype = \"thin-pool\"\n\t\t\t\tmetadata = \"%s_tmeta\"\n\t\t\t\tpool = \"%s_tdata\"\n\t\t\t\ttransaction_id = 0\n\t\t\t\tchunk_size = 128\n\t\t\t\tdiscards = \"passdown\"\n\t\t\t\tzero_new_blocks = 1\n", lv.Name, lv.Name)
		case "thin":
			dev++
			fmt.Fprintf(&b, "\t\t\t\ttype = \"thin\"\n\t\t\t\tthin_pool = %q\n\t\t\t\ttransaction_id = %d\n\t\t\t\tdevice_id = %d\n", lv.Pool, dev-1, dev)
			if lv.Origin != "" {
				fmt.Fprintf(&b, "\t\t\t\torigin = %q\n", lv.Origin)
			}
		default:
			t.Fatalf("unknown volume kind %q", lv.Kind)
		}
		b.WriteString("\t\t\t}\n\t\t}\n")
		if lv.Kind == "thin-pool" {
			linear(lv.Name+"_tmeta", 1, `"READ", "WRITE"`, nil, lv.CTime)
			linear(lv.Name+"_tdata", lv.Extents, `"READ", "WRITE"`, nil, lv.CTime)
		}
	}
	text := string(data)
	end := strings.LastIndex(text, "}")
	text = text[:end] + "\tlogical_volumes {\n\n" + b.String() + "\t}\n}\n"
	if err := os.WriteFile(backup, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", backup, vg}
	if thin {
		args = append([]string{"--force"}, args...)
	}
	Run(t, "vgcfgrestore", args...)
}

// uuid derives a well-formed LVM uuid from a name.
func uuid(name string) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var s [32]byte
	h := uint32(2166136261)
	for i := range s {
		for _, c := range []byte(name) {
			h = (h ^ uint32(c)) * 16777619
		}
		h = (h ^ uint32(i)) * 16777619
		s[i] = chars[h%uint32(len(chars))]
	}
	x := string(s[:])
	return strings.Join([]string{x[0:6], x[6:10], x[10:14], x[14:18], x[18:22], x[22:26], x[26:32]}, "-")
}
