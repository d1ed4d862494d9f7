package pwhash

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Variant selects the SHA-crypt flavour. Its value is the numeric id that
// appears between the first two '$' of a hash.
type Variant uint8

// The two supported variants.
const (
	SHA256 Variant = 5 // "$5$": what Proxmox VE itself writes
	SHA512 Variant = 6 // "$6$": what Hash writes
)

// String names the variant for messages.
func (v Variant) String() string {
	switch v {
	case SHA256:
		return "SHA-256-crypt"
	case SHA512:
		return "SHA-512-crypt"
	}
	return fmt.Sprintf("Variant(%d)", uint8(v))
}

// Cost and size limits. The rounds range and salt length come from the
// SHA-crypt specification; crypt(3) clamps out-of-range rounds instead of
// failing, and so does HashWith.
const (
	// DefaultRounds is the cost of new hashes. The specification's default
	// of 5000 dates from 2007 and is what Proxmox VE uses; since the cost
	// grows linearly, 100000 makes every offline guess twenty times as
	// expensive while one check still takes only tens of milliseconds on a
	// small server (see BenchmarkHash), which a login endpoint that already
	// delays failed attempts by seconds absorbs easily. Stored with an
	// explicit "rounds=", so raising it later leaves old hashes valid.
	DefaultRounds = 100000

	// MinRounds and MaxRounds bound the cost a hash may carry.
	MinRounds = 1000
	MaxRounds = 999999999

	// implicitRounds is the cost of a hash without "rounds=".
	implicitRounds = 5000

	// SaltLen is the salt length of new hashes and the longest salt the
	// format keeps; longer salts are cut to this length.
	SaltLen = 16

	// MaxPasswordLen bounds passwords in bytes. SHA-crypt hashes the whole
	// password in every round, so without a bound one unauthenticated login
	// with a huge password could burn seconds of CPU. 256 bytes holds any
	// password of 64 characters, the most Proxmox VE accepts when one is set.
	MaxPasswordLen = 256
)

// Errors that Verify and Validate wrap, so callers can tell a hash in a
// format this package does not implement from a damaged one.
var (
	ErrUnsupported = errors.New("unsupported password hash format")
	ErrMalformed   = errors.New("malformed password hash")
)

// params are the parts of a parsed "$id$[rounds=N$]salt$digest" string.
type params struct {
	variant  Variant
	rounds   int
	explicit bool // "rounds=" was present and must be written back
	salt     string
	digest   string
}

// Verify reports whether password matches the crypt(3) hash. It returns an
// error, and false, when the hash is not a well-formed "$5$" or "$6$" string
// or the password is longer than MaxPasswordLen; a wrong password is not an
// error. The digest comparison takes constant time.
func Verify(hash, password string) (bool, error) {
	p, err := parse(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, fmt.Errorf("verify password: password longer than %d bytes", MaxPasswordLen)
	}
	got := digest(p.variant, []byte(password), []byte(p.salt), p.rounds)
	return subtle.ConstantTimeCompare([]byte(got), []byte(p.digest)) == 1, nil
}

// Validate checks that hash is a string Verify can work with, without the
// cost of hashing, so that a password file can be checked when it is read.
func Validate(hash string) error {
	_, err := parse(hash)
	return err
}

// Hash returns a new SHA-512-crypt hash of password with DefaultRounds and
// a random salt of SaltLen characters.
func Hash(password string) (string, error) {
	return HashWith(password, newSalt(), DefaultRounds, SHA512)
}

// HashWith hashes password with the given salt, cost and variant, which
// makes it deterministic for tests and for reproducing known hashes. As in
// crypt(3), salts longer than SaltLen are cut and rounds outside
// [MinRounds, MaxRounds] are clamped; rounds 0 means the implicit default
// of 5000 with no "rounds=" in the result. The salt must be printable ASCII
// without '$' or ':' so the result stays one field of a password file.
func HashWith(password, salt string, rounds int, variant Variant) (string, error) {
	if variant != SHA256 && variant != SHA512 {
		return "", fmt.Errorf("hash password: %v is not supported", variant)
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("hash password: password longer than %d bytes", MaxPasswordLen)
	}
	// C implementations stop at the first NUL, so such a password could
	// never be verified by them the way it was hashed here.
	if strings.IndexByte(password, 0) >= 0 {
		return "", errors.New("hash password: password contains a NUL byte")
	}
	if rounds < 0 {
		return "", fmt.Errorf("hash password: negative rounds %d", rounds)
	}
	for i := 0; i < len(salt); i++ {
		if c := salt[i]; c <= ' ' || c >= 0x7f || c == '$' || c == ':' {
			return "", fmt.Errorf("hash password: salt byte %d is %q; want printable ASCII other than '$' and ':'", i, c)
		}
	}
	p := params{variant: variant, rounds: implicitRounds, salt: salt[:min(len(salt), SaltLen)]}
	if rounds != 0 {
		p.explicit = true
		p.rounds = clampRounds(rounds)
	}
	p.digest = digest(variant, []byte(password), []byte(p.salt), p.rounds)
	return p.String(), nil
}

