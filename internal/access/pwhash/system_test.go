package pwhash

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// opensslPath is where the check below expects the system's OpenSSL.
const opensslPath = "/usr/bin/openssl"

// TestVerifyAcceptsHashesFromSystemOpenSSL checks against an independent
// implementation: hashes made by `openssl passwd -5/-6` must verify, and
// HashWith must produce the very same strings from the same inputs.
func TestVerifyAcceptsHashesFromSystemOpenSSL(t *testing.T) {
	if _, err := os.Stat(opensslPath); err != nil {
		t.Skipf("skipping the cross-check with OpenSSL: %v", err)
	}
	tests := []struct {
		variant  Variant
		salt     string
		rounds   int
		password string
	}{
		{SHA256, "X", 0, "pw"},
		{SHA512, "X", 0, "pw"},
		{SHA256, "ab+c/d", 0, "correct horse battery staple"},
		{SHA512, "0123456789abcdef", 0, "Grüße, 世界!"},
		{SHA256, "longersaltthan16chars", 0, strings.Repeat("long password ", 10)},
		{SHA512, "r", 1234, "with rounds"},
		{SHA256, "r", 5000, "explicit default"},
		// Lengths around the digest sizes take the edges of the stretching
		// loops; OpenSSL cannot hash an empty password, so that case is
		// left to the unit tests.
		{SHA256, "len32", 0, strings.Repeat("a", 32)},
		{SHA256, "len33", 0, strings.Repeat("a", 33)},
		{SHA512, "len64", 0, strings.Repeat("b", 64)},
		{SHA512, "len65", 0, strings.Repeat("b", 65)},
		{SHA512, "len1", 0, "c"},
	}
	for _, tt := range tests {
		name := tt.variant.String() + "/" + tt.salt + "/" + strconv.Itoa(tt.rounds)
		t.Run(name, func(t *testing.T) {
			setting := tt.salt
			if tt.rounds != 0 {
				setting = "rounds=" + strconv.Itoa(tt.rounds) + "$" + tt.salt
			}
			// The password goes in on stdin so it never shows in a process list.
			cmd := exec.Command(opensslPath, "passwd", "-"+strconv.Itoa(int(tt.variant)), "-salt", setting, "-stdin")
			cmd.Stdin = strings.NewReader(tt.password + "\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openssl passwd: %v", err)
			}
			fromOpenSSL := strings.TrimSpace(string(out))
			ok, err := Verify(fromOpenSSL, tt.password)
			if err != nil || !ok {
				t.Errorf("Verify(%s) = %v, %v; want true, nil", fromOpenSSL, ok, err)
			}
			ours, err := HashWith(tt.password, tt.salt, tt.rounds, tt.variant)
			if err != nil {
				t.Fatalf("HashWith: %v", err)
			}
			if ours != fromOpenSSL {
				t.Errorf("HashWith = %s\nopenssl    %s", ours, fromOpenSSL)
			}
		})
	}
}

// perlPath is where the check below expects Perl, whose crypt() calls the C
// library's crypt(3): the very call Proxmox VE makes to check a password.
const perlPath = "/usr/bin/perl"

// TestSystemCryptAcceptsHashesFromHash checks the other direction: hashes
// written here must verify where the system's crypt(3) does the checking,
// as on a Proxmox VE node sharing the file.
func TestSystemCryptAcceptsHashesFromHash(t *testing.T) {
	if _, err := os.Stat(perlPath); err != nil {
		t.Skipf("skipping the cross-check with the C library's crypt(3): %v", err)
	}
	const script = `chomp(my $pw = <STDIN>); print crypt($pw, $ARGV[0]) eq $ARGV[0] ? "match" : "mismatch"`
	for _, password := range []string{"correct horse battery staple", "Grüße, 世界!"} {
		h, err := Hash(password)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			password, want string
		}{{password, "match"}, {password + "!", "mismatch"}} {
			cmd := exec.Command(perlPath, "-e", script, h)
			cmd.Stdin = strings.NewReader(tt.password + "\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("perl crypt: %v", err)
			}
			if got := string(out); got != tt.want {
				t.Errorf("system crypt(3) on %s: %s; want %s", h, got, tt.want)
			}
		}
	}
}
