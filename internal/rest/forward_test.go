package rest

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/pki"
)

// staticNodes routes node names to test servers over mutual TLS.
type staticNodes struct {
	mu     sync.Mutex
	urls   map[string]string
	client *http.Client
}

func (s *staticNodes) Route(node string) (string, *http.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.urls[node]
	if !ok {
		return "", nil, fmt.Errorf("node '%s' is not a member of this cluster", node)
	}
	return u, s.client, nil
}

type testNode struct {
	srv    *httptest.Server
	client *http.Client // a plain API client trusting the cluster CA
}

// startCluster starts two API servers whose names differ, sharing one CA,
// each able to forward to the other.
func startCluster(t *testing.T) (*testNode, *testNode) {
	t.Helper()
	now := time.Now()
	ca, _, err := pki.NewCA("test cluster CA", now)
	if err != nil {
		t.Fatal(err)
	}
	routes := &staticNodes{urls: map[string]string{}}
	nodes := map[string]*testNode{}
	for _, name := range []string{"n1", "n2"} {
		certPEM, keyPEM, err := ca.NodeCert(name, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		srvTLS, err := pki.ServerTLS(certPEM, keyPEM, ca.Pool())
		if err != nil {
			t.Fatal(err)
		}
		if name == "n1" {
			cliTLS, err := pki.ClientTLS(certPEM, keyPEM, ca.Pool())
			if err != nil {
				t.Fatal(err)
			}
			routes.client = &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS}}
		}
		srv, err := New(Config{Node: name, Routes: testRoutes(name), Auth: fakeAuth{}, Tasks: &fakeRunner{},
			AuthFailDelay: time.Millisecond, Forwarder: routes})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(srv)
		ts.EnableHTTP2 = false
		ts.TLS = srvTLS
		ts.StartTLS()
		t.Cleanup(ts.Close)
		routes.urls[name] = ts.URL
		nodes[name] = &testNode{srv: ts, client: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}}
	}
	return nodes["n1"], nodes["n2"]
}

func TestForwardingToTheNamedNode(t *testing.T) {
	n1, n2 := startCluster(t)
	base := n1.srv.URL + APIPrefix
	alice := ticket("alice@pve")

	r := do(t, n1.client, "GET", base+"/nodes/n2/echo?count=2", nil, alice)
	if r.code != 200 || !strings.Contains(string(r.raw), `"ran":"n2"`) || !strings.Contains(string(r.raw), `"user":"alice@pve"`) {
		t.Fatalf("GET forwarded: %s %s", r.status, r.raw)
	}
	r = do(t, n1.client, "GET", base+"/nodes/n1/echo", nil, alice)
	if !strings.Contains(string(r.raw), `"ran":"n1"`) {
		t.Fatalf("local call ran elsewhere: %s", r.raw)
	}
	// A form body travels with the request.
	r = do(t, n1.client, "POST", base+"/nodes/n2/echo", strings.NewReader("count=9&name=bob"), alice)
	if r.code != 200 || !strings.Contains(string(r.raw), `"count":9,`) || !strings.Contains(string(r.raw), `"ran":"n2"`) {
		t.Fatalf("POST forwarded: %s %s", r.status, r.raw)
	}
	// Errors come back with the remote reason phrase.
	r = do(t, n1.client, "GET", base+"/nodes/n2/echo?name=fail", nil, alice)
	if r.status != "500 failed on n2" {
		t.Fatalf("remote error relayed as %q %s", r.status, r.raw)
	}
	// Tokens keep their identity across the hop.
	r = do(t, n1.client, "GET", base+"/nodes/n2/echo", nil, map[string]string{"Authorization": "PVEAPIToken=alice@pve!ci=s3cret"})
	if !strings.Contains(string(r.raw), `"token":"alice@pve!ci"`) {
		t.Fatalf("token lost: %s", r.raw)
	}
	// Permission is checked before forwarding.
	r = do(t, n1.client, "GET", base+"/nodes/n2/echo", nil, ticket("bob@pve"))
	if r.status != "403 Permission check failed (/nodes/n2, Sys.Audit)" {
		t.Fatalf("forbidden: %s", r.status)
	}

	// A forwarded identity without a node certificate is refused.
	r = do(t, n2.client, "GET", n2.srv.URL+APIPrefix+"/nodes/n2/echo", nil, map[string]string{HeaderForwardedUser: api.RootUser})
	if r.code != 401 {
		t.Fatalf("forged forwarded identity accepted: %s %s", r.status, r.raw)
	}

	// An unknown node and an unreachable node fail clearly.
	r = do(t, n1.client, "GET", base+"/nodes/n7/echo", nil, alice)
	if r.status != "500 node 'n7' is not a member of this cluster" {
		t.Fatalf("unknown node: %s", r.status)
	}
	n2.srv.Close()
	r = do(t, n1.client, "GET", base+"/nodes/n2/echo", nil, alice)
	if r.code != StatusProxyFailed || !strings.Contains(r.status, "node n2 is unreachable") {
		t.Fatalf("unreachable node: %s", r.status)
	}
}
