package hostinfo

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	proxmox "github.com/luthermonson/go-proxmox"
)

// copyTree copies a fake tree so a test can change files in it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func fakeStatus(t *testing.T) NodeStatus {
	t.Helper()
	root := copyTree(t, filepath.Join("testdata", "xeon-2socket-efi-secureboot"))
	r := Reader{Root: root, RootFSPath: t.TempDir()}
	s := NewSampler(r)
	writeStat(t, root, "cpu 100 0 0 100 0 0 0 0 0 0")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	writeStat(t, root, "cpu 110 0 0 180 10 0 0 0 0 0")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	st, err := r.Status(s, "pve-manager/9.0.0/hearth-0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStatusJSONShape pins the keys and JSON types of the status object,
// since PVE clients decode it into typed structs.
func TestStatusJSONShape(t *testing.T) {
	b, err := json.Marshal(fakeStatus(t))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	keys := func(m any) []string {
		obj, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object", m)
		}
		return slices.Sorted(maps.Keys(obj))
	}
	wantKeys := map[string][]string{
		"":               {"boot-info", "cpu", "cpuinfo", "current-kernel", "idle", "ksm", "kversion", "loadavg", "memory", "pveversion", "rootfs", "swap", "uptime", "wait"},
		"cpuinfo":        {"cores", "cpus", "flags", "hvm", "mhz", "model", "sockets", "user_hz"},
		"memory":         {"available", "free", "total", "used"},
		"swap":           {"free", "total", "used"},
		"rootfs":         {"avail", "free", "total", "used"},
		"ksm":            {"shared"},
		"current-kernel": {"machine", "release", "sysname", "version"},
		"boot-info":      {"mode", "secureboot"},
	}
	for obj, want := range wantKeys {
		var v any = got
		if obj != "" {
			v = got[obj]
		}
		if k := keys(v); !slices.Equal(k, want) {
			t.Errorf("keys of %q = %v, want %v", obj, k, want)
		}
	}

	isString := func(v any) bool { _, ok := v.(string); return ok }
	isNumber := func(v any) bool { _, ok := v.(float64); return ok }
	cpuinfo := got["cpuinfo"].(map[string]any)
	for _, k := range []string{"mhz", "hvm", "model", "flags"} {
		if !isString(cpuinfo[k]) {
			t.Errorf("cpuinfo.%s = %#v, want a string", k, cpuinfo[k])
		}
	}
	for _, k := range []string{"cpus", "cores", "sockets", "user_hz"} {
		if !isNumber(cpuinfo[k]) {
			t.Errorf("cpuinfo.%s = %#v, want a number", k, cpuinfo[k])
		}
	}
	for _, k := range []string{"cpu", "wait", "idle", "uptime"} {
		if !isNumber(got[k]) {
			t.Errorf("%s = %#v, want a number", k, got[k])
		}
	}
	load, ok := got["loadavg"].([]any)
	if !ok || len(load) != 3 || !isString(load[0]) || !isString(load[1]) || !isString(load[2]) {
		t.Errorf("loadavg = %#v, want three strings", got["loadavg"])
	}
	if sb := got["boot-info"].(map[string]any)["secureboot"]; sb != 1.0 {
		t.Errorf("boot-info.secureboot = %#v, want the number 1", sb)
	}
	if got["pveversion"] != "pve-manager/9.0.0/hearth-0.1.0" || got["kversion"] != "Linux 6.8.12-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z)" {
		t.Errorf("pveversion %q kversion %q", got["pveversion"], got["kversion"])
	}
	if got["cpu"] != 0.1 || got["wait"] != 0.1 || got["idle"] != 0.0 {
		t.Errorf("cpu %v wait %v idle %v; want 0.1 0.1 0", got["cpu"], got["wait"], got["idle"])
	}
}

func TestStatusOmitsSecureBootOnLegacyBIOS(t *testing.T) {
	st, err := Reader{Root: filepath.Join("testdata", "vm-legacy-old-kernel"), RootFSPath: t.TempDir()}.Status(nil, "x")
	if err != nil {
		t.Fatal(err)
	}
	if b := mustJSON(t, st.BootInfo); b != `{"mode":"legacy-bios"}` {
		t.Errorf("boot-info = %s", b)
	}
	if st.CPU != 0 || st.Wait != 0 {
		t.Errorf("without a sampler cpu/wait = %v/%v, want 0", st.CPU, st.Wait)
	}
}

// TestStatusDecodesIntoGoProxmoxNode checks the object against a real PVE
// client library's typed struct.
func TestStatusDecodesIntoGoProxmoxNode(t *testing.T) {
	st := fakeStatus(t)
	var n proxmox.Node
	if err := json.Unmarshal([]byte(mustJSON(t, st)), &n); err != nil {
		t.Fatalf("go-proxmox cannot decode the status: %v", err)
	}
	if n.CPUInfo.CPUs != 8 || n.CPUInfo.Cores != 4 || n.CPUInfo.Sockets != 2 || n.CPUInfo.MHZ != 2199 ||
		n.CPUInfo.HVM != "1" || n.CPUInfo.UserHz != 100 {
		t.Errorf("cpuinfo decoded as %+v", n.CPUInfo)
	}
	if n.Memory.Total != uint64(st.Memory.Total) || n.Swap.Used != uint64(st.Swap.Used) ||
		n.RootFS.Avail != uint64(st.RootFS.Avail) || n.Ksm.Shared != st.KSM.Shared {
		t.Errorf("sizes decoded as memory %+v swap %+v rootfs %+v ksm %+v", n.Memory, n.Swap, n.RootFS, n.Ksm)
	}
	if n.Uptime != 123456 || len(n.LoadAvg) != 3 || n.LoadAvg[0] != "1.25" || n.PVEVersion != "pve-manager/9.0.0/hearth-0.1.0" || n.CPU != 0.1 || n.Wait != 0.1 {
		t.Errorf("node decoded as %+v", n)
	}
}

func TestStatusUsesSamplerCacheOnlyForItsOwnReader(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "amd-epyc-efi"))
	r := Reader{Root: root, RootFSPath: t.TempDir()}
	s := NewSampler(r)
	if _, err := r.Status(s, "x"); err != nil {
		t.Fatal(err)
	}
	// Static facts are read once: a changed cpuinfo is not seen again
	// through the same sampler, but is through another Reader.
	if err := os.WriteFile(filepath.Join(root, "proc", "cpuinfo"), []byte("processor : 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := r.Status(s, "x")
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUInfo.CPUs != 8 {
		t.Errorf("cached cpus = %d, want 8", st.CPUInfo.CPUs)
	}
	other := Reader{Root: root + "/", RootFSPath: r.RootFSPath}
	if st, err := other.Status(s, "x"); err != nil || st.CPUInfo.CPUs != 1 {
		t.Errorf("another Reader's status: cpus %d, %v; want 1", st.CPUInfo.CPUs, err)
	}
	// The cache hands out copies: changing one must not change the next.
	*st.BootInfo.SecureBoot = 7
	if again, _ := r.Status(s, "x"); *again.BootInfo.SecureBoot != 0 {
		t.Errorf("cached secureboot changed to %d through a returned copy", *again.BootInfo.SecureBoot)
	}
}
