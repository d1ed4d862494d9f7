package ldap

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

func TestAuthenticateAcceptsRightPasswordAfterAnonymousSearch(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "")
	if err := c.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("Authenticate(alice) = %v", err)
	}
}

func TestAuthenticateSearchesAsBindDN(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, testReaderPW, "bind_dn", testReaderDN)
	if err := c.Authenticate(testContext(t), "bob", "bob-pw"); err != nil {
		t.Fatalf("Authenticate(bob) = %v", err)
	}
}

func TestAuthenticateRefusesBadCredentialsWithErrAuth(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "")
	tests := []struct{ what, name, password string }{
		{"wrong password", "alice", "bob-pw"},
		{"unknown user", "mallory", "alice-pw"},
		{"empty password of an existing user", "alice", ""},
		{"name with a control character", "alice\x00", "alice-pw"},
		{"empty name", "", "alice-pw"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			err := c.Authenticate(testContext(t), tt.name, tt.password)
			if !errors.Is(err, realm.ErrAuth) {
				t.Fatalf("Authenticate(%q) = %v, want ErrAuth", tt.name, err)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// Each name below, pasted into the filter unescaped, would select
// exactly alice's entry (or several), and her password would then log in
// a user of that name. Escaped, the names match no entry at all.
func TestAuthenticateEscapesFilterSyntaxInNames(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "")
	for _, name := range []string{
		"*",
		"ali*",
		"*)(uid=*",
		"alice)(uid=alice",
		"alice)(|(uid=*",
		"alice)(objectClass=*",
		`alice\29`,
		"(uid=alice)",
	} {
		err := c.Authenticate(testContext(t), name, "alice-pw")
		if !errors.Is(err, realm.ErrAuth) || !strings.Contains(err.Error(), "no user") {
			t.Errorf("Authenticate(%q) = %v, want ErrAuth because no entry has that name", name, err)
		}
	}
}

func TestUserFilterEscapesTheNameOnly(t *testing.T) {
	c := &Config{UserAttr: "uid", UserClasses: []string{"person"}, Filter: "(mail=*)"}
	got := c.loginFilter("*)(uid=*")
	want := `(&(|(objectClass=person))(mail=*)(uid=\2a\29\28uid=\2a))`
	if got != want {
		t.Fatalf("userFilter = %s, want %s", got, want)
	}
}

func TestAuthenticateFilterLimitsWhoMayLogIn(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "", "filter", "mail=*@example.org")
	if err := c.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("alice matches the filter: %v", err)
	}
	// carol has no mail attribute, so the filter leaves her out.
	if err := c.Authenticate(testContext(t), "carol", "carol-pw"); !errors.Is(err, realm.ErrAuth) {
		t.Fatalf("carol outside the filter: got %v, want ErrAuth", err)
	}
}

func TestAuthenticateUserClassesLimitWhoMayLogIn(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "", "user_classes", "posixAccount")
	if err := c.Authenticate(testContext(t), "alice", "alice-pw"); !errors.Is(err, realm.ErrAuth) {
		t.Fatalf("alice is no posixAccount: got %v, want ErrAuth", err)
	}
}

func TestAuthenticateStartTLSVerifiesAgainstCA(t *testing.T) {
	s := startSlapd(t)
	good := s.realmConfig(t, "", "mode", "ldap+starttls", "verify", "1", "capath", s.CAFile)
	if err := good.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("StartTLS with the right CA: %v", err)
	}
	dirCA := s.realmConfig(t, "", "mode", "ldap+starttls", "verify", "1", "capath", s.Dir)
	if err := dirCA.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("StartTLS with a CA directory: %v", err)
	}

	wrong := s.realmConfig(t, "", "mode", "ldap+starttls", "verify", "1", "capath", s.WrongCAFile)
	err := wrong.Authenticate(testContext(t), "alice", "alice-pw")
	if err == nil || errors.Is(err, realm.ErrAuth) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("StartTLS with the wrong CA = %v, want a certificate error that is not ErrAuth", err)
	}

	// Without verify the same CA mismatch is accepted, as in Proxmox VE.
	unverified := s.realmConfig(t, "", "mode", "ldap+starttls", "capath", s.WrongCAFile)
	if err := unverified.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("StartTLS without verify: %v", err)
	}
}

func TestAuthenticateOverLDAPS(t *testing.T) {
	s := startSlapd(t)
	port := strconv.Itoa(s.TLSPort)
	c := s.realmConfig(t, "", "mode", "ldaps", "port", port, "verify", "1", "capath", s.CAFile)
	if err := c.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("LDAPS: %v", err)
	}
	if err := c.Authenticate(testContext(t), "alice", "wrong"); !errors.Is(err, realm.ErrAuth) {
		t.Fatalf("LDAPS wrong password = %v, want ErrAuth", err)
	}
	wrong := s.realmConfig(t, "", "mode", "ldaps", "port", port, "verify", "1", "capath", s.WrongCAFile)
	if err := wrong.Authenticate(testContext(t), "alice", "alice-pw"); err == nil || errors.Is(err, realm.ErrAuth) {
		t.Fatalf("LDAPS with the wrong CA = %v, want a connection error", err)
	}
	// The legacy "secure" flag means LDAPS.
	legacy := s.realmConfig(t, "", "secure", "1", "port", port)
	if legacy.Mode != ModeLDAPS {
		t.Fatalf("secure=1 gave mode %q", legacy.Mode)
	}
	if err := legacy.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("secure=1: %v", err)
	}
}

