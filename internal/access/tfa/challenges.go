package tfa

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ChallengeStore keeps WebAuthn session data between the request that
// starts a ceremony and the one that finishes it. A single node can use
// MemoryChallenges; a cluster that lets any node finish a login needs a
// shared implementation.
type ChallengeStore interface {
	// Put stores data under key; the store decides how long it lives.
	Put(key string, data []byte, now time.Time) error
	// Take returns the data under key and forgets it, so a challenge is
	// answered at most once. It returns ErrChallengeUnknown when the key is
	// missing or expired at now.
	Take(key string, now time.Time) ([]byte, error)
}

// ErrTooManyChallenges is returned by MemoryChallenges.Put when it is full
// of unexpired challenges, which bounds the memory an anonymous client can
// make the server hold.
var ErrTooManyChallenges = errors.New("too many open challenges; try again later")

// MemoryChallenges is an in-process ChallengeStore whose entries expire
// after a fixed time to live.
type MemoryChallenges struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]memChallenge
}

type memChallenge struct {
	data    []byte
	expires time.Time
}

// NewMemoryChallenges returns a store that keeps each challenge for ttl and
// at most max of them at a time; max <= 0 means 10000.
func NewMemoryChallenges(ttl time.Duration, max int) *MemoryChallenges {
	if max <= 0 {
		max = 10000
	}
	return &MemoryChallenges{ttl: ttl, max: max, entries: map[string]memChallenge{}}
}

// Put implements ChallengeStore.
func (m *MemoryChallenges) Put(key string, data []byte, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.max {
		for k, c := range m.entries {
			if !now.Before(c.expires) {
				delete(m.entries, k)
			}
		}
	}
	if _, replace := m.entries[key]; !replace && len(m.entries) >= m.max {
		return ErrTooManyChallenges
	}
	m.entries[key] = memChallenge{data: append([]byte(nil), data...), expires: now.Add(m.ttl)}
	return nil
}

// Take implements ChallengeStore.
func (m *MemoryChallenges) Take(key string, now time.Time) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.entries[key]
	delete(m.entries, key)
	if !ok || !now.Before(c.expires) {
		return nil, ErrChallengeUnknown
	}
	return c.data, nil
}

// Len returns how many challenges are held, expired ones included.
func (m *MemoryChallenges) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// challengeKey names a ceremony by kind, user and challenge, so parallel
// logins of one user (two browser tabs) do not overwrite each other.
func challengeKey(kind, userid, challenge string) string {
	return fmt.Sprintf("%s\x00%s\x00%s", kind, userid, challenge)
}
