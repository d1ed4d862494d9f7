package access

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// Where the keys live in the cluster file system, named as Proxmox VE
// names them. Private halves are under priv/, readable by root only.
const (
	AuthKeyPath    = "priv/authkey.key"
	AuthPubPath    = "authkey.pub"
	AuthPubOldPath = "authkey.pub.old"
	CSRFKeyPath    = "priv/pve-www.key"
)

// KeyRotation is how often the ticket signing key is replaced; tickets
// signed with the previous key stay valid, since they live only 2 hours.
const KeyRotation = 24 * time.Hour

// EnsureKeys creates the ticket signing key and the CSRF secret when they
// do not exist yet, and replaces the signing key when it is older than
// KeyRotation. Concurrent callers on several nodes are safe: every write is
// conditional on the state it was computed from, and the loser simply
// sees the winner's keys.
func (s *Service) EnsureKeys(ctx context.Context, now time.Time) error {
	var ops []cfs.Op
	if _, err := s.store.Get(CSRFKeyPath); errors.Is(err, cfs.ErrNotFound) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		ops = append(ops, cfs.Write(CSRFKeyPath, []byte(hex.EncodeToString(secret)+"\n")).If(cfs.Cond{MustNotExist: true}))
	} else if err != nil {
		return err
	}
	pub, err := s.store.Get(AuthPubPath)
	switch {
	case errors.Is(err, cfs.ErrNotFound):
		keyOps, err := newKeyOps(nil, cfs.Cond{MustNotExist: true})
		if err != nil {
			return err
		}
		ops = append(ops, keyOps...)
	case err != nil:
		return err
	case now.Sub(time.Unix(pub.MTime, 0)) > KeyRotation:
		keyOps, err := newKeyOps(pub.Data, cfs.Cond{Version: pub.Version})
		if err != nil {
			return err
		}
		ops = append(ops, keyOps...)
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := s.store.Apply(ctx, ops...); err != nil {
		if errors.Is(err, cfs.ErrConflict) {
			return nil // another node did it first
		}
		return fmt.Errorf("writing authentication keys: %w", err)
	}
	s.log.Info("authentication keys written", "rotated", pubRotated(ops))
	return nil
}

func pubRotated(ops []cfs.Op) bool {
	for _, o := range ops {
		if o.Path == AuthPubOldPath {
			return true
		}
	}
	return false
}

// newKeyOps makes a new signing key pair; oldPub, if any, is kept as the
// previous public key. cond guards the write of the new public key.
func newKeyOps(oldPub []byte, cond cfs.Cond) ([]cfs.Op, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ops := []cfs.Op{
		cfs.Write(AuthPubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})).If(cond),
		cfs.Write(AuthKeyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
	}
	if oldPub != nil {
		ops = append(ops, cfs.Write(AuthPubOldPath, oldPub))
	}
	return ops, nil
}

// loadSigner builds a signer from the stored keys.
func (s *Service) loadSigner() (*Signer, error) {
	privEntry, err := s.store.Get(AuthKeyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the ticket key: %w", err)
	}
	priv, err := parsePrivateKey(privEntry.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AuthKeyPath, err)
	}
	var pubs []ed25519.PublicKey
	for _, p := range []string{AuthPubPath, AuthPubOldPath} {
		e, err := s.store.Get(p)
		if errors.Is(err, cfs.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pub, err := parsePublicKey(e.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		pubs = append(pubs, pub)
	}
	csrf, err := s.store.Get(CSRFKeyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the CSRF key: %w", err)
	}
	return NewSigner(priv, pubs, []byte(strings.TrimSpace(string(csrf.Data)))), nil
}

func parsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return priv, nil
}

func parsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return pub, nil
}
