package pvetext

import "testing"

func TestEncode(t *testing.T) {
	tests := []struct {
		in, want string
		edges    bool
	}{
		{"plain text", "plain text", false},
		{"a:b", "a%3Ab", false},
		{"line\nbreak\ttab", "line%0Abreak%09tab", false},
		{"Müller", "M%C3%BCller", false},
		{"100% sure", "100% sure", false},
		{"literal %41", "literal %2541", false},
		{"50%", "50%", false},
		{"  padded  ", "  padded  ", false},
		{"  padded  ", "%20%20padded%20%20", true},
		{"in side", "in side", true},
	}
	for _, tt := range tests {
		got := Encode(tt.in, tt.edges)
		if got != tt.want {
			t.Errorf("Encode(%q, %v) = %q, want %q", tt.in, tt.edges, got, tt.want)
		}
		if back := Decode(got); back != tt.in {
			t.Errorf("Decode(Encode(%q)) = %q", tt.in, back)
		}
	}
}

func TestDecodeLeavesStrayPercents(t *testing.T) {
	for in, want := range map[string]string{"100%": "100%", "%zz": "%zz", "%4": "%4", "%3a%3A": "::", "\xff%41": "\xffA"} {
		if got := Decode(in); got != want {
			t.Errorf("Decode(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a:b", "100%", "%41", " x ", "\x00\xff"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, edges bool) {
		if back := Decode(Encode(s, edges)); back != s {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}
