package hostinfo

import (
	"context"
	"sync"
	"time"
)

// DefaultSampleInterval is used by Run when given a non-positive interval;
// it matches the period at which PVE's status daemon refreshes.
const DefaultSampleInterval = 10 * time.Second

// Usage returns the busy and iowait fractions of CPU time between two
// samples of /proc/stat. Busy is everything but idle and iowait, so steal
// counts as busy: the host could not run anything in that time either.
//
// A counter that went backwards contributes nothing rather than a huge
// unsigned difference: that happens after a counter reset or wrap, on CPU
// hot-unplug, and with iowait, which the kernel documents may decrease.
// With no time elapsed both fractions are 0.
func Usage(prev, cur CPUTimes) (cpu, iowait float64) {
	// Deltas are summed as floats: several huge deltas after a reset
	// could overflow a uint64 sum.
	d := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b - a)
	}
	idle := d(prev.Idle, cur.Idle)
	wait := d(prev.IOWait, cur.IOWait)
	busy := d(prev.User, cur.User) + d(prev.Nice, cur.Nice) + d(prev.System, cur.System) +
		d(prev.IRQ, cur.IRQ) + d(prev.SoftIRQ, cur.SoftIRQ) + d(prev.Steal, cur.Steal)
	total := busy + idle + wait
	if total == 0 {
		return 0, 0
	}
	return busy / total, wait / total
}

// Sampler keeps the CPU utilisation of the latest interval, because a
// utilisation needs two readings of the counters and an API request should
// not wait between them. It also caches the host's static facts. It is safe
// for concurrent use.
type Sampler struct {
	r Reader

	mu       sync.Mutex
	prev     CPUTimes
	havePrev bool
	cpu      float64
	iowait   float64
	err      error
	static   *Static
}

// NewSampler returns a Sampler that reads counters through r.
func NewSampler(r Reader) *Sampler {
	return &Sampler{r: r}
}

// Run samples at once and then every interval until ctx is done. Errors
// are kept for Err; a failed sample leaves the last good values in place.
func (s *Sampler) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultSampleInterval
	}
	_ = s.Sample() // kept for Err
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Sample()
		}
	}
}

// Sample reads the counters now. The first successful call only records the
// baseline; each later one sets the utilisation since the previous call.
func (s *Sampler) Sample() error {
	cur, err := s.r.CPUTimes()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	if err != nil {
		return err
	}
	if s.havePrev {
		s.cpu, s.iowait = Usage(s.prev, cur)
	}
	s.prev, s.havePrev = cur, true
	return nil
}

// CPU returns the busy and iowait fractions of the latest interval, or
// zeros until two samples were taken.
func (s *Sampler) CPU() (cpu, iowait float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cpu, s.iowait
}

// Err returns the error of the latest Sample, or nil.
func (s *Sampler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Static returns the Reader's static facts, reading them on first
// success only: /proc/cpuinfo can be slow to produce on large hosts, and
// PVE likewise reads it once.
func (s *Sampler) Static() (Static, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.static != nil {
		st := *s.static
		// Callers get their own SecureBoot so none can alter the cache.
		if sb := st.Boot.SecureBoot; sb != nil {
			v := *sb
			st.Boot.SecureBoot = &v
		}
		return st, nil
	}
	st, err := s.r.Static()
	if err != nil {
		return Static{}, err
	}
	s.static = &st
	return st, nil
}
