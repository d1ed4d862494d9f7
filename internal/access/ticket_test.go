package access

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func newTestSigner(t *testing.T) (*Signer, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return NewSigner(priv, []ed25519.PublicKey{pub}, []byte("csrf secret")), pub
}

var ticketShape = regexp.MustCompile(`^PVE:admin@pve:[0-9A-F]{8}::[A-Za-z0-9+/]+=*$`)

func TestTicketRoundTrip(t *testing.T) {
	s, _ := newTestSigner(t)
	now := time.Unix(1700000000, 0)
	tk, err := s.Ticket("admin@pve", now)
	if err != nil {
		t.Fatal(err)
	}
	if !ticketShape.MatchString(tk) || !strings.Contains(tk, ":6553F100::") {
		t.Fatalf("ticket %q has the wrong shape", tk)
	}
	for _, at := range []time.Duration{0, time.Hour, TicketLifetime, -ClockSkew} {
		user, issued, err := s.VerifyTicket(tk, now.Add(at))
		if err != nil || user != "admin@pve" || !issued.Equal(now) {
			t.Errorf("verify after %v: %q %v %v", at, user, issued, err)
		}
	}
}

// TestRememberedTicketsStillExpire verifies a ticket once (so it is
// remembered) and checks that age is still enforced, and that a signer
// with other keys does not share the memory.
func TestRememberedTicketsStillExpire(t *testing.T) {
	s, _ := newTestSigner(t)
	now := time.Unix(1700000000, 0)
	tk, _ := s.Ticket("admin@pve", now)
	for i := 0; i < 2; i++ {
		if _, _, err := s.VerifyTicket(tk, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.VerifyTicket(tk, now.Add(TicketLifetime+time.Second)); err == nil {
		t.Fatal("a remembered ticket outlived its lifetime")
	}
	other, _ := newTestSigner(t)
	if _, _, err := other.VerifyTicket(tk, now); err == nil {
		t.Fatal("another key set accepted the ticket")
	}
	for i := 0; i < maxVerified+10; i++ {
		t2, _ := s.Ticket(fmt.Sprintf("u%d@pve", i), now)
		s.VerifyTicket(t2, now)
	}
	if len(s.verified) > maxVerified {
		t.Fatalf("memory grew to %d entries", len(s.verified))
	}
}

func TestTicketRejections(t *testing.T) {
	s, _ := newTestSigner(t)
	other, _ := newTestSigner(t)
	now := time.Unix(1700000000, 0)
	tk, _ := s.Ticket("admin@pve", now)
	forgedByOther, _ := other.Ticket("admin@pve", now)
	plain, sig, _ := strings.Cut(tk, "::")
	tests := map[string]struct {
		ticket string
		at     time.Time
	}{
		"expired":           {tk, now.Add(TicketLifetime + time.Second)},
		"from the future":   {tk, now.Add(-ClockSkew - time.Second)},
		"user changed":      {strings.Replace(tk, "admin@pve", "root@pam", 1), now},
		"time changed":      {strings.Replace(plain, "6553F100", "6553F101", 1) + "::" + sig, now},
		"signature garbled": {plain + "::" + strings.ToLower(sig), now},
		"other key":         {forgedByOther, now},
		"no signature":      {plain, now},
		"empty":             {"", now},
		"wrong prefix":      {strings.Replace(tk, "PVE:", "PMG:", 1), now},
		"lower-case time":   {strings.Replace(tk, "6553F100", "6553f100", 1), now},
	}
	for name, tt := range tests {
		if user, _, err := s.VerifyTicket(tt.ticket, tt.at); err == nil {
			t.Errorf("%s: accepted for %q", name, user)
		}
	}
}

func TestTicketKeyRotation(t *testing.T) {
	old, oldPub := newTestSigner(t)
	now := time.Unix(1700000000, 0)
	tk, _ := old.Ticket("admin@pve", now)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	rotated := NewSigner(priv, []ed25519.PublicKey{pub, oldPub}, []byte("csrf secret"))
	if _, _, err := rotated.VerifyTicket(tk, now.Add(time.Minute)); err != nil {
		t.Fatalf("ticket signed with the previous key refused: %v", err)
	}
	verifyOnly := NewSigner(nil, []ed25519.PublicKey{pub}, nil)
	if _, _, err := verifyOnly.VerifyTicket(tk, now); err == nil {
		t.Fatal("ticket accepted after its key was dropped")
	}
	if _, err := verifyOnly.Ticket("x@pve", now); err == nil {
		t.Fatal("a verify-only signer issued a ticket")
	}
}

func TestCSRF(t *testing.T) {
	s, _ := newTestSigner(t)
	now := time.Unix(1700000000, 0)
	tok := s.CSRFToken("admin@pve", now)
	if !regexp.MustCompile(`^6553F100:[A-Za-z0-9+/]+$`).MatchString(tok) {
		t.Fatalf("token %q has the wrong shape", tok)
	}
	if err := s.VerifyCSRF("admin@pve", tok, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct {
		user, token string
		at          time.Time
	}{
		"other user":   {"root@pam", tok, now},
		"expired":      {"admin@pve", tok, now.Add(TicketLifetime + time.Second)},
		"missing":      {"admin@pve", "", now},
		"garbled":      {"admin@pve", tok[:len(tok)-2], now},
		"other secret": {"admin@pve", NewSigner(nil, nil, []byte("other")).CSRFToken("admin@pve", now), now},
	}
	for name, tt := range bad {
		if err := s.VerifyCSRF(tt.user, tt.token, tt.at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
