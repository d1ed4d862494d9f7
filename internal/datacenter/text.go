package datacenter

import "strings"

const upperHex = "0123456789ABCDEF"

// encodeText escapes one line of the notes for a '#' line: control
// characters, DEL, bytes from 0x80 (so UTF-8 text is escaped byte by
// byte) and ':' become %XX with upper-case hex, as Proxmox VE writes them.
//
// Proxmox VE leaves '%' alone, so a literal "%41" in the notes comes back
// from it as "A". Here a '%' is escaped only when two hex digits follow
// it: that keeps every note intact through a round trip, and files
// written by Proxmox VE (whose '%' signs are rarely followed by hex
// digits, "100%" for example) still come back byte for byte.
func encodeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		escape := c < 0x20 || c >= 0x7f || c == ':' ||
			(c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]))
		if escape {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// decodeText undoes encodeText: every %XX (either case) becomes its byte,
// and a '%' without two hex digits after it stays, as URI unescaping does
// in Proxmox VE. Bytes are kept as they are, valid UTF-8 or not, so that
// writing the notes back reproduces them.
func decodeText(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
