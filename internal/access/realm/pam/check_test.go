package pam

import (
	"errors"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

func TestCheckInputAcceptsAccountNamesSeenInPractice(t *testing.T) {
	for _, name := range []string{
		"root", "www-data", "_apt", "user.name", "machine$", "j.doe@ad.example.com",
		"ÄDMIN", "DOMAIN\\user", strings.Repeat("a", maxNameLen),
	} {
		if err := checkInput(name, "secret"); err != nil {
			t.Errorf("checkInput(%q) = %v", name, err)
		}
	}
}

func TestCheckInputRefusesWithErrAuthNamingTheRule(t *testing.T) {
	tests := []struct {
		name, password, want string
	}{
		{"", "pw-secret", "empty user name"},
		{strings.Repeat("a", maxNameLen+1), "pw-secret", "longer than"},
		{"bad\xff", "pw-secret", "UTF-8"},
		{"-r", "pw-secret", "starts with '-'"},
		{".", "pw-secret", "path element"},
		{"..", "pw-secret", "path element"},
		{"a b", "pw-secret", "contains ' '"},
		{"a\tb", "pw-secret", `contains '\t'`},
		{"a\nb", "pw-secret", `contains '\n'`},
		{"a\x00b", "pw-secret", `contains '\x00'`},
		{"a\u00a0b", "pw-secret", `contains '\u00a0'`},
		{"a:b", "pw-secret", "contains ':'"},
		{"a/b", "pw-secret", "contains '/'"},
		{"root", "", "empty password"},
		{"root", strings.Repeat("p", maxPasswordLen+1), "password longer than"},
		{"root", "pass\x00word", "NUL"},
	}
	for _, tt := range tests {
		err := checkInput(tt.name, tt.password)
		if !errors.Is(err, realm.ErrAuth) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkInput(%q, %d-byte password) = %v, want ErrAuth mentioning %q",
				tt.name, len(tt.password), err, tt.want)
		}
		if tt.password != "" && strings.Contains(err.Error(), tt.password) {
			t.Errorf("error %q contains the password", err)
		}
	}
}

func TestCheckInputTakesLongestPassword(t *testing.T) {
	if err := checkInput("root", strings.Repeat("p", maxPasswordLen)); err != nil {
		t.Errorf("checkInput with %d-byte password = %v", maxPasswordLen, err)
	}
}
