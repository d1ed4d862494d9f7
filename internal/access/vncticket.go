package access

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Console tickets open one console session: Proxmox VE's "PVEVNC" shape,
// PVEVNC:<8 hex time>::<signature>. The user and the object path are not
// in the text but are covered by the signature, so a ticket opens only
// the console it was issued for, and only for its user. They live for
// seconds, not hours: a client asks for one right before connecting.
const (
	vncPrefix = "PVEVNC"
	// VNCTicketLifetime bounds the age of a console ticket, and
	// vncClockSkew how far in the future its time may be, as Proxmox VE
	// bounds them.
	VNCTicketLifetime = 40 * time.Second
	vncClockSkew      = 20 * time.Second
)

// VNCTicket issues a console ticket for authid (a user or a token id) on
// path, such as /vms/100.
func (s *Signer) VNCTicket(authid, path string, now time.Time) (string, error) {
	if s.priv == nil {
		return "", errors.New("this node holds no ticket signing key")
	}
	plain := fmt.Sprintf("%s:%08X", vncPrefix, uint32(now.Unix()))
	sig := ed25519.Sign(s.priv, vncSigned(plain, authid, path))
	return plain + "::" + base64.StdEncoding.EncodeToString(sig), nil
}

// vncSigned is the message a console ticket signs. A login ticket's
// message starts with "PVE:", so neither kind verifies as the other.
func vncSigned(plain, authid, path string) []byte {
	return []byte(plain + ":" + authid + ":" + path)
}

// VerifyVNCTicket checks a console ticket for authid on path.
func (s *Signer) VerifyVNCTicket(ticket, authid, path string, now time.Time) error {
	plain, sigText, ok := strings.Cut(ticket, "::")
	timeHex, found := strings.CutPrefix(plain, vncPrefix+":")
	if !ok || !found || len(timeHex) != 8 || strings.ToUpper(timeHex) != timeHex {
		return ErrTicket
	}
	ts, err := strconv.ParseUint(timeHex, 16, 32)
	if err != nil {
		return ErrTicket
	}
	if age := now.Sub(time.Unix(int64(ts), 0)); age < -vncClockSkew || age > VNCTicketLifetime {
		return ErrTicket
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrTicket
	}
	msg := vncSigned(plain, authid, path)
	for _, pub := range s.pubs {
		if ed25519.Verify(pub, msg, sig) {
			return nil
		}
	}
	return ErrTicket
}

// VNCTicket issues a console ticket with the cluster's ticket key, which
// every node can verify.
func (s *Service) VNCTicket(authid, path string) (string, error) {
	st, err := s.current()
	if err != nil {
		return "", err
	}
	return st.signer.VNCTicket(authid, path, s.now())
}

// VerifyVNCTicket checks a console ticket issued by any node.
func (s *Service) VerifyVNCTicket(ticket, authid, path string) error {
	st, err := s.current()
	if err != nil {
		return err
	}
	return st.signer.VerifyVNCTicket(ticket, authid, path, s.now())
}
