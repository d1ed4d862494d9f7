package hostinfo

import (
	"strings"
	"testing"
)

func TestParseCPUInfoTopology(t *testing.T) {
	cpu := func(fields ...string) string {
		return "processor\t: 0\n" + strings.Join(fields, "\n") + "\n\n"
	}
	tests := []struct {
		name                 string
		in                   string
		cpus, cores, sockets int
		model, flags, hvm    string
	}{
		{
			name: "core ids repeat across sockets",
			in: cpu("physical id : 0", "core id : 0") + cpu("physical id : 0", "core id : 1") +
				cpu("physical id : 1", "core id : 0") + cpu("physical id : 1", "core id : 1"),
			cpus: 4, cores: 4, sockets: 2, hvm: "0",
		},
		{
			name: "hyperthreads share a core",
			in:   cpu("physical id : 0", "core id : 0") + cpu("physical id : 0", "core id : 0"),
			cpus: 2, cores: 1, sockets: 1, hvm: "0",
		},
		{
			name: "physical id without core id counts every cpu as a core",
			in:   cpu("physical id : 0") + cpu("physical id : 0") + cpu("physical id : 1"),
			cpus: 3, cores: 3, sockets: 2, hvm: "0",
		},
		{
			name: "one cpu missing its physical id falls back for all",
			in:   cpu("physical id : 0", "core id : 0") + cpu("core id : 1"),
			cpus: 2, cores: 2, sockets: 1, hvm: "0",
		},
		{
			name: "arm64 header before the first processor and Features flags",
			in:   "model name : ignored header\n\n" + cpu("BogoMIPS : 50.00", "Features : fp asimd evtstrm aes", "CPU implementer : 0x41") + cpu("Features : fp"),
			cpus: 2, cores: 2, sockets: 1, flags: "fp asimd evtstrm aes", hvm: "0",
		},
		{
			name: "vmx as a whole flag only",
			in:   cpu("model name : X", "flags : fpu vmx_ept_ad") + cpu("model name : Y", "flags : vmx"),
			cpus: 2, cores: 2, sockets: 1, model: "X", flags: "fpu vmx_ept_ad", hvm: "0",
		},
		{
			name: "svm",
			in:   cpu("flags : fpu svm npt"),
			cpus: 1, cores: 1, sockets: 1, flags: "fpu svm npt", hvm: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUInfo([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got.CPUs != tt.cpus || got.Cores != tt.cores || got.Sockets != tt.sockets {
				t.Errorf("cpus/cores/sockets = %d/%d/%d, want %d/%d/%d", got.CPUs, got.Cores, got.Sockets, tt.cpus, tt.cores, tt.sockets)
			}
			if got.Model != tt.model || got.Flags != tt.flags || got.HVM != tt.hvm {
				t.Errorf("model %q flags %q hvm %q, want %q %q %q", got.Model, got.Flags, got.HVM, tt.model, tt.flags, tt.hvm)
			}
		})
	}
}

func TestParseCPUInfoWithoutProcessorsFails(t *testing.T) {
	if _, err := parseCPUInfo([]byte("model name : X\n")); err == nil {
		t.Error("want an error")
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Memory
		swap    Swap
		wantErr bool
	}{
		{
			name: "MemAvailable drives used",
			in:   "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nCached: 300 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n",
			want: Memory{Total: 1024000, Used: 409600, Free: 102400, Available: 614400},
			swap: Swap{Total: 51200, Used: 30720, Free: 20480},
		},
		{
			name: "old kernel estimates available from free, buffers and cached",
			in:   "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n",
			want: Memory{Total: 1024000, Used: 614400, Free: 102400, Available: 409600},
		},
		{
			name: "available above total is capped so used never goes negative",
			in:   "MemTotal: 1000 kB\nMemFree: 900 kB\nBuffers: 500 kB\nCached: 500 kB\n",
			want: Memory{Total: 1024000, Used: 0, Free: 921600, Available: 1024000},
		},
		{
			name: "lines without a unit are taken as they are",
			in:   "MemTotal: 1 kB\nMemAvailable: 1 kB\nHugePages_Total: 7\n",
			want: Memory{Total: 1024, Available: 1024},
		},
		{name: "no MemTotal", in: "MemFree: 1 kB\n", wantErr: true},
		{name: "garbage number", in: "MemTotal: x kB\n", wantErr: true},
		{name: "kB value overflowing bytes", in: "MemTotal: 9007199254740993 kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s, err := parseMeminfo([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if m != tt.want || s != tt.swap {
				t.Errorf("got %+v %+v, want %+v %+v", m, s, tt.want, tt.swap)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    CPUTimes
		wantErr bool
	}{
		{
			name: "ten columns",
			in:   "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n",
			want: CPUTimes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		},
		{
			name: "four columns of a very old kernel",
			in:   "cpu 1 2 3 4\n",
			want: CPUTimes{User: 1, Nice: 2, System: 3, Idle: 4},
		},
		{
			name: "extra future columns are ignored",
			in:   "cpu 1 2 3 4 5 6 7 8 9 10 11 12\n",
			want: CPUTimes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		},
		{name: "per-cpu lines alone do not count", in: "cpu0 1 2 3 4\n", wantErr: true},
		{name: "too few columns", in: "cpu 1 2 3\n", wantErr: true},
		{name: "negative counter", in: "cpu 1 2 -3 4\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseLoadAvgAndUptime(t *testing.T) {
	if got, err := parseLoadAvg([]byte("0.15 0.10 0.05 1/88 5744\n")); err != nil || got != [3]string{"0.15", "0.10", "0.05"} {
		t.Errorf("loadavg = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0.1 0.2", "0.1 x 0.3 1/1 1"} {
		if _, err := parseLoadAvg([]byte(bad)); err == nil {
			t.Errorf("loadavg %q: want an error", bad)
		}
	}
	if got, err := parseUptime([]byte("829.99 1563.43\n")); err != nil || got != 829 {
		t.Errorf("uptime = %d, %v; want 829 (truncated)", got, err)
	}
	for _, bad := range []string{"", "-1 0", "NaN 0", "Inf 0", "1e300 0", "x"} {
		if _, err := parseUptime([]byte(bad)); err == nil {
			t.Errorf("uptime %q: want an error", bad)
		}
	}
}

func TestSecureBootVariable(t *testing.T) {
	tests := []struct {
		data []byte
		want bool
	}{
		{[]byte{6, 0, 0, 0, 1}, true},
		{[]byte{6, 0, 0, 0, 0}, false},
		{[]byte{6, 0, 0, 0}, false}, // truncated: no value byte
		{nil, false},
	}
	for _, tt := range tests {
		if got := secureBootEnabled(tt.data); got != tt.want {
			t.Errorf("secureBootEnabled(%v) = %v, want %v", tt.data, got, tt.want)
		}
	}
}
