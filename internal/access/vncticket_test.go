package access

import (
	"crypto/ed25519"
	"crypto/rand"
	"regexp"
	"strings"
	"testing"
	"time"
)

var vncTicketShape = regexp.MustCompile(`^PVEVNC:[0-9A-F]{8}::[A-Za-z0-9+/]+=*$`)

func TestVNCTicketBindsUserPathAndTime(t *testing.T) {
	s, pub := newTestSigner(t)
	now := time.Unix(1700000000, 0)
	tk, err := s.VNCTicket("alice@pve", "/vms/100", now)
	if err != nil {
		t.Fatal(err)
	}
	if !vncTicketShape.MatchString(tk) || !strings.HasPrefix(tk, "PVEVNC:6553F100::") {
		t.Fatalf("ticket %q has the wrong shape", tk)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	foreign, _ := NewSigner(otherPriv, nil, nil).VNCTicket("alice@pve", "/vms/100", now)
	login, _ := s.Ticket("alice@pve", now)
	sig := tk[strings.Index(tk, "::"):]

	tests := []struct {
		name         string
		ticket, user string
		path         string
		at           time.Duration
		ok           bool
	}{
		{"fresh", tk, "alice@pve", "/vms/100", 0, true},
		{"at the end of its life", tk, "alice@pve", "/vms/100", VNCTicketLifetime, true},
		{"from a clock a little ahead", tk, "alice@pve", "/vms/100", -vncClockSkew, true},
		{"expired", tk, "alice@pve", "/vms/100", VNCTicketLifetime + time.Second, false},
		{"too far in the future", tk, "alice@pve", "/vms/100", -vncClockSkew - time.Second, false},
		{"another user", tk, "bob@pve", "/vms/100", 0, false},
		{"another guest", tk, "alice@pve", "/vms/101", 0, false},
		{"time changed", "PVEVNC:6553F101" + sig, "alice@pve", "/vms/100", 0, false},
		{"lower-case time", "PVEVNC:6553f100" + sig, "alice@pve", "/vms/100", 0, false},
		{"signed by another key", foreign, "alice@pve", "/vms/100", 0, false},
		{"a login ticket", login, "alice@pve", "/vms/100", 0, false},
		{"no signature", "PVEVNC:6553F100", "alice@pve", "/vms/100", 0, false},
		{"empty", "", "alice@pve", "/vms/100", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.VerifyVNCTicket(tt.ticket, tt.user, tt.path, now.Add(tt.at))
			if (err == nil) != tt.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tt.ok)
			}
		})
	}

	// A console ticket never passes as a login ticket.
	if _, _, err := s.VerifyTicket(tk, now); err == nil {
		t.Error("a console ticket was accepted as a login ticket")
	}
	// After a key rotation the old public key still verifies it.
	_, newPriv, _ := ed25519.GenerateKey(rand.Reader)
	rotated := NewSigner(newPriv, []ed25519.PublicKey{newPriv.Public().(ed25519.PublicKey), pub}, nil)
	if err := rotated.VerifyVNCTicket(tk, "alice@pve", "/vms/100", now); err != nil {
		t.Errorf("after rotation: %v", err)
	}
}
