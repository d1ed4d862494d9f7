// Package ldaptest runs a real OpenLDAP slapd for tests: a private
// configuration and database in a temporary directory, plain LDAP with
// StartTLS and LDAPS under a CA made up for the run, and a small directory
// of people and groups (see LDIF).
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The test directory served by slapd.
const (
	Suffix   = "dc=example,dc=org"
	RootDN   = "cn=admin," + Suffix
	RootPW   = "admin-secret"
	PeopleDN = "ou=people," + Suffix
	GroupsDN = "ou=groups," + Suffix
	ReaderDN = "cn=reader," + Suffix
	ReaderPW = "reader-secret"
)

const (
	slapdBin   = "/usr/sbin/slapd"
	slapaddBin = "/usr/sbin/slapadd"
	schemaDir  = "/etc/ldap/schema"
	moduleDir  = "/usr/lib/ldap"
)

// LDIF holds users in inetOrgPerson entries with plain-text passwords
// (slapd compares those directly), a service account for bind_dn tests,
// groupOfNames groups that name members by DN and a posixGroup that names
// them by uid. "bad:name" has a uid user.cfg cannot hold.
const LDIF = `dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=reader,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: reader-secret

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
givenName: Alice
sn: Liddell
mail: alice@example.org
userPassword: alice-pw

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@example.org
description: contractor
userPassword: bob-pw

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Singer
userPassword: carol-pw

dn: uid=Dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: Dave
cn: Dave
sn: Mixed
userPassword: dave-pw

dn: uid=bad:name,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bad:name
cn: Bad
sn: Name
userPassword: bad-pw

dn: cn=admins,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=org

dn: cn=devs,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: devs
member: UID=Alice, OU=People,dc=example,dc=org
member: uid=bob,ou=people,dc=example,dc=org
member: uid=nobody,ou=people,dc=example,dc=org
member: uid=dave,ou=people,dc=example,dc=org

dn: cn=ops,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: ops
gidNumber: 5000
memberUid: carol
memberUid: ghost
`

// ca is a certificate authority made up for one test run.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t testing.TB, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a server certificate for 127.0.0.1 and localhost.
func (ca *ca) issue(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// Server is a running slapd with plain LDAP (StartTLS capable) on
// Port and LDAPS on TLSPort.
type Server struct {
	Port, TLSPort int
	CAFile        string // the CA that signed the server certificate
	WrongCAFile   string // a CA that did not
	Dir           string
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Start runs a private slapd for one test, loaded with LDIF, and
// stops it when the test ends. It skips the test when OpenLDAP is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	for _, bin := range []string{slapdBin, slapaddBin} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("OpenLDAP server not installed (%s: %v); install the slapd package to run this test", bin, err)
		}
	}
	dir := t.TempDir()
	s := &Server{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), WrongCAFile: filepath.Join(dir, "wrong-ca.pem")}
	ca := newCA(t, "hearth test CA")
	certPEM, keyPEM := ca.issue(t)
	writeFile(t, s.CAFile, ca.pem)
	writeFile(t, s.WrongCAFile, newCA(t, "unrelated CA").pem)
	writeFile(t, filepath.Join(dir, "server.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "server.key"), keyPEM)
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	for _, schema := range []string{"core", "cosine", "nis", "inetorgperson"} {
		fmt.Fprintf(&conf, "include %s/%s.schema\n", schemaDir, schema)
	}
	fmt.Fprintf(&conf, `modulepath %[1]s
moduleload back_mdb
pidfile %[2]s/slapd.pid
TLSCACertificateFile %[2]s/ca.pem
TLSCertificateFile %[2]s/server.pem
TLSCertificateKeyFile %[2]s/server.key
database mdb
maxsize 10485760
suffix "%[3]s"
rootdn "%[4]s"
rootpw %[5]s
directory %[2]s/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
`, moduleDir, dir, Suffix, RootDN, RootPW)
	confFile := filepath.Join(dir, "slapd.conf")
	writeFile(t, confFile, []byte(conf.String()))
	ldifFile := filepath.Join(dir, "data.ldif")
	writeFile(t, ldifFile, []byte(LDIF))
	if out, err := exec.Command(slapaddBin, "-f", confFile, "-l", ldifFile).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}

	s.Port, s.TLSPort = FreePort(t), FreePort(t)
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.Port, s.TLSPort)
	var stderr bytes.Buffer
	// -d keeps slapd in the foreground, so the test owns the process.
	cmd := exec.Command(slapdBin, "-f", confFile, "-h", urls, "-d", "0")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // let the cleanup's receive finish
			t.Fatalf("slapd exited early: %v\n%s", err, stderr.String())
		default:
		}
		if err := rootBind(s.Port); err == nil {
			return s
		} else if time.Now().After(deadline) {
			t.Fatalf("slapd not ready after 15s: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rootBind(port int) error {
	c, err := ldap.DialURL("ldap://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(RootDN, RootPW)
}

// Admin opens a connection bound as the root DN, for tests that change
// the directory between two syncs.
func (s *Server) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://127.0.0.1:" + strconv.Itoa(s.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(RootDN, RootPW); err != nil {
		t.Fatal(err)
	}
	return c
}
