package cmdline

import (
	"fmt"
	"strings"
)

// Quote renders argv as one shell command line, as qm showcmd prints it.
func Quote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// Pretty renders argv as qm showcmd --pretty does: the program on the
// first line, then each option with its values on a line of its own,
// indented, every line but the last ending in " \" so that the text
// still pastes into a shell.
func Pretty(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	lines := []string{shellQuote(argv[0])}
	for _, a := range argv[1:] {
		if strings.HasPrefix(a, "-") || len(lines) == 1 {
			lines = append(lines, "  "+shellQuote(a))
			continue
		}
		lines[len(lines)-1] += " " + shellQuote(a)
	}
	return strings.Join(lines, " \\\n")
}

// shellQuote leaves words of harmless characters bare and puts anything
// else in single quotes. '=' counts as needing quotes, as in Proxmox VE's
// output, which keeps key=value lists visibly in one piece.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("_-./:,+%@^", r):
		default:
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// splitArgs splits the args option into words the way a POSIX shell
// would, without expansions: blanks separate words, single quotes keep
// everything, double quotes keep everything but backslash escapes of
// \ " $ and `, and a backslash outside quotes takes the next character
// literally.
func splitArgs(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at position %d", i+1)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\\\"$`", s[j+1]) >= 0 {
					j++
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated double quote at position %d", i+1)
			}
			i = j
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("backslash at the end with nothing to escape")
			}
			i++
			if s[i] != '\n' { // backslash-newline joins lines
				cur.WriteByte(s[i])
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
