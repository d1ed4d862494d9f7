package cfs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultLockTTL is how long a cluster lock lives unless renewed. Proxmox
// VE's locks live 120 s, which bounds how fast anything can take over
// from a dead holder; ours are renewed by live holders, so a short life
// costs nothing and a dead holder's lock frees up quickly.
const DefaultLockTTL = 30 * time.Second

// lockDir holds one file per lock: "<holder>\n<expiry, unix nanoseconds>\n".
const lockDir = "priv/lock"

// ErrLocked is matched by every *LockedError.
var ErrLocked = errors.New("locked")

// LockedError reports a lock held by someone else.
type LockedError struct {
	Name    string
	Holder  string
	Expires time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("cfs: lock %q is held by %s until %s", e.Name, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lease is a held cluster lock.
type Lease struct {
	Name    string
	Holder  string
	Expires time.Time
	version uint64
}

// Lock takes the cluster-wide lock name for holder, for ttl (0 means
// DefaultLockTTL). It succeeds when the lock is free, expired, or already
// held by the same holder (then it is renewed). The decision is a
// compare-and-set in the replicated tree, so two nodes racing for the same
// lock cannot both win. Expiry is judged by the clock of the node that
// takes the lock; cluster nodes are expected to keep their clocks in
// sync, as with Proxmox VE.
func (s *Store) Lock(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	if err := ValidatePath(name); err != nil || strings.Contains(name, "/") {
		return Lease{}, fmt.Errorf("cfs: %w: lock name %q must be one path segment", ErrInvalid, name)
	}
	if holder == "" || strings.ContainsAny(holder, "\n") {
		return Lease{}, fmt.Errorf("cfs: %w: lock holder must be one non-empty line", ErrInvalid)
	}
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	path := lockDir + "/" + name
	if err := s.Sync(ctx); err != nil {
		return Lease{}, err
	}
	now := time.Now()
	cond := Cond{MustNotExist: true}
	if e, err := s.Get(path); err == nil {
		h, exp := parseLock(e.Data)
		if h != holder && now.Before(exp) {
			return Lease{}, &LockedError{Name: name, Holder: h, Expires: exp}
		}
		cond = Cond{Version: e.Version}
	} else if !errors.Is(err, ErrNotFound) {
		return Lease{}, err
	}
	expires := now.Add(ttl)
	v, err := s.Apply(ctx, Write(path, []byte(holder+"\n"+strconv.FormatInt(expires.UnixNano(), 10)+"\n")).If(cond))
	if errors.Is(err, ErrConflict) {
		// Someone else took the lock between our read and our write. This
		// node may not have applied their write yet: give it a moment, so
		// the error can say who holds the lock.
		deadline := time.Now().Add(2 * time.Second)
		for {
			if e, gerr := s.Get(path); gerr == nil && e.Version != cond.Version {
				h, exp := parseLock(e.Data)
				return Lease{}, &LockedError{Name: name, Holder: h, Expires: exp}
			}
			if time.Now().After(deadline) || !sleepCtx(ctx, 5*time.Millisecond) {
				return Lease{}, &LockedError{Name: name, Holder: "another node"}
			}
		}
	}
	if err != nil {
		return Lease{}, err
	}
	return Lease{Name: name, Holder: holder, Expires: expires, version: v}, nil
}

// Unlock releases a lease. Releasing a lock that expired and was taken
// by someone else fails with ErrLocked and leaves their lock alone.
func (s *Store) Unlock(ctx context.Context, l Lease) error {
	path := lockDir + "/" + l.Name
	if err := s.Sync(ctx); err != nil {
		return err
	}
	e, err := s.Get(path)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if h, exp := parseLock(e.Data); h != l.Holder {
		return &LockedError{Name: l.Name, Holder: h, Expires: exp}
	}
	_, err = s.Apply(ctx, Delete(path).If(Cond{Version: e.Version}))
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		return nil // already changed: it is no longer ours to release
	}
	return err
}

func parseLock(data []byte) (holder string, expires time.Time) {
	h, rest, _ := strings.Cut(string(data), "\n")
	n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
	return h, time.Unix(0, n)
}
