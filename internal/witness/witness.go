// Package witness runs a voter-only process that keeps a two-node cluster
// quorate when one node fails: it takes part in the consensus (and so
// holds a copy of the configuration tree) but runs no guests and serves no
// API. A cluster adds it with 'pvecm qdevice setup'.
package witness

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/cluster"
	"github.com/hearth-virt/hearth/internal/pki"
	"github.com/hearth-virt/hearth/internal/rest"
)

// Info is what a witness tells about itself before setup.
type Info struct {
	Name  string `json:"name"`
	Setup bool   `json:"setup"`
}

// Setup is what a cluster sends a witness: its CA and the witness's
// certificate issued by it.
type Setup struct {
	Cluster string `json:"cluster"`
	CA      string `json:"ca"`
	Cert    string `json:"cert"`
	Key     string `json:"key"`
}

// Config starts a witness.
type Config struct {
	Name     string // raft id; default "witness"
	StateDir string
	Listen   string // host:port
	Logger   *slog.Logger
	// Announce receives the fingerprint and setup token at start.
	Announce io.Writer
}

// Witness is a running witness.
type Witness struct {
	cfg     Config
	log     *slog.Logger
	id      *cluster.Identity
	store   *cfs.Store
	srv     *http.Server
	ln      net.Listener
	token   string
	bootFP  string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	setupMu sync.Mutex
}

// Start opens the witness's state and listens.
func Start(ctx context.Context, cfg Config) (*Witness, error) {
	if cfg.Name == "" {
		cfg.Name = "witness"
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	w := &Witness{cfg: cfg, log: cfg.Logger}
	var err error
	if w.id, err = cluster.LoadIdentity(filepath.Join(cfg.StateDir, "ssl")); err != nil {
		return nil, err
	}
	if w.token, err = loadToken(filepath.Join(cfg.StateDir, "setup-token")); err != nil {
		return nil, err
	}
	// Before setup the witness has no node certificate: it serves setup
	// with a self-signed one whose fingerprint it prints.
	boot, bootFP, err := bootstrapCert(cfg.Name)
	if err != nil {
		return nil, err
	}
	w.bootFP = bootFP
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	w.ln = ln
	raftNet := cluster.NewRaftNet(w.id, ln.Addr().String(), w.log.With("component", "raft"))
	w.store, err = cfs.Open(ctx, cfs.Config{Dir: filepath.Join(cfg.StateDir, "cfs"), NodeID: cfg.Name, NoBootstrap: true,
		Logger: w.log.With("component", "cfs"), Transport: raftNet.Transport, Forward: cluster.NewPeers(w.id).Forward})
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+cluster.WitnessInfoPath, w.info)
	mux.HandleFunc("POST "+cluster.WitnessSetupPath, w.setup)
	mux.Handle("/internal/", cluster.InternalHandler(w.store))
	w.srv = rest.NewHTTPServer(mux, nil, w.log)
	w.srv.TLSNextProto[cluster.ALPNRaft] = raftNet.Handoff
	w.srv.RegisterOnShutdown(raftNet.CloseConns)
	tlsConf := w.id.ServerTLS()
	tlsConf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if w.id.Ready() {
			return w.id.ServerTLS().GetConfigForClient(hello)
		}
		return &tls.Config{Certificates: []tls.Certificate{boot}, NextProtos: []string{"http/1.1"}}, nil
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		if err := w.srv.Serve(tls.NewListener(ln, tlsConf)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("witness server stopped", "error", err)
		}
	}()
	go func() { defer w.wg.Done(); w.stepDown(ctx) }()
	if cfg.Announce != nil {
		if w.id.Ready() {
			fmt.Fprintf(cfg.Announce, "Hearth witness %s listening on %s (set up; fingerprint %s)\n", cfg.Name, ln.Addr(), w.id.Fingerprint())
		} else {
			fmt.Fprintf(cfg.Announce, "Hearth witness %s listening on %s\n  fingerprint: %s\n  setup token: %s\nOn a cluster node run: pvecm qdevice setup %s --fingerprint %s --token %s\n",
				cfg.Name, ln.Addr(), bootFP, w.token, ln.Addr(), bootFP, w.token)
		}
	}
	return w, nil
}

// Addr is the address the witness listens on.
func (w *Witness) Addr() string { return w.ln.Addr().String() }

// Fingerprint is the fingerprint a cluster pins for setup.
func (w *Witness) Fingerprint() string { return w.bootFP }

// Token is the setup token.
func (w *Witness) Token() string { return w.token }

// Store is the witness's copy of the tree.
func (w *Witness) Store() *cfs.Store { return w.store }

// Close stops the witness.
func (w *Witness) Close() error {
	w.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	w.wg.Wait()
	return errors.Join(err, w.store.Close())
}

func (w *Witness) info(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	json.NewEncoder(rw).Encode(Info{Name: w.cfg.Name, Setup: w.id.Ready()})
}

// setup takes the identity a cluster issued; only a caller who knows the
// setup token may do it, and only once.
func (w *Witness) setup(rw http.ResponseWriter, r *http.Request) {
	w.setupMu.Lock()
	defer w.setupMu.Unlock()
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(cluster.WitnessTokenHeader)), []byte(w.token)) != 1 {
		http.Error(rw, "wrong setup token", http.StatusForbidden)
		return
	}
	if w.id.Ready() {
		http.Error(rw, "this witness already belongs to a cluster", http.StatusConflict)
		return
	}
	var s Setup
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&s); err != nil {
		http.Error(rw, "malformed setup: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := w.id.Set([]byte(s.CA), []byte(s.Cert), []byte(s.Key)); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.log.Info("witness set up", "cluster", s.Cluster)
	rw.WriteHeader(http.StatusNoContent)
}

// stepDown hands the leadership to a node whenever the witness gets it,
// so that the cluster's management runs where the API is.
func (w *Witness) stepDown(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.store.IsLeader() {
				if err := w.store.TransferLeadership(); err != nil {
					w.log.Debug("leadership transfer", "error", err)
				}
			}
		}
	}
}

func loadToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	return tok, atomicfile.Write(path, []byte(tok+"\n"), 0o600)
}

// bootstrapCert makes the self-signed certificate that serves setup. The
// cluster pins its fingerprint, so no chain is needed. It is new at each
// start: a witness not yet set up prints the fingerprint every time.
func bootstrapCert(name string) (tls.Certificate, string, error) {
	ca, _, err := pki.NewCA("Hearth witness "+name+" (setup)", time.Now())
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}, PrivateKey: ca.Key}, pki.Fingerprint(ca.Cert), nil
}
