package qmp

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	tests := []struct {
		in      string
		want    []KeyValue
		wantErr string
	}{
		{in: "ctrl-alt-delete", want: []KeyValue{{"qcode", "ctrl"}, {"qcode", "alt"}, {"qcode", "delete"}}},
		{in: "ret", want: []KeyValue{{"qcode", "ret"}}},
		{in: "shift-kp_subtract", want: []KeyValue{{"qcode", "shift"}, {"qcode", "kp_subtract"}}},
		{in: "ctrl-0x2e", want: []KeyValue{{"qcode", "ctrl"}, {"number", 0x2e}}},
		{in: "0xFF", want: []KeyValue{{"number", 255}}},
		{in: "", wantErr: "empty key combination"},
		{in: "ctrl--c", wantErr: "empty key"},
		{in: "ctrl-", wantErr: "empty key"},
		{in: "Ctrl-c", wantErr: `unknown key "Ctrl"`},
		{in: "unmapped", wantErr: "unknown key"},
		{in: "0x", wantErr: "not a scancode"},
		{in: "0xzz", wantErr: "not a scancode"},
		{in: "0x10000", wantErr: "not a scancode"},
	}
	for _, tt := range tests {
		got, err := ParseKeys(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseKeys(%q) error = %v, want it to mention %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseKeys(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseKeys checks that parsing never panics and that whatever parses
// survives a FormatKeys round trip unchanged.
func FuzzParseKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseKeys(s)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatalf("ParseKeys(%q) accepted no keys", s)
		}
		again, err := ParseKeys(FormatKeys(keys))
		if err != nil || !reflect.DeepEqual(again, keys) {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, keys, FormatKeys(keys), again, err)
		}
	})
}
