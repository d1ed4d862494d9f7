package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/witness"
)

// clusterNode is a daemon of an in-process cluster, restartable on the
// same address (the cluster knows nodes by address).
type clusterNode struct {
	*Daemon
	name, dir, listen string
	mountAt           string // where to mount the tree; empty for none
	t                 *testing.T
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newClusterNode(t *testing.T, name string) *clusterNode {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{name: name, dir: dir, listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), t: t}
	n.start()
	t.Cleanup(func() { n.stop() })
	return n
}

func (n *clusterNode) start() {
	n.t.Helper()
	if err := n.tryStart(); err != nil {
		n.t.Fatal(err)
	}
}

func (n *clusterNode) tryStart() error {
	zero := 0
	ctx := context.Background()
	d, err := New(ctx, Config{StateDir: filepath.Join(n.dir, "state"), Listen: n.listen, Node: n.name, Address: "127.0.0.1",
		GossipPort: &zero, FastGossip: true, InitialPasswordFile: filepath.Join(n.dir, "pw"),
		AuthFailDelay: 10 * time.Millisecond, Announce: io.Discard, ReadyTimeout: 3 * time.Second, CFSMount: n.mountAt})
	if err != nil {
		return fmt.Errorf("starting %s: %w", n.name, err)
	}
	if err := d.Start(ctx); err != nil {
		d.Shutdown(ctx)
		return fmt.Errorf("starting %s: %w", n.name, err)
	}
	n.Daemon = d
	return nil
}

func (n *clusterNode) stop() {
	if n.Daemon == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Daemon.Shutdown(ctx)
	n.Daemon = nil
}

// root calls the API as root over the node's unix socket.
func (n *clusterNode) root(method, path string, form url.Values) (int, json.RawMessage, string) {
	n.t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.cfg.Socket)
	}}}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, "http://local/api2/json"+path, body)
	resp, err := c.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal(raw, &env)
	return resp.StatusCode, env.Data, resp.Status + " " + string(raw)
}

