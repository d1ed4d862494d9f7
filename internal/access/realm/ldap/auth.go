package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

var _ realm.Authenticator = (*Config)(nil)

// maxNameLen bounds user names before they reach the directory; user ids
// are far shorter anyway.
const maxNameLen = 256

// Authenticate checks name's password against the directory.
//
// An "ldap" realm, and an "ad" realm with a bind_dn, looks the user up
// (bound as bind_dn, or anonymously) by user_attr under base_dn, limited
// by the filter and the user classes, and then binds as the entry found.
// An "ad" realm without bind_dn binds directly as name@domain, the user
// principal name, which any domain account can do.
func (c *Config) Authenticate(ctx context.Context, name, password string) error {
	// An empty password would make the bind an "unauthenticated" one,
	// which many servers accept for any DN.
	if password == "" {
		return fmt.Errorf("ldap: empty password: %w", realm.ErrAuth)
	}
	if name == "" || len(name) > maxNameLen || strings.ContainsFunc(name, isControl) {
		return fmt.Errorf("ldap: unusable user name: %w", realm.ErrAuth)
	}
	lc, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer lc.close()

	var dn string
	if c.Type == TypeAD && c.BindDN == "" {
		dn = c.upn(name)
	} else {
		if err := c.bindService(lc); err != nil {
			return err
		}
		if dn, err = c.findUser(lc, name); err != nil {
			return err
		}
	}
	if err := lc.Bind(dn, password); err != nil {
		if isCredentialError(err) {
			return fmt.Errorf("ldap: bind as %s refused: %w", dn, realm.ErrAuth)
		}
		return fmt.Errorf("ldap: bind as %s on %s: %w", dn, lc.server, err)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// upn is the name an AD user binds with. A name that already carries a
// domain ("j.doe@other.example") is used as it is, so users of trusted
// domains can log in too.
func (c *Config) upn(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + c.Domain
}

// userFilter combines the object classes, the realm's filter and, when
// extra is not empty, one more condition, into one filter. Values from
// outside (the user name) must already be escaped in extra.
func (c *Config) userFilter(extra string) string {
	return andFilter(classFilter(c.UserClasses), c.Filter, extra)
}

// loginFilter selects the entry of one user. The name is escaped, so
// that filter syntax in it ('*', parentheses) is matched literally and
// cannot widen the search to other entries.
func (c *Config) loginFilter(name string) string {
	return c.userFilter("(" + c.UserAttr + "=" + ldap.EscapeFilter(name) + ")")
}

func classFilter(classes []string) string {
	if len(classes) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("(|")
	for _, cl := range classes {
		b.WriteString("(objectClass=" + ldap.EscapeFilter(cl) + ")")
	}
	b.WriteString(")")
	return b.String()
}

func andFilter(parts ...string) string {
	var b strings.Builder
	n := 0
	for _, p := range parts {
		if p != "" {
			b.WriteString(p)
			n++
		}
	}
	switch n {
	case 0:
		return "(objectClass=*)"
	case 1:
		return b.String()
	}
	return "(&" + b.String() + ")"
}

// findUser returns the DN of the one entry for name. None, or more than
// one (the name would be ambiguous), refuses the login.
func (c *Config) findUser(lc *conn, name string) (string, error) {
	base := c.BaseDN
	if base == "" {
		return "", errors.New("ldap: base_dn is not set")
	}
	filter := c.loginFilter(name)
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(c.timeout().Seconds()), false, filter, []string{"1.1"}, nil)
	res, err := lc.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return "", fmt.Errorf("ldap: search user on %s: %w", lc.server, err)
	}
	switch {
	case res == nil || len(res.Entries) == 0:
		return "", fmt.Errorf("ldap: no user %q under %s: %w", name, base, realm.ErrAuth)
	case len(res.Entries) > 1:
		return "", fmt.Errorf("ldap: more than one entry for user %q under %s: %w", name, base, realm.ErrAuth)
	}
	return res.Entries[0].DN, nil
}

// isCredentialError tells a refused user bind from a failure to ask. AD
// reports disabled, expired and locked accounts as invalid credentials
// too; the others are what servers use for accounts that may not log in.
func isCredentialError(err error) bool {
	return ldap.IsErrorAnyOf(err,
		ldap.LDAPResultInvalidCredentials,
		ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultInvalidDNSyntax,
		ldap.LDAPResultNoSuchObject,
	)
}
