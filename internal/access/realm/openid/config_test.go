package openid

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// bare as a value makes section write a key without a value, which
// domains.cfg uses for a true flag.
const bare = "\x00bare"

// section builds an openid section from alternating keys and values.
func section(id string, kv ...string) sectioncfg.Section {
	s := sectioncfg.Section{Type: "openid", ID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		p := sectioncfg.Prop{Key: kv[i], Value: kv[i+1]}
		if p.Value == bare {
			p = sectioncfg.Prop{Key: kv[i], Bare: true}
		}
		s.Props = append(s.Props, p)
	}
	return s
}

func TestParseConfigMinimalGetsDefaults(t *testing.T) {
	c, err := ParseConfig(section("corp", "issuer-url", "https://id.example/realms/x", "client-id", "hearth"), "key")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Realm: "corp", IssuerURL: "https://id.example/realms/x", ClientID: "hearth", ClientKey: "key",
		UsernameClaim: "subject", Scopes: []string{"openid", "email", "profile"}, QueryUserinfo: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestParseConfigReadsEveryKey(t *testing.T) {
	sec := section("corp",
		"issuer-url", "http://id.local:8080",
		"client-id", "hearth",
		"client-key", "from-section",
		"username-claim", "email",
		"autocreate", bare,
		"scopes", "profile  groups",
		"prompt", "select_account",
		"acr-values", "urn:mfa gold",
		"groups-claim", "roles",
		"groups-autocreate", "1",
		"groups-overwrite", "yes",
		"query-userinfo", "0",
		"comment", "ignored here",
	)
	c, err := ParseConfig(sec, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Realm: "corp", IssuerURL: "http://id.local:8080", ClientID: "hearth", ClientKey: "from-section",
		UsernameClaim: "email", Autocreate: true, Scopes: []string{"openid", "profile", "groups"},
		Prompt: "select_account", ACRValues: []string{"urn:mfa", "gold"}, GroupsClaim: "roles",
		GroupsAutocreate: true, GroupsOverwrite: true, QueryUserinfo: false,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	// The key from the private file wins over one left in domains.cfg.
	if c, _ := ParseConfig(sec, "private"); c.ClientKey != "private" {
		t.Errorf("client key %q", c.ClientKey)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	base := []string{"issuer-url", "https://id.example", "client-id", "hearth"}
	for _, tc := range []struct {
		name string
		sec  sectioncfg.Section
		want string
	}{
		{"wrong type", sectioncfg.Section{Type: "ldap", ID: "corp"}, "not openid"},
		{"bad realm", section("1corp", base...), "realm \"1corp\""},
		{"no issuer", section("corp", "client-id", "hearth"), "issuer-url is required"},
		{"empty issuer", section("corp", "issuer-url", "", "client-id", "hearth"), "issuer-url is required"},
		{"issuer scheme", section("corp", "issuer-url", "ftp://id.example", "client-id", "x"), "issuer-url \"ftp://id.example\": must be an https"},
		{"issuer relative", section("corp", "issuer-url", "id.example/x", "client-id", "x"), "issuer-url"},
		{"issuer no host", section("corp", "issuer-url", "https:///x", "client-id", "x"), "has no host"},
		{"issuer query", section("corp", "issuer-url", "https://id.example/?t=1", "client-id", "x"), "query"},
		{"issuer junk", section("corp", "issuer-url", "https://id example", "client-id", "x"), "issuer-url"},
		{"no client", section("corp", "issuer-url", "https://id.example"), "client-id is required"},
		{"claim space", section("corp", append(base, "username-claim", "user name")...), "username-claim"},
		{"scope quote", section("corp", append(base, "scopes", `email "x"`)...), "scopes"},
		{"prompt space", section("corp", append(base, "prompt", "login consent")...), "prompt"},
		{"acr angle", section("corp", append(base, "acr-values", "a <b>")...), "acr-values"},
		{"groups claim", section("corp", append(base, "groups-claim", "grp/x")...), "groups-claim"},
		{"bool autocreate", section("corp", append(base, "autocreate", "maybe")...), "autocreate \"maybe\""},
		{"bool userinfo", section("corp", append(base, "query-userinfo", "2")...), "query-userinfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(tc.sec, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParseConfig checks that ParseConfig never panics and that what it
// accepts holds the invariants the rest of the package relies on.
func FuzzParseConfig(f *testing.F) {
	f.Add("https://id.example", "hearth", "email", "email profile", "login", "a b", "groups", "1")
	f.Add("http://[::1]:9000/x", "c", "subject", "", "none", "", "g.r-p_", "off")
	f.Add("https://id example", "", "user name", `"`, "", "<", "/", "x")
	f.Fuzz(func(t *testing.T, issuer, client, claim, scopes, prompt, acr, groups, boolean string) {
		sec := section("corp", "issuer-url", issuer, "client-id", client, "username-claim", claim,
			"scopes", scopes, "prompt", prompt, "acr-values", acr, "groups-claim", groups, "autocreate", boolean)
		c, err := ParseConfig(sec, "")
		if err != nil {
			return
		}
		if c.Scopes[0] != "openid" && !strings.Contains(" "+strings.Join(c.Scopes, " ")+" ", " openid ") {
			t.Errorf("scopes %q lack openid", c.Scopes)
		}
		if c.IssuerURL == "" || c.ClientID == "" || strings.ContainsAny(c.UsernameClaim, " \t\n") {
			t.Errorf("accepted %+v", c)
		}
	})
}
