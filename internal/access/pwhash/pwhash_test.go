package pwhash

import (
	"errors"
	"strings"
	"testing"
)

// secret is the password used where a test checks that messages never
// contain it.
const secret = "s3cr3t-Passw0rd"

func TestVerifyReportsMalformedAndUnsupportedHashes(t *testing.T) {
	d43 := strings.Repeat("a", 43)
	d86 := strings.Repeat("a", 86)
	tests := []struct {
		name, hash string
		kind       error
		mention    string // part of the message that names the problem
	}{
		{"empty", "", ErrMalformed, "empty"},
		{"DES crypt", "abJnggxhB/yWI", ErrUnsupported, "no $id$ prefix"},
		{"plain text", secret, ErrUnsupported, "no $id$ prefix"},
		{"MD5-crypt", "$1$salt$qJH7.N4xYta3aEG/dfqo/0", ErrUnsupported, "MD5-crypt"},
		{"bcrypt", "$2y$10$abcdefghijklmnopqrstuu5Xz0oDJbWZ3eEMLJGcCm3d.qhwRkqEe", ErrUnsupported, "bcrypt"},
		{"yescrypt", "$y$j9T$salt$hash", ErrUnsupported, "yescrypt"},
		{"argon2", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", ErrUnsupported, "Argon2"},
		{"unknown id", "$9$salt$" + d43, ErrUnsupported, `"9"`},
		{"only id", "$5$", ErrMalformed, "no '$' between salt and digest"},
		{"no digest separator", "$5$saltonly", ErrMalformed, "no '$' between salt and digest"},
		{"rounds without dollar", "$5$rounds=5000", ErrMalformed, "not followed by '$'"},
		{"rounds empty", "$5$rounds=$salt$" + d43, ErrMalformed, "empty"},
		{"rounds not a number", "$5$rounds=5e3$salt$" + d43, ErrMalformed, "not a decimal"},
		{"rounds negative", "$5$rounds=-5000$salt$" + d43, ErrMalformed, "not a decimal"},
		{"rounds leading zero", "$5$rounds=05000$salt$" + d43, ErrMalformed, "leading zero"},
		{"rounds below minimum", "$5$rounds=999$salt$" + d43, ErrMalformed, "outside 1000..999999999"},
		{"rounds above maximum", "$5$rounds=1000000000$salt$" + d43, ErrMalformed, "outside 1000..999999999"},
		{"rounds overflow", "$6$rounds=99999999999999999999999$salt$" + d86, ErrMalformed, "outside"},
		{"salt too long", "$5$saltsaltsaltsalts$" + d43, ErrMalformed, "salt has 17 characters"},
		{"sha256 digest short", "$5$salt$" + d43[1:], ErrMalformed, "has 42 characters, want 43"},
		{"sha256 digest long", "$5$salt$" + d43 + "a", ErrMalformed, "has 44 characters, want 43"},
		{"sha512 digest with sha256 length", "$6$salt$" + d43, ErrMalformed, "want 86"},
		{"digest outside alphabet", "$5$salt$" + d43[1:] + "+", ErrMalformed, "character 43"},
		{"trailing colon", "$5$salt$" + d43 + ":", ErrMalformed, "44 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(tt.hash, secret)
			if ok || err == nil {
				t.Fatalf("Verify = %v, %v; want false and an error", ok, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q does not wrap %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the password", err)
			}
			if vErr := Validate(tt.hash); vErr == nil || vErr.Error() != err.Error() {
				t.Errorf("Validate = %v; want the same error as Verify", vErr)
			}
		})
	}
}

func TestVerifyAcceptsEdgeCasesCryptProduces(t *testing.T) {
	tests := []struct{ name, password, salt string }{
		{"empty salt", "pw", ""},
		{"empty password", "", "salt"},
		// Proxmox VE draws salts from standard base64, so '+' and '/' occur.
		{"salt with plus and slash", "pw", "ab+c/d"},
		{"password of 64 multi-byte characters", strings.Repeat("ü", 64), "salt"},
		{"password with newline and colon", "a:b\nc", "salt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []Variant{SHA256, SHA512} {
				h, err := HashWith(tt.password, tt.salt, 0, v)
				if err != nil {
					t.Fatalf("HashWith(%v): %v", v, err)
				}
				if ok, err := Verify(h, tt.password); !ok || err != nil {
					t.Errorf("Verify(%s) = %v, %v; want true, nil", h, ok, err)
				}
			}
		})
	}
}

func TestVerifyRefusesOverlongPasswordWithoutQuotingIt(t *testing.T) {
	h, err := HashWith("pw", "salt", 0, SHA256)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", MaxPasswordLen+1)
	ok, err := Verify(h, long)
	if ok || err == nil {
		t.Fatalf("Verify = %v, %v; want false and an error", ok, err)
	}
	if strings.Contains(err.Error(), long[:16]) {
		t.Errorf("error %q quotes the password", err)
	}
	if ok, err := Verify(h, long[:MaxPasswordLen]); ok || err != nil {
		t.Errorf("Verify at the limit = %v, %v; want false, nil", ok, err)
	}
}

