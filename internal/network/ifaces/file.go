package ifaces

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// File is a parsed interfaces file. It keeps the raw lines of the input,
// grouped into blocks, so that Bytes returns the input unchanged until an
// edit replaces the blocks of one interface.
type File struct {
	blocks []*block
	// noFinalNewline records that the input did not end with a newline,
	// so that Bytes can reproduce it.
	noFinalNewline bool
}

type blockKind uint8

const (
	blockBlank   blockKind = iota
	blockComment           // a comment line outside a stanza
	blockAuto              // auto, allow-auto, allow-hotplug, allow-<anything>
	blockSource            // source, source-directory
	blockMapping           // a mapping stanza, kept verbatim
	blockIface             // an iface stanza: header, options, inner comments
	blockOther             // other top-level lines: rename, no-scripts, stray options
)

// block is one top-level element of the file. Its lines are the raw text
// without line terminators; a line continued with a trailing backslash
// keeps the embedded "\n" so that it is written back as it was read.
type block struct {
	kind  blockKind
	lines []string
	words []string // the fields of the first line, continuation joined
}

// Stanza header words, parsed from an iface block.
func (b *block) ifaceName() string {
	if len(b.words) > 1 {
		return b.words[1]
	}
	return ""
}

func (b *block) family() string {
	if len(b.words) > 2 {
		return b.words[2]
	}
	return "inet" // ifupdown2 accepts a bare "iface NAME"
}

func (b *block) method() string {
	if len(b.words) > 3 {
		return b.words[3]
	}
	return ""
}

// continuation matches a backslash line break with the blanks around it.
var continuation = regexp.MustCompile(`[ \t]*\\\n[ \t]*`)

// logical joins the physical lines of a continued line into the text
// ifupdown sees.
func logical(raw string) string {
	return continuation.ReplaceAllString(raw, " ")
}

// Parse reads an interfaces file. It accepts anything ifupdown2 would
// read, and keeps what it does not understand, so that Bytes reproduces
// data exactly. It fails only on input that is not an interfaces file at
// all: NUL bytes, or an iface line without an interface name.
func Parse(data []byte) (*File, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := bytes.Count(data[:i], []byte("\n")) + 1
		return nil, fmt.Errorf("line %d: NUL byte; the interfaces file must be text", line)
	}
	f := &File{}
	if len(data) == 0 {
		return f, nil
	}
	text := string(data)
	if strings.HasSuffix(text, "\n") {
		text = text[:len(text)-1]
	} else {
		f.noFinalNewline = true
	}
	raw := joinContinued(strings.Split(text, "\n"))

	// lineNo maps a logical line to its first physical line, for messages.
	lineNo := make([]int, len(raw))
	n := 1
	for i, l := range raw {
		lineNo[i] = n
		n += strings.Count(l, "\n") + 1
	}

	for i := 0; i < len(raw); {
		kind, words := classify(raw[i])
		switch kind {
		case blockIface, blockMapping:
			if kind == blockIface && len(words) < 2 {
				return nil, fmt.Errorf("line %d: iface needs an interface name, for example \"iface eth0 inet manual\"", lineNo[i])
			}
			end := stanzaEnd(raw, i)
			f.blocks = append(f.blocks, &block{kind: kind, lines: slices.Clone(raw[i:end]), words: words})
			i = end
		case lineOption:
			// an option outside any stanza; ifupdown would refuse it, but
			// keeping it lets the rest of the file be edited
			f.blocks = append(f.blocks, &block{kind: blockOther, lines: []string{raw[i]}, words: words})
			i++
		default:
			f.blocks = append(f.blocks, &block{kind: kind, lines: []string{raw[i]}, words: words})
			i++
		}
	}
	return f, nil
}

// joinContinued merges physical lines that end in a backslash with the
// next one. Comment lines are never continued.
func joinContinued(phys []string) []string {
	out := make([]string, 0, len(phys))
	for i := 0; i < len(phys); i++ {
		l := phys[i]
		if !isComment(l) {
			for strings.HasSuffix(l, "\\") && i+1 < len(phys) {
				i++
				l += "\n" + phys[i]
			}
		}
		out = append(out, l)
	}
	return out
}

func isComment(l string) bool {
	return strings.HasPrefix(strings.TrimLeft(l, " \t"), "#")
}

// lineOption marks a line that is neither a keyword, a comment nor blank:
// an option inside a stanza.
const lineOption blockKind = 255

func classify(raw string) (blockKind, []string) {
	if isComment(raw) {
		return blockComment, nil
	}
	words := strings.Fields(logical(raw))
	if len(words) == 0 {
		return blockBlank, nil
	}
	switch w := words[0]; {
	case w == "iface":
		return blockIface, words
	case w == "mapping":
		return blockMapping, words
	case w == "auto" || strings.HasPrefix(w, "allow-"):
		return blockAuto, words
	case w == "source" || w == "source-directory":
		return blockSource, words
	case w == "rename" || w == "no-auto-down" || w == "no-scripts":
		return blockOther, words
	}
	return lineOption, words
}

