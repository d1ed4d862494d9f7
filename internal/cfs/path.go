package cfs

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path limits. They follow common Linux limits so that every path in the
// tree can also be shown through a FUSE mount.
const (
	MaxSegmentLen = 255
	MaxPathLen    = 1024
)

// ValidatePath reports whether p may name an entry of the tree: a relative,
// '/'-separated path of at least one segment, with no empty, "." or ".."
// segments, made of printable UTF-8, each segment at most MaxSegmentLen
// bytes and the whole at most MaxPathLen bytes. The error is a *PathError.
//
// The rules are strict rather than forgiving (no cleaning of "a//b") so that
// one entry has exactly one spelling on every node.
func ValidatePath(p string) error {
	bad := func(format string, args ...any) error {
		return &PathError{Path: p, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p == "":
		return bad("empty; a path needs at least one segment")
	case len(p) > MaxPathLen:
		return bad("%d bytes long; at most %d are allowed", len(p), MaxPathLen)
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case p[0] == '/':
		return bad("leading '/'; paths are relative to the root of the tree")
	case p[len(p)-1] == '/':
		return bad("trailing '/'; name the entry without it")
	}
	for _, r := range p {
		if r == 0 {
			return bad("contains NUL")
		}
		if !unicode.IsPrint(r) {
			return bad("contains the non-printable character %U; only printable characters are allowed", r)
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "":
			return bad("empty segment ('//'); segments must not be empty")
		case seg == "." || seg == "..":
			return bad("segment %q; '.' and '..' are not allowed", seg)
		case len(seg) > MaxSegmentLen:
			return bad("a segment is %d bytes long; at most %d are allowed", len(seg), MaxSegmentLen)
		}
	}
	return nil
}

// splitParent splits a valid path into its parent directory ("" for the
// root) and its last segment.
func splitParent(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// joinPath joins a directory path ("" for the root) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// underPrefix reports whether p is prefix itself or lies below it. Matching
// whole segments keeps a watch on "nodes/a" from seeing "nodes/ab".
func underPrefix(p, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}