// clampRounds moves rounds into [MinRounds, MaxRounds], as crypt(3) does.
func clampRounds(rounds int) int {
	return min(max(rounds, MinRounds), MaxRounds)
}

// newSalt draws SaltLen characters from the crypt alphabet. The alphabet
// has 64 entries, so masking a random byte to 6 bits picks uniformly.
func newSalt() string {
	b := make([]byte, SaltLen)
	rand.Read(b) // never fails: crypto/rand aborts the process instead
	for i := range b {
		b[i] = cryptAlphabet[b[i]&0x3f]
	}
	return string(b)
}

// String formats the parameters as a crypt(3) hash string.
func (p params) String() string {
	var sb strings.Builder
	sb.WriteString("$" + strconv.Itoa(int(p.variant)) + "$")
	if p.explicit {
		sb.WriteString("rounds=" + strconv.Itoa(p.rounds) + "$")
	}
	sb.WriteString(p.salt + "$" + p.digest)
	return sb.String()
}

// parse splits a hash into its parameters. It accepts only strings that
// crypt(3) itself could have produced, because anything else can never
// verify and is better reported than silently rejecting every password.
// Messages describe the defect but never quote the hash: it is secret
// material too.
func parse(hash string) (params, error) {
	var p params
	if hash == "" {
		return p, fmt.Errorf("%w: empty string", ErrMalformed)
	}
	id, rest, ok := cutID(hash)
	if !ok {
		return p, fmt.Errorf("%w: no $id$ prefix (traditional DES crypt or not a crypt hash)", ErrUnsupported)
	}
	switch id {
	case "5":
		p.variant = SHA256
	case "6":
		p.variant = SHA512
	default:
		return p, fmt.Errorf("%w: %s", ErrUnsupported, schemeName(id))
	}

	p.rounds = implicitRounds
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, found := strings.Cut(r, "$")
		if !found {
			return p, fmt.Errorf("%w: rounds= is not followed by '$'", ErrMalformed)
		}
		n, err := parseRounds(num)
		if err != nil {
			return p, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		p.rounds, p.explicit, rest = n, true, after
	}

	salt, dig, found := strings.Cut(rest, "$")
	if !found {
		return p, fmt.Errorf("%w: no '$' between salt and digest", ErrMalformed)
	}
	if len(salt) > SaltLen {
		return p, fmt.Errorf("%w: salt has %d characters, at most %d possible", ErrMalformed, len(salt), SaltLen)
	}
	if want := p.variant.digestLen(); len(dig) != want {
		return p, fmt.Errorf("%w: %v digest has %d characters, want %d", ErrMalformed, p.variant, len(dig), want)
	}
	for i := 0; i < len(dig); i++ {
		if strings.IndexByte(cryptAlphabet, dig[i]) < 0 {
			return p, fmt.Errorf("%w: digest character %d is outside the crypt alphabet", ErrMalformed, i+1)
		}
	}
	p.salt, p.digest = salt, dig
	return p, nil
}

// cutID splits "$id$rest" into id and rest.
func cutID(hash string) (id, rest string, ok bool) {
	after, ok := strings.CutPrefix(hash, "$")
	if !ok {
		return "", "", false
	}
	return strings.Cut(after, "$")
}

// parseRounds reads the decimal cost of a "rounds=" field. crypt(3) writes
// the clamped value back without leading zeros, so any other spelling or an
// out-of-range value cannot come from it.
func parseRounds(s string) (int, error) {
	if s == "" {
		return 0, errors.New("rounds= value is empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("rounds= value is not a decimal number")
		}
	}
	if s[0] == '0' {
		return 0, errors.New("rounds= value has a leading zero")
	}
	// More digits than MaxRounds has is out of range; checking the length
	// first also keeps Atoi away from overflow.
	if len(s) > len(strconv.Itoa(MaxRounds)) {
		return 0, fmt.Errorf("rounds= value is outside %d..%d", MinRounds, MaxRounds)
	}
	n, _ := strconv.Atoi(s)
	if n < MinRounds || n > MaxRounds {
		return 0, fmt.Errorf("rounds=%d is outside %d..%d", n, MinRounds, MaxRounds)
	}
	return n, nil
}

// schemeName names well-known crypt(3) schemes this package does not
// implement, so an error says what was found rather than just "unknown".
func schemeName(id string) string {
	switch {
	case id == "1":
		return "MD5-crypt ($1$)"
	case id == "2a" || id == "2b" || id == "2x" || id == "2y":
		return "bcrypt ($" + id + "$)"
	case id == "y" || id == "gy" || id == "7":
		return "yescrypt/scrypt ($" + id + "$)"
	case strings.HasPrefix(id, "argon2"):
		return "Argon2 ($" + id + "$)"
	case id == "sha1" || id == "md5" || id == "3" || id == "sm3":
		return "legacy scheme ($" + id + "$)"
	}
	if len(id) > 8 {
		return "unknown scheme id"
	}
	return fmt.Sprintf("unknown scheme id %q", id)
}