// task runs a task endpoint as root and waits for it to end OK.
func (n *clusterNode) task(method, path string, form url.Values) {
	n.t.Helper()
	code, data, all := n.root(method, path, form)
	if code != 200 {
		n.t.Fatalf("%s %s on %s: %s", method, path, n.name, all)
	}
	var upid string
	json.Unmarshal(data, &upid)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := n.tasks.Wait(ctx, upid)
	if err != nil || st.ExitStatus != "OK" {
		lines, _, _ := n.tasks.ReadLog(upid, 0, -1)
		n.t.Fatalf("task %s on %s ended %q (%v); log: %v", path, n.name, st.ExitStatus, err, lines)
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func voters(t *testing.T, n *clusterNode) int {
	servers, err := n.store.Servers()
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

// TestThreeNodeCluster creates a cluster through the API, joins two nodes,
// and then checks replication, forwarding of node calls, leader loss, loss
// of quorum and recovery.
func TestThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test; skipped in -short mode")
	}
	a, b, c := newClusterNode(t, "alpha"), newClusterNode(t, "beta"), newClusterNode(t, "gamma")
	a.task("POST", "/cluster/config", url.Values{"clustername": {"testlab"}})
	for _, n := range []*clusterNode{b, c} {
		n.task("POST", "/cluster/config/join", url.Values{"hostname": {a.listen}, "fingerprint": {a.fingerprint()},
			"password": {testPassword}, "user": {"admin@pve"}})
	}
	waitFor(t, "three voters", 30*time.Second, func() bool { return voters(t, a) == 3 })

	// Every node lists every node online, and the cluster is quorate.
	for _, n := range []*clusterNode{a, b, c} {
		waitFor(t, "membership on "+n.name, 20*time.Second, func() bool {
			_, data, _ := n.root("GET", "/cluster/status", nil)
			return strings.Count(string(data), `"online":1`) == 3 && strings.Contains(string(data), `"quorate":1`)
		})
	}
	// A file written on one node is read on another.
	ctx := context.Background()
	if _, err := b.store.Apply(ctx, cfs.Write("storage.cfg", []byte("dir: local\n\tpath /var/lib/vz\n\n"))); err != nil {
		t.Fatalf("write on beta: %v", err)
	}
	if err := c.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := c.store.Get("storage.cfg"); err != nil || !bytes.Contains(e.Data, []byte("/var/lib/vz")) {
		t.Fatalf("read on gamma: %v", err)
	}
	// A call for node gamma made on alpha is answered by gamma.
	code, data, all := a.root("GET", "/nodes/gamma/syslog?limit=500", nil)
	if code != 200 || !strings.Contains(string(data), " gamma hearth[") {
		t.Fatalf("syslog of gamma through alpha: %s", all)
	}
	// The users of the cluster (alpha's admin) log in on the joined nodes.
	login := url.Values{"username": {"admin@pve"}, "password": {testPassword}}
	if code, _, all := c.root("POST", "/access/ticket", login); code != 200 || !strings.Contains(all, `"clustername":"testlab"`) {
		t.Fatalf("login on gamma: %s", all)
	}

	// Kill the leader: the others elect a new one and take writes again.
	nodes := []*clusterNode{a, b, c}
	// A loaded machine may be between two elections right now: wait for
	// the cluster to have a leader before killing it.
	var leader *clusterNode
	waitFor(t, "a leader", 20*time.Second, func() bool {
		for _, n := range nodes {
			if n.store.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	var rest []*clusterNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	killed := time.Now()
	leader.stop()
	waitFor(t, "writes after the leader stopped", 20*time.Second, func() bool {
		_, err := rest[0].store.Apply(ctx, cfs.Write("after-leader-loss", []byte("ok")))
		return err == nil
	})
	t.Logf("writes resumed %v after the leader stopped", time.Since(killed).Round(time.Millisecond))

	// With two of three down, writes are refused and reads work.
	rest[1].stop()
	waitFor(t, "loss of quorum", 20*time.Second, func() bool { return !rest[0].store.Quorate() })
	_, err := rest[0].store.Apply(ctx, cfs.Write("without-quorum", []byte("x")))
	if !errors.Is(err, cfs.ErrNoQuorum) || err.Error() != "cluster not ready - no quorum?" {
		t.Fatalf("write without quorum: %v", err)
	}
	if _, err := rest[0].store.Get("storage.cfg"); err != nil {
		t.Fatalf("read without quorum: %v", err)
	}
	code, _, all = rest[0].root("GET", "/cluster/status", nil)
	if code != 200 || !strings.Contains(all, `"quorate":0`) {
		t.Fatalf("status without quorum: %s", all)
	}

	// Bring the others back (together: each waits for quorum, which needs
	// the other): quorum returns and nothing was lost.
	errs := make(chan error, 2)
	for _, n := range []*clusterNode{leader, rest[1]} {
		go func() { errs <- n.tryStart() }()
	}
	// Wait for both before failing: the cleanup stops nodes the second
	// start may still be creating.
	startErrs := []error{<-errs, <-errs}
	for _, err := range startErrs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		// Right after the restarts an election may still change the leader,
		// which a sync reports as no quorum for a moment.
		waitFor(t, "a sync on "+n.name+" after the restart", 30*time.Second, func() bool { return n.store.Sync(ctx) == nil })
		for _, p := range []string{"storage.cfg", "after-leader-loss"} {
			if _, err := n.store.Get(p); err != nil {
				t.Fatalf("%s lost %s: %v", n.name, p, err)
			}
		}
	}
}

func TestJoinRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test; skipped in -short mode")
	}
	a, b := newClusterNode(t, "alpha"), newClusterNode(t, "beta")
	// Joining a node that is in no cluster fails clearly.
	code, data, all := b.root("POST", "/cluster/config/join", url.Values{"hostname": {a.listen}, "fingerprint": {a.fingerprint()},
		"password": {testPassword}, "user": {"admin@pve"}})
	if code != 200 {
		t.Fatalf("join: %s", all)
	}
	var upid string
	json.Unmarshal(data, &upid)
	st, _ := b.tasks.Wait(context.Background(), upid)
	if !strings.Contains(st.ExitStatus, "not part of a cluster") {
		t.Fatalf("join of a standalone node ended %q", st.ExitStatus)
	}
	a.task("POST", "/cluster/config", url.Values{"clustername": {"c1"}})
	// A wrong fingerprint stops the join before any credential is sent.
	code, data, _ = b.root("POST", "/cluster/config/join", url.Values{"hostname": {a.listen},
		"fingerprint": {strings.Repeat("AB:", 31) + "AB"}, "password": {testPassword}, "user": {"admin@pve"}})
	json.Unmarshal(data, &upid)
	st, _ = b.tasks.Wait(context.Background(), upid)
	if code != 200 || !strings.Contains(st.ExitStatus, "fingerprint") {
		t.Fatalf("join with a wrong fingerprint ended %q", st.ExitStatus)
	}
	// A node with guests may not join.
	if _, err := b.store.Apply(context.Background(), cfs.Write("nodes/beta/qemu-server/100.conf", []byte("memory: 512\n"))); err != nil {
		t.Fatal(err)
	}
	code, _, all = b.root("POST", "/cluster/config/join", url.Values{"hostname": {a.listen}, "fingerprint": {a.fingerprint()},
		"password": {testPassword}, "user": {"admin@pve"}})
	if code != 500 || !strings.Contains(all, "this node has guests (100)") {
		t.Fatalf("join with guests: %s", all)
	}
	// A second cluster cannot be created on a clustered node.
	code, _, all = a.root("POST", "/cluster/config", url.Values{"clustername": {"c2"}})
	if code != 500 || !strings.Contains(all, "already part of a cluster") {
		t.Fatalf("second create: %s", all)
	}
}

// TestTwoNodesWithAWitness checks that a witness keeps a two-node cluster
// quorate when one node stops.
func TestTwoNodesWithAWitness(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test; skipped in -short mode")
	}
	a, b := newClusterNode(t, "alpha"), newClusterNode(t, "beta")
	a.task("POST", "/cluster/config", url.Values{"clustername": {"pair"}})
	b.task("POST", "/cluster/config/join", url.Values{"hostname": {a.listen}, "fingerprint": {a.fingerprint()},
		"password": {testPassword}, "user": {"admin@pve"}})
	waitFor(t, "two voters", 30*time.Second, func() bool { return voters(t, a) == 2 })

	w, err := witness.Start(context.Background(), witness.Config{Name: "tiebreaker", StateDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: a.log.With("component", "witness")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The wrong token is refused; the right one sets the witness up.
	code, _, all := a.root("POST", "/cluster/config/qdevice", url.Values{"address": {w.Addr()}, "fingerprint": {w.Fingerprint()}, "token": {"wrong"}})
	if code != 500 || !strings.Contains(all, "wrong setup token") {
		t.Fatalf("setup with a wrong token: %s", all)
	}
	code, _, all = a.root("POST", "/cluster/config/qdevice", url.Values{"address": {w.Addr()}, "fingerprint": {w.Fingerprint()}, "token": {w.Token()}})
	if code != 200 {
		t.Fatalf("qdevice setup: %s", all)
	}
	waitFor(t, "three voters with the witness", 30*time.Second, func() bool { return voters(t, a) == 3 })
	_, data, _ := a.root("GET", "/cluster/config/qdevice", nil)
	if !strings.Contains(string(data), `"name":"tiebreaker"`) || !strings.Contains(string(data), `"voter":1`) {
		t.Fatalf("qdevice status: %s", data)
	}
	ctx := context.Background()
	waitFor(t, "the witness to hold the tree", 20*time.Second, func() bool {
		_, err := w.Store().Get("cluster.conf")
		return err == nil
	})
	// One node down: the other and the witness still make a majority.
	b.stop()
	waitFor(t, "a write with one node and the witness", 20*time.Second, func() bool {
		_, err := a.store.Apply(ctx, cfs.Write("with-witness", []byte("ok")))
		return err == nil
	})
	if !a.store.Quorate() {
		t.Fatal("alpha lost quorum with the witness up")
	}
}

// TestFUSEViewAcrossNodes writes a file through the mounted tree of one
// node and reads the result through the API of another.
func TestFUSEViewAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting FUSE needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse on this machine")
	}
	a := newClusterNode(t, "alpha")
	mnt := t.TempDir()
	b := &clusterNode{name: "beta", dir: t.TempDir(), listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), t: t, mountAt: mnt}
	if err := os.WriteFile(filepath.Join(b.dir, "pw"), []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	a.task("POST", "/cluster/config", url.Values{"clustername": {"fusetest"}})
	b.task("POST", "/cluster/config/join", url.Values{"hostname": {a.listen}, "fingerprint": {a.fingerprint()},
		"password": {testPassword}, "user": {"admin@pve"}})
	if b.mount == nil {
		t.Fatal("beta did not mount its tree")
	}
	// The mount shows the cluster's tree, symlinks included.
	if _, err := os.Stat(filepath.Join(mnt, "cluster.conf")); err != nil {
		t.Fatalf("cluster.conf through the mount: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(mnt, "local")); err != nil || target != "nodes/beta" {
		t.Fatalf("local symlink: %q %v", target, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "datacenter.cfg"), []byte("keyboard: de\n"), 0o640); err != nil {
		t.Fatalf("write through the mount: %v", err)
	}
	waitFor(t, "the option written on beta to show on alpha", 10*time.Second, func() bool {
		_, data, _ := a.root("GET", "/cluster/options", nil)
		return strings.Contains(string(data), `"keyboard":"de"`)
	})
}
