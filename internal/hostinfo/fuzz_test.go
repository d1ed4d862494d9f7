package hostinfo

import (
	"os"
	"path/filepath"
	"testing"
)

// seedFiles adds every fake tree's copy of a procfs file as a fuzz seed.
func seedFiles(f *testing.F, rel string) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", rel))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	seedFiles(f, "proc/cpuinfo")
	f.Add([]byte("processor : 0\nphysical id : 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseCPUInfo(data)
		if err != nil {
			return
		}
		if info.CPUs < 1 || info.Sockets < 1 || info.Cores < 1 || info.Cores > info.CPUs || info.Sockets > info.CPUs {
			t.Errorf("implausible topology %d cpus / %d cores / %d sockets", info.CPUs, info.Cores, info.Sockets)
		}
		if info.HVM != "0" && info.HVM != "1" {
			t.Errorf("hvm = %q", info.HVM)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	seedFiles(f, "proc/meminfo")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, s, err := parseMeminfo(data)
		if err != nil {
			return
		}
		if m.Used+m.Available != m.Total || s.Used+s.Free != s.Total {
			t.Errorf("memory %+v swap %+v do not add up", m, s)
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	seedFiles(f, "proc/stat")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseProcStat(data)
	})
}

func FuzzUsage(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint64(3), uint64(4), uint64(5), uint64(6), uint64(7), uint64(8))
	f.Fuzz(func(t *testing.T, u1, i1, w1, s1, u2, i2, w2, s2 uint64) {
		cpu, wait := Usage(CPUTimes{User: u1, Idle: i1, IOWait: w1, Steal: s1}, CPUTimes{User: u2, Idle: i2, IOWait: w2, Steal: s2})
		if cpu < 0 || cpu > 1 || wait < 0 || wait > 1 || cpu+wait > 1+1e-9 {
			t.Errorf("Usage = %v, %v", cpu, wait)
		}
	})
}
