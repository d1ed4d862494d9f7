package openid

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestMemoryStoreTakeIsSingleUse(t *testing.T) {
	clock := newClock()
	s := NewMemoryStore(time.Minute, clock.Now)
	want := PendingLogin{Realm: "corp", RedirectURL: redirectURL, Verifier: "v", Nonce: "n", Created: clock.Now()}
	if err := s.Put("st", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Take("st")
	if err != nil || !ok || got != want {
		t.Fatalf("Take = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.Take("st"); ok {
		t.Error("state taken twice")
	}
	if _, ok, _ := s.Take("never-put"); ok {
		t.Error("unknown state found")
	}
}

func TestMemoryStoreExpiresByItsOwnClock(t *testing.T) {
	clock := newClock()
	s := NewMemoryStore(time.Minute, clock.Now)
	// Created from a far-off clock must not matter.
	if err := s.Put("a", PendingLogin{Created: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("b", PendingLogin{}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute - time.Second)
	if _, ok, _ := s.Take("a"); !ok {
		t.Error("state expired before its ttl")
	}
	clock.Advance(time.Second)
	if _, ok, _ := s.Take("b"); ok {
		t.Error("state usable at its ttl")
	}
}

func TestMemoryStoreRefusesDuplicatesAndBoundsSize(t *testing.T) {
	clock := newClock()
	s := NewMemoryStore(time.Minute, clock.Now)
	if err := s.Put("", PendingLogin{}); err == nil {
		t.Error("empty state accepted")
	}
	for i := range maxPending {
		if err := s.Put(strconv.Itoa(i), PendingLogin{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put("0", PendingLogin{}); err == nil {
		t.Error("state put twice")
	}
	if err := s.Put("one-more", PendingLogin{}); !errors.Is(err, errStoreFull) {
		t.Errorf("Put beyond the bound: %v", err)
	}
	// Expired entries make room again.
	clock.Advance(time.Minute)
	if err := s.Put("one-more", PendingLogin{}); err != nil {
		t.Errorf("Put after the others expired: %v", err)
	}
}
