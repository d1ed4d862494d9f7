package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/hearth-virt/hearth/internal/pki"
)

func TestConfRoundTrip(t *testing.T) {
	in := "cluster: lab\n\tcreated 1700000000\n\n" +
		"node: b\n\tnodeid 2\n\taddress 10.0.0.2:8006\n\tgossip 10.0.0.2:8007\n\n" +
		"node: a\n\tnodeid 1\n\taddress 10.0.0.1:8006\n\n" +
		"node: broken\n\taddress 10.0.0.9:8006\n\n" +
		"witness: w\n\taddress 10.0.0.3:8006\n\tfingerprint AB\n\n" +
		"mystery: x\n\n"
	c, warnings := ParseConf([]byte(in))
	if len(warnings) != 2 || !strings.Contains(warnings[0], "node broken lacks") || !strings.Contains(warnings[1], `unknown section type "mystery"`) {
		t.Fatalf("warnings %q", warnings)
	}
	if c.Name != "lab" || len(c.Nodes) != 2 || c.Nodes[0].Name != "a" || c.Witness.Name != "w" {
		t.Fatalf("parsed %+v", c)
	}
	want := "cluster: lab\n\tcreated 1700000000\n\n" +
		"node: a\n\tnodeid 1\n\taddress 10.0.0.1:8006\n\n" +
		"node: b\n\tnodeid 2\n\taddress 10.0.0.2:8006\n\tgossip 10.0.0.2:8007\n\n" +
		"witness: w\n\taddress 10.0.0.3:8006\n\tfingerprint AB\n\n"
	if got := string(c.Bytes()); got != want {
		t.Fatalf("Bytes:\n%s\nwant:\n%s", got, want)
	}
	if c.NextNodeID() != 3 {
		t.Fatalf("next id %d", c.NextNodeID())
	}
	c.RemoveNode("a")
	if c.NextNodeID() != 1 {
		t.Fatal("a freed id is not reused")
	}
}

func TestWantVoters(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 9: 5, 40: 5} {
		if got := wantVoters(n); got != want {
			t.Errorf("wantVoters(%d) = %d, want %d", n, got, want)
		}
	}
}

// testCA issues identities for test nodes.
type testCA struct {
	ca *pki.CA
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca, _, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca: ca}
}

func (c *testCA) identity(t *testing.T, node string) *Identity {
	t.Helper()
	cert, key, err := c.ca.NodeCert(node, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := LoadIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Set(c.ca.PEM, cert, key); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIdentityPersistsAndRefusesStrangers(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	cert, key, _ := ca.ca.NodeCert("n1", nil, time.Now())
	id, _ := LoadIdentity(dir)
	if id.Ready() {
		t.Fatal("an empty directory gave an identity")
	}
	if err := id.Set(ca.ca.PEM, cert, key); err != nil {
		t.Fatal(err)
	}
	again, err := LoadIdentity(dir)
	if err != nil || !again.Ready() || again.Fingerprint() != id.Fingerprint() {
		t.Fatalf("reloaded identity: %v", err)
	}
	other := newTestCA(t)
	foreign, _, _ := other.ca.NodeCert("n1", nil, time.Now())
	if err := id.Set(ca.ca.PEM, foreign, key); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
	stranger := other.identity(t, "x")
	_, strangerCert, _ := stranger.PEM()
	c, _ := pki.ParseCert(strangerCert)
	if err := id.verifyPeer([]*x509.Certificate{c}); err == nil {
		t.Fatal("a peer of another cluster was accepted")
	}
}

// servedRaftNet puts a RaftNet behind a real TLS listener with the HTTP
// server's ALPN hand-off, as the daemon does.
func servedRaftNet(t *testing.T, id *Identity) *RaftNet {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rn := NewRaftNet(id, ln.Addr().String(), slog.New(slog.DiscardHandler))
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){ALPNRaft: rn.Handoff}}
	srv.RegisterOnShutdown(rn.CloseConns)
	go srv.Serve(tls.NewListener(ln, id.ServerTLS()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return rn
}

func TestRaftTransportOverTLS(t *testing.T) {
	ca := newTestCA(t)
	a, b := servedRaftNet(t, ca.identity(t, "a")), servedRaftNet(t, ca.identity(t, "b"))
	ta, _ := a.Transport()
	tb, _ := b.Transport()
	defer ta.(raft.WithClose).Close()
	defer tb.(raft.WithClose).Close()
	go func() {
		for rpc := range tb.Consumer() {
			rpc.Respond(&raft.AppendEntriesResponse{Term: 7, Success: true}, nil)
		}
	}()
	var resp raft.AppendEntriesResponse
	err := ta.AppendEntries("b", raft.ServerAddress(b.Advertise()), &raft.AppendEntriesRequest{Term: 7}, &resp)
	if err != nil || !resp.Success || resp.Term != 7 {
		t.Fatalf("append entries over TLS: %+v %v", resp, err)
	}
	// A node of another cluster cannot talk to b.
	stranger := servedRaftNet(t, newTestCA(t).identity(t, "s"))
	ts, _ := stranger.Transport()
	defer ts.(raft.WithClose).Close()
	if err := ts.AppendEntries("b", raft.ServerAddress(b.Advertise()), &raft.AppendEntriesRequest{Term: 1}, &resp); err == nil {
		t.Fatal("a stranger's consensus traffic was accepted")
	}
	// A plain client without a certificate gets no consensus connection.
	conn, err := tls.Dial("tcp", b.Advertise(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPNRaft}})
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, rerr := conn.Read(make([]byte, 1))
		conn.Close()
		if rerr == nil || !errors.Is(rerr, io.EOF) && !strings.Contains(rerr.Error(), "reset") && !strings.Contains(rerr.Error(), "closed") {
			t.Fatalf("an anonymous consensus connection stayed open: %v", rerr)
		}
	}
}

func TestGossipSpreadsStatusAndNoticesDeaths(t *testing.T) {
	key := make([]byte, 32)
	start := func(name string, load string) *Gossip {
		g, err := StartGossip(GossipConfig{Node: name, Bind: "127.0.0.1:0", Key: key, Fast: true, Interval: 100 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler), Status: func() NodeStatus { return NodeStatus{Load: [3]string{load}} }})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, b, c := start("a", "0.10"), start("b", "0.20"), start("c", "0.30")
	defer a.Close()
	defer b.Close()
	if err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := a.Status("c")
		if ok && st.Load[0] == "0.30" && a.Alive("b") && a.Alive("c") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a never saw c's status: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A node with another key cannot join.
	other := make([]byte, 32)
	other[0] = 1
	x, err := StartGossip(GossipConfig{Node: "x", Bind: "127.0.0.1:0", Key: other, Fast: true, Logger: slog.New(slog.DiscardHandler),
		Status: func() NodeStatus { return NodeStatus{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.Join([]string{a.Addr()}); err == nil {
		t.Fatal("a node with the wrong key joined")
	}
	// c dies without leaving: a notices.
	c.ml.Shutdown()
	deadline = time.Now().Add(15 * time.Second)
	for a.Alive("c") {
		if time.Now().After(deadline) {
			t.Fatal("a never noticed that c died")
		}
		time.Sleep(50 * time.Millisecond)
	}
	found := false
	for _, m := range a.Members() {
		if m.Name == "c" {
			found = !m.Alive && !m.DownSince.IsZero()
		}
	}
	if !found {
		t.Fatalf("members: %+v", a.Members())
	}
}
