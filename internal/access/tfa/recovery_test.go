package tfa

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRecoveryKeysAreStoredOnlyHashed(t *testing.T) {
	f := newFile(t)
	keys, err := f.AddRecovery("alice@pve", "printed copy", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != RecoveryKeyCount {
		t.Fatalf("got %d keys, want %d", len(keys), RecoveryKeyCount)
	}
	shape := regexp.MustCompile(`^[0-9a-f]{4}(-[0-9a-f]{4}){3}$`)
	seen := map[string]bool{}
	for _, k := range keys {
		if !shape.MatchString(k) || seen[k] {
			t.Errorf("key %q is malformed or repeated", k)
		}
		seen[k] = true
	}
	out, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		for _, form := range []string{k, strings.ReplaceAll(k, "-", "")} {
			if strings.Contains(string(out), form) {
				t.Errorf("written file contains key %q", form)
			}
		}
	}
	// Two users with the same keys would still get different hashes,
	// because each set has its own secret.
	g := newFile(t)
	g.Rand = f.Rand
	if _, err := g.AddRecovery("bob@pve", "", fixedNow); err != nil {
		t.Fatal(err)
	}
	if f.user("alice@pve").recovery.secret == g.user("bob@pve").recovery.secret {
		t.Error("two key sets share a secret")
	}
}

func TestRecoveryKeyWorksOnce(t *testing.T) {
	f := newFile(t)
	keys, err := f.AddRecovery("alice@pve", "", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Verify("alice@pve", "recovery:"+keys[3], fixedNow, nil); err != nil {
		t.Fatalf("first use: %v", err)
	}
	f = reparse(t, f)
	if err := f.Verify("alice@pve", "recovery:"+keys[3], fixedNow, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("second use: err = %v, want ErrInvalid", err)
	}
	// Typed in capitals with stray spaces is still the same key.
	if err := f.Verify("alice@pve", "recovery: "+strings.ToUpper(keys[0])+" ", fixedNow, nil); err != nil {
		t.Fatalf("upper-case key: %v", err)
	}
	c, err := f.Challenge("alice@pve", fixedNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 4, 5, 6, 7, 8, 9}; !reflect.DeepEqual(c.Recovery, want) {
		t.Errorf("Challenge.Recovery = %v, want %v", c.Recovery, want)
	}
	for _, i := range c.Recovery {
		if err := f.Verify("alice@pve", "recovery:"+keys[i], fixedNow, nil); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	// All used up: the set no longer counts as a factor but stays listed
	// until deleted, and a new set cannot be added over it.
	if f.HasAny("alice@pve") {
		t.Error("a used-up key set still counts as a second factor")
	}
	if _, err := f.Get("alice@pve", RecoveryID); err != nil {
		t.Errorf("used-up set no longer listed: %v", err)
	}
	if _, err := f.AddRecovery("alice@pve", "", fixedNow); !errors.Is(err, ErrExists) {
		t.Errorf("AddRecovery over an existing set: %v, want ErrExists", err)
	}
	if err := f.Delete("alice@pve", RecoveryID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddRecovery("alice@pve", "", fixedNow); err != nil {
		t.Errorf("AddRecovery after delete: %v", err)
	}
}

func TestRecoveryKeyLiftsTOTPLock(t *testing.T) {
	f := newFile(t)
	addTOTP(t, f)
	keys, err := f.AddRecovery("alice@pve", "", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		_ = f.Verify("alice@pve", "totp:000000", fixedNow, nil)
	}
	if !f.Lock("alice@pve", fixedNow).TOTPLocked {
		t.Fatal("TOTP not locked")
	}
	if c, err := f.Challenge("alice@pve", fixedNow, nil); err != nil || c.TOTP || len(c.Recovery) != RecoveryKeyCount {
		t.Errorf("Challenge with TOTP locked = %+v, %v; want recovery keys only", c, err)
	}
	if err := f.Verify("alice@pve", "recovery:"+keys[0], fixedNow, nil); err != nil {
		t.Fatal(err)
	}
	next := fixedNow.Add(30 * time.Second)
	if err := f.Verify("alice@pve", "totp:"+code(t, next), next, nil); err != nil {
		t.Errorf("TOTP after recovery login: %v", err)
	}
}
