package tfa

import (
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// minSecretBytes is the shortest TOTP secret AddTOTP accepts: 80 bits is
// what older authenticator apps generate, anything shorter is guessable.
const minSecretBytes = 10

// totpKey is a checked otpauth://totp URI.
type totpKey struct {
	secret string
	period int64
	opts   hotp.ValidateOpts
}

func parseTOTP(uri string) (totpKey, error) {
	k, err := otp.NewKeyFromURL(strings.TrimSpace(uri))
	if err != nil {
		return totpKey{}, fmt.Errorf("TOTP URI: %w", err)
	}
	if k.Type() != "totp" {
		return totpKey{}, fmt.Errorf("TOTP URI: want an otpauth://totp/ URI, not %q", k.Type())
	}
	secret := strings.ToUpper(strings.TrimSpace(k.Secret()))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(secret, "="))
	if err != nil || len(raw) < minSecretBytes {
		return totpKey{}, fmt.Errorf("TOTP URI: the secret must be base32 and at least %d bytes long", minSecretBytes)
	}
	period := k.Period()
	if period == 0 || period > 300 {
		return totpKey{}, fmt.Errorf("TOTP URI: period %d is not between 1 and 300 seconds", period)
	}
	digits := k.Digits()
	if digits < 6 || digits > 8 {
		return totpKey{}, fmt.Errorf("TOTP URI: %d digits is not between 6 and 8", digits)
	}
	// otp.Key maps unknown names to SHA1 and knows MD5; accept only the
	// names authenticator apps implement.
	switch a := strings.ToUpper(otpParam(k, "algorithm")); a {
	case "", "SHA1", "SHA256", "SHA512":
	default:
		return totpKey{}, fmt.Errorf("TOTP URI: algorithm %q is not SHA1, SHA256 or SHA512", a)
	}
	if k.Encoder() != otp.EncoderDefault {
		return totpKey{}, fmt.Errorf("TOTP URI: only numeric codes are supported")
	}
	return totpKey{
		secret: secret,
		period: int64(period),
		opts:   hotp.ValidateOpts{Digits: digits, Algorithm: k.Algorithm()},
	}, nil
}

func otpParam(k *otp.Key, name string) string {
	// URL() returns what NewKeyFromURL parsed, so this cannot fail.
	i := strings.IndexByte(k.URL(), '?')
	if i < 0 {
		return ""
	}
	for _, kv := range strings.Split(k.URL()[i+1:], "&") {
		if n, v, _ := strings.Cut(kv, "="); strings.EqualFold(n, name) {
			return v
		}
	}
	return ""
}

// match returns the time step within one step of now whose code equals
// code, so a phone clock that is off by up to one period still works.
func (k totpKey) match(code string, now time.Time) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != k.opts.Digits.Length() {
		return 0, false
	}
	current := now.Unix() / k.period
	for _, s := range []int64{current, current - 1, current + 1} {
		if s < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(k.secret, uint64(s), k.opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// AddTOTP adds an authenticator app given its otpauth URI. The current code
// from the app must come along: it proves the app holds the same secret
// before the user comes to depend on it. That code's time step counts as
// used, so it cannot be replayed at login.
func (f *File) AddTOTP(userid, description, otpauthURI, code string, now time.Time) (string, error) {
	key, err := parseTOTP(otpauthURI)
	if err != nil {
		return "", fmt.Errorf("add TOTP for %s: %w", userid, err)
	}
	step, ok := key.match(code, now)
	if !ok {
		return "", fmt.Errorf("add TOTP for %s: %w: the code does not match the app's secret at this time", userid, ErrInvalid)
	}
	u := f.userForWrite(userid)
	id, err := f.newID(u)
	if err != nil {
		return "", fmt.Errorf("add TOTP for %s: %w", userid, err)
	}
	value, err := json.Marshal(strings.TrimSpace(otpauthURI))
	if err != nil {
		return "", fmt.Errorf("add TOTP for %s: %w", userid, err)
	}
	u.lists[TypeTOTP] = append(u.lists[TypeTOTP], &entry{
		id:          id,
		description: description,
		created:     now.Unix(),
		enable:      true,
		value:       value,
		lastStep:    step,
		extra:       map[string]json.RawMessage{},
	})
	return id, nil
}

// verifyTOTP checks code against every enabled TOTP entry. A code whose
// step is not newer than the entry's last accepted one is a replay.
func (u *userData) verifyTOTP(code string, now time.Time) error {
	var tried bool
	for _, e := range u.lists[TypeTOTP] {
		if !e.enable {
			continue
		}
		var uri string
		if json.Unmarshal(e.value, &uri) != nil {
			continue
		}
		key, err := parseTOTP(uri)
		if err != nil {
			continue
		}
		tried = true
		step, ok := key.match(code, now)
		if !ok {
			continue
		}
		if step <= e.lastStep {
			return fmt.Errorf("%w: this TOTP code was already used", ErrInvalid)
		}
		e.lastStep = step
		return nil
	}
	if !tried {
		return fmt.Errorf("%w: no enabled TOTP entry", ErrNotConfigured)
	}
	return fmt.Errorf("%w: wrong TOTP code", ErrInvalid)
}
