package tfa

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Challenge is what a user with second factors must answer before a login
// completes. The JSON members follow the Proxmox VE login challenge.
type Challenge struct {
	// TOTP is true when a TOTP code will be accepted.
	TOTP bool `json:"totp,omitempty"`
	// Recovery lists the indices of the unused recovery keys.
	Recovery []int `json:"recovery,omitempty"`
	// WebAuthn holds the options for navigator.credentials.get().
	WebAuthn json.RawMessage `json:"webauthn,omitempty"`
	// Yubico is true when the user has Yubico OTP entries.
	Yubico bool `json:"yubico,omitempty"`
	// U2F is true when the user has U2F entries, which cannot be answered
	// here; it tells the client why a factor it knows is missing.
	U2F bool `json:"u2f,omitempty"`
}

// Challenge builds what the user must answer. With w set and WebAuthn
// entries present it starts a WebAuthn login, whose session lives in w's
// store until Verify takes it. A locked user gets ErrLocked. An error
// means the login must be refused, since the user does have second
// factors (ErrNotConfigured then says none of them can be used here, for
// example WebAuthn entries without relying party settings).
func (f *File) Challenge(userid string, now time.Time, w *WebAuthn) (*Challenge, error) {
	u := f.user(userid)
	if u == nil || !f.HasAny(userid) {
		return nil, fmt.Errorf("second factor challenge for %s: %w", userid, ErrNotConfigured)
	}
	if u.lockedUntil > now.Unix() {
		return nil, lockedError(userid, u.lockedUntil)
	}
	c := &Challenge{}
	for _, typ := range f.Types(userid) {
		switch typ {
		case TypeTOTP:
			c.TOTP = !u.totpLocked
		case TypeRecovery:
			c.Recovery = u.recovery.available()
		case TypeYubico:
			c.Yubico = true
		case TypeU2F:
			c.U2F = true
		case TypeWebAuthn:
			opts, err := f.beginWebAuthnLogin(w, userid, now)
			if err != nil {
				return nil, err
			}
			c.WebAuthn = opts
		}
	}
	// The user has factors but none can be answered: refuse rather than
	// hand out an empty challenge a client might treat as "nothing to do".
	if !c.TOTP && len(c.Recovery) == 0 && c.WebAuthn == nil && !c.Yubico && !c.U2F {
		if u.totpLocked {
			return nil, fmt.Errorf("second factor challenge for %s: %w: TOTP is locked and no other factor is available", userid, ErrLocked)
		}
		return nil, fmt.Errorf("second factor challenge for %s: %w: no configured factor can be answered here", userid, ErrNotConfigured)
	}
	return c, nil
}

// Verify checks a login answer: "totp:<code>", "recovery:<key>" or
// "webauthn:<assertion JSON>". It changes the File (the used TOTP step or
// recovery key, new WebAuthn counters, failure counts and locks) whether
// or not the answer is right, so the caller writes the file back either
// way. Wrong answers return ErrInvalid; after Limits.TOTPFailures wrong
// TOTP codes TOTP is locked, after Limits.Failures wrong answers of any
// kind everything is locked for Limits.LockFor, and a locked user gets
// ErrLocked. A correct recovery key also lifts the TOTP lock.
func (f *File) Verify(userid, response string, now time.Time, w *WebAuthn) error {
	u := f.user(userid)
	if u == nil || !f.HasAny(userid) {
		return fmt.Errorf("verify second factor of %s: %w", userid, ErrNotConfigured)
	}
	if u.lockedUntil != 0 {
		if u.lockedUntil > now.Unix() {
			return lockedError(userid, u.lockedUntil)
		}
		// The lock ran out: start counting afresh.
		u.lockedUntil, u.tfaFailures = 0, 0
	}
	kind, value, ok := strings.Cut(response, ":")
	if !ok {
		return fmt.Errorf("verify second factor of %s: %w: the answer must start with \"totp:\", \"recovery:\" or \"webauthn:\"", userid, ErrInvalid)
	}
	var err error
	switch kind {
	case TypeTOTP:
		if u.totpLocked {
			return fmt.Errorf("verify TOTP of %s: %w: TOTP is disabled after %d wrong codes; use a recovery key or ask an administrator to unlock it",
				userid, ErrLocked, f.Limits.withDefaults().TOTPFailures)
		}
		err = u.verifyTOTP(value, now)
	case TypeRecovery:
		err = u.verifyRecovery(value)
	case TypeWebAuthn:
		err = f.verifyWebAuthn(w, userid, value, now)
	case TypeYubico, TypeU2F:
		return fmt.Errorf("verify %s of %s: %w", kind, userid, ErrUnsupported)
	default:
		return fmt.Errorf("verify second factor of %s: %w: unknown kind %q", userid, ErrInvalid, kind)
	}
	if err == nil {
		u.tfaFailures = 0
		if kind == TypeTOTP || kind == TypeRecovery {
			u.totpFailures = 0
		}
		if kind == TypeRecovery {
			u.totpLocked = false
		}
		return nil
	}
	// Asking for a kind the user does not have reveals nothing worth
	// counting; anything else is a guess.
	if !errors.Is(err, ErrNotConfigured) {
		f.countFailure(u, kind, now)
	}
	return fmt.Errorf("verify %s of %s: %w", kind, userid, err)
}

func (f *File) countFailure(u *userData, kind string, now time.Time) {
	limits := f.Limits.withDefaults()
	if kind == TypeTOTP {
		u.totpFailures++
		if u.totpFailures >= limits.TOTPFailures {
			u.totpLocked = true
		}
	}
	u.tfaFailures++
	if u.tfaFailures >= limits.Failures {
		u.lockedUntil = now.Add(limits.LockFor).Unix()
	}
}

func lockedError(userid string, until int64) error {
	return fmt.Errorf("second factors of %s: %w until %s", userid, ErrLocked,
		time.Unix(until, 0).UTC().Format(time.RFC3339))
}
