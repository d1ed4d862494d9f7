package rest

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/pki"
)

// identity is who made a request.
type identity struct {
	user  string
	token string // full token id when an API token was used
	// forwarded requests come from another node, which already
	// authenticated the user and checked CSRF.
	forwarded bool
	ticket    bool
}

type ctxKey int

const (
	// rootConnKey marks connections from the local root-only unix socket.
	rootConnKey ctxKey = iota
)

// RootConnContext marks every request on a connection as coming from the
// local root socket; set it as the ConnContext of that listener's server.
func RootConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, rootConnKey, true)
}

// Headers a node sets when it forwards a request to the node that must
// execute it. They are trusted only on connections that present a node
// certificate of this cluster.
const (
	HeaderForwardedUser  = "X-Hearth-Forwarded-User"
	HeaderForwardedToken = "X-Hearth-Forwarded-Token"
)

var errNoTicket = api.Errorf(http.StatusUnauthorized, "No ticket")

func (s *Server) authenticate(r *http.Request, route *api.Route) (identity, error) {
	if root, _ := r.Context().Value(rootConnKey).(bool); root {
		return identity{user: api.RootUser}, nil
	}
	if user := r.Header.Get(HeaderForwardedUser); user != "" {
		if !fromClusterNode(r) {
			return identity{}, api.Errorf(http.StatusUnauthorized, "forwarded identity without a node certificate")
		}
		return identity{user: user, token: r.Header.Get(HeaderForwardedToken), forwarded: true}, nil
	}
	id, err := s.credentials(r)
	public := route.Perm.Kind == api.PermPublic
	if err != nil {
		if public {
			// A stale cookie must not stop anyone from logging in again.
			return identity{}, nil
		}
		return identity{}, err
	}
	if id.token != "" && route.NoToken {
		return identity{}, api.Errorf(http.StatusUnauthorized, "API tokens cannot be used for this call")
	}
	if id.ticket && r.Method != http.MethodGet && r.Method != http.MethodHead && !route.NoCSRF {
		if err := s.cfg.Auth.VerifyCSRF(id.user, r.Header.Get("CSRFPreventionToken")); err != nil {
			return identity{}, api.Errorf(http.StatusUnauthorized, "Permission denied - invalid csrf token")
		}
	}
	return id, nil
}

// credentials reads an API token or a ticket from the request.
func (s *Server) credentials(r *http.Request) (identity, error) {
	authz := r.Header.Get("Authorization")
	if rest, ok := cutPrefixFold(authz, "PVEAPIToken"); ok {
		rest = strings.TrimLeft(rest, "= ")
		// The secret is everything after the last '=': token names cannot
		// contain '=' but we split from the right to be safe.
		i := strings.LastIndexByte(rest, '=')
		if i <= 0 {
			return identity{}, api.Errorf(http.StatusUnauthorized, "malformed API token header")
		}
		tokenID, secret := rest[:i], rest[i+1:]
		user, err := s.cfg.Auth.VerifyToken(tokenID, secret)
		if err != nil {
			return identity{}, api.Errorf(http.StatusUnauthorized, "invalid API token")
		}
		return identity{user: user, token: tokenID}, nil
	}
	ticket := ""
	if rest, ok := cutPrefixFold(authz, "PVEAuthCookie="); ok {
		ticket = rest
	} else if c, err := r.Cookie("PVEAuthCookie"); err == nil {
		ticket = c.Value
	}
	if ticket == "" {
		return identity{}, errNoTicket
	}
	user, err := s.cfg.Auth.VerifyTicket(ticket)
	if err != nil {
		return identity{}, api.Errorf(http.StatusUnauthorized, "invalid or expired ticket")
	}
	return identity{user: user, ticket: true}, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// fromClusterNode reports whether the client proved, with a certificate
// the cluster CA signed for a node, that it is a node of this cluster.
func fromClusterNode(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for _, ou := range leaf.Subject.OrganizationalUnit {
		if ou == pki.NodeOU {
			return true
		}
	}
	return false
}
