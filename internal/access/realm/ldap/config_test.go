package ldap

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigReadsEveryLDAPKey(t *testing.T) {
	sec := section("ldap", "corp",
		"server1", "ldap1.example.com",
		"server2", "[2001:db8::2]",
		"port", "1389",
		"mode", "ldap+starttls",
		"verify", "1",
		"capath", "/etc/ssl/corp-ca.pem",
		"cert", "/etc/hearth/ldap.pem",
		"certkey", "/etc/hearth/ldap.key",
		"sslversion", "tlsv1_3",
		"base_dn", "ou=people,dc=example,dc=com",
		"user_attr", "uid",
		"bind_dn", "cn=reader,dc=example,dc=com",
		"filter", "memberOf=cn=pve,ou=groups,dc=example,dc=com",
		"user_classes", "inetOrgPerson, posixAccount",
		"group_dn", "ou=groups,dc=example,dc=com",
		"group_filter", "(cn=pve-*)",
		"group_name_attr", "cn",
		"group_classes", "groupOfNames;posixGroup",
		"sync_attributes", "email=mail, firstname=givenName,lastname=sn",
		"sync-defaults-options", "scope=both,enable-new=0,remove-vanished=entry;acl",
		"case-sensitive", "0",
		"comment", "ignored here",
	)
	got, err := ParseConfig(sec, "pw")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Realm: "corp", Type: TypeLDAP,
		Servers: []string{"ldap1.example.com", "2001:db8::2"}, Port: 1389, Mode: ModeStartTLS,
		Verify: true, CAPath: "/etc/ssl/corp-ca.pem", CertPath: "/etc/hearth/ldap.pem", CertKeyPath: "/etc/hearth/ldap.key",
		TLSVersion: tls.VersionTLS13,
		BaseDN:     "ou=people,dc=example,dc=com", UserAttr: "uid",
		BindDN: "cn=reader,dc=example,dc=com", Password: "pw",
		Filter:      "(memberOf=cn=pve,ou=groups,dc=example,dc=com)",
		UserClasses: []string{"inetOrgPerson", "posixAccount"},
		GroupDN:     "ou=groups,dc=example,dc=com", GroupFilter: "(cn=pve-*)", GroupNameAttr: "cn",
		GroupClasses:   []string{"groupOfNames", "posixGroup"},
		SyncAttributes: map[string]string{"email": "mail", "firstname": "givenName", "lastname": "sn"},
		SyncDefaults:   SyncOptions{Scope: ScopeBoth, RemoveVanished: []string{"acl", "entry"}},
		CaseSensitive:  false,
		Timeout:        DefaultTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseConfig:\n got %+v\nwant %+v", got, want)
	}
	if u := got.url("2001:db8::2"); u != "ldap://[2001:db8::2]:1389" {
		t.Errorf("url for an IPv6 server = %s", u)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(section("ldap", "corp", "server1", "ldap", "base_dn", "dc=example,dc=com", "user_attr", "uid"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeLDAP || c.Verify || !c.CaseSensitive || c.Port != 0 || !c.SyncDefaults.EnableNew {
		t.Errorf("defaults: %+v", c)
	}
	if !reflect.DeepEqual(c.UserClasses, defaultUserClasses) || !reflect.DeepEqual(c.GroupClasses, defaultGroupClasses) {
		t.Errorf("default classes: %v %v", c.UserClasses, c.GroupClasses)
	}
	if c.url("ldap") != "ldap://ldap:389" {
		t.Errorf("default url %s", c.url("ldap"))
	}
	c.Mode = ModeLDAPS
	if c.url("ldap") != "ldaps://ldap:636" {
		t.Errorf("default ldaps url %s", c.url("ldap"))
	}
}

func TestParseConfigADDefaults(t *testing.T) {
	c, err := ParseConfig(section("ad", "win", "server1", "dc1.ad.example.com", "domain", "ad.example.com"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.UserAttr != "sAMAccountName" || c.BaseDN != "dc=ad,dc=example,dc=com" || c.Domain != "ad.example.com" {
		t.Errorf("AD defaults: user_attr %q, base_dn %q, domain %q", c.UserAttr, c.BaseDN, c.Domain)
	}
	c, err = ParseConfig(section("ad", "win", "server1", "dc1", "domain", "ad.example.com",
		"base_dn", "ou=staff,dc=ad,dc=example,dc=com", "user_attr", "userPrincipalName"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.UserAttr != "userPrincipalName" || c.BaseDN != "ou=staff,dc=ad,dc=example,dc=com" {
		t.Errorf("AD with explicit keys: user_attr %q, base_dn %q", c.UserAttr, c.BaseDN)
	}
}

func TestParseConfigModeWinsOverSecure(t *testing.T) {
	c, err := ParseConfig(section("ldap", "corp", "server1", "ldap", "base_dn", "dc=x", "user_attr", "uid",
		"secure", "1", "mode", "ldap+starttls"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeStartTLS {
		t.Errorf("mode = %q, want %q", c.Mode, ModeStartTLS)
	}
}

func TestParseConfigRefusesBadValuesNamingTheKey(t *testing.T) {
	base := []string{"server1", "ldap", "base_dn", "dc=example,dc=com", "user_attr", "uid"}
	tests := []struct {
		typ  string
		kv   []string
		want string
	}{
		{"pve", nil, `type "pve" is not an LDAP realm`},
		{"ldap", []string{"server1", ""}, "server1: required"},
		{"ldap", []string{"server1", "ldap://host"}, "server1: \"ldap://host\" is not a host name"},
		{"ldap", []string{"server2", "a b"}, "server2:"},
		{"ldap", []string{"port", "0"}, "port: \"0\" is not a port number"},
		{"ldap", []string{"port", "65536"}, "port:"},
		{"ldap", []string{"port", "ldap"}, "port:"},
		{"ldap", []string{"mode", "tls"}, "mode: \"tls\" is not one of ldap, ldaps, ldap+starttls"},
		{"ldap", []string{"secure", "maybe"}, "secure: \"maybe\" is not a boolean"},
		{"ldap", []string{"verify", "2"}, "verify:"},
		{"ldap", []string{"case-sensitive", "x"}, "case-sensitive:"},
		{"ldap", []string{"cert", "/c.pem"}, "cert: cert and certkey must be given together"},
		{"ldap", []string{"sslversion", "sslv3"}, "sslversion: \"sslv3\" is not one of"},
		{"ldap", []string{"base_dn", ""}, "base_dn: required"},
		{"ldap", []string{"base_dn", "example.com"}, "base_dn: \"example.com\" is not a distinguished name"},
		{"ldap", []string{"bind_dn", "admin"}, "bind_dn:"},
		{"ldap", []string{"group_dn", "=x"}, "group_dn:"},
		{"ldap", []string{"user_attr", ""}, "user_attr: required"},
		{"ldap", []string{"user_attr", "uid)(x"}, "user_attr: \"uid)(x\" is not an attribute name"},
		{"ldap", []string{"group_name_attr", "c n"}, "group_name_attr:"},
		{"ldap", []string{"filter", "(uid=*"}, "filter: \"(uid=*\" is not an LDAP filter"},
		{"ldap", []string{"group_filter", "(&(cn=a)"}, "group_filter:"},
		{"ldap", []string{"user_classes", " , "}, "user_classes: empty list"},
		{"ldap", []string{"group_classes", "group)(x"}, "group_classes:"},
		{"ldap", []string{"sync_attributes", "email"}, "sync_attributes: \"email\" is not field=attribute"},
		{"ldap", []string{"sync_attributes", "password=userPassword"}, "sync_attributes: unknown field \"password\""},
		{"ldap", []string{"sync_attributes", "email=mail)"}, "sync_attributes: \"mail)\" is not an attribute name"},
		{"ldap", []string{"sync_attributes", "email=mail,email=x"}, "mapped twice"},
		{"ldap", []string{"sync-defaults-options", "scope=all"}, "sync-defaults-options: sync options: scope:"},
		{"ad", []string{"domain", ""}, "domain: required"},
		{"ad", []string{"domain", "a b"}, "domain: \"a b\" is not a DNS domain name"},
	}
	for _, tt := range tests {
		sec := section(tt.typ, "corp", base...)
		if tt.typ == "ad" {
			sec.Set("domain", "example.com")
		}
		for i := 0; i+1 < len(tt.kv); i += 2 {
			sec.Set(tt.kv[i], tt.kv[i+1])
		}
		_, err := ParseConfig(sec, "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: err = %v, want it to contain %q", tt.typ, tt.kv, err, tt.want)
		} else if !strings.HasPrefix(err.Error(), "realm corp: ") {
			t.Errorf("%s %v: error %q does not name the realm", tt.typ, tt.kv, err)
		}
	}
}
