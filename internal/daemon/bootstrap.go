package daemon

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/cluster"
	"github.com/hearth-virt/hearth/internal/pki"
)

const (
	caCertPath = cluster.CACertPath
	caKeyPath  = cluster.CAKeyPath
)

var (
	nodeCertPath = cluster.NodeCertPath
	nodeKeyPath  = cluster.NodeKeyPath
)

// ensureLayout creates this node's directories in the tree.
func (d *Daemon) ensureLayout(ctx context.Context) error {
	var ops []cfs.Op
	for _, dir := range []string{"nodes", "nodes/" + d.cfg.Node, "nodes/" + d.cfg.Node + "/qemu-server", "nodes/" + d.cfg.Node + "/lxc", "priv"} {
		if _, err := d.store.Get(dir); errors.Is(err, cfs.ErrNotFound) {
			ops = append(ops, cfs.Mkdir(dir))
		} else if err != nil {
			return err
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := d.store.Apply(ctx, ops...); err != nil && !errors.Is(err, cfs.ErrConflict) {
		return fmt.Errorf("creating the node's directories: %w", err)
	}
	return nil
}

// renewBefore is how long before expiry a node certificate is replaced.
const renewBefore = 30 * 24 * time.Hour

// ensureCertificates creates the cluster CA on the first node and a
// certificate for this node, renewing it when it no longer matches the CA
// or expires soon, and makes them the node's identity. Without quorum the
// identity kept on local disk is used as it is.
func (d *Daemon) ensureCertificates(ctx context.Context) error {
	if !d.store.Quorate() {
		if d.id.Ready() {
			return nil
		}
		return errors.New("no quorum and no local certificate: this node cannot start")
	}
	now := time.Now()
	caCert, err1 := d.store.Get(caCertPath)
	caKey, err2 := d.store.Get(caKeyPath)
	if errors.Is(err1, cfs.ErrNotFound) && errors.Is(err2, cfs.ErrNotFound) {
		ca, keyPEM, err := pki.NewCA("Hearth cluster CA "+randomID(), now)
		if err != nil {
			return err
		}
		if _, err := d.store.Apply(ctx,
			cfs.Write(caCertPath, ca.PEM).If(cfs.Cond{MustNotExist: true}),
			cfs.Write(caKeyPath, keyPEM).If(cfs.Cond{MustNotExist: true}),
		); err != nil && !errors.Is(err, cfs.ErrConflict) {
			return fmt.Errorf("storing the cluster CA: %w", err)
		}
		d.log.Info("created the cluster certificate authority")
		if caCert, err1 = d.store.Get(caCertPath); err1 == nil {
			caKey, err2 = d.store.Get(caKeyPath)
		}
	}
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("reading the cluster CA: %w", err)
	}
	ca, err := pki.LoadCA(caCert.Data, caKey.Data)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := d.nodeCertificate(ctx, ca, now)
	if err != nil {
		return err
	}
	if cur, curCert, curKey := d.id.PEM(); string(cur) == string(caCert.Data) && string(curCert) == string(certPEM) && string(curKey) == string(keyPEM) {
		return nil
	}
	return d.id.Set(caCert.Data, certPEM, keyPEM)
}

func (d *Daemon) nodeCertificate(ctx context.Context, ca *pki.CA, now time.Time) ([]byte, []byte, error) {
	certE, err1 := d.store.Get(nodeCertPath(d.cfg.Node))
	keyE, err2 := d.store.Get(nodeKeyPath(d.cfg.Node))
	if err1 == nil && err2 == nil {
		if cert, err := pki.ParseCert(certE.Data); err == nil {
			_, verr := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if verr == nil && cert.NotAfter.Sub(now) > renewBefore {
				return certE.Data, keyE.Data, nil
			}
		}
	}
	certPEM, keyPEM, err := ca.NodeCert(d.cfg.Node, hostNames(), now)
	if err != nil {
		return nil, nil, err
	}
	if _, err := d.store.Apply(ctx,
		cfs.Write(nodeCertPath(d.cfg.Node), certPEM),
		cfs.Write(nodeKeyPath(d.cfg.Node), keyPEM),
	); err != nil {
		return nil, nil, fmt.Errorf("storing the node certificate: %w", err)
	}
	d.log.Info("issued the node certificate", "node", d.cfg.Node)
	return certPEM, keyPEM, nil
}

// hostNames lists the names and addresses a client may use for this host.
func hostNames() []string {
	var out []string
	if h, err := os.Hostname(); err == nil {
		out = append(out, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// initialPasswordFile is where a generated first password is kept.
func (d *Daemon) initialPasswordFile() string {
	return filepath.Join(d.cfg.StateDir, "initial-password")
}

// bootstrapAdmin creates admin@pve on the first start, with the password
// from --initial-password-file or a generated one saved (mode 0600) for
// the administrator to read.
func (d *Daemon) bootstrapAdmin(ctx context.Context) error {
	password, generated := "", false
	if f := d.cfg.InitialPasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("initial password: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	} else {
		password, generated = generatePassword(), true
	}
	created, err := d.access.Bootstrap(ctx, password)
	if err != nil || !created {
		return err
	}
	if generated {
		if err := atomicfile.Write(d.initialPasswordFile(), []byte(password+"\n"), 0o600); err != nil {
			return fmt.Errorf("saving the initial password: %w", err)
		}
		d.newPassword = password
	}
	return nil
}

// generatePassword makes a 20-character password without characters that
// are easily confused when read from a terminal.
func generatePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b strings.Builder
	for i := 0; i < 20; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String()
}

func randomID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<40))
	return fmt.Sprintf("%010x", n)
}

// announce prints where the node can be reached and how to log in.
func (d *Daemon) announce() {
	w := d.cfg.Announce
	if w == nil {
		return
	}
	_, port, _ := net.SplitHostPort(d.httpLn.Addr().String())
	host := "localhost"
	if h, _, _ := net.SplitHostPort(d.cfg.Listen); h != "" && h != "0.0.0.0" && h != "::" {
		host = h
	}
	fp := d.id.Fingerprint()
	fmt.Fprintf(w, "\nHearth %s is running as node %s.\n", api.HearthVersion, d.cfg.Node)
	fmt.Fprintf(w, "  URL:          https://%s:%s/\n", host, port)
	switch {
	case d.newPassword != "":
		fmt.Fprintf(w, "  Log in as:    admin@pve  password: %s\n", d.newPassword)
		fmt.Fprintf(w, "                (shown once; also saved in %s)\n", d.initialPasswordFile())
	case fileExists(d.initialPasswordFile()):
		fmt.Fprintf(w, "  Log in as:    admin@pve  (initial password in %s)\n", d.initialPasswordFile())
	default:
		fmt.Fprintf(w, "  Log in as:    an administrator of this cluster\n")
	}
	fmt.Fprintf(w, "  Certificate:  %s\n", fp)
	fmt.Fprintf(w, "  CLI as root:  HEARTH_SOCKET=%s hearth pvesh get /nodes\n\n", d.cfg.Socket)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
