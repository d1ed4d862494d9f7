package tfa

import "errors"

// Error kinds callers map to HTTP status codes. Functions wrap them with
// the details, so test with errors.Is.
var (
	// ErrNotConfigured means the user has no usable factor of the kind asked
	// for, or WebAuthn has no relying party settings.
	ErrNotConfigured = errors.New("second factor not configured")
	// ErrInvalid means a code, key or signed response was wrong, expired,
	// replayed or malformed.
	ErrInvalid = errors.New("second factor response is not valid")
	// ErrLocked means too many failures locked the user out; an
	// administrator can lift it with Unlock.
	ErrLocked = errors.New("second factors are locked after too many failed attempts")
	// ErrNotFound means no entry has the given id.
	ErrNotFound = errors.New("second factor entry not found")
	// ErrExists means the user already has recovery keys.
	ErrExists = errors.New("recovery keys already exist")
	// ErrUnsupported means an entry kind (yubico, u2f) that this package
	// stores but cannot verify.
	ErrUnsupported = errors.New("this kind of second factor cannot be verified here")
	// ErrChallengeUnknown means a WebAuthn session was never started, was
	// already used, or has expired.
	ErrChallengeUnknown = errors.New("challenge unknown or expired")
)
