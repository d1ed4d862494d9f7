package tfa

import (
	"fmt"
	"time"
)

// Entry describes one configured factor the way the API lists it.
type Entry struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Created     int64  `json:"created"`
	Enable      bool   `json:"enable"`
}

// listingOrder is the order List and Types report kinds in.
var listingOrder = [...]string{TypeTOTP, TypeU2F, TypeWebAuthn, TypeRecovery, TypeYubico}

// RecoveryID is the fixed id of a user's recovery key set.
const RecoveryID = TypeRecovery

// List returns the user's entries: TOTP, U2F, WebAuthn, recovery keys,
// Yubico, each kind in file order.
func (f *File) List(userid string) []Entry {
	u := f.user(userid)
	if u == nil {
		return nil
	}
	var out []Entry
	for _, typ := range listingOrder {
		if typ == TypeRecovery {
			if u.recovery != nil {
				out = append(out, u.recovery.entry())
			}
			continue
		}
		for _, e := range u.lists[typ] {
			out = append(out, Entry{ID: e.id, Type: typ, Description: e.description, Created: e.created, Enable: e.enable})
		}
	}
	return out
}

func (r *recovery) entry() Entry {
	return Entry{ID: RecoveryID, Type: TypeRecovery, Description: r.description, Created: r.created, Enable: true}
}

// Get returns one entry by id.
func (f *File) Get(userid, id string) (Entry, error) {
	for _, e := range f.List(userid) {
		if e.ID == id {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("get entry %q of %s: %w", id, userid, ErrNotFound)
}

// Update changes an entry's description and whether it may be used at
// login; nil leaves a field as it is.
func (f *File) Update(userid, id string, description *string, enable *bool) error {
	u := f.user(userid)
	if u == nil {
		return fmt.Errorf("update entry %q of %s: %w", id, userid, ErrNotFound)
	}
	if id == RecoveryID && u.recovery != nil {
		// Disabling recovery keys would only hide the user's way back in.
		if enable != nil && !*enable {
			return fmt.Errorf("update recovery keys of %s: they cannot be disabled, only deleted", userid)
		}
		if description != nil {
			u.recovery.description = *description
		}
		return nil
	}
	typ, i, ok := u.find(id)
	if !ok {
		return fmt.Errorf("update entry %q of %s: %w", id, userid, ErrNotFound)
	}
	e := u.lists[typ][i]
	if description != nil {
		e.description = *description
	}
	if enable != nil {
		e.enable = *enable
	}
	return nil
}

// Delete removes an entry; "recovery" removes the whole key set. A user
// object left with nothing in it is removed too.
func (f *File) Delete(userid, id string) error {
	u := f.user(userid)
	if u == nil {
		return fmt.Errorf("delete entry %q of %s: %w", id, userid, ErrNotFound)
	}
	if id == RecoveryID && u.recovery != nil {
		u.recovery = nil
	} else if typ, i, ok := u.find(id); ok {
		u.lists[typ] = append(u.lists[typ][:i:i], u.lists[typ][i+1:]...)
	} else {
		return fmt.Errorf("delete entry %q of %s: %w", id, userid, ErrNotFound)
	}
	if u.empty() {
		delete(f.users, userid)
	}
	return nil
}

// Types returns the kinds of factor the user has enabled, in listing
// order. Recovery keys count while at least one is unused. Kinds this
// package cannot verify (u2f, yubico) are included on purpose: a user who
// set one up must not fall back to logging in with a password alone.
func (f *File) Types(userid string) []string {
	u := f.user(userid)
	if u == nil {
		return nil
	}
	var out []string
	for _, typ := range listingOrder {
		if typ == TypeRecovery {
			if u.recovery != nil && len(u.recovery.available()) > 0 {
				out = append(out, TypeRecovery)
			}
			continue
		}
		for _, e := range u.lists[typ] {
			if e.enable {
				out = append(out, typ)
				break
			}
		}
	}
	return out
}

// HasAny reports whether the user must answer a second factor at login.
func (f *File) HasAny(userid string) bool {
	return len(f.Types(userid)) > 0
}

// LockState is a user's lockout status as the API lists it.
type LockState struct {
	// TOTPLocked means TOTP codes are refused until a recovery key is used
	// or an administrator unlocks the user.
	TOTPLocked bool `json:"totp-locked,omitempty"`
	// LockedUntil is the unix time until which every factor is refused;
	// zero when not locked.
	LockedUntil int64 `json:"tfa-locked-until,omitempty"`
}

// Lock returns the user's lockout status at now; an expired
// "tfa-locked-until" reads as not locked.
func (f *File) Lock(userid string, now time.Time) LockState {
	u := f.user(userid)
	if u == nil {
		return LockState{}
	}
	s := LockState{TOTPLocked: u.totpLocked}
	if u.lockedUntil > now.Unix() {
		s.LockedUntil = u.lockedUntil
	}
	return s
}

// Unlock lifts both lockouts and forgets the failure counts, as an
// administrator does after talking to the user. It reports whether either
// lock was set.
func (f *File) Unlock(userid string) bool {
	u := f.user(userid)
	if u == nil {
		return false
	}
	was := u.totpLocked || u.lockedUntil != 0
	u.totpLocked, u.lockedUntil = false, 0
	u.totpFailures, u.tfaFailures = 0, 0
	if u.empty() {
		delete(f.users, userid)
	}
	return was
}