// stanzaEnd returns the index after the last line of the stanza starting
// at start. A stanza runs until the next keyword line, but blank lines
// and comments after its last option belong to the file, not the stanza,
// except comments that directly follow an option (Proxmox VE reads those
// as the stanza's comments and writes them there).
func stanzaEnd(raw []string, start int) int {
	next := len(raw)
	for j := start + 1; j < len(raw); j++ {
		if k, _ := classify(raw[j]); k != lineOption && k != blockBlank && k != blockComment {
			next = j
			break
		}
	}
	last := start
	for j := start + 1; j < next; j++ {
		if k, _ := classify(raw[j]); k == lineOption {
			last = j
		}
	}
	end := last + 1
	for end < next && isComment(raw[end]) {
		end++
	}
	return end
}

// Bytes returns the file's contents: the input unchanged where nothing
// was edited.
func (f *File) Bytes() []byte {
	var buf bytes.Buffer
	first := true
	for _, b := range f.blocks {
		for _, l := range b.lines {
			if !first {
				buf.WriteByte('\n')
			}
			buf.WriteString(l)
			first = false
		}
	}
	if !first && !f.noFinalNewline {
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// Clone returns a deep copy, so that an edit can be tried and thrown
// away.
func (f *File) Clone() *File {
	c := &File{noFinalNewline: f.noFinalNewline, blocks: make([]*block, len(f.blocks))}
	for i, b := range f.blocks {
		c.blocks[i] = &block{kind: b.kind, lines: slices.Clone(b.lines), words: slices.Clone(b.words)}
	}
	return c
}

// stanzas returns the indexes of the iface blocks of name, in file order.
func (f *File) stanzas(name string) []int {
	var out []int
	for i, b := range f.blocks {
		if b.kind == blockIface && b.ifaceName() == name {
			out = append(out, i)
		}
	}
	return out
}

// insertBlocks puts bs before index at.
func (f *File) insertBlocks(at int, bs ...*block) {
	f.blocks = slices.Insert(f.blocks, at, bs...)
}

// removeBlock deletes block i together with one blank line next to it, so
// that deleting a stanza leaves one blank line between its neighbours.
// Comments right above the stanza stay, and so does the blank line that
// separates them from what follows.
func (f *File) removeBlock(i int) {
	switch {
	case i > 0 && f.blocks[i-1].kind == blockBlank:
		f.blocks = slices.Delete(f.blocks, i-1, i+1)
	case i > 0 && f.blocks[i-1].kind == blockComment:
		f.blocks = slices.Delete(f.blocks, i, i+1)
	case i+1 < len(f.blocks) && f.blocks[i+1].kind == blockBlank:
		f.blocks = slices.Delete(f.blocks, i, i+2)
	default:
		f.blocks = slices.Delete(f.blocks, i, i+1)
	}
}

func blankBlock() *block { return &block{kind: blockBlank, lines: []string{""}} }

func autoBlock(name string) *block {
	return &block{kind: blockAuto, lines: []string{"auto " + name}, words: []string{"auto", name}}
}

func ifaceBlock(lines []string) *block {
	return &block{kind: blockIface, lines: lines, words: strings.Fields(lines[0])}
}

// autostartKeyword tells whether an auto-type line brings its interfaces
// up at boot, as Proxmox VE reads it; allow-<bridge> lines of ifupdown1
// Open vSwitch setups only group ports and do not count.
func autostartKeyword(w string) bool {
	return w == "auto" || w == "allow-auto" || w == "allow-hotplug" || w == "allow-ovs"
}

// setAutostart adds or removes name from the lines that start it at boot.
// An added interface gets its own "auto" line right before its first
// stanza; a removed one is taken off every auto or allow- line, and lines
// left empty disappear.
func (f *File) setAutostart(name string, on bool) {
	if on {
		for _, b := range f.blocks {
			if b.kind == blockAuto && autostartKeyword(b.words[0]) && slices.Contains(b.words[1:], name) {
				return
			}
		}
		if st := f.stanzas(name); len(st) > 0 {
			f.insertBlocks(st[0], autoBlock(name))
		}
		return
	}
	f.dropFromAutoLines(name, autostartKeyword)
}

// dropFromAutoLines removes name from auto-type lines whose keyword
// matches, rewriting only the lines that change.
func (f *File) dropFromAutoLines(name string, match func(string) bool) {
	for i := 0; i < len(f.blocks); i++ {
		b := f.blocks[i]
		if b.kind != blockAuto || !match(b.words[0]) || !slices.Contains(b.words[1:], name) {
			continue
		}
		rest := slices.DeleteFunc(slices.Clone(b.words[1:]), func(w string) bool { return w == name })
		if len(rest) == 0 {
			f.blocks = slices.Delete(f.blocks, i, i+1)
			i--
			continue
		}
		b.words = append([]string{b.words[0]}, rest...)
		b.lines = []string{strings.Join(b.words, " ")}
	}
}
