package ldap

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hearth-virt/hearth/internal/access/realm/ldap/ldaptest"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// The test directory, as ldaptest serves it.
const (
	testSuffix   = ldaptest.Suffix
	testRootDN   = ldaptest.RootDN
	testPeopleDN = ldaptest.PeopleDN
	testGroupsDN = ldaptest.GroupsDN
	testReaderDN = ldaptest.ReaderDN
	testReaderPW = ldaptest.ReaderPW
)

// testServer adds the realm helpers of these tests to a running slapd.
type testServer struct{ *ldaptest.Server }

func startSlapd(t *testing.T) *testServer { return &testServer{ldaptest.Start(t)} }

func (s *testServer) admin(t *testing.T) *ldap.Conn { return s.Admin(t) }

func freePort(t *testing.T) int { return ldaptest.FreePort(t) }

// section builds a domains.cfg section from key/value pairs.
func section(typ, id string, kv ...string) sectioncfg.Section {
	s := sectioncfg.Section{Type: typ, ID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Props = append(s.Props, sectioncfg.Prop{Key: kv[i], Value: kv[i+1]})
	}
	return s
}

// realmConfig is an "ldap" realm on the test server; extra pairs are
// added to (or replace) the basic keys.
func (s *testServer) realmConfig(t *testing.T, bindPassword string, extra ...string) *Config {
	t.Helper()
	sec := section("ldap", "corp",
		"server1", "127.0.0.1",
		"port", strconv.Itoa(s.Port),
		"base_dn", testSuffix,
		"user_attr", "uid",
	)
	for i := 0; i+1 < len(extra); i += 2 {
		sec.Set(extra[i], extra[i+1])
	}
	c, err := ParseConfig(sec, bindPassword)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
