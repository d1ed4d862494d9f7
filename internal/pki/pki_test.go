package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNodeCertificateChainsToTheCA(t *testing.T) {
	now := time.Now()
	ca, keyPEM, err := NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCA(ca.PEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, nodeKey, err := loaded.NodeCert("pve1", []string{"192.0.2.10", "pve1.example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "pve1.example.com", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("usage %v: %v", usage, err)
		}
	}
	if err := cert.VerifyHostname("192.0.2.10"); err != nil {
		t.Error(err)
	}
	if cert.Subject.CommonName != "pve1" || cert.Subject.OrganizationalUnit[0] != NodeOU {
		t.Errorf("subject %v", cert.Subject)
	}
	if cert.NotAfter.Sub(now) < NodeValidity-2*time.Hour {
		t.Errorf("expires %v", cert.NotAfter)
	}
	if _, err := ServerTLS(certPEM, nodeKey, ca.Pool()); err != nil {
		t.Error(err)
	}
	if _, err := ClientTLS(certPEM, keyPEM, ca.Pool()); err == nil {
		t.Error("a certificate with the wrong key was accepted")
	}
	other, _, _ := NewCA("other CA", now)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Error("certificate verified against a foreign CA")
	}
}

func TestFingerprintNotation(t *testing.T) {
	ca, _, err := NewCA("fp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(ca.Cert)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q", fp)
	}
	sum := sha256.Sum256(ca.Cert.Raw)
	if strings.ReplaceAll(fp, ":", "") != fmt.Sprintf("%X", sum) {
		t.Fatal("fingerprint is not the SHA-256 of the certificate")
	}
}

func TestLoadRejectsGarbage(t *testing.T) {
	if _, err := LoadCA([]byte("nope"), []byte("nope")); err == nil {
		t.Fatal("garbage accepted")
	}
	ca, key, _ := NewCA("x", time.Now())
	leaf, leafKey, _ := ca.NodeCert("n", nil, time.Now())
	if _, err := LoadCA(leaf, leafKey); err == nil {
		t.Fatal("a leaf certificate loaded as CA")
	}
	if _, err := LoadCA(ca.PEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Fatal("broken key accepted")
	}
	_ = key
}
