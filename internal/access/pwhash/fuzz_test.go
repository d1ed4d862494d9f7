package pwhash

import (
	"strings"
	"testing"
)

// fuzzMaxRounds keeps each fuzz input fast; a hash string may ask for up to
// a billion rounds, which is valid but would stall the fuzzer.
const fuzzMaxRounds = 2000

// FuzzVerify feeds arbitrary hash strings and passwords to Verify. It must
// never panic, must accept exactly what parse accepts, and parse must only
// accept strings it can print back unchanged (the canonical crypt(3) form).
func FuzzVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, perr := parse(hash)
		if perr == nil {
			if got := p.String(); got != hash {
				t.Fatalf("parse accepted a non-canonical hash: %q prints as %q", hash, got)
			}
			if p.rounds > fuzzMaxRounds {
				return
			}
		}
		ok, err := Verify(hash, password)
		switch {
		case perr != nil && (err == nil || ok):
			t.Fatalf("Verify(%q) = %v, %v; parse said %v", hash, ok, err, perr)
		case perr == nil && len(password) <= MaxPasswordLen && err != nil:
			t.Fatalf("Verify(%q) failed on a hash parse accepted: %v", hash, err)
		}
		// An error that does not change when the password's content does
		// cannot be quoting it.
		if err != nil {
			other := strings.Repeat("x", len(password))
			if other == password {
				other = strings.Repeat("y", len(password))
			}
			if _, err2 := Verify(hash, other); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Verify error depends on the password content: %v vs %v", err, err2)
			}
		}
	})
}
