package ldap

import (
	"bytes"
	"context"
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

	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// The test directory served by slapd.
const (
	testSuffix   = "dc=example,dc=org"
	testRootDN   = "cn=admin," + testSuffix
	testRootPW   = "admin-secret"
	testPeopleDN = "ou=people," + testSuffix
	testGroupsDN = "ou=groups," + testSuffix
	testReaderDN = "cn=reader," + testSuffix
	testReaderPW = "reader-secret"
)

const (
	slapdBin   = "/usr/sbin/slapd"
	slapaddBin = "/usr/sbin/slapadd"
	schemaDir  = "/etc/ldap/schema"
	moduleDir  = "/usr/lib/ldap"
)

// testLDIF holds users in inetOrgPerson entries with plain-text passwords
// (slapd compares those directly), a service account for bind_dn tests,
// groupOfNames groups that name members by DN and a posixGroup that names
// them by uid. "bad:name" has a uid user.cfg cannot hold.
const testLDIF = `dn: dc=example,dc=org
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

// testCA is a certificate authority made up for one test run.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
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
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) issue(t *testing.T) (certPEM, keyPEM []byte) {
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

// testServer is a running slapd with plain LDAP (StartTLS capable) on
// Port and LDAPS on TLSPort.
type testServer struct {
	Port, TLSPort int
	CAFile        string // the CA that signed the server certificate
	WrongCAFile   string // a CA that did not
	Dir           string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startSlapd runs a private slapd for one test, loaded with testLDIF, and
// stops it when the test ends. It skips the test when OpenLDAP is missing.
func startSlapd(t *testing.T) *testServer {
	t.Helper()
	for _, bin := range []string{slapdBin, slapaddBin} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("OpenLDAP server not installed (%s: %v); install the slapd package to run this test", bin, err)
		}
	}
	dir := t.TempDir()
	s := &testServer{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), WrongCAFile: filepath.Join(dir, "wrong-ca.pem")}
	ca := newTestCA(t, "hearth test CA")
	certPEM, keyPEM := ca.issue(t)
	writeFile(t, s.CAFile, ca.pem)
	writeFile(t, s.WrongCAFile, newTestCA(t, "unrelated CA").pem)
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
`, moduleDir, dir, testSuffix, testRootDN, testRootPW)
	confFile := filepath.Join(dir, "slapd.conf")
	writeFile(t, confFile, []byte(conf.String()))
	ldifFile := filepath.Join(dir, "data.ldif")
	writeFile(t, ldifFile, []byte(testLDIF))
	if out, err := exec.Command(slapaddBin, "-f", confFile, "-l", ldifFile).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}

	s.Port, s.TLSPort = freePort(t), freePort(t)
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
	return c.Bind(testRootDN, testRootPW)
}

// admin opens a connection bound as the root DN, for tests that change
// the directory between two syncs.
func (s *testServer) admin(t *testing.T) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://127.0.0.1:" + strconv.Itoa(s.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(testRootDN, testRootPW); err != nil {
		t.Fatal(err)
	}
	return c
}

// section builds a domains.cfg section from key/value pairs.
func section(typ, id string, kv ...string) sectioncfg.Section {
	s := sectioncfg.Section{Type: typ, ID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Props = append(s.Props, sectioncfg.Prop{Key: kv[i], Value: kv[i+1]})
	}
	return s
}

// realmConfig is an "ldap" realm on the test server; extra pairs are
// added to (or replace) the basic keys.
func (s *testServer) realmConfig(t *testing.T, bindPassword string, extra ...string) *Config {
	t.Helper()
	sec := section("ldap", "corp",
		"server1", "127.0.0.1",
		"port", strconv.Itoa(s.Port),
		"base_dn", testSuffix,
		"user_attr", "uid",
	)
	for i := 0; i+1 < len(extra); i += 2 {
		sec.Set(extra[i], extra[i+1])
	}
	c, err := ParseConfig(sec, bindPassword)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
