package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/daemon"
)

// The glue below mirrors internal/daemon/cluster_test.go (newClusterNode,
// root, task): a bench cannot import test helpers, and it must drive the
// daemons through the API the way an administrator does, so that the
// cluster under test is formed exactly as a real one.

// benchPassword is the initial password of admin@pve on every node; the
// joining nodes log in to the first node with it.
const benchPassword = "bench horse battery"

// node is an in-process daemon listening on 127.0.0.1.
type node struct {
	*daemon.Daemon
	name, dir, socket string
}

// startNode starts a standalone daemon in its own directory under root.
func startNode(ctx context.Context, root, name string) (*node, error) {
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(benchPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	zero := 0
	n := &node{name: name, dir: dir, socket: filepath.Join(dir, "hearth.sock")}
	d, err := daemon.New(ctx, daemon.Config{
		StateDir: filepath.Join(dir, "state"), Socket: n.socket, Node: name,
		// Port 0: the kernel picks a free port while listening, so there is
		// no window in which another process could take it.
		Listen: "127.0.0.1:0", Address: "127.0.0.1",
		GossipPort: &zero, FastGossip: true, InitialPasswordFile: pw,
		AuthFailDelay: 10 * time.Millisecond, Announce: io.Discard, ReadyTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if err := d.Start(ctx); err != nil {
		d.Shutdown(ctx)
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	n.Daemon = d
	return n, nil
}

// stop shuts the daemon down; it is safe to call twice.
func (n *node) stop() {
	if n.Daemon == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Daemon.Shutdown(ctx)
	n.Daemon = nil
}

func (n *node) addr() string { return n.Addr().String() }

// call calls the API as root over the node's unix socket and decodes the
// "data" member of the answer into out (when out is not nil).
func (n *node) call(ctx context.Context, method, path string, form url.Values, out any) error {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.socket)
	}}}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://local/api2/json"+path, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s on %s: %s %s", method, path, n.name, resp.Status, raw)
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, n.name, err)
	}
	return json.Unmarshal(env.Data, out)
}

// task runs a task endpoint and waits until the task ends OK.
func (n *node) task(ctx context.Context, method, path string, form url.Values) error {
	var upid string
	if err := n.call(ctx, method, path, form, &upid); err != nil {
		return err
	}
	for {
		var st api.TaskStatus
		if err := n.call(ctx, "GET", "/nodes/"+n.name+"/tasks/"+url.PathEscape(upid)+"/status", nil, &st); err != nil {
			return err
		}
		if st.Status == "stopped" {
			if st.ExitStatus != "OK" {
				return fmt.Errorf("task %s on %s ended %q", path, n.name, st.ExitStatus)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("task %s on %s: %w", path, n.name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createCluster makes n the first node of a new cluster.
func createCluster(ctx context.Context, n *node) error {
	return n.task(ctx, "POST", "/cluster/config", url.Values{"clustername": {"bench"}})
}

// join makes n join the cluster of via, pinning via's certificate by the
// fingerprint the cluster publishes (what `pvecm add` shows to confirm).
func join(ctx context.Context, n, via *node) error {
	var info api.JoinInfo
	if err := via.call(ctx, "GET", "/cluster/config/join", nil, &info); err != nil {
		return err
	}
	fp := ""
	for _, m := range info.NodeList {
		if m.Name == via.name {
			fp = m.PVEFP
		}
	}
	if fp == "" {
		return fmt.Errorf("no fingerprint of %s in its join information", via.name)
	}
	return n.task(ctx, "POST", "/cluster/config/join", url.Values{"hostname": {via.addr()}, "fingerprint": {fp},
		"password": {benchPassword}, "user": {"admin@pve"}})
}

// voters counts the voting members n knows of.
func voters(n *node) int {
	servers, err := n.Store().Servers()
	if err != nil {
		return 0
	}
	v := 0
	for _, s := range servers {
		if s.Voter {
			v++
		}
	}
	return v
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(what string, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
