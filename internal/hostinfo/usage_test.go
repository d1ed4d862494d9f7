package hostinfo

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	base := CPUTimes{User: 1000, Nice: 10, System: 200, Idle: 5000, IOWait: 100, IRQ: 5, SoftIRQ: 5, Steal: 0, Guest: 50}
	add := func(c CPUTimes, f func(*CPUTimes)) CPUTimes { f(&c); return c }
	tests := []struct {
		name        string
		prev, cur   CPUTimes
		cpu, iowait float64
	}{
		{name: "no time elapsed", prev: base, cur: base},
		{name: "both zero", prev: CPUTimes{}, cur: CPUTimes{}},
		{
			name: "half busy",
			prev: base, cur: add(base, func(c *CPUTimes) { c.User += 40; c.System += 10; c.Idle += 50 }),
			cpu: 0.5,
		},
		{
			name: "iowait is neither busy nor idle",
			prev: base, cur: add(base, func(c *CPUTimes) { c.User += 25; c.IOWait += 25; c.Idle += 50 }),
			cpu: 0.25, iowait: 0.25,
		},
		{
			name: "irq, softirq, nice and steal are busy",
			prev: base, cur: add(base, func(c *CPUTimes) { c.IRQ += 10; c.SoftIRQ += 10; c.Nice += 10; c.Steal += 10; c.Idle += 60 }),
			cpu: 0.4,
		},
		{
			name: "guest time is already in user and not counted twice",
			prev: base, cur: add(base, func(c *CPUTimes) { c.User += 100; c.Guest += 100; c.Idle += 100 }),
			cpu: 0.5,
		},
		{
			name: "fully busy",
			prev: base, cur: add(base, func(c *CPUTimes) { c.User += 100 }),
			cpu: 1,
		},
		{
			name: "counters reset (reboot, wrap) yield zero",
			prev: base, cur: CPUTimes{User: 3, System: 1, Idle: 7},
		},
		{
			name: "counter wrapped past the uint64 maximum yields zero for it",
			prev: add(base, func(c *CPUTimes) { c.User = math.MaxUint64 - 10 }),
			cur:  add(base, func(c *CPUTimes) { c.User = 5; c.Idle += 100 }),
		},
		{
			name: "huge deltas do not overflow the total",
			prev: CPUTimes{}, cur: CPUTimes{User: math.MaxUint64, Steal: math.MaxUint64, Idle: math.MaxUint64, IOWait: math.MaxUint64},
			cpu: 0.5, iowait: 0.25,
		},
		{
			name: "iowait going backwards is ignored",
			prev: base, cur: add(base, func(c *CPUTimes) { c.IOWait -= 50; c.User += 50; c.Idle += 50 }),
			cpu: 0.5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, iowait := Usage(tt.prev, tt.cur)
			if math.Abs(cpu-tt.cpu) > 1e-9 || math.Abs(iowait-tt.iowait) > 1e-9 {
				t.Errorf("Usage = %v, %v; want %v, %v", cpu, iowait, tt.cpu, tt.iowait)
			}
		})
	}
}

// writeStat makes a tree whose /proc/stat holds one aggregate line. It
// renames into place so a concurrent Sample never reads half a file.
func writeStat(t *testing.T, root string, line string) {
	t.Helper()
	p := filepath.Join(root, "proc", "stat")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".tmp", []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

func TestSamplerFirstSampleIsOnlyTheBaseline(t *testing.T) {
	root := t.TempDir()
	s := NewSampler(Reader{Root: root})
	if cpu, wait := s.CPU(); cpu != 0 || wait != 0 {
		t.Fatalf("CPU before any sample = %v, %v", cpu, wait)
	}
	writeStat(t, root, "cpu 100 0 0 100 0 0 0 0 0 0")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	if cpu, wait := s.CPU(); cpu != 0 || wait != 0 {
		t.Fatalf("CPU after the baseline = %v, %v; want zeros", cpu, wait)
	}
	writeStat(t, root, "cpu 130 0 0 160 10 0 0 0 0 0")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	if cpu, wait := s.CPU(); cpu != 0.3 || wait != 0.1 {
		t.Fatalf("CPU = %v, %v; want 0.3, 0.1", cpu, wait)
	}
}

func TestSamplerKeepsLastGoodValueOnError(t *testing.T) {
	root := t.TempDir()
	s := NewSampler(Reader{Root: root})
	writeStat(t, root, "cpu 0 0 0 0 0 0 0 0 0 0")
	_ = s.Sample()
	writeStat(t, root, "cpu 50 0 0 50 0 0 0 0 0 0")
	_ = s.Sample()
	writeStat(t, root, "garbage")
	if err := s.Sample(); err == nil || s.Err() == nil {
		t.Fatal("want the parse error from Sample and Err")
	}
	if cpu, _ := s.CPU(); cpu != 0.5 {
		t.Errorf("CPU after a failed sample = %v, want the previous 0.5", cpu)
	}
	writeStat(t, root, "cpu 50 0 0 150 0 0 0 0 0 0")
	if err := s.Sample(); err != nil || s.Err() != nil {
		t.Fatalf("recovered sample: %v / %v", err, s.Err())
	}
	if cpu, _ := s.CPU(); cpu != 0 {
		t.Errorf("CPU = %v, want 0 (only idle advanced)", cpu)
	}
}

func TestSamplerRunSamplesUntilCancelled(t *testing.T) {
	root := t.TempDir()
	writeStat(t, root, "cpu 0 0 0 0 0 0 0 0 0 0")
	s := NewSampler(Reader{Root: root})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Millisecond); close(done) }()

	// Readers race with Run on purpose; -race checks the locking.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				s.CPU()
				_ = s.Err()
			}
		})
	}
	// The usage of one tick is replaced by the next, idle, one within a
	// millisecond, so the test watches the recorded baseline instead.
	baseline := func() uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.prev.User
	}
	writeStat(t, root, "cpu 10 0 0 30 0 0 0 0 0 0")
	deadline := time.Now().Add(5 * time.Second)
	for baseline() != 10 {
		if time.Now().After(deadline) {
			t.Fatal("Run never sampled the new counters")
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