func TestAuthenticateFallsBackToServer2(t *testing.T) {
	s := startSlapd(t)
	// slapd listens on 127.0.0.1 only; 127.0.0.2 is loopback too, so the
	// connection is refused at once rather than timing out.
	c := s.realmConfig(t, "", "server1", "127.0.0.2", "server2", "127.0.0.1")
	if err := c.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("with server1 down: %v", err)
	}
	if err := c.Authenticate(testContext(t), "alice", "nope"); !errors.Is(err, realm.ErrAuth) {
		t.Fatalf("wrong password via server2 = %v, want ErrAuth", err)
	}
}

func TestAuthenticateUnreachableDirectoryIsNotErrAuth(t *testing.T) {
	c, err := ParseConfig(section("ldap", "corp", "server1", "127.0.0.2", "server2", "127.0.0.3",
		"port", strconv.Itoa(freePort(t)), "base_dn", testSuffix, "user_attr", "uid"), "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Authenticate(testContext(t), "alice", "alice-pw")
	if err == nil || errors.Is(err, realm.ErrAuth) {
		t.Fatalf("Authenticate with no server = %v, want a non-ErrAuth error", err)
	}
	for _, host := range []string{"127.0.0.2", "127.0.0.3"} {
		if !strings.Contains(err.Error(), host) {
			t.Errorf("error %q does not name server %s", err, host)
		}
	}
}

func TestAuthenticateWrongBindPasswordIsNotErrAuth(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "not-the-password", "bind_dn", testReaderDN)
	err := c.Authenticate(testContext(t), "alice", "alice-pw")
	if err == nil || errors.Is(err, realm.ErrAuth) {
		t.Fatalf("Authenticate with a bad bind password = %v, want a configuration error", err)
	}
	noPW := s.realmConfig(t, "", "bind_dn", testReaderDN)
	if err := noPW.Authenticate(testContext(t), "alice", "alice-pw"); err == nil || !strings.Contains(err.Error(), "no bind password") {
		t.Fatalf("Authenticate with bind_dn but no password = %v", err)
	}
}

func TestAuthenticateStopsWhenContextEnds(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Authenticate(ctx, "alice", "alice-pw"); err == nil || errors.Is(err, realm.ErrAuth) {
		t.Fatalf("Authenticate with a cancelled context = %v, want a non-ErrAuth error", err)
	}
}

func TestADBindNameIsUserPrincipalName(t *testing.T) {
	c := &Config{Type: TypeAD, Domain: "ad.example.com"}
	for name, want := range map[string]string{
		"jdoe":                 "jdoe@ad.example.com",
		"j.doe":                "j.doe@ad.example.com",
		"jdoe@trusted.example": "jdoe@trusted.example",
	} {
		if got := c.upn(name); got != want {
			t.Errorf("upn(%q) = %q, want %q", name, got, want)
		}
	}
}

// slapd cannot take a user principal name as bind name (it wants a DN),
// so this checks that an AD realm without bind_dn sends the UPN itself
// and that the server's refusal comes back as ErrAuth, not as an outage.
func TestADWithoutBindDNBindsDirectlyAndMapsRefusalToErrAuth(t *testing.T) {
	s := startSlapd(t)
	c, err := ParseConfig(section("ad", "win", "server1", "127.0.0.1", "port", strconv.Itoa(s.Port),
		"domain", "example.org"), "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Authenticate(testContext(t), "alice", "alice-pw")
	if !errors.Is(err, realm.ErrAuth) || !strings.Contains(err.Error(), "alice@example.org") {
		t.Fatalf("AD UPN bind against slapd = %v, want ErrAuth naming alice@example.org", err)
	}
}

func TestADWithBindDNSearchesByUserAttr(t *testing.T) {
	s := startSlapd(t)
	c, err := ParseConfig(section("ad", "win", "server1", "127.0.0.1", "port", strconv.Itoa(s.Port),
		"domain", "example.org", "bind_dn", testReaderDN, "user_attr", "uid"), testReaderPW)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseDN != testSuffix {
		t.Fatalf("base_dn derived from the domain = %q, want %q", c.BaseDN, testSuffix)
	}
	if err := c.Authenticate(testContext(t), "alice", "alice-pw"); err != nil {
		t.Fatalf("AD with bind_dn: %v", err)
	}
	if err := c.Authenticate(testContext(t), "alice", "bob-pw"); !errors.Is(err, realm.ErrAuth) {
		t.Fatalf("AD with bind_dn, wrong password = %v, want ErrAuth", err)
	}
}
