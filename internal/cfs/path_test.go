package cfs

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	// A path of exactly MaxPathLen bytes with maximal segments.
	maxPath := strings.Repeat(long(MaxSegmentLen)+"/", 3) + long(200) + "/"
	maxPath += long(MaxPathLen - len(maxPath))

	valid := []string{
		"a",
		"storage.cfg",
		"nodes/pve1/qemu-server/100.conf",
		"priv/lock/file-replication_cfg",
		".hidden",
		"...",
		"a b",
		"ümlaut/ñ/日本",
		long(MaxSegmentLen),
		maxPath,
	}
	for _, p := range valid {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}

	invalid := []struct{ path, reason string }{
		{"", "empty"},
		{"/a", "leading '/'"},
		{"/", "leading '/'"},
		{"a/", "trailing '/'"},
		{"a//b", "empty segment"},
		{".", "'.' and '..'"},
		{"..", "'.' and '..'"},
		{"a/./b", "'.' and '..'"},
		{"a/..", "'.' and '..'"},
		{"a\x00b", "NUL"},
		{"a\nb", "non-printable"},
		{"tab\there", "non-printable"},
		{"del\x7f", "non-printable"},
		{"zero\u200bwidth", "non-printable"},
		{"bad\xffutf8", "UTF-8"},
		{long(MaxSegmentLen + 1), "segment is 256 bytes"},
		{"a/" + long(MaxSegmentLen+1), "segment is 256 bytes"},
		{maxPath + "z", "1025 bytes"},
	}
	for _, tc := range invalid {
		err := ValidatePath(tc.path)
		if err == nil {
			t.Errorf("ValidatePath(%q) = nil, want an error about %s", tc.path, tc.reason)
			continue
		}
		var pe *PathError
		if !errors.As(err, &pe) || pe.Path != tc.path {
			t.Errorf("ValidatePath(%q): %v is not a *PathError naming the path", tc.path, err)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePath(%q): %v does not match ErrInvalid", tc.path, err)
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ValidatePath(%q) = %q, want it to mention %q", tc.path, err, tc.reason)
		}
	}
}

func TestUnderPrefix(t *testing.T) {
	for _, tc := range []struct {
		p, prefix string
		want      bool
	}{
		{"a", "", true},
		{"a", "a", true},
		{"a/b", "a", true},
		{"ab", "a", false},
		{"a", "a/b", false},
		{"nodes/a/x", "nodes/a", true},
		{"nodes/ab/x", "nodes/a", false},
	} {
		if got := underPrefix(tc.p, tc.prefix); got != tc.want {
			t.Errorf("underPrefix(%q, %q) = %v, want %v", tc.p, tc.prefix, got, tc.want)
		}
	}
}

func TestSplitParent(t *testing.T) {
	for _, tc := range []struct{ p, dir, name string }{
		{"a", "", "a"},
		{"a/b", "a", "b"},
		{"a/b/c", "a/b", "c"},
	} {
		if d, n := splitParent(tc.p); d != tc.dir || n != tc.name {
			t.Errorf("splitParent(%q) = %q, %q; want %q, %q", tc.p, d, n, tc.dir, tc.name)
		}
		if got := joinPath(tc.dir, tc.name); got != tc.p {
			t.Errorf("joinPath(%q, %q) = %q", tc.dir, tc.name, got)
		}
	}
}
