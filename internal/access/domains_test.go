package access

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

func TestParseDomains(t *testing.T) {
	in := `pve: pve
	comment Built in
	default 1

ldap: corp
	server1 ldap.example.com
	base_dn ou=people,dc=example,dc=com
	user_attr uid

nis: old
	comment a type we do not know

ldap: corp
	server1 other
`
	d, warnings := parseDomains([]byte(in))
	types := d.types()
	want := map[string]string{"pve": "pve", "corp": "ldap", "pam": "pam"}
	if len(types) != len(want) {
		t.Errorf("realms: %v, want %v", types, want)
	}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("realm %s: type %q, want %q", k, types[k], v)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "unknown type") || !strings.Contains(warnings[1], "twice") {
		t.Errorf("warnings: %q", warnings)
	}
	// Written back, the file keeps its realms and gains the missing
	// built-in one.
	out := string(d.bytes())
	if !strings.HasPrefix(out, "pve: pve\n") || !strings.Contains(out, "pam: pam\n") || strings.Contains(out, "nis:") {
		t.Errorf("written:\n%s", out)
	}
}

func TestCheckRealmOptions(t *testing.T) {
	sec := func(typ string, kv ...string) *sectioncfg.Section {
		s := &sectioncfg.Section{Type: typ, ID: "r"}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Set(kv[i], kv[i+1])
		}
		return s
	}
	tests := []struct {
		name string
		sec  *sectioncfg.Section
		want string // part of the error, "" for none
	}{
		{"ldap complete", sec("ldap", "server1", "h", "base_dn", "dc=x", "user_attr", "uid", "comment", "c"), ""},
		{"ldap without base_dn", sec("ldap", "server1", "h", "user_attr", "uid"), "base_dn"},
		{"ad needs a domain", sec("ad", "server1", "h"), "domain"},
		{"ad complete", sec("ad", "server1", "h", "domain", "example.com"), ""},
		{"openid option on ldap", sec("ldap", "server1", "h", "base_dn", "dc=x", "user_attr", "uid", "issuer-url", "https://x"), "issuer-url"},
		{"openid complete", sec("openid", "issuer-url", "https://x", "client-id", "c", "autocreate", "1"), ""},
		{"openid without client", sec("openid", "issuer-url", "https://x"), "client-id"},
		{"pve with tfa", sec("pve", "tfa", "type=oath"), ""},
		{"pve with a server", sec("pve", "server1", "h"), "server1"},
	}
	for _, tt := range tests {
		err := checkRealmOptions(tt.sec)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(errorText(err), tt.want)):
			t.Errorf("%s: got %v, want an error about %s", tt.name, err, tt.want)
		}
	}
}

// errorText includes the per-parameter messages of an API error.
func errorText(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return fmt.Sprint(e.Message, e.Errors)
	}
	return err.Error()
}
