package hostinfo

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.json from the current output")

// snapshot is everything a Reader reports from files, for golden files.
// KSM is kept in pages so the goldens do not depend on the page size of
// the machine running the tests.
type snapshot struct {
	Static         Static    `json:"static"`
	Memory         Memory    `json:"memory"`
	Swap           Swap      `json:"swap"`
	LoadAvg        [3]string `json:"loadavg"`
	Uptime         int64     `json:"uptime"`
	KSMSharedPages int64     `json:"ksm_shared_pages"`
	CPUTimes       CPUTimes  `json:"cpu_times"`
}

func readSnapshot(t *testing.T, r Reader) snapshot {
	t.Helper()
	var s snapshot
	var err error
	if s.Static, err = r.Static(); err != nil {
		t.Fatalf("Static: %v", err)
	}
	if s.Memory, s.Swap, err = r.Memory(); err != nil {
		t.Fatalf("Memory: %v", err)
	}
	if s.LoadAvg, err = r.LoadAvg(); err != nil {
		t.Fatalf("LoadAvg: %v", err)
	}
	if s.Uptime, err = r.Uptime(); err != nil {
		t.Fatalf("Uptime: %v", err)
	}
	ksm, err := r.KSMShared()
	if err != nil {
		t.Fatalf("KSMShared: %v", err)
	}
	s.KSMSharedPages = ksm / int64(os.Getpagesize())
	if s.CPUTimes, err = r.CPUTimes(); err != nil {
		t.Fatalf("CPUTimes: %v", err)
	}
	return s
}

func fakeCases(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("testdata/*/proc")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fake trees under testdata: %v", err)
	}
	var cases []string
	for _, d := range dirs {
		cases = append(cases, filepath.Base(filepath.Dir(d)))
	}
	return cases
}

func TestFakeTreeMatchesGolden(t *testing.T) {
	for _, c := range fakeCases(t) {
		t.Run(c, func(t *testing.T) {
			got, err := json.MarshalIndent(readSnapshot(t, Reader{Root: filepath.Join("testdata", c)}), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", c, "want.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from output:\n%s", golden, got)
			}
		})
	}
}

