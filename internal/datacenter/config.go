package datacenter

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// Path is the file's path in the cluster file system.
const Path = "datacenter.cfg"

// descriptionKey is the option stored as comment lines rather than as an
// "option: value" line.
const descriptionKey = "description"

// options holds the schema of every option. It is built once and only
// read afterwards; api.DatacenterOptions builds fresh values on every call,
// which would be wasted work on each parse.
var options = api.DatacenterOptions()

// Config is the content of datacenter.cfg: the datacenter notes and the
// options that are set, each kept as the canonical text written to the
// file. The zero value is an empty configuration, like New's.
type Config struct {
	description string
	values      map[string]string
}

// New returns an empty configuration: every option at its default.
func New() *Config { return &Config{values: map[string]string{}} }

// Clone returns an independent copy.
func (c *Config) Clone() *Config {
	return &Config{description: c.description, values: maps.Clone(c.values)}
}

// Description returns the datacenter notes. Read from a file, every line
// ends in a newline, as Proxmox VE reports them.
func (c *Config) Description() string { return c.description }

// Get returns the canonical text of an option and whether it is set.
// The description is not an option here; see Description.
func (c *Config) Get(key string) (string, bool) {
	v, ok := c.values[key]
	return v, ok
}

// Keys lists the options that are set, sorted.
func (c *Config) Keys() []string { return slices.Sorted(maps.Keys(c.values)) }

// IsOption reports whether key names an option of datacenter.cfg
// (including description).
func IsOption(key string) bool {
	_, ok := options[key]
	return ok
}

// OptionNames lists every option name, sorted.
func OptionNames() []string { return options.Names() }

// Set validates value strictly against the option's schema and stores it
// in canonical form. Surrounding white space is removed, since the file
// cannot keep it. Setting a property-string option to an empty value
// removes it: it would hold no settings. The error says what is allowed;
// the caller names the option.
func (c *Config) Set(key, value string) error {
	if key == descriptionKey {
		if err := options[key].CheckString(value); err != nil {
			return err
		}
		c.description = value
		return nil
	}
	text, err := canonical(key, trimSpace(value))
	if err != nil {
		return err
	}
	if c.values == nil {
		c.values = map[string]string{}
	}
	if key == "migration_unsecure" {
		// The retired flag only ever fills in migration's type, as when
		// Proxmox VE reads or writes it; it is never stored itself.
		if _, set := c.values["migration"]; set {
			return errors.New("this flag is retired and migration is set; change the type of migration instead")
		}
		c.values["migration"] = unsecureType(text == "1")
		return nil
	}
	if text == "" && options[key].Prop != nil {
		delete(c.values, key)
		return nil
	}
	c.values[key] = text
	return nil
}

// Delete removes an option, so that it falls back to its default.
// Removing one that is not set is not an error; an unknown name is.
func (c *Config) Delete(key string) error {
	if !IsOption(key) {
		return unknownOption(key)
	}
	if key == descriptionKey {
		c.description = ""
		return nil
	}
	delete(c.values, key)
	return nil
}

func unknownOption(key string) error {
	return fmt.Errorf("unknown option %q; known options: %s", key, strings.Join(OptionNames(), ", "))
}

// errLineBreak is refused in option values: the file has one option per
// line, so a line break would cut the value and start a bogus line.
var errLineBreak = errors.New("line breaks are not allowed in this value")

// canonical checks one option value and returns the text to store:
// booleans as 1 or 0, property strings printed in Proxmox VE's key order
// with their values trimmed,
// tag lists sorted (Proxmox VE sorts them when it writes the file), and
// the retired console "applet" as "html5", which Proxmox VE maps it to.
// Everything else is kept as written.
func canonical(key, value string) (string, error) {
	s, ok := options[key]
	if !ok || key == descriptionKey {
		return "", unknownOption(key)
	}
	if strings.ContainsAny(value, "\r\n") {
		return "", errLineBreak
	}
	switch {
	case s.Prop != nil:
		m, err := s.Prop.Parse(value)
		if err != nil {
			return "", err
		}
		// Numbers and flags are read with white space around them, but
		// the file could not keep it: after the last key it would be
		// trimmed with the line.
		for k, v := range m {
			m[k] = trimSpace(v)
		}
		if err := checkProperties(key, m); err != nil {
			return "", err
		}
		if list, ok := m["user-allow-list"]; ok && key == "user-tag-access" {
			m["user-allow-list"] = sortList(list)
		}
		return s.Prop.Print(m), nil
	case key == "registered-tags":
		if err := s.CheckString(value); err != nil {
			return "", err
		}
		return sortList(value), nil
	}
	x, err := s.Parse(value)
	if err != nil {
		return "", err
	}
	if b, ok := x.(bool); ok {
		return boolText(b), nil
	}
	if key == "console" && value == "applet" {
		return "html5", nil
	}
	return value, nil
}

