package ifaces

// Include is one `source` or `source-directory` line: another file (a
// glob pattern) or a directory whose files ifupdown2 reads as if they
// were part of this one.
type Include struct {
	Directory bool   // source-directory rather than source
	Pattern   string // as written; relative paths are relative to the including file
}

// Includes lists the file's source and source-directory lines in order.
// The package does no I/O, so following them is the caller's job: the
// interfaces they define are part of the running configuration (apply
// needs them) but not of this file's edits.
func (f *File) Includes() []Include {
	var out []Include
	for _, b := range f.blocks {
		if b.kind != blockSource {
			continue
		}
		for _, p := range b.words[1:] {
			out = append(out, Include{Directory: b.words[0] == "source-directory", Pattern: p})
		}
	}
	return out
}
