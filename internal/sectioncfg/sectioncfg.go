// Package sectioncfg reads and writes the "section config" files of
// Proxmox VE (storage.cfg, domains.cfg, the HA files, and Hearth's
// cluster.conf): sections that start with a "<type>: <id>" line, followed
// by indented "<key> <value>" lines, separated by blank lines. It knows
// nothing about the keys; callers validate them against their schemas.
package sectioncfg

import (
	"fmt"
	"regexp"
	"strings"
)

// Section is one "<type>: <id>" block with its properties in file order.
type Section struct {
	Type  string
	ID    string
	Props []Prop
	Line  int // where the section starts, for messages
}

// Prop is one property line. A key without a value (a bare boolean flag,
// meaning 1) has Value "" and Bare true.
type Prop struct {
	Key   string
	Value string
	Bare  bool
}

// Get returns the value of key.
func (s *Section) Get(key string) (string, bool) {
	for _, p := range s.Props {
		if p.Key == key {
			if p.Bare {
				return "1", true
			}
			return p.Value, true
		}
	}
	return "", false
}

// Set replaces or appends key.
func (s *Section) Set(key, value string) {
	for i := range s.Props {
		if s.Props[i].Key == key {
			s.Props[i] = Prop{Key: key, Value: value}
			return
		}
	}
	s.Props = append(s.Props, Prop{Key: key, Value: value})
}

// Delete removes key.
func (s *Section) Delete(key string) {
	out := s.Props[:0]
	for _, p := range s.Props {
		if p.Key != key {
			out = append(out, p)
		}
	}
	s.Props = out
}

var (
	headerRE = regexp.MustCompile(`^(\S+):\s*(\S+)\s*$`)
	propRE   = regexp.MustCompile(`^\s+(\S+)(?:\s+(.*?))?\s*$`)
)

// Parse reads a file. Lines it cannot place are reported as warnings
// (with their line number) and skipped; it never fails, so that one bad
// line does not take a whole configuration away.
func Parse(data []byte) ([]Section, []string) {
	var (
		out      []Section
		warnings []string
		cur      *Section
	)
	for i, line := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			cur = nil
		case strings.HasPrefix(trimmed, "#"):
		case line[0] != ' ' && line[0] != '\t':
			m := headerRE.FindStringSubmatch(line)
			if m == nil {
				warnings = append(warnings, fmt.Sprintf("line %d: expected '<type>: <id>', got %q", n, line))
				cur = nil
				continue
			}
			out = append(out, Section{Type: m[1], ID: m[2], Line: n})
			cur = &out[len(out)-1]
		default:
			if cur == nil {
				warnings = append(warnings, fmt.Sprintf("line %d: property outside of a section: %q", n, trimmed))
				continue
			}
			m := propRE.FindStringSubmatch(line)
			if m == nil {
				warnings = append(warnings, fmt.Sprintf("line %d: cannot read property %q", n, trimmed))
				continue
			}
			if _, dup := cur.Get(m[1]); dup {
				warnings = append(warnings, fmt.Sprintf("line %d: %s %s: property %q given twice; the first one counts", n, cur.Type, cur.ID, m[1]))
				continue
			}
			cur.Props = append(cur.Props, Prop{Key: m[1], Value: m[2], Bare: m[2] == ""})
		}
	}
	return out, warnings
}

// Print writes sections back: each header, its properties indented by a
// tab, and a blank line after each section, as Proxmox VE writes them.
func Print(sections []Section) []byte {
	var b strings.Builder
	for _, s := range sections {
		fmt.Fprintf(&b, "%s: %s\n", s.Type, s.ID)
		for _, p := range s.Props {
			if p.Bare {
				fmt.Fprintf(&b, "\t%s\n", p.Key)
			} else {
				fmt.Fprintf(&b, "\t%s %s\n", p.Key, p.Value)
			}
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
