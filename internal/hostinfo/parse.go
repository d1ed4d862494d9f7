package hostinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// userHZ is the tick unit of /proc/stat. Linux fixes USER_HZ at 100 in its
// user-space ABI on every architecture Go supports, and reading it through
// sysconf would need cgo.
const userHZ = 100

// parseCPUInfo reads /proc/cpuinfo. Topology follows the brief's rule:
// sockets are distinct physical ids and cores distinct (physical id, core
// id) pairs. Virtual machines and some architectures omit those keys, so
// missing ids fall back to one socket and one core per logical CPU.
func parseCPUInfo(data []byte) (CPUInfo, error) {
	type topo struct {
		phys, core       string
		hasPhys, hasCore bool
	}
	var (
		info   CPUInfo
		cpus   []topo
		model  string
		flags  string
		hasMHz bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	// x86 flag lines are about 1.5 KiB and grow with every CPU generation;
	// a 1 MiB ceiling keeps a future one from failing at bufio's 64 KiB.
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "processor" {
			cpus = append(cpus, topo{})
			continue
		}
		if len(cpus) == 0 {
			// arm64 prints a global header before the first processor;
			// only per-processor keys matter here.
			continue
		}
		cur := &cpus[len(cpus)-1]
		switch key {
		case "physical id":
			cur.phys, cur.hasPhys = val, true
		case "core id":
			cur.core, cur.hasCore = val, true
		case "model name":
			if model == "" {
				model = val
			}
		case "cpu MHz":
			if !hasMHz {
				info.MHz, hasMHz = val, true
			}
		case "flags", "Features": // x86, arm64
			if flags == "" {
				flags = val
			}
		}
	}
	if err := sc.Err(); err != nil {
		return CPUInfo{}, fmt.Errorf("parse cpuinfo: %w", err)
	}
	if len(cpus) == 0 {
		return CPUInfo{}, errors.New("parse cpuinfo: no processor entries")
	}

	info.Model, info.Flags, info.CPUs, info.UserHZ = model, flags, len(cpus), userHZ
	info.HVM = "0"
	for _, f := range strings.Fields(flags) {
		if f == "vmx" || f == "svm" {
			info.HVM = "1"
			break
		}
	}

	sockets := map[string]struct{}{}
	cores := map[[2]string]struct{}{}
	allPhys, allCore := true, true
	for _, c := range cpus {
		allPhys = allPhys && c.hasPhys
		allCore = allCore && c.hasCore
		sockets[c.phys] = struct{}{}
		cores[[2]string{c.phys, c.core}] = struct{}{}
	}
	info.Sockets, info.Cores = 1, info.CPUs
	if allPhys {
		info.Sockets = len(sockets)
	}
	// Core ids repeat across sockets, so they only count when paired with
	// a physical id.
	if allPhys && allCore {
		info.Cores = len(cores)
	}
	return info, nil
}

// meminfoFields returns the /proc/meminfo values in bytes, keyed by name.
func meminfoFields(data []byte) (map[string]int64, error) {
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse meminfo %s: %w", key, err)
		}
		if len(f) > 1 && f[1] == "kB" {
			if n > math.MaxInt64/1024 || n < 0 {
				return nil, fmt.Errorf("parse meminfo %s: %d kB out of range", key, n)
			}
			n *= 1024
		}
		out[key] = n
	}
	return out, nil
}

// parseMeminfo derives PVE's memory and swap figures from /proc/meminfo.
//
//	memory.used = MemTotal - MemAvailable
//	swap.used   = SwapTotal - SwapFree
//
// Kernels before 3.14 lack MemAvailable; there MemFree + Buffers + Cached
// stands in, the estimate free(1) used before the kernel offered one.
func parseMeminfo(data []byte) (Memory, Swap, error) {
	m, err := meminfoFields(data)
	if err != nil {
		return Memory{}, Swap{}, err
	}
	total, ok := m["MemTotal"]
	if !ok {
		return Memory{}, Swap{}, errors.New("parse meminfo: no MemTotal")
	}
	avail, ok := m["MemAvailable"]
	if !ok {
		avail = m["MemFree"] + m["Buffers"] + m["Cached"]
	}
	avail = min(avail, total)
	mem := Memory{Total: total, Free: m["MemFree"], Available: avail, Used: total - avail}
	swap := Swap{Total: m["SwapTotal"], Free: min(m["SwapFree"], m["SwapTotal"])}
	swap.Used = swap.Total - swap.Free
	return mem, swap, nil
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat. Kernels add
// columns over time (steal in 2.6.11, guest in 2.6.24, guest_nice in
// 2.6.33), so only the first four are required.
func parseProcStat(data []byte) (CPUTimes, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return CPUTimes{}, fmt.Errorf("parse /proc/stat: cpu line has %d fields", len(f)-1)
		}
		var v [10]uint64
		for i := 0; i < len(v) && i+1 < len(f); i++ {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("parse /proc/stat column %d: %w", i+1, err)
			}
			v[i] = n
		}
		return CPUTimes{
			User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4],
			IRQ: v[5], SoftIRQ: v[6], Steal: v[7], Guest: v[8], GuestNice: v[9],
		}, nil
	}
	return CPUTimes{}, errors.New("parse /proc/stat: no aggregate cpu line")
}

// parseLoadAvg returns the first three fields of /proc/loadavg verbatim,
// since PVE sends them as the kernel's strings; each is checked to be a
// number so garbage never reaches clients.
func parseLoadAvg(data []byte) ([3]string, error) {
	var out [3]string
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return out, fmt.Errorf("parse loadavg: %d fields", len(f))
	}
	for i := range out {
		if _, err := strconv.ParseFloat(f[i], 64); err != nil {
			return out, fmt.Errorf("parse loadavg: %w", err)
		}
		out[i] = f[i]
	}
	return out, nil
}

// parseUptime returns whole seconds since boot from /proc/uptime.
func parseUptime(data []byte) (int64, error) {
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, errors.New("parse uptime: empty")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	// The upper bound also rejects NaN and Inf, which ParseFloat accepts.
	if err != nil || !(secs >= 0 && secs < 1<<62) {
		return 0, fmt.Errorf("parse uptime %q: invalid", f[0])
	}
	return int64(secs), nil
}

// secureBootEnabled reads an EFI variable file: efivarfs prefixes the value
// with four bytes of attributes, and SecureBoot's value is one byte, 1 when
// enforcing.
func secureBootEnabled(data []byte) bool {
	return len(data) >= 5 && data[4] == 1
}