// TestFakeTreeFacts pins by hand the facts each fake tree was built to
// show, so a wrong golden file cannot pass unnoticed.
func TestFakeTreeFacts(t *testing.T) {
	one, zero := 1, 0
	tests := []struct {
		tree                string
		cpus, cores, socket int
		hvm, mhz            string
		boot                BootInfo
		release             string
		memUsed, memAvail   int64
		swapUsed            int64
		ksmPages            int64
		load                [3]string
		uptime              int64
	}{
		{
			tree: "xeon-2socket-efi-secureboot", cpus: 8, cores: 4, socket: 2,
			hvm: "1", mhz: "2199.998", boot: BootInfo{Mode: BootEFI, SecureBoot: &one},
			release: "6.8.12-4-pve",
			memUsed: (131911172 - 98765432) * 1024, memAvail: 98765432 * 1024,
			swapUsed: (8388604 - 8000000) * 1024, ksmPages: 2500,
			load: [3]string{"1.25", "0.80", "0.41"}, uptime: 123456,
		},
		{
			// No physical/core ids: one socket, every CPU a core. No
			// MemAvailable: MemFree + Buffers + Cached.
			tree: "vm-legacy-old-kernel", cpus: 3, cores: 3, socket: 1,
			hvm: "0", mhz: "2099.998", boot: BootInfo{Mode: BootLegacyBIOS},
			release: "3.10.0-1160.el7.x86_64",
			memUsed: (2048000 - 512000 - 102400 - 409600) * 1024, memAvail: (512000 + 102400 + 409600) * 1024,
			load: [3]string{"0.00", "0.01", "0.05"}, uptime: 59,
		},
		{
			tree: "amd-epyc-efi", cpus: 8, cores: 4, socket: 1,
			hvm: "1", mhz: "2994.375", boot: BootInfo{Mode: BootEFI, SecureBoot: &zero},
			release: "6.1.0-18-amd64",
			memUsed: (65842536 - 4567890) * 1024, memAvail: 4567890 * 1024,
			swapUsed: 1048572 * 1024,
			load:     [3]string{"16.02", "12.50", "9.99"}, uptime: 31536000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			s := readSnapshot(t, Reader{Root: filepath.Join("testdata", tt.tree)})
			ci := s.Static.CPUInfo
			if ci.CPUs != tt.cpus || ci.Cores != tt.cores || ci.Sockets != tt.socket {
				t.Errorf("cpus/cores/sockets = %d/%d/%d, want %d/%d/%d", ci.CPUs, ci.Cores, ci.Sockets, tt.cpus, tt.cores, tt.socket)
			}
			if ci.HVM != tt.hvm || ci.MHz != tt.mhz || ci.UserHZ != 100 {
				t.Errorf("hvm=%q mhz=%q user_hz=%d, want %q %q 100", ci.HVM, ci.MHz, ci.UserHZ, tt.hvm, tt.mhz)
			}
			if b := s.Static.Boot; b.Mode != tt.boot.Mode || (b.SecureBoot == nil) != (tt.boot.SecureBoot == nil) ||
				(b.SecureBoot != nil && *b.SecureBoot != *tt.boot.SecureBoot) {
				t.Errorf("boot = %s", mustJSON(t, b))
			}
			if s.Static.Kernel.Release != tt.release || s.Static.Kernel.Sysname != "Linux" || s.Static.Kernel.Machine != "x86_64" {
				t.Errorf("kernel = %+v", s.Static.Kernel)
			}
			if s.Memory.Used != tt.memUsed || s.Memory.Available != tt.memAvail || s.Memory.Used+s.Memory.Available != s.Memory.Total {
				t.Errorf("memory = %+v, want used %d available %d", s.Memory, tt.memUsed, tt.memAvail)
			}
			if s.Swap.Used != tt.swapUsed || s.Swap.Used+s.Swap.Free != s.Swap.Total {
				t.Errorf("swap = %+v, want used %d", s.Swap, tt.swapUsed)
			}
			if s.KSMSharedPages != tt.ksmPages || s.LoadAvg != tt.load || s.Uptime != tt.uptime {
				t.Errorf("ksm pages %d load %v uptime %d, want %d %v %d", s.KSMSharedPages, s.LoadAvg, s.Uptime, tt.ksmPages, tt.load, tt.uptime)
			}
		})
	}
}

func TestMissingFilesAreErrors(t *testing.T) {
	r := Reader{Root: t.TempDir()}
	if _, err := r.Static(); err == nil {
		t.Error("Static on an empty tree succeeded")
	}
	if _, _, err := r.Memory(); err == nil {
		t.Error("Memory on an empty tree succeeded")
	}
	if _, err := r.LoadAvg(); err == nil {
		t.Error("LoadAvg on an empty tree succeeded")
	}
	if _, err := r.Uptime(); err == nil {
		t.Error("Uptime on an empty tree succeeded")
	}
	if _, err := r.CPUTimes(); err == nil {
		t.Error("CPUTimes on an empty tree succeeded")
	}
	// No KSM in the kernel is not an error.
	if n, err := r.KSMShared(); n != 0 || err != nil {
		t.Errorf("KSMShared on an empty tree = %d, %v; want 0, nil", n, err)
	}
}

func TestRootFSIsConsistent(t *testing.T) {
	fs, err := Reader{RootFSPath: t.TempDir()}.RootFS()
	if err != nil {
		t.Fatal(err)
	}
	if fs.Total <= 0 || fs.Used+fs.Free != fs.Total || fs.Avail > fs.Free || fs.Avail < 0 {
		t.Errorf("rootfs = %+v", fs)
	}
	if _, err := (Reader{RootFSPath: filepath.Join(t.TempDir(), "missing")}).RootFS(); err == nil {
		t.Error("RootFS of a missing path succeeded")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
