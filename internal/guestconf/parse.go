package guestconf

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/hearth-virt/hearth/internal/pvetext"
)

// Parse reads a configuration file of the given kind (KindQemu or
// KindLXC). Files are edited by hand, so reading is lenient, like Proxmox
// VE's own reader: a line that cannot be read, a key given twice (the
// later value wins), a delete list outside the pending section, or a
// section header of an unknown kind or with an invalid snapshot name is
// reported as a warning and skipped, never fatal. Whatever follows a
// skipped header up to the next header is skipped with it, so that its
// keys cannot land in another section. Line endings may be CRLF. The
// error is only for an unknown kind.
func Parse(kind string, data []byte) (*File, []string, error) {
	f, err := New(kind)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{f: f, sec: f.Main, where: "the main section"}
	for i, line := range strings.Split(string(data), "\n") {
		p.line = i + 1
		p.parseLine(strings.TrimSuffix(line, "\r"))
	}
	p.endSection()
	return f, p.warnings, nil
}

// parser holds the state of one Parse: the section being filled and the
// description gathered for it so far.
type parser struct {
	f        *File
	line     int
	warnings []string

	sec       *Section // nil while skipping a section that was refused
	where     string   // the section, for warnings
	isPending bool
	descr     strings.Builder
	hasDescr  bool
	hasDelete bool
}

func (p *parser) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf("line %d: ", p.line)+fmt.Sprintf(format, args...))
}

func (p *parser) parseLine(line string) {
	if strings.Trim(line, space) == "" {
		return
	}
	if line[0] == '[' {
		p.endSection()
		p.startSection(line)
		return
	}
	if p.sec == nil {
		return
	}
	if line[0] == '#' {
		p.descr.WriteString(pvetext.Decode(line[1:]))
		p.descr.WriteByte('\n')
		p.hasDescr = true
		return
	}
	if strings.HasPrefix(line, "lxc.") {
		p.parseRaw(line)
		return
	}
	key, value, ok := strings.Cut(line, ":")
	if !ok || !keyPattern.MatchString(key) {
		p.warn("not a 'key: value' line in %s: %q", p.where, line)
		return
	}
	value = strings.Trim(value, space)
	switch {
	case value == "":
		p.warn("key %q has no value in %s; the line is skipped", key, p.where)
	case key == DescriptionKey:
		// An old way of storing the description; Proxmox VE appends it to
		// the '#' lines as it is, without a line break.
		p.descr.WriteString(pvetext.Decode(value))
		p.hasDescr = true
	case key == "digest":
		p.warn("a digest line in %s is ignored: the digest is computed from the file", p.where)
	case key == "delete":
		p.parseDelete(value)
	default:
		if p.sec.Has(key) {
			p.warn("key %q appears twice in %s; the later value wins", key, p.where)
		}
		if p.sec.values == nil {
			p.sec.values = map[string]string{}
		}
		p.sec.values[key] = value
	}
}

// startSection opens the section named by a header line, or arranges for
// its lines to be skipped when the header is refused.
func (p *parser) startSection(line string) {
	p.sec, p.isPending, p.hasDelete = nil, false, false
	inner, ok := strings.CutSuffix(strings.TrimRight(line, space), "]")
	if !ok {
		p.warn("malformed section header %q; its lines are skipped up to the next header", line)
		return
	}
	name := inner[1:]
	qemu := p.f.kind == KindQemu
	header := "[" + name + "]"
	switch {
	case qemu && strings.EqualFold(name, "PENDING") || !qemu && strings.EqualFold(name, "pve:pending"):
		if p.f.HasPending() {
			p.warn("section %s appears twice; the later one replaces the earlier", header)
			p.f.Pending, p.f.pendingDelete = &Section{}, nil
		}
		p.sec, p.isPending = p.f.Pending, true
	case qemu && strings.EqualFold(name, "special:cloudinit"):
		if !p.f.CloudInit.IsEmpty() {
			p.warn("section %s appears twice; the later one replaces the earlier", header)
			p.f.CloudInit = &Section{}
		}
		p.sec = p.f.CloudInit
	case strings.Contains(name, ":"):
		what := "virtual machine"
		if !qemu {
			what = "container"
		}
		p.warn("unknown section %s in a %s configuration; its lines are skipped", header, what)
		return
	default:
		if err := CheckSnapshotName(name); err != nil {
			p.warn("%v; the section's lines are skipped", err)
			return
		}
		if p.f.snapshots[name] != nil {
			p.warn("snapshot section %s appears twice; the later one replaces the earlier", header)
		}
		p.sec = &Section{}
		_ = p.f.SetSnapshot(name, p.sec) // the name was checked above
	}
	p.where = "section " + header
}

// endSection stores the description gathered for the current section.
// Proxmox VE trims trailing whitespace from a virtual machine's
// description and keeps a container's; trailing empty lines are lost for
// both since the writer does not produce them. An empty description is
// kept only as a pending change (a VM writes it as a lone '#'), elsewhere
// it is the same as none.
func (p *parser) endSection() {
	if p.sec != nil && p.hasDescr {
		d := p.descr.String()
		if p.f.kind == KindQemu {
			d = strings.TrimRightFunc(d, unicode.IsSpace)
		} else {
			d = strings.TrimRight(d, "\n")
		}
		if d != "" || p.isPending && p.f.kind == KindQemu {
			if p.sec.values == nil {
				p.sec.values = map[string]string{}
			}
			p.sec.values[DescriptionKey] = d
		}
	}
	p.descr.Reset()
	p.hasDescr = false
}

// parseRaw reads a raw LXC key, written "lxc.key: value" or, in LXC's own
// syntax, "lxc.key = value".
func (p *parser) parseRaw(line string) {
	if p.f.kind != KindLXC {
		p.warn("raw LXC key in a virtual machine configuration: %q", line)
		return
	}
	end := len("lxc.")
	for end < len(line) && isRawKeyByte(line[end]) {
		end++
	}
	key, rest := line[:end], line[end:]
	value, ok := strings.CutPrefix(rest, ":")
	if !ok {
		value, ok = strings.CutPrefix(strings.TrimLeft(rest, space), "=")
	}
	if !ok || key == "lxc." {
		p.warn("not a raw LXC 'lxc.key: value' line in %s: %q", p.where, line)
		return
	}
	p.sec.raw = append(p.sec.raw, RawKey{Key: key, Value: strings.Trim(value, space)})
}

func isRawKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// parseDelete reads the pending delete list: keys separated by commas,
// semicolons or spaces, each with an optional '!' for a forced delete.
func (p *parser) parseDelete(value string) {
	if !p.isPending {
		p.warn("a delete list is only allowed in the pending section, not in %s; the line is skipped", p.where)
		return
	}
	if p.hasDelete {
		p.warn("the delete list appears twice in %s; the later one wins", p.where)
		p.f.pendingDelete = nil
	}
	p.hasDelete = true
	for _, item := range strings.FieldsFunc(value, func(r rune) bool {
		return r == ',' || r == ';' || strings.ContainsRune(space, r)
	}) {
		key, force := strings.CutPrefix(item, "!")
		if err := CheckKey(key); err != nil {
			p.warn("the delete list of %s names %v; the entry is skipped", p.where, err)
			continue
		}
		if p.f.pendingDelete == nil {
			p.f.pendingDelete = map[string]bool{}
		}
		p.f.pendingDelete[key] = force
	}
}
