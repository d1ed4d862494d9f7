package hostinfo

import (
	"runtime"
	"testing"
	"time"
)

// TestRealHostIsPlausible reads the machine running the tests. It can fail
// honestly on a host without /proc or with an unusual cpuinfo.
func TestRealHostIsPlausible(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux procfs")
	}
	r := Reader{}
	s := NewSampler(r)
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	st, err := r.Status(s, "test")
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUInfo.CPUs < 1 || st.CPUInfo.Cores < 1 || st.CPUInfo.Sockets < 1 ||
		st.CPUInfo.Cores > st.CPUInfo.CPUs || st.CPUInfo.Sockets > st.CPUInfo.Cores {
		t.Errorf("cpuinfo = %+v", st.CPUInfo)
	}
	if st.Memory.Total <= 0 || st.Memory.Used < 0 || st.Memory.Available > st.Memory.Total {
		t.Errorf("memory = %+v", st.Memory)
	}
	if st.RootFS.Total <= 0 {
		t.Errorf("rootfs = %+v", st.RootFS)
	}
	if st.CurrentKernel.Release == "" || st.CurrentKernel.Sysname != "Linux" || st.CurrentKernel.Machine == "" {
		t.Errorf("kernel = %+v", st.CurrentKernel)
	}
	if st.Uptime <= 0 {
		t.Errorf("uptime = %d", st.Uptime)
	}
	if st.CPU < 0 || st.CPU > 1 || st.Wait < 0 || st.Wait > 1 {
		t.Errorf("cpu %v wait %v out of 0..1", st.CPU, st.Wait)
	}
	if st.BootInfo.Mode != BootEFI && st.BootInfo.Mode != BootLegacyBIOS {
		t.Errorf("boot mode %q", st.BootInfo.Mode)
	}
	t.Logf("host: %d cpus / %d cores / %d sockets, %s, %d MiB, boot %s, kversion %q",
		st.CPUInfo.CPUs, st.CPUInfo.Cores, st.CPUInfo.Sockets, st.CPUInfo.Model,
		st.Memory.Total>>20, st.BootInfo.Mode, st.KVersion)
}
