package tfa

import (
	"errors"
	"testing"
	"time"
)

func TestMemoryChallengesExpireAndAreSingleUse(t *testing.T) {
	m := NewMemoryChallenges(time.Minute, 2)
	if err := m.Put("a", []byte("one"), fixedNow); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("b", []byte("two"), fixedNow); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("c", []byte("three"), fixedNow); !errors.Is(err, ErrTooManyChallenges) {
		t.Fatalf("third Put into a full store: %v", err)
	}
	if got, err := m.Take("a", fixedNow.Add(59*time.Second)); err != nil || string(got) != "one" {
		t.Fatalf("Take(a) = %q, %v", got, err)
	}
	if _, err := m.Take("a", fixedNow); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("second Take(a): %v", err)
	}
	if _, err := m.Take("b", fixedNow.Add(time.Minute)); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("Take(b) after the ttl: %v", err)
	}
	// Expired challenges make room for new ones.
	_ = m.Put("d", nil, fixedNow)
	_ = m.Put("e", nil, fixedNow)
	if err := m.Put("f", nil, fixedNow.Add(2*time.Minute)); err != nil {
		t.Fatalf("Put after expiry: %v", err)
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d, want 1", m.Len())
	}
}
