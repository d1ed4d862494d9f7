package vm

import (
	"context"
	"sync"
)

// A VM being cloned must not change under the clone: no start (which
// would write to disks being copied), no destroy or template conversion
// (which would take the volumes away), no config change halfway through.
// Proxmox VE holds a shared file lock on the source for that, which is
// why its parallel clones of one template time out on the lock. Here
// the source carries "lock: clone" while at least one clone of it runs,
// and an in-process count says how many do: the first clone sets the
// lock, the last one clears it, the ones in between only count. Every
// other call refuses the VM with "VM is locked (clone)" without
// waiting, and clones never wait on each other beyond the short read of
// the source under its mutex.
//
// A daemon that dies during a clone leaves the lock in the source's
// configuration, visible, to be lifted with qm unlock, as any other
// stale lock.

type holdKey struct {
	s    *Service
	vmid int
}

// cloneHolds counts the running clones of each source VM. It is only
// changed under the source's per-VM mutex; its own mutex guards the map.
var cloneHolds = struct {
	sync.Mutex
	n map[holdKey]int
}{n: map[holdKey]int{}}

func (s *Service) holds(vmid int) int {
	cloneHolds.Lock()
	defer cloneHolds.Unlock()
	return cloneHolds.n[holdKey{s, vmid}]
}

func (s *Service) addHold(vmid, d int) {
	cloneHolds.Lock()
	defer cloneHolds.Unlock()
	k := holdKey{s, vmid}
	cloneHolds.n[k] += d
	if cloneHolds.n[k] <= 0 {
		delete(cloneHolds.n, k)
	}
}

// checkSourceLock is checkLock for a clone's source: the clone lock of
// the clones already running is no obstacle.
func (s *Service) checkSourceLock(c *conf) error {
	if c.Main().Value("lock") == "clone" && s.holds(c.VMID) > 0 {
		return nil
	}
	return checkLock(c, false)
}

// holdSource reads the source of a clone under its mutex, checks it with
// check (which sees the configuration as it is while held) and takes the
// clone hold. The returned release gives it back.
func (s *Service) holdSource(ctx context.Context, vmid int, check func(c *conf) error) (*conf, func(), error) {
	unlock := s.lock(vmid)
	defer unlock()
	c, err := s.load(vmid)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkSourceLock(c); err != nil {
		return nil, nil, err
	}
	if err := check(c); err != nil {
		return nil, nil, err
	}
	if s.holds(vmid) == 0 {
		if err := c.Main().Set("lock", "clone"); err != nil {
			return nil, nil, err
		}
		if err := s.save(ctx, c); err != nil {
			return nil, nil, err
		}
		// The clone works from the configuration without the lock.
		c.Main().Delete("lock")
	}
	s.addHold(vmid, 1)
	return c, func() { s.releaseSource(context.WithoutCancel(ctx), vmid) }, nil
}

// releaseSource gives a clone hold back; the last one lifts the lock.
func (s *Service) releaseSource(ctx context.Context, vmid int) {
	unlock := s.lock(vmid)
	defer unlock()
	s.addHold(vmid, -1)
	if s.holds(vmid) > 0 {
		return
	}
	c, err := s.load(vmid)
	if err != nil {
		s.o.Log.Warn("releasing the clone lock", "vmid", vmid, "error", err)
		return
	}
	if c.Main().Value("lock") != "clone" {
		return // lifted by hand (qm unlock) meanwhile
	}
	c.Main().Delete("lock")
	if err := s.save(ctx, c); err != nil {
		s.o.Log.Warn("releasing the clone lock", "vmid", vmid, "error", err)
	}
}
