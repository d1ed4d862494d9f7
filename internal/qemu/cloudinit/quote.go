package cloudinit

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// yamlValue renders s as a YAML scalar. Ordinary values (host names, user
// names, crypt hashes, SSH keys) stay plain, as Proxmox VE writes them;
// anything a YAML 1.1 reader (cloud-init uses PyYAML) could read as
// something other than this exact string is quoted.
func yamlValue(s string) string {
	if yamlPlainSafe(s) {
		return s
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return yamlDoubleQuoted(s)
		}
	}
	return yamlSingleQuoted(s)
}

func yamlSingleQuoted(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// yamlDoubleQuoted escapes what single quotes cannot hold: line breaks
// and other non-printable characters.
func yamlDoubleQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yamlSpecialWords resolve to booleans or null in YAML 1.1 or 1.2.
var yamlSpecialWords = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true, "~": true,
}

func yamlPlainSafe(s string) bool {
	if s == "" || !utf8.ValidString(s) || yamlSpecialWords[strings.ToLower(s)] {
		return false
	}
	// Indicators, and starts that could make a number, date or merge key.
	if strings.ContainsRune("-?:,[]{}#&*!|>'\"%@`<=+.0123456789 ", rune(s[0])) {
		return false
	}
	if strings.HasSuffix(s, " ") || strings.HasSuffix(s, ":") ||
		strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// shellValue renders s for a shell variable assignment in context.sh,
// which the guest sources with a shell: anything beyond a conservative
// set of characters is single-quoted so nothing in it is expanded.
func shellValue(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:/@%+=-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
