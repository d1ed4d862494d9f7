package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// Node-to-node calls live outside /api2/json: they are not part of the
// public API and only nodes of the cluster may make them.
const (
	internalPrefix = "/internal/"
	forwardPath    = "/internal/cfs/forward"
)

// Peers makes calls to other nodes over mutual TLS.
type Peers struct {
	id     *Identity
	client *http.Client
}

// NewPeers builds the client side of node-to-node traffic.
func NewPeers(id *Identity) *Peers {
	return &Peers{id: id, client: &http.Client{
		Transport: &http.Transport{
			// A node that is cut off never answers the connection attempt;
			// without a bound, callers wait for the kernel to give up.
			DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			TLSClientConfig:     id.ClientTLS("http/1.1"),
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		Timeout: 60 * time.Second,
	}}
}

// Client is the HTTP client for calls to other nodes.
func (p *Peers) Client() *http.Client { return p.client }

// Forward is the cfs.Forwarder: it hands a request to the leader.
func (p *Peers) Forward(ctx context.Context, leader cfs.Server, req cfs.ForwardRequest) (cfs.ForwardResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return cfs.ForwardResult{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+leader.Address+forwardPath, bytes.NewReader(body))
	if err != nil {
		return cfs.ForwardResult{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(hreq)
	if err != nil {
		return cfs.ForwardResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		// A node answers 503 to everything until it has started; it did not
		// look at the request.
		return cfs.ForwardResult{}, fmt.Errorf("leader %s: %w", leader.ID, cfs.ErrLeaderStarting)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return cfs.ForwardResult{}, fmt.Errorf("leader %s answered %s: %s", leader.ID, resp.Status, bytes.TrimSpace(msg))
	}
	var res cfs.ForwardResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return cfs.ForwardResult{}, fmt.Errorf("leader %s: bad answer: %w", leader.ID, err)
	}
	return res, nil
}

// InternalHandler serves node-to-node calls. Every request must come with
// a node certificate of this cluster.
func InternalHandler(store *cfs.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+forwardPath, func(w http.ResponseWriter, r *http.Request) {
		var req cfs.ForwardRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 2*int64(cfs.DefaultMaxTotalSize))).Decode(&req); err != nil {
			http.Error(w, "malformed request: "+err.Error(), http.StatusBadRequest)
			return
		}
		res := store.Execute(r.Context(), req)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !IsNodeCert(r.TLS.VerifiedChains[0][0]) {
			http.Error(w, "only cluster nodes may call this", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// IsInternal reports whether a request path is a node-to-node call.
func IsInternal(path string) bool {
	return len(path) >= len(internalPrefix) && path[:len(internalPrefix)] == internalPrefix
}
