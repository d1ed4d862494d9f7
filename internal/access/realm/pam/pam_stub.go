//go:build !pam || !cgo

package pam

import (
	"context"
	"errors"
)

// errNotBuilt is deliberately not realm.ErrAuth: a binary without PAM is a
// misconfiguration to be logged, not a wrong password.
var errNotBuilt = errors.New("PAM support not built in: rebuild with CGO_ENABLED=1 -tags pam")

// Realm checks passwords through PAM. In this build PAM support is
// missing; see the package documentation.
type Realm struct {
	// Service names the file in /etc/pam.d to use; empty means
	// DefaultService.
	Service string
}

// New returns a Realm using DefaultService.
func New() *Realm { return &Realm{} }

// Available reports whether this binary can talk to PAM; here it cannot.
func (r *Realm) Available() bool { return false }

// Authenticate always fails with errNotBuilt, so that the log says why no
// PAM login works.
func (r *Realm) Authenticate(ctx context.Context, name, password string) error {
	return errNotBuilt
}
