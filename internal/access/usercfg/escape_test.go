package usercfg

import "testing"

func TestTextEscaping(t *testing.T) {
	for _, tc := range []struct{ plain, encoded string }{
		{"", ""},
		{"plain text, with; punctuation!", "plain text, with; punctuation!"},
		{"a:b", "a%3Ab"},
		{"100%", "100%"},
		{"literal %41", "literal %2541"},
		{"line1\nline2\r\t", "line1%0Aline2%0D%09"},
		{"Müller", "M%C3%BCller"},
		{"\x7f\x00", "%7F%00"},
		{" padded  ", "%20padded%20%20"},
		{"   ", "%20%20%20"},
		{"in ner", "in ner"},
		{"\xff\xfe", "%FF%FE"}, // invalid UTF-8 survives byte for byte
	} {
		if got := EncodeText(tc.plain); got != tc.encoded {
			t.Errorf("EncodeText(%q) = %q, want %q", tc.plain, got, tc.encoded)
		}
		if got := DecodeText(tc.encoded); got != tc.plain {
			t.Errorf("DecodeText(%q) = %q, want %q", tc.encoded, got, tc.plain)
		}
	}
}

func TestDecodeTextLeniency(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"100%", "100%"},       // lone percent, as Proxmox VE writes it
		{"50% off", "50% off"}, // not followed by two hex digits
		{"%zz%4", "%zz%4"},     // invalid escapes stay
		{"%3a%3A", "::"},       // either case
		{"%2541", "%41"},       // decoded once only
		{"a%20%20", "a  "},     // escaped spaces survive trimming
	} {
		if got := DecodeText(tc.in); got != tc.want {
			t.Errorf("DecodeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
