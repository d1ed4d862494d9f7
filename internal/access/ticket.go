package access

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Ticket lifetimes, as Proxmox VE: a ticket is valid for two hours, and
// clocks of different nodes may disagree by up to five minutes.
const (
	TicketLifetime = 2 * time.Hour
	ClockSkew      = 5 * time.Minute
)

// Signer issues and checks tickets and CSRF tokens. Tickets are signed
// with an Ed25519 key that every node can verify with the public half;
// the previous public key is still accepted after a rotation, so tickets
// issued just before it stay valid. CSRF tokens are an HMAC under a
// cluster-wide secret.
type Signer struct {
	priv ed25519.PrivateKey
	pubs []ed25519.PublicKey // current first, then older ones
	csrf []byte

	// verified remembers tickets whose signature checked out: a signature
	// check costs more than all the rest of an API request, and clients
	// send the same ticket with every call. A new key set is a new Signer,
	// so the memory never outlives the keys. Age is still checked each time.
	mu       sync.Mutex
	verified map[string]verifiedTicket
}

type verifiedTicket struct {
	data   string
	issued time.Time
}

// maxVerified bounds the memory of verified tickets; when full it starts
// over, which costs one signature check per active session.
const maxVerified = 4096

// NewSigner builds a signer. priv may be nil on a node that only verifies.
func NewSigner(priv ed25519.PrivateKey, pubs []ed25519.PublicKey, csrfSecret []byte) *Signer {
	return &Signer{priv: priv, pubs: pubs, csrf: csrfSecret, verified: map[string]verifiedTicket{}}
}

// Ticket issues a ticket for userid: PVE:<userid>:<8 hex time>::<signature>.
func (s *Signer) Ticket(userid string, now time.Time) (string, error) {
	return s.sign("PVE", userid, now)
}

func (s *Signer) sign(prefix, data string, now time.Time) (string, error) {
	if s.priv == nil {
		return "", errors.New("this node holds no ticket signing key")
	}
	plain := fmt.Sprintf("%s:%s:%08X", prefix, data, uint32(now.Unix()))
	sig := ed25519.Sign(s.priv, []byte(plain))
	return plain + "::" + base64.StdEncoding.EncodeToString(sig), nil
}

// ErrTicket is returned for any ticket that does not verify; callers must
// not tell clients which check failed.
var ErrTicket = errors.New("invalid or expired ticket")

// VerifyTicket checks a ticket and returns its user and issue time.
func (s *Signer) VerifyTicket(ticket string, now time.Time) (string, time.Time, error) {
	return s.verify("PVE", ticket, now, TicketLifetime)
}

func (s *Signer) verify(prefix, ticket string, now time.Time, lifetime time.Duration) (string, time.Time, error) {
	s.mu.Lock()
	v, hit := s.verified[ticket]
	s.mu.Unlock()
	if hit && strings.HasPrefix(ticket, prefix+":") {
		if age := now.Sub(v.issued); age < -ClockSkew || age > lifetime {
			return "", time.Time{}, ErrTicket
		}
		return v.data, v.issued, nil
	}
	plain, sigText, ok := strings.Cut(ticket, "::")
	if !ok || len(plain) < len(prefix)+11 {
		return "", time.Time{}, ErrTicket
	}
	if !strings.HasPrefix(plain, prefix+":") {
		return "", time.Time{}, ErrTicket
	}
	timeHex := plain[len(plain)-8:]
	if plain[len(plain)-9] != ':' {
		return "", time.Time{}, ErrTicket
	}
	data := plain[len(prefix)+1 : len(plain)-9]
	ts, err := strconv.ParseUint(timeHex, 16, 32)
	if err != nil || data == "" || strings.ToUpper(timeHex) != timeHex {
		return "", time.Time{}, ErrTicket
	}
	issued := time.Unix(int64(ts), 0)
	age := now.Sub(issued)
	if age < -ClockSkew || age > lifetime {
		return "", time.Time{}, ErrTicket
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", time.Time{}, ErrTicket
	}
	for _, pub := range s.pubs {
		if ed25519.Verify(pub, []byte(plain), sig) {
			s.mu.Lock()
			if len(s.verified) >= maxVerified {
				clear(s.verified)
			}
			s.verified[ticket] = verifiedTicket{data: data, issued: issued}
			s.mu.Unlock()
			return data, issued, nil
		}
	}
	return "", time.Time{}, ErrTicket
}

