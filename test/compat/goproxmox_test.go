// Package compat checks that unmodified Proxmox VE clients work against
// Hearth. Each test starts a real node in-process on a loopback port.
package compat

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/hearth-virt/hearth/internal/daemon"
)

func startNode(t *testing.T) (*daemon.Daemon, string) {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := daemon.New(ctx, daemon.Config{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", Node: "pve1",
		InitialPasswordFile: pw, AuthFailDelay: 10 * time.Millisecond, Announce: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return d, "https://" + d.Addr().String() + "/api2/json"
}

// TestGoProxmoxClient drives Hearth with github.com/luthermonson/go-proxmox
// exactly as its users do: log in with a password, then read the version,
// the nodes, a node's status, the cluster status, the next free id and the
// cluster resources.
func TestGoProxmoxClient(t *testing.T) {
	_, base := startNode(t)
	ctx := context.Background()
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	client := proxmox.NewClient(base,
		proxmox.WithHTTPClient(insecure),
		proxmox.WithCredentials(&proxmox.Credentials{Username: "admin@pve", Password: "s3cret-password"}))

	if err := client.CreateSession(ctx); err != nil {
		t.Fatalf("login: %v", err)
	}
	if s := client.Session(); s == nil || !strings.HasPrefix(s.Ticket, "PVE:admin@pve:") || s.Cap["nodes"]["Sys.Audit"] != 1 {
		t.Fatalf("session %+v", s)
	}
	v, err := client.Version(ctx)
	if err != nil || v.Release == "" || v.Version == "" {
		t.Fatalf("version: %+v %v", v, err)
	}
	nodes, err := client.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Node != "pve1" || nodes[0].Status != "online" || nodes[0].MaxCPU < 1 || nodes[0].MaxMem == 0 {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	node, err := client.Node(ctx, "pve1")
	if err != nil {
		t.Fatalf("node status: %v", err)
	}
	if node.CPUInfo.CPUs < 1 || node.Memory.Total == 0 || node.RootFS.Total == 0 || node.Kversion == "" || node.Uptime == 0 || len(node.LoadAvg) != 3 {
		t.Fatalf("node status decoded as %+v", node)
	}
	cluster, err := client.Cluster(ctx)
	if err != nil {
		t.Fatalf("cluster status: %v", err)
	}
	if cluster.Quorate != 1 || len(cluster.Nodes) != 1 || cluster.Nodes[0].Name != "pve1" || cluster.Nodes[0].Online != 1 || cluster.Nodes[0].Local != 1 {
		t.Fatalf("cluster decoded as %+v (nodes %+v)", cluster, cluster.Nodes)
	}
	id, err := cluster.NextID(ctx)
	if err != nil || id != 100 {
		t.Fatalf("nextid: %d %v", id, err)
	}
	free, err := cluster.CheckID(ctx, 123)
	if err != nil || !free {
		t.Fatalf("checkid: %v %v", free, err)
	}
	res, err := cluster.Resources(ctx)
	if err != nil || len(res) != 2 || res[0].ID != "node/pve1" || res[0].Type != "node" || res[0].MaxMem == 0 {
		t.Fatalf("resources: %+v %v", res, err)
	}
	// The node's local storage, as Proxmox VE lists it.
	if st := res[1]; st.ID != "storage/pve1/local" || st.Type != "storage" || st.Storage != "local" || st.Node != "pve1" {
		t.Fatalf("storage resource decoded as %+v", st)
	}
	res, err = cluster.Resources(ctx, "node")
	if err != nil || len(res) != 1 {
		t.Fatalf("resources of type node: %+v %v", res, err)
	}
	ver, err := node.Version(ctx)
	if err != nil || ver.Version != v.Version {
		t.Fatalf("node version: %+v %v", ver, err)
	}
	// Renewing the ticket with the ticket as password works too.
	if err := client.RefreshTicket(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func TestGoProxmoxWrongPassword(t *testing.T) {
	_, base := startNode(t)
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	client := proxmox.NewClient(base, proxmox.WithHTTPClient(insecure),
		proxmox.WithCredentials(&proxmox.Credentials{Username: "admin@pve", Password: "wrong"}))
	err := client.CreateSession(context.Background())
	if err == nil || !proxmox.IsNotAuthorized(err) {
		t.Fatalf("wrong password: %v", err)
	}
}
