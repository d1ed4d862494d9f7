package lxcconf

import (
	"bytes"
	"strings"
	"testing"
)

func TestBuildRefusesBadSpecs(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Spec)
		want   string // part of the error that names the field
	}{
		{"zero vmid", func(s *Spec) { s.VMID = 0 }, "vmid 0"},
		{"negative vmid", func(s *Spec) { s.VMID = -5 }, "vmid -5"},
		{"unknown arch", func(s *Spec) { s.Arch = "x86_64" }, `arch "x86_64"`},
		{"unknown ostype", func(s *Spec) { s.OSType = "windows" }, `ostype "windows"`},
		{"ostype with a path", func(s *Spec) { s.OSType = "../../etc/x" }, `ostype "../../etc/x"`},
		{"relative lxcpath", func(s *Spec) { s.LXCPath = "var/lib/lxc" }, `lxcpath "var/lib/lxc"`},
		{"empty lxcpath", func(s *Spec) { s.LXCPath = "" }, `lxcpath ""`},
		{"relative hook", func(s *Spec) { s.Hook = "hearth" }, `hook "hearth"`},
		{"hook with a space", func(s *Spec) { s.Hook = "/opt/my tools/hearth" }, `hook "/opt/my tools/hearth"`},
		{"hook with a shell character", func(s *Spec) { s.Hook = "/usr/bin/hearth;reboot" }, "hook"},
		{"relative config dir", func(s *Spec) { s.LXCConfigDir = "config" }, `lxc config dir "config"`},
		{"cgroup 0", func(s *Spec) { s.Cgroup = 0 }, "cgroup version 0"},
		{"cgroup 3", func(s *Spec) { s.Cgroup = 3 }, "cgroup version 3"},
		{"idmap kind", func(s *Spec) { s.IDMap = []IDMap{{'x', 0, 100000, 65536}} }, `idmap entry 0: kind 'x'`},
		{"idmap empty range", func(s *Spec) { s.IDMap = []IDMap{{'u', 0, 100000, 65536}, {'g', 0, 100000, 0}} }, "idmap entry 1: range of 0 ids"},
		{"idmap negative id", func(s *Spec) { s.IDMap = []IDMap{{'u', -1, 100000, 10}} }, "idmap entry 0: ids -1"},
		{"idmap past the id space", func(s *Spec) { s.IDMap = []IDMap{{'u', 0, 4294967290, 65536}} }, "idmap entry 0: range"},
		{"raw key outside lxc", func(s *Spec) { s.Raw = []RawKey{{"cores", "2"}} }, `raw key "cores"`},
		{"raw key with a space", func(s *Spec) { s.Raw = []RawKey{{"lxc.a b", "1"}} }, `raw key "lxc.a b"`},
		{"raw idmap", func(s *Spec) { s.Raw = []RawKey{{"lxc.idmap", "u 0 1 1"}} }, "raw key lxc.idmap"},
		{"newline in raw value", func(s *Spec) {
			s.Raw = []RawKey{{"lxc.cap.drop", "sys_time\nlxc.apparmor.profile = unconfined"}}
		}, "raw key lxc.cap.drop value"},
		{"newline in hostname", func(s *Spec) { s.Hostname = "web\nlxc.init.cmd = /bin/sh" }, "hostname"},
		{"carriage return in entrypoint", func(s *Spec) { s.Entrypoint = "/sbin/init\r" }, "entrypoint"},
		{"newline in env", func(s *Spec) { s.Env = []string{"A=1\nlxc.x = y"} }, "env entry"},
		{"newline in nic name", func(s *Spec) { s.NICs = []NIC{{Index: 0, Name: "eth0\nx"}} }, "net0 name"},
		{"NUL in lxcpath", func(s *Spec) { s.LXCPath = "/var/lib/lxc\x00" }, "lxcpath"},
		{"newline in device path", func(s *Spec) { s.Devices = []Device{{Path: "/dev/a\nb"}} }, "device 0 path"},
		{"hostname with a space", func(s *Spec) { s.Hostname = "my host" }, `hostname "my host"`},
		{"hostname too long", func(s *Spec) { s.Hostname = strings.Repeat("a", 65) }, "hostname"},
		{"tty 7", func(s *Spec) { s.TTY = 7 }, "tty 7"},
		{"cmode", func(s *Spec) { s.CMode = "serial" }, `cmode "serial"`},
		{"cpuset", func(s *Spec) { s.CPUSet = "0-1;3" }, `cpuset "0-1;3"`},
		{"cpulimit negative", func(s *Spec) { s.CPULimit = -1 }, "cpulimit -1"},
		{"cpulimit too high", func(s *Spec) { s.CPULimit = 9000 }, "cpulimit 9000"},
		{"cpuunits too high", func(s *Spec) { s.CPUUnits = 500001 }, "cpuunits 500001"},
		{"memory unset", func(s *Spec) { s.MemoryMiB = 0 }, "memory 0 MiB"},
		{"swap negative", func(s *Spec) { s.SwapMiB = -1 }, "swap -1 MiB"},
		{"mount type injecting a rule", func(s *Spec) { s.Features.Mount = []string{"nfs, deny /"} }, `features mount type "nfs, deny /"`},
		{"nic index twice", func(s *Spec) { s.NICs = []NIC{{Index: 0, Name: "a"}, {Index: 0, Name: "b"}} }, "net0: given twice"},
		{"nic negative index", func(s *Spec) { s.NICs = []NIC{{Index: -1, Name: "a"}} }, "net-1"},
		{"nic without name", func(s *Spec) { s.NICs = []NIC{{Index: 2}} }, `net2: name ""`},
		{"nic name too long", func(s *Spec) { s.NICs = []NIC{{Index: 0, Name: "averyveryverylongname"}} }, "net0: name"},
		{"nic bad mac", func(s *Spec) { s.NICs = []NIC{{Index: 0, Name: "eth0", HWAddr: "BC:24:11:00:00"}} }, `net0: hwaddr "BC:24:11:00:00"`},
		{"nic mtu", func(s *Spec) { s.NICs = []NIC{{Index: 0, Name: "eth0", MTU: 70000}} }, "net0: mtu 70000"},
		{"veth name too long", func(s *Spec) {
			s.VMID = 999999999
			s.NICs = []NIC{{Index: 10, Name: "eth0"}}
		}, "net10: the host side interface veth999999999i10"},
		{"device outside dev", func(s *Spec) { s.Devices = []Device{{Path: "/etc/shadow"}} }, `device 0: path "/etc/shadow"`},
		{"device path escaping dev", func(s *Spec) { s.Devices = []Device{{Path: "/dev/../etc/shadow"}} }, `device 0: path "/dev/../etc/shadow"`},
		{"device path with a space", func(s *Spec) { s.Devices = []Device{{Path: "/dev/my disk"}} }, `device 0: path "/dev/my disk"`},
		{"env without value", func(s *Spec) { s.Env = []string{"PATH"} }, `env entry "PATH"`},
		{"env bad name", func(s *Spec) { s.Env = []string{"A-B=1"} }, `env entry "A-B=1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := baseSpec()
			c.change(s)
			out, err := Build(s)
			if err == nil {
				t.Fatalf("Build accepted the spec and wrote:\n%s", out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if _, _, err := SeccompPolicy(s); err == nil {
				t.Errorf("SeccompPolicy accepted the spec Build refused")
			}
		})
	}
}

func TestBuildRefusesNilSpec(t *testing.T) {
	if _, err := Build(nil); err == nil {
		t.Fatal("Build(nil) returned no error")
	}
}

// TestBuildDoesNotChangeSpec guards the caller's Spec: the service keeps
// it, and a builder that sorted NICs in place would reorder them.
func TestBuildDoesNotChangeSpec(t *testing.T) {
	s := baseSpec()
	s.NICs = twoNICs()
	if _, err := Build(s); err != nil {
		t.Fatal(err)
	}
	if s.NICs[0].Index != 1 || s.LXCConfigDir != lxcConfigDir {
		t.Errorf("Build changed its input: %+v", s)
	}
}

// TestLimitUnits pins the unit conversions against values worked out by
// hand: MiB to bytes, and CPUs to microseconds per 100 ms.
func TestLimitUnits(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Spec)
		want   []string
	}{
		{"v2 memory and swap in bytes", func(s *Spec) { s.MemoryMiB, s.SwapMiB = 2048, 1 }, []string{
			"lxc.cgroup2.memory.max = 2147483648",
			"lxc.cgroup2.memory.swap.max = 1048576",
		}},
		{"v2 no swap", func(s *Spec) { s.SwapMiB = 0 }, []string{"lxc.cgroup2.memory.swap.max = 0"}},
		{"v1 memsw is memory plus swap", func(s *Spec) { s.Cgroup, s.Memsw, s.MemoryMiB, s.SwapMiB = 1, true, 16, 48 }, []string{
			"lxc.cgroup.memory.limit_in_bytes = 16777216",
			"lxc.cgroup.memory.memsw.limit_in_bytes = 67108864",
		}},
		{"v2 half a CPU", func(s *Spec) { s.CPULimit = 0.5 }, []string{"lxc.cgroup2.cpu.max = 50000 100000"}},
		{"v2 rounds instead of truncating", func(s *Spec) { s.CPULimit = 0.29 }, []string{"lxc.cgroup2.cpu.max = 29000 100000"}},
		{"v1 eight CPUs", func(s *Spec) { s.Cgroup, s.CPULimit = 1, 8 }, []string{
			"lxc.cgroup.cpu.cfs_period_us = 100000",
			"lxc.cgroup.cpu.cfs_quota_us = 800000",
		}},
		{"v2 largest limit", func(s *Spec) { s.CPULimit = 8192 }, []string{"lxc.cgroup2.cpu.max = 819200000 100000"}},
		{"v2 weight passes through", func(s *Spec) { s.CPUUnits = 100 }, []string{"lxc.cgroup2.cpu.weight = 100"}},
		{"v2 weight capped", func(s *Spec) { s.CPUUnits = 20000 }, []string{"lxc.cgroup2.cpu.weight = 10000"}},
		{"v1 shares floor", func(s *Spec) { s.Cgroup, s.CPUUnits = 1, 1 }, []string{"lxc.cgroup.cpu.shares = 2"}},
		{"v1 shares capped", func(s *Spec) { s.Cgroup, s.CPUUnits = 1, 500000 }, []string{"lxc.cgroup.cpu.shares = 262144"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := baseSpec()
			c.change(s)
			out, err := Build(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range c.want {
				if !bytes.Contains(out, []byte("\n"+line+"\n")) {
					t.Errorf("missing line %q in:\n%s", line, out)
				}
			}
		})
	}
}

// TestNoLimitNoLine checks that unset CPU settings leave the host's
// defaults alone instead of writing a zero that would starve the CT.
func TestNoLimitNoLine(t *testing.T) {
	for _, cgroup := range []int{1, 2} {
		s := baseSpec()
		s.Cgroup = cgroup
		out, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"cpu.max", "cfs_quota_us", "cfs_period_us", "cpu.weight", "cpu.shares", "cpuset.cpus", "memsw"} {
			if bytes.Contains(out, []byte(key)) {
				t.Errorf("cgroup v%d: %s written without a setting asking for it:\n%s", cgroup, key, out)
			}
		}
	}
}

func TestSeccompPolicyKeyctl(t *testing.T) {
	cases := []struct {
		name         string
		unprivileged bool
		idmap        bool
		keyctl       bool
		wantPolicy   bool
	}{
		{"unprivileged hides keyctl", true, false, false, true},
		{"unprivileged with keyctl keeps it", true, false, true, false},
		{"privileged keeps keyctl", false, false, false, false},
		{"privileged with an id map counts as unprivileged", false, true, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := baseSpec()
			s.VMID, s.LXCPath = 321, "/srv/lxc"
			s.Unprivileged, s.Features.Keyctl = c.unprivileged, c.keyctl
			if c.idmap {
				s.IDMap = []IDMap{{'u', 0, 100000, 65536}, {'g', 0, 100000, 65536}}
			}
			file, policy, err := SeccompPolicy(s)
			if err != nil {
				t.Fatal(err)
			}
			if file != "/srv/lxc/321/rules.seccomp" {
				t.Errorf("policy path %q", file)
			}
			if (policy != nil) != c.wantPolicy {
				t.Fatalf("policy %q, want one: %v", policy, c.wantPolicy)
			}
			if policy == nil {
				return
			}
			lines := strings.Split(string(policy), "\n")
			if lines[0] != "2" || lines[1] != "denylist" {
				t.Errorf("policy does not start with version 2 denylist:\n%s", policy)
			}
			if !strings.HasSuffix(string(policy), "\nkeyctl errno 38\n") {
				t.Errorf("policy does not end with the keyctl rule:\n%s", policy)
			}
		})
	}
}
