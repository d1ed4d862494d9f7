// Package cluster turns single nodes into a cluster: the node's TLS
// identity issued by the cluster CA, the raft transport over the API port,
// forwarding of writes to the leader, membership and per-node status by
// gossip, the choice of voters, and creating, joining and leaving.
package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/pki"
)

// ALPNRaft is the TLS application protocol of consensus traffic. It shares
// the API port: the TLS handshake says which protocol a connection speaks.
const ALPNRaft = "hearth-raft"

// Identity is this node's certificate and the CA it trusts. Joining a
// cluster replaces both while the node runs; every TLS configuration built
// here reads the current values at handshake time.
type Identity struct {
	dir string // where the copies live: ca.pem, node.pem, node.key

	mu   sync.RWMutex
	cert *tls.Certificate
	ca   *x509.Certificate
	pool *x509.CertPool
	pems [3][]byte // ca, cert, key as PEM
}

// Local copies of the identity, outside the replicated tree: a node must
// be able to reach its peers before it has the tree.
const (
	caFile   = "ca.pem"
	certFile = "node.pem"
	keyFile  = "node.key"
)

// LoadIdentity reads the identity kept in dir, if any; an empty identity
// is returned when there is none yet.
func LoadIdentity(dir string) (*Identity, error) {
	id := &Identity{dir: dir}
	ca, err1 := os.ReadFile(filepath.Join(dir, caFile))
	cert, err2 := os.ReadFile(filepath.Join(dir, certFile))
	key, err3 := os.ReadFile(filepath.Join(dir, keyFile))
	if errors.Is(err1, os.ErrNotExist) && errors.Is(err2, os.ErrNotExist) && errors.Is(err3, os.ErrNotExist) {
		return id, nil
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("node identity in %s: %w", dir, err)
	}
	if err := id.set(ca, cert, key); err != nil {
		return nil, fmt.Errorf("node identity in %s: %w", dir, err)
	}
	return id, nil
}

// Set replaces the identity and saves it.
func (id *Identity) Set(caPEM, certPEM, keyPEM []byte) error {
	if err := id.set(caPEM, certPEM, keyPEM); err != nil {
		return err
	}
	if err := os.MkdirAll(id.dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{caFile, caPEM}, {certFile, certPEM}, {keyFile, keyPEM}} {
		if err := atomicfile.Write(filepath.Join(id.dir, f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("saving the node identity: %w", err)
		}
	}
	return nil
}

func (id *Identity) set(caPEM, certPEM, keyPEM []byte) error {
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	pair.Leaf = leaf
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("node certificate is not issued by the CA: %w", err)
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	id.cert, id.ca, id.pool = &pair, ca, pool
	id.pems = [3][]byte{caPEM, certPEM, keyPEM}
	return nil
}

// Ready reports whether the identity is set.
func (id *Identity) Ready() bool {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.cert != nil
}

// PEM returns the CA certificate, node certificate and key.
func (id *Identity) PEM() (ca, cert, key []byte) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.pems[0], id.pems[1], id.pems[2]
}

// Fingerprint is the SHA-256 fingerprint of the node certificate.
func (id *Identity) Fingerprint() string {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.cert == nil {
		return ""
	}
	return pki.Fingerprint(id.cert.Leaf)
}

// Pool is the set of trusted CAs (the cluster CA).
func (id *Identity) Pool() *x509.CertPool {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.pool
}

var errNoIdentity = errors.New("this node has no certificate yet")

func (id *Identity) current() (*tls.Certificate, *x509.CertPool, error) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.cert == nil {
		return nil, nil, errNoIdentity
	}
	return id.cert, id.pool, nil
}

// ServerTLS is the configuration of the node's listener: the API for
// everyone, and consensus traffic (ALPN hearth-raft) for nodes. Client
// certificates are checked against the cluster CA when offered.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1", ALPNRaft},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool, err := id.current()
			if err != nil {
				return nil, err
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   []string{"http/1.1", ALPNRaft},
				Certificates: []tls.Certificate{*cert},
				ClientAuth:   tls.VerifyClientCertIfGiven,
				ClientCAs:    pool,
			}, nil
		},
	}
}

// ClientTLS is the configuration for calling another node: present this
// node's certificate and accept only peers with a node certificate of the
// cluster CA. Peers are checked by chain and role, not by host name,
// because nodes are addressed by IP and may move.
func (id *Identity) ClientTLS(nextProto string) *tls.Config {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _, err := id.current()
			if err != nil {
				return nil, err
			}
			return cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return id.verifyPeer(cs.PeerCertificates)
		},
	}
	if nextProto != "" {
		conf.NextProtos = []string{nextProto}
	}
	return conf
}

// verifyPeer checks that a peer presented a node certificate of our CA.
func (id *Identity) verifyPeer(chain []*x509.Certificate) error {
	_, pool, err := id.current()
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return errors.New("peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("peer certificate is not from this cluster: %w", err)
	}
	if !IsNodeCert(chain[0]) {
		return fmt.Errorf("peer certificate %q is not a node certificate", chain[0].Subject.CommonName)
	}
	return nil
}

// IsNodeCert reports whether a certificate was issued to a cluster node.
func IsNodeCert(c *x509.Certificate) bool {
	for _, ou := range c.Subject.OrganizationalUnit {
		if ou == pki.NodeOU {
			return true
		}
	}
	return false
}
