package tfa

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// RecoveryKeyCount is how many keys AddRecovery hands out.
const RecoveryKeyCount = 10

// AddRecovery creates a set of single-use recovery keys and returns them in
// plain text; they are shown to the user once and only their HMACs, keyed
// with a fresh per-user secret, are stored. A user has at most one set, so
// an existing one must be deleted first.
func (f *File) AddRecovery(userid, description string, now time.Time) ([]string, error) {
	u := f.userForWrite(userid)
	if u.recovery != nil {
		return nil, fmt.Errorf("add recovery keys for %s: %w; delete them first", userid, ErrExists)
	}
	secret, err := f.random(32)
	if err != nil {
		return nil, fmt.Errorf("add recovery keys for %s: %w", userid, err)
	}
	r := &recovery{secret: hex.EncodeToString(secret), created: now.Unix(), description: description}
	keys := make([]string, RecoveryKeyCount)
	for i := range keys {
		b, err := f.random(8)
		if err != nil {
			return nil, fmt.Errorf("add recovery keys for %s: %w", userid, err)
		}
		h := hex.EncodeToString(b)
		keys[i] = h[0:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + h[12:16]
		sum := r.hash(keys[i])
		r.entries = append(r.entries, &sum)
	}
	u.recovery = r
	return keys, nil
}

func (r *recovery) hash(key string) string {
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(key))
	return hex.EncodeToString(mac.Sum(nil))
}

// available returns the indices of unused keys; the login prompt shows them
// so the user knows which ones on their printout still work.
func (r *recovery) available() []int {
	var out []int
	for i, e := range r.entries {
		if e != nil {
			out = append(out, i)
		}
	}
	return out
}

// verifyRecovery accepts an unused key and marks it used.
func (u *userData) verifyRecovery(key string) error {
	if u.recovery == nil || len(u.recovery.available()) == 0 {
		return fmt.Errorf("%w: no unused recovery keys", ErrNotConfigured)
	}
	// Keys are printed in lower case; people may type them otherwise.
	sum := u.recovery.hash(strings.ToLower(strings.TrimSpace(key)))
	for i, e := range u.recovery.entries {
		if e != nil && hmac.Equal([]byte(*e), []byte(sum)) {
			u.recovery.entries[i] = nil
			return nil
		}
	}
	return fmt.Errorf("%w: wrong or already used recovery key", ErrInvalid)
}
