package pwhash

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// cryptAlphabet is the 64-character alphabet of crypt(3); it is not the
// RFC 4648 base64 alphabet and its bits are emitted least significant first.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// The specification scatters digest bytes into 24-bit groups in a fixed
// order. Each three bytes of these strings are the digest byte indexes of one
// group, most significant first; the final, shorter group is handled by the
// encoder itself. Strings rather than arrays keep the tables immutable.
const (
	sha256Order = "\x00\x0a\x14" + "\x15\x01\x0b" + "\x0c\x16\x02" + "\x03\x0d\x17" + "\x18\x04\x0e" +
		"\x0f\x19\x05" + "\x06\x10\x1a" + "\x1b\x07\x11" + "\x12\x1c\x08" + "\x09\x13\x1d"
	sha512Order = "\x00\x15\x2a" + "\x16\x2b\x01" + "\x2c\x02\x17" + "\x03\x18\x2d" + "\x19\x2e\x04" +
		"\x2f\x05\x1a" + "\x06\x1b\x30" + "\x1c\x31\x07" + "\x32\x08\x1d" + "\x09\x1e\x33" +
		"\x1f\x34\x0a" + "\x35\x0b\x20" + "\x0c\x21\x36" + "\x22\x37\x0d" + "\x38\x0e\x23" +
		"\x0f\x24\x39" + "\x25\x3a\x10" + "\x3b\x11\x26" + "\x12\x27\x3c" + "\x28\x3d\x13" +
		"\x3e\x14\x29"
)

// digest runs the SHA-crypt key stretching for one variant and returns the
// encoded digest (the part after the last '$'). salt must already be
// truncated to maxSaltLen and rounds already clamped.
func digest(v Variant, password, salt []byte, rounds int) string {
	newHash, size := v.hashFunc()
	h := newHash()

	// Digest B: password, salt, password.
	h.Write(password)
	h.Write(salt)
	h.Write(password)
	b := h.Sum(make([]byte, 0, size))

	// Digest A: password, salt, then B stretched over the password length,
	// then B or the password chosen by the bits of the password length.
	h.Reset()
	h.Write(password)
	h.Write(salt)
	n := len(password)
	for ; n > size; n -= size {
		h.Write(b)
	}
	h.Write(b[:n])
	for n := len(password); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(password)
		}
	}
	c := h.Sum(make([]byte, 0, size))

	// P: digest of the password repeated once per password byte, stretched
	// to the password length.
	h.Reset()
	for range len(password) {
		h.Write(password)
	}
	p := repeatTo(h.Sum(make([]byte, 0, size)), len(password))

	// S: digest of the salt repeated 16 + A[0] times, stretched to the
	// salt length. A[0] makes the repetition count depend on the password.
	h.Reset()
	for range 16 + int(c[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(make([]byte, 0, size)), len(salt))

	// The rounds loop is where the cost lies; reusing one hash state and
	// one output buffer keeps it free of allocations.
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return encodeDigest(v, c)
}

// repeatTo returns length bytes made of d repeated as often as needed.
func repeatTo(d []byte, length int) []byte {
	out := make([]byte, 0, length)
	for len(out) < length {
		out = append(out, d[:min(len(d), length-len(out))]...)
	}
	return out
}

// encodeDigest writes the final digest in crypt(3) order and alphabet.
func encodeDigest(v Variant, d []byte) string {
	out := make([]byte, 0, v.digestLen())
	put := func(w uint32, chars int) {
		for range chars {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	groups := func(order string) {
		for i := 0; i+2 < len(order); i += 3 {
			put(uint32(d[order[i]])<<16|uint32(d[order[i+1]])<<8|uint32(d[order[i+2]]), 4)
		}
	}
	switch v {
	case SHA256:
		groups(sha256Order)
		put(uint32(d[31])<<8|uint32(d[30]), 3)
	case SHA512:
		groups(sha512Order)
		put(uint32(d[63]), 2)
	}
	return string(out)
}

// hashFunc returns the hash constructor and its digest size in bytes.
func (v Variant) hashFunc() (func() hash.Hash, int) {
	if v == SHA256 {
		return sha256.New, sha256.Size
	}
	return sha512.New, sha512.Size
}

// digestLen is the length of the encoded digest: 32 bytes need 43
// characters, 64 bytes need 86.
func (v Variant) digestLen() int {
	if v == SHA256 {
		return 43
	}
	return 86
}
