package agent

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// frames renders everything a frameReader finds in input: "|" for a
// delimiter, the object text otherwise, then the final error.
func frames(input string, max int) ([]string, error) {
	fr := newFrameReader(bufio.NewReader(strings.NewReader(input)), max)
	var out []string
	for {
		f, err := fr.next()
		if err != nil {
			return out, err
		}
		if f.delim {
			out = append(out, "|")
		} else {
			out = append(out, string(f.obj))
		}
	}
}

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"one reply", `{"return": {}}` + "\n", []string{`{"return": {}}`}},
		{"sync reply", "\xff" + `{"return": 42}` + "\n", []string{"|", `{"return": 42}`}},
		{"stale tail before delimiter", `rn": 1}` + "\n\xff" + `{"return": 7}`, []string{"|", `{"return": 7}`}},
		{"partial object cut by delimiter", `{"return": "cut` + "\xff" + `{"return": 1}`, []string{"|", `{"return": 1}`}},
		{"braces inside strings", `{"a": "}{\"}", "b": [{"c": "]"}]}`, []string{`{"a": "}{\"}", "b": [{"c": "]"}]}`}},
		{"escaped backslash before quote", `{"a": "x\\"}{"b": 1}`, []string{`{"a": "x\\"}`, `{"b": 1}`}},
		{"back to back", `{"a":1}{"b":2}` + "\r\n", []string{`{"a":1}`, `{"b":2}`}},
		{"garbage only", "nothing here\n", nil},
		{"mismatched close is debris", `{]{"a": 1}`, []string{`{"a": 1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := frames(tt.input, 1<<20)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("ended with %v, want EOF", err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("frames = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFrameReaderCapsObjectSize(t *testing.T) {
	_, err := frames(`{"return": "`+strings.Repeat("x", 100)+`"}`, 50)
	if !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("oversized reply: %v", err)
	}
}

// FuzzFrameReader checks that any byte stream splits without panicking
// into well-formed frames: objects are brace-delimited and never contain
// the delimiter byte.
func FuzzFrameReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, input []byte) {
		fr := newFrameReader(bufio.NewReader(bytes.NewReader(input)), 4096)
		for {
			frm, err := fr.next()
			if err != nil {
				return
			}
			if frm.delim {
				continue
			}
			obj := frm.obj
			if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
				t.Fatalf("malformed frame %q", obj)
			}
			if bytes.IndexByte(obj, delimiter) >= 0 {
				t.Fatalf("frame %q contains the delimiter", obj)
			}
		}
	})
}