func TestHashMakesSHA512WithDefaultRoundsAndRandomSalt(t *testing.T) {
	h1, err := Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Errorf("two hashes of one password are equal: salt is not random")
	}
	for _, h := range []string{h1, h2} {
		p, err := parse(h)
		if err != nil {
			t.Fatalf("parse(%s): %v", h, err)
		}
		if p.variant != SHA512 || p.rounds != DefaultRounds || !p.explicit {
			t.Errorf("%s: variant %v rounds %d explicit %v; want SHA-512, %d, explicit", h, p.variant, p.rounds, p.explicit, DefaultRounds)
		}
		if len(p.salt) != SaltLen || strings.Trim(p.salt, cryptAlphabet) != "" {
			t.Errorf("%s: salt %q is not %d crypt-alphabet characters", h, p.salt, SaltLen)
		}
		if !strings.HasPrefix(h, "$6$rounds=100000$") {
			t.Errorf("%s: want prefix $6$rounds=100000$", h)
		}
		if ok, err := Verify(h, secret); !ok || err != nil {
			t.Errorf("Verify(own hash) = %v, %v", ok, err)
		}
		if ok, err := Verify(h, secret[1:]); ok || err != nil {
			t.Errorf("Verify(wrong password) = %v, %v", ok, err)
		}
	}
}

func TestHashWithRoundsSemantics(t *testing.T) {
	tests := []struct {
		name   string
		rounds int
		prefix string
	}{
		{"zero means implicit 5000", 0, "$5$salt$"},
		{"explicit 5000 is written", 5000, "$5$rounds=5000$salt$"},
		{"below minimum is clamped", 1, "$5$rounds=1000$salt$"},
		{"minimum", 1000, "$5$rounds=1000$salt$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashWith("pw", "salt", tt.rounds, SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, tt.prefix) {
				t.Errorf("HashWith = %s; want prefix %s", h, tt.prefix)
			}
		})
	}
	// Implicit and explicit 5000 rounds hash alike; only the text differs.
	implicit, _ := HashWith("pw", "salt", 0, SHA512)
	explicit, _ := HashWith("pw", "salt", 5000, SHA512)
	if implicit[strings.LastIndexByte(implicit, '$'):] != explicit[strings.LastIndexByte(explicit, '$'):] {
		t.Errorf("implicit %s and explicit %s digests differ", implicit, explicit)
	}
}

func TestClampRoundsBoundsBothEnds(t *testing.T) {
	// The upper clamp cannot be observed through HashWith in a test: a
	// billion rounds take minutes.
	tests := []struct{ in, want int }{
		{1, MinRounds}, {999, MinRounds}, {1000, 1000}, {77777, 77777},
		{MaxRounds, MaxRounds}, {MaxRounds + 1, MaxRounds}, {1 << 40, MaxRounds},
	}
	for _, tt := range tests {
		if got := clampRounds(tt.in); got != tt.want {
			t.Errorf("clampRounds(%d) = %d; want %d", tt.in, got, tt.want)
		}
	}
}

func TestHashWithRefusesBadInput(t *testing.T) {
	tests := []struct {
		name, password, salt string
		rounds               int
		variant              Variant
		mention              string
	}{
		{"unknown variant", secret, "salt", 0, Variant(1), "Variant(1) is not supported"},
		{"zero variant", secret, "salt", 0, 0, "not supported"},
		{"NUL in password", "ab\x00cd", "salt", 0, SHA512, "NUL"},
		{"password too long", strings.Repeat("p", MaxPasswordLen+1), "salt", 0, SHA512, "longer than 256 bytes"},
		{"negative rounds", secret, "salt", -1, SHA512, "negative rounds"},
		{"dollar in salt", secret, "sa$lt", 0, SHA512, "salt byte 2"},
		{"colon in salt", secret, "sa:lt", 0, SHA512, "salt byte 2"},
		{"space in salt", secret, "sa lt", 0, SHA512, "salt byte 2"},
		{"newline in salt", secret, "salt\n", 0, SHA512, "salt byte 4"},
		{"non-ASCII salt", secret, "sälz", 0, SHA512, "salt byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashWith(tt.password, tt.salt, tt.rounds, tt.variant)
			if err == nil {
				t.Fatalf("HashWith = %s; want an error", h)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestVariantString(t *testing.T) {
	for v, want := range map[Variant]string{SHA256: "SHA-256-crypt", SHA512: "SHA-512-crypt", 7: "Variant(7)"} {
		if got := v.String(); got != want {
			t.Errorf("Variant(%d).String() = %q; want %q", uint8(v), got, want)
		}
	}
}
