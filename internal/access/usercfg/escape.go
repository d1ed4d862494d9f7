package usercfg

import "strings"

const upperHex = "0123456789ABCDEF"

// EncodeText escapes a free-text field (first and last name, comments) for
// user.cfg: control characters, DEL, bytes ≥ 0x80, ':' and '%' become %XX
// (upper-case hex, as Proxmox VE writes them). Leading and trailing spaces
// are escaped too, because the reader trims fields and would lose them.
//
// Proxmox VE itself leaves '%' alone, so a literal "%41" in a comment
// comes back from it as "A"; escaping '%' makes every value survive a round
// trip, and Proxmox VE still decodes "%25" to "%".
func EncodeText(s string) string {
	lead := len(s) - len(strings.TrimLeft(s, " "))
	trail := len(s) - len(strings.TrimRight(s, " "))
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		edgeSpace := c == ' ' && (i < lead || i >= len(s)-trail)
		if c < 0x20 || c >= 0x7f || c == ':' || c == '%' || edgeSpace {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// DecodeText undoes EncodeText: every %XX (either case) becomes its byte;
// a '%' not followed by two hex digits stays as it is, like URI unescaping
// in Proxmox VE. Bytes are kept as they are, valid UTF-8 or not, so that
// writing the value back reproduces the file.
func DecodeText(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
