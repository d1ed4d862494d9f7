package tfa

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestUpdateDescriptionAndEnable(t *testing.T) {
	f := newFile(t)
	id := addTOTP(t, f)
	if err := f.Update("alice@pve", id, ptr("new phone"), nil); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.Get("alice@pve", id); e.Description != "new phone" || !e.Enable {
		t.Errorf("after description update: %+v", e)
	}
	if err := f.Update("alice@pve", id, nil, ptr(false)); err != nil {
		t.Fatal(err)
	}
	f = reparse(t, f)
	if e, _ := f.Get("alice@pve", id); e.Description != "new phone" || e.Enable {
		t.Errorf("after disabling: %+v", e)
	}
	if f.HasAny("alice@pve") {
		t.Error("a disabled entry still counts as a second factor")
	}
	if err := f.Verify("alice@pve", "totp:"+code(t, fixedNow), fixedNow, nil); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("login with a disabled entry: %v, want ErrNotConfigured", err)
	}
	if err := f.Update("alice@pve", "nope", ptr("x"), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown id: %v", err)
	}
	if err := f.Update("bob@pve", id, ptr("x"), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("update for unknown user: %v", err)
	}
}

func TestRecoveryCannotBeDisabled(t *testing.T) {
	f := newFile(t)
	if _, err := f.AddRecovery("alice@pve", "", fixedNow); err != nil {
		t.Fatal(err)
	}
	if err := f.Update("alice@pve", RecoveryID, nil, ptr(false)); err == nil {
		t.Error("disabling recovery keys succeeded")
	}
	if err := f.Update("alice@pve", RecoveryID, ptr("in the safe"), ptr(true)); err != nil {
		t.Fatal(err)
	}
	f = reparse(t, f)
	if e, _ := f.Get("alice@pve", RecoveryID); e.Description != "in the safe" {
		t.Errorf("recovery description = %q", e.Description)
	}
}

func TestDeleteRemovesEntryAndEmptyUser(t *testing.T) {
	f := newFile(t)
	first := addTOTP(t, f)
	if _, err := f.AddRecovery("alice@pve", "", fixedNow); err != nil {
		t.Fatal(err)
	}
	if got, want := f.Types("alice@pve"), []string{TypeTOTP, TypeRecovery}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Types = %v, want %v", got, want)
	}
	if err := f.Delete("alice@pve", first); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get("alice@pve", first); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := f.Delete("alice@pve", first); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if err := f.Delete("alice@pve", RecoveryID); err != nil {
		t.Fatal(err)
	}
	if out, _ := f.Bytes(); strings.Contains(string(out), "alice") {
		t.Errorf("empty user left behind: %s", out)
	}
}

// TestDeleteKeepsLockState: deleting the last factor must not wipe a
// lock, or deleting and re-adding would be a way around it.
func TestDeleteKeepsLockState(t *testing.T) {
	f := newFile(t)
	id := addTOTP(t, f)
	for range 8 {
		_ = f.Verify("alice@pve", "totp:000000", fixedNow, nil)
	}
	if err := f.Delete("alice@pve", id); err != nil {
		t.Fatal(err)
	}
	if !f.Lock("alice@pve", fixedNow).TOTPLocked {
		t.Error("lock lost with the last entry")
	}
}

func TestTypesCountUnverifiableKinds(t *testing.T) {
	f := mustParse(t, `{"users":{"y@pve":{"yubico":[{"id":"y","created":1,"entry":"cccccbhuibvk"}]}}}`)
	if !f.HasAny("y@pve") {
		t.Fatal("a Yubico-only user would log in with a password alone")
	}
	c, err := f.Challenge("y@pve", fixedNow, nil)
	if err != nil || !c.Yubico {
		t.Errorf("Challenge = %+v, %v", c, err)
	}
}

// TestChallengeRefusesWhenNothingCanBeAnswered: a user whose only factor
// is locked or unusable must not get an empty challenge.
func TestChallengeRefusesWhenNothingCanBeAnswered(t *testing.T) {
	f := newFile(t)
	addTOTP(t, f)
	for range 8 {
		_ = f.Verify("alice@pve", "totp:000000", fixedNow, nil)
	}
	if _, err := f.Challenge("alice@pve", fixedNow, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("TOTP-only user with TOTP locked: %v, want ErrLocked", err)
	}
	// A WebAuthn entry in Proxmox VE's own format cannot be used here.
	g := mustParse(t, `{"users":{"w@pve":{"webauthn":[{"id":"w","created":1,"entry":{"cred_id":"AAAA","counter":1}}]}}}`)
	if !g.HasAny("w@pve") {
		t.Fatal("foreign WebAuthn entry does not count as a factor")
	}
	if _, err := g.Challenge("w@pve", fixedNow, newWebAuthn(t)); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("only a foreign WebAuthn entry: %v, want ErrNotConfigured", err)
	}
}
