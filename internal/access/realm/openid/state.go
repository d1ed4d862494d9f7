package openid

import (
	"errors"
	"sync"
	"time"
)

// PendingLogin is what the server must remember between handing out an
// authorization URL and the browser coming back with a code.
type PendingLogin struct {
	Realm       string
	RedirectURL string
	Verifier    string // PKCE code verifier; only its hash went to the provider
	Nonce       string
	Created     time.Time
}

// StateStore keeps pending logins by their state value. The browser may
// come back to another cluster node than the one that built the URL, so a
// clustered server backs this with shared storage; NewMemoryStore serves a
// single node and tests.
type StateStore interface {
	// Put records a pending login under a fresh state.
	Put(state string, s PendingLogin) error
	// Take returns the pending login and forgets it, so that a state can
	// finish at most one login. ok is false for unknown or expired states.
	Take(state string) (s PendingLogin, ok bool, err error)
}

// DefaultStateTTL is how long a browser has to come back from the
// identity provider, as in Proxmox VE.
const DefaultStateTTL = 5 * time.Minute

// maxPending bounds the memory store: building an authorization URL needs
// no credentials, so without a bound anyone could fill the server's memory.
const maxPending = 10000

// errStoreFull is returned by Put when maxPending logins are in flight.
var errStoreFull = errors.New("too many logins in progress; try again later")

type memoryStore struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	pending map[string]memoryEntry
}

type memoryEntry struct {
	login PendingLogin
	added time.Time
}

// NewMemoryStore returns a StateStore held in this process that forgets
// entries ttl after they were put. now is the clock (time.Now if nil).
// Expiry is measured with this clock at Put, not with PendingLogin.Created,
// so the store does not depend on the caller's clock agreeing with its own.
func NewMemoryStore(ttl time.Duration, now func() time.Time) StateStore {
	if now == nil {
		now = time.Now
	}
	return &memoryStore{ttl: ttl, now: now, pending: map[string]memoryEntry{}}
}

func (m *memoryStore) Put(state string, s PendingLogin) error {
	if state == "" {
		return errors.New("empty state")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e, dup := m.pending[state]; dup && !m.expired(e, now) {
		return errors.New("state already in use")
	}
	if len(m.pending) >= maxPending {
		// Sweep only when full: abandoned logins cost memory until then,
		// but a Put stays cheap in the common case.
		for k, e := range m.pending {
			if m.expired(e, now) {
				delete(m.pending, k)
			}
		}
		if len(m.pending) >= maxPending {
			return errStoreFull
		}
	}
	m.pending[state] = memoryEntry{login: s, added: now}
	return nil
}

func (m *memoryStore) Take(state string) (PendingLogin, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.pending[state]
	if !ok {
		return PendingLogin{}, false, nil
	}
	delete(m.pending, state)
	if m.expired(e, m.now()) {
		return PendingLogin{}, false, nil
	}
	return e.login, true, nil
}

func (m *memoryStore) expired(e memoryEntry, now time.Time) bool {
	return now.Sub(e.added) >= m.ttl
}
