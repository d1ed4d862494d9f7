package cloudinit

import (
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

func TestYAMLValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// What Proxmox VE writes unquoted stays unquoted.
		{"web1", "web1"},
		{"$6$salt$hash/.", "$6$salt$hash/."},
		{"ssh-ed25519 AAAAC3Nz alice@laptop", "ssh-ed25519 AAAAC3Nz alice@laptop"},
		{"a:b", "a:b"},
		// YAML 1.1 would read these as numbers, booleans, null or dates.
		{"123", "'123'"},
		{"1:30", "'1:30'"},
		{"2024-01-02", "'2024-01-02'"},
		{".5", "'.5'"},
		{"yes", "'yes'"},
		{"Off", "'Off'"},
		{"y", "'y'"},
		{"NULL", "'NULL'"},
		{"~", "'~'"},
		{"=", "'='"},
		{"<<", "'<<'"},
		// Indicators and sequences that end a plain scalar.
		{"-x", "'-x'"},
		{"*alias", "'*alias'"},
		{"!tag", "'!tag'"},
		{"it's: here", "'it''s: here'"},
		{"key #1", "'key #1'"},
		{"ends:", "'ends:'"},
		{" lead", "' lead'"},
		{"trail ", "'trail '"},
		{"", "''"},
		// Only double quotes can carry line breaks and control characters.
		{"two\nlines", `"two\nlines"`},
		{"tab\there", `"tab\there"`},
		{"bell\a\"q\"\\", `"bell\u0007\"q\"\\"`},
		{"nbsp\u00a0x", `"nbsp\u00a0x"`},
	} {
		if got := yamlValue(tc.in); got != tc.want {
			t.Errorf("yamlValue(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzYAMLValue(f *testing.F) {
	f.Add("plain: #value")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\uFEFF') || strings.ContainsRune(s, '\r') {
			// Not representable, or normalized by YAML readers.
			t.Skip()
		}
		var m map[string]any
		doc := "k: " + yamlValue(s) + "\n"
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%q renders as %q, which does not parse: %v", s, doc, err)
		}
		if got, ok := m["k"].(string); !ok || got != s {
			t.Fatalf("%q renders as %q, read back as %#v", s, doc, m["k"])
		}
	})
}

// TestShellValueIsNotExpanded sources assignments in bash, as the guest
// does with context.sh, and reads the values back.
func TestShellValueIsNotExpanded(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	for _, v := range []string{
		"plain", "192.0.2.1", "two words", "it's", `$(touch /tmp/pwned) $HOME`, "`id`", "multi\nline\n", "a\\b", "",
	} {
		script := "V=" + shellValue(v) + "\nprintf %s \"$V\"\n"
		out, err := exec.Command(bash, "-c", script).Output()
		if err != nil || string(out) != v {
			t.Errorf("%q: bash read back %q (%v) from %q", v, out, err, script)
		}
	}
}
