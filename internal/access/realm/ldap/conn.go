package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// conn is one connection to a directory server, closed when the context
// of the call that opened it ends so that a cancelled login does not wait
// for a slow server.
type conn struct {
	*ldap.Conn
	server string
	stop   func() bool
}

func (c *conn) close() {
	c.stop()
	_ = c.Close()
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// url returns the address of one server in the configured mode.
func (c *Config) url(server string) string {
	scheme, port := "ldap", 389
	if c.Mode == ModeLDAPS {
		scheme, port = "ldaps", 636
	}
	if c.Port != 0 {
		port = c.Port
	}
	return scheme + "://" + net.JoinHostPort(server, strconv.Itoa(port))
}

// tlsConfig builds the TLS settings for one server. Without Verify the
// certificate is not checked, which is the Proxmox VE default; the
// connection is then encrypted but open to a man in the middle.
func (c *Config) tlsConfig(server string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: server, MinVersion: c.TLSVersion, MaxVersion: c.TLSVersion}
	if c.TLSVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	if !c.Verify {
		tc.InsecureSkipVerify = true
	} else if c.CAPath != "" {
		pool, err := loadCAs(c.CAPath)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if c.CertPath != "" {
		cert, err := tls.LoadX509KeyPair(c.CertPath, c.CertKeyPath)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// loadCAs reads a PEM file, or every PEM file in a directory such as
// /etc/ssl/certs (files that hold no certificate are skipped there).
func loadCAs(path string) (*x509.CertPool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("capath: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("capath: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	pool := x509.NewCertPool()
	found := false
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if st.IsDir() {
				continue
			}
			return nil, fmt.Errorf("capath: %w", err)
		}
		if pool.AppendCertsFromPEM(data) {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("capath %s: no PEM certificates found", path)
	}
	return pool, nil
}

// dial connects to the first server that answers, trying server1 before
// server2, and sets up TLS as the mode asks. Only failures to reach a
// server or to secure the connection move on to the next server; the
// errors of all attempts are returned together when none works.
func (c *Config) dial(ctx context.Context) (*conn, error) {
	if len(c.Servers) == 0 {
		return nil, errors.New("ldap: no server configured")
	}
	var errs []error
	for _, server := range c.Servers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lc, err := c.dialOne(ctx, server)
		if err == nil {
			return lc, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.url(server), err))
	}
	return nil, fmt.Errorf("ldap: cannot connect: %w", errors.Join(errs...))
}

func (c *Config) dialOne(ctx context.Context, server string) (*conn, error) {
	tc, err := c.tlsConfig(server)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: c.timeout()}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	lc, err := ldap.DialURL(c.url(server), ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, err
	}
	lc.SetTimeout(c.timeout())
	out := &conn{Conn: lc, server: server, stop: context.AfterFunc(ctx, func() { _ = lc.Close() })}
	if c.Mode == ModeStartTLS {
		if err := lc.StartTLS(tc); err != nil {
			out.close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	return out, nil
}

// bindService binds with the realm's bind DN, or stays anonymous when
// there is none. A refusal here is a configuration problem, never a wrong
// user password, so it does not wrap realm.ErrAuth.
func (c *Config) bindService(lc *conn) error {
	if c.BindDN == "" {
		return nil
	}
	if c.Password == "" {
		return fmt.Errorf("ldap: bind_dn %s is set but no bind password is stored", c.BindDN)
	}
	if err := lc.Bind(c.BindDN, c.Password); err != nil {
		return fmt.Errorf("ldap: bind as %s on %s: %w", c.BindDN, lc.server, err)
	}
	return nil
}
