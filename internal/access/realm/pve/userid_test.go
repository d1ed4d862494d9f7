package pve

import (
	"strings"
	"testing"
)

func TestCheckPasswordAppliesPVELengthLimits(t *testing.T) {
	tests := []struct {
		password string
		mention  string // "" means accepted
	}{
		{"", "at least 8"},
		{"1234567", "at least 8"},
		{"12345678", ""},
		{strings.Repeat("p", 64), ""},
		{strings.Repeat("ü", 64), ""}, // 128 bytes, 64 characters
		{strings.Repeat("p", 65), "at most 64"},
		{"üüüü", "at least 8"}, // 8 bytes, 4 characters
	}
	for _, tt := range tests {
		err := checkPassword(tt.password)
		switch {
		case tt.mention == "" && err != nil:
			t.Errorf("checkPassword(%d chars) = %v; want nil", len([]rune(tt.password)), err)
		case tt.mention != "" && (err == nil || !strings.Contains(err.Error(), tt.mention)):
			t.Errorf("checkPassword(%d chars) = %v; want an error mentioning %q", len([]rune(tt.password)), err, tt.mention)
		}
	}
}

func TestQuoteShortCutsLongValuesOnRuneBoundary(t *testing.T) {
	long := strings.Repeat("ü", 100)
	got := quoteShort(long)
	if !strings.HasSuffix(got, "…") || len(got) > 90 || strings.Contains(got, `\x`) {
		t.Errorf("quoteShort(100×ü) = %s", got)
	}
	if got := quoteShort("abc"); got != `"abc"` {
		t.Errorf(`quoteShort("abc") = %s`, got)
	}
}
