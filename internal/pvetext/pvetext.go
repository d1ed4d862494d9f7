// Package pvetext encodes the free-text fields of Proxmox VE's
// configuration files (comments, names, notes), which are stored
// URI-escaped so that they fit on one line between ':' separators.
package pvetext

import "strings"

const upperHex = "0123456789ABCDEF"

// Encode escapes control characters, DEL, bytes ≥ 0x80 and ':' as %XX
// (upper-case hex), as Proxmox VE writes them. A '%' is escaped only where
// it would otherwise be read back as an escape (followed by two hex
// digits): Proxmox VE leaves '%' alone, so files it wrote with "100%" come
// back byte for byte, while a literal "%41" still survives a round trip.
// With edgeSpaces, leading and trailing spaces are escaped too, for files
// whose reader trims fields.
func Encode(s string, edgeSpaces bool) string {
	lead, trail := 0, 0
	if edgeSpaces {
		lead = len(s) - len(strings.TrimLeft(s, " "))
		trail = len(s) - len(strings.TrimRight(s, " "))
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		escape := c < 0x20 || c >= 0x7f || c == ':' ||
			(c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) ||
			(c == ' ' && (i < lead || i >= len(s)-trail))
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

// Decode undoes Encode: every %XX (either case) becomes its byte, and a '%'
// without two hex digits after it stays, as URI unescaping does in Proxmox
// VE. Bytes are kept as they are, valid UTF-8 or not, so that writing the
// value back reproduces the file.
func Decode(s string) string {
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
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