// sortList sorts a ';'-separated tag list by byte value, as Perl's sort
// does when Proxmox VE writes the list.
func sortList(list string) string {
	items := strings.Split(list, ";")
	slices.Sort(items)
	return strings.Join(items, ";")
}

// unsecureType is migration's type for a value of migration_unsecure.
func unsecureType(unsecure bool) string {
	if unsecure {
		return "insecure"
	}
	return "secure"
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// whitespace is what Perl's \s matches in ASCII, the characters Proxmox VE
// trims from lines and values.
const whitespace = " \t\n\v\f\r"

func trimSpace(s string) string { return strings.Trim(s, whitespace) }

// Parse reads datacenter.cfg. It never fails: lines it cannot use are
// dropped, each with a warning that gives the line number and the reason.
//
// The reading follows Proxmox VE: lines starting with '#' in the first
// column form the notes (URI-unescaped), wherever they are; other lines
// are trimmed, blank ones skipped, and the rest must be "option: value".
// A later line for the same option replaces an earlier one. Two retired
// spellings are converted: migration_unsecure becomes migration's type,
// and console "applet" becomes "html5".
func Parse(data []byte) (*Config, []string) {
	c := New()
	// Some warnings are only known after the last line (the retired
	// options); they are sorted by line at the end.
	type warning struct {
		line int
		text string
	}
	var warnings []warning
	warn := func(line int, format string, args ...any) {
		warnings = append(warnings, warning{line, fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)})
	}
	var notes strings.Builder
	var keyDescription string
	keyDescriptionLine := 0
	seen := map[string]int{}
	unsecure, unsecureLine := "", 0

	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		// A CRLF file would otherwise leave "\r" at the end of every note
		// line, and Proxmox VE would write it back as %0D.
		raw = strings.TrimSuffix(raw, "\r")
		if text, ok := strings.CutPrefix(raw, "#"); ok {
			notes.WriteString(decodeText(text))
			notes.WriteByte('\n')
			continue
		}
		line := trimSpace(raw)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			warn(n, "indented comment ignored: only comments starting in the first column belong to the notes")
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || strings.ContainsAny(line[:colon], whitespace) {
			warn(n, "ignore line: expected \"<option>: <value>\"")
			continue
		}
		key, value := line[:colon], trimSpace(line[colon+1:])
		switch key {
		case descriptionKey:
			if err := options[key].CheckString(value); err != nil {
				warn(n, "ignore description: %v", err)
				continue
			}
			keyDescription, keyDescriptionLine = value, n
			continue
		case "migration_unsecure":
			// Resolved after the loop, when it is known whether migration
			// is set; remembered here with its line for the warning.
			if _, err := canonical(key, value); err != nil {
				warn(n, "ignore %s: %v", key, err)
				continue
			}
			unsecure, unsecureLine = value, n
			continue
		}
		if !IsOption(key) {
			warn(n, "ignore unknown option %q", key)
			continue
		}
		text, err := canonical(key, value)
		if err != nil {
			warn(n, "ignore %s: %v", key, err)
			continue
		}
		if key == "console" && value == "applet" {
			warn(n, "console \"applet\" is retired; html5 is used instead")
		}
		if options[key].Prop != nil && text == "" {
			warn(n, "ignore %s: it holds no settings", key)
			continue
		}
		if prev, dup := seen[key]; dup {
			warn(n, "%s is set again; this line replaces line %d", key, prev)
		}
		seen[key] = n
		c.values[key] = text
	}

	c.description = notes.String()
	if keyDescriptionLine != 0 {
		if c.description == "" {
			c.description = keyDescription
			warn(keyDescriptionLine, "description given as an option line; it is kept and written back as comment lines")
		} else {
			warn(keyDescriptionLine, "description option ignored: the comment lines hold the notes")
		}
	}
	if unsecureLine != 0 {
		if _, set := c.values["migration"]; set {
			warn(unsecureLine, "deprecated migration_unsecure ignored: migration is set")
		} else {
			b, _ := schema.ParseBool(unsecure)
			t := unsecureType(b)
			c.values["migration"] = t
			warn(unsecureLine, "deprecated migration_unsecure converted to \"migration: %s\"", t)
		}
	}
	slices.SortStableFunc(warnings, func(a, b warning) int { return a.line - b.line })
	var texts []string
	for _, w := range warnings {
		texts = append(texts, w.text)
	}
	return c, texts
}

// Bytes writes the file as Proxmox VE does: each line of the notes as a
// '#' line (URI-escaped), then one blank line (always, even without
// notes), then "option: value" lines sorted by option name.
func (c *Config) Bytes() []byte {
	var b bytes.Buffer
	for _, line := range descriptionLines(c.description) {
		b.WriteByte('#')
		b.WriteString(encodeText(line))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	for _, k := range c.Keys() {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(c.values[k])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// descriptionLines splits the notes the way Perl's split(/\n/) does, which
// is what Proxmox VE uses: empty lines inside and at the start are kept,
// trailing ones are dropped.
func descriptionLines(s string) []string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
