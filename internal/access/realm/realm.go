// Package realm is what every authentication realm implements; each realm
// type lives in a sub-package (pve, pam, ldap for LDAP and Active
// Directory, openid).
package realm

import (
	"context"
	"errors"
)

// ErrAuth is returned for wrong credentials. Callers never tell clients
// why a login failed, so realms should not wrap it with details of the
// password; details for the log go in a separate error.
var ErrAuth = errors.New("authentication failure")

// Authenticator checks a user's password.
type Authenticator interface {
	// Authenticate checks the password of name, the user id without its
	// "@realm" suffix. It returns ErrAuth (possibly wrapped) for wrong
	// credentials or unknown users, and other errors when the realm cannot
	// be asked (a directory that is down, a misconfiguration).
	Authenticate(ctx context.Context, name, password string) error
}