// CSRFToken issues the token that must accompany every change made with
// a ticket: <8 hex time>:<base64 HMAC-SHA256 of "time:userid">.
func (s *Signer) CSRFToken(userid string, now time.Time) string {
	ts := fmt.Sprintf("%08X", uint32(now.Unix()))
	return ts + ":" + s.csrfMAC(ts, userid)
}

func (s *Signer) csrfMAC(ts, userid string) string {
	m := hmac.New(sha256.New, s.csrf)
	m.Write([]byte(ts + ":" + userid))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// ErrCSRF is returned for a missing, forged or expired CSRF token.
var ErrCSRF = errors.New("invalid csrf token")

// VerifyCSRF checks a CSRF token for userid.
func (s *Signer) VerifyCSRF(userid, token string, now time.Time) error {
	ts, mac, ok := strings.Cut(token, ":")
	if !ok || len(ts) != 8 {
		return ErrCSRF
	}
	n, err := strconv.ParseUint(ts, 16, 32)
	if err != nil {
		return ErrCSRF
	}
	age := now.Sub(time.Unix(int64(n), 0))
	if age < -ClockSkew || age > TicketLifetime {
		return ErrCSRF
	}
	if !hmac.Equal([]byte(mac), []byte(s.csrfMAC(ts, userid))) {
		return ErrCSRF
	}
	return nil
}

// TFALifetime bounds the time between the password and the second factor
// of a two-step login.
const TFALifetime = 5 * time.Minute

// tfaPrefix marks the data of a half ticket; no user id starts with it,
// so a half ticket never passes as a login ticket.
const tfaPrefix = "!tfa!"

// TFATicket issues the half ticket of a two-step login, as Proxmox VE
// shapes it: PVE:!tfa!<url-encoded challenge>:<time>::<signature>. The
// user id is not in the text but is covered by the signature, so the
// ticket only completes a login for the user who gave the password.
func (s *Signer) TFATicket(userid, challenge string, now time.Time) (string, error) {
	if s.priv == nil {
		return "", errors.New("this node holds no ticket signing key")
	}
	plain := fmt.Sprintf("PVE:%s%s:%08X", tfaPrefix, url.QueryEscape(challenge), uint32(now.Unix()))
	sig := ed25519.Sign(s.priv, []byte(plain+"\x00"+userid))
	return plain + "::" + base64.StdEncoding.EncodeToString(sig), nil
}

// VerifyTFATicket checks a half ticket for userid and returns its challenge.
func (s *Signer) VerifyTFATicket(ticket, userid string, now time.Time) (string, error) {
	plain, sigText, ok := strings.Cut(ticket, "::")
	if !ok || !strings.HasPrefix(plain, "PVE:"+tfaPrefix) || len(plain) < 9 || plain[len(plain)-9] != ':' {
		return "", ErrTicket
	}
	timeHex := plain[len(plain)-8:]
	ts, err := strconv.ParseUint(timeHex, 16, 32)
	if err != nil || strings.ToUpper(timeHex) != timeHex {
		return "", ErrTicket
	}
	if age := now.Sub(time.Unix(int64(ts), 0)); age < -ClockSkew || age > TFALifetime {
		return "", ErrTicket
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", ErrTicket
	}
	for _, pub := range s.pubs {
		if ed25519.Verify(pub, []byte(plain+"\x00"+userid), sig) {
			challenge, err := url.QueryUnescape(plain[len("PVE:"+tfaPrefix) : len(plain)-9])
			if err != nil {
				return "", ErrTicket
			}
			return challenge, nil
		}
	}
	return "", ErrTicket
}
