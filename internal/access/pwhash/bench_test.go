package pwhash

import "testing"

// BenchmarkHash measures the cost of one new hash at DefaultRounds, which
// is also the cost of checking a password against such a hash.
func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPVEDefault measures a check against the kind of hash a
// Proxmox VE node writes (SHA-256-crypt, implicit 5000 rounds), for
// comparison with BenchmarkHash.
func BenchmarkVerifyPVEDefault(b *testing.B) {
	const h = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
	for b.Loop() {
		if ok, err := Verify(h, "Hello world!"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
