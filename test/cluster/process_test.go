// Package cluster runs clusters of real hearth processes, each in its own
// network namespace with its own address, and breaks them: cut links,
// kill -9, lost majorities.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/test/netns"

	// The binary under test is built in TestMain, which Go's test cache
	// cannot see; importing its packages puts their sources in the key, so
	// a change to the daemon or the CLI reruns these tests.
	_ "github.com/hearth-virt/hearth/internal/cli"
	_ "github.com/hearth-virt/hearth/internal/daemon"
)

const password = "lab-password-1"

// hearthBin is the binary under test, built once by TestMain.
var hearthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearth-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hearthBin = filepath.Join(dir, "hearth")
	build := exec.Command("go", "build", "-o", hearthBin, "github.com/hearth-virt/hearth/cmd/hearth")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building hearth: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one hearth daemon in its own namespace.
type node struct {
	t    *testing.T
	name string
	host *netns.Host
	dir  string
	proc *netns.Process
	log  *os.File
}

func newNode(t *testing.T, lab *netns.Lab, name string) *node {
	t.Helper()
	n := &node{t: t, name: name, host: lab.Host(name), dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			text := n.logText()
			if len(text) > 12000 {
				text = "…" + text[len(text)-12000:]
			}
			t.Logf("log of %s:\n%s", n.name, text)
		}
	})
	if err := os.WriteFile(filepath.Join(n.dir, "pw"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()
	return n
}

func (n *node) socket() string { return filepath.Join(n.dir, "state", "hearth.sock") }

// start runs the daemon and waits until its socket answers.
func (n *node) start() {
	n.t.Helper()
	var err error
	n.log, err = os.OpenFile(filepath.Join(n.dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := n.host.Command(context.Background(), hearthBin, "daemon", "--state-dir", filepath.Join(n.dir, "state"),
		"--listen", n.host.IP+":8006", "--address", n.host.IP, "--node", n.name, "--cfs-mount", "none",
		"--initial-password-file", filepath.Join(n.dir, "pw"))
	cmd.Stdout, cmd.Stderr = n.log, n.log
	n.proc = n.host.Start(cmd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := n.try("GET", "/version", nil); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s did not start; its log:\n%s", n.name, n.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) logText() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "daemon.log"))
	return string(b)
}

// kill stops the daemon with SIGKILL, as a crash would.
func (n *node) kill() {
	n.proc.Kill()
	n.log.Close()
}

// try calls the daemon's API as root over its unix socket (a path, so it
// is reachable from outside the namespace).
func (n *node) try(method, path string, form url.Values) (int, string) {
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.socket())
	}}}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, "http://local/api2/json"+path, body)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Status + " " + string(raw)
}

// cli runs a hearth tool against this node's socket.
func (n *node) cli(stdin string, args ...string) (string, error) {
	cmd := exec.Command(hearthBin, args...)
	cmd.Env = append(os.Environ(), "HEARTH_SOCKET="+n.socket())
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

type clusterNode struct {
	Name   string `json:"name"`
	Voter  int    `json:"voter"`
	Leader int    `json:"leader"`
}

func nodesOf(n *node) []clusterNode {
	code, all := n.try("GET", "/cluster/config/nodes", nil)
	if code != 200 {
		return nil
	}
	var env struct {
		Data []clusterNode `json:"data"`
	}
	json.Unmarshal([]byte(all[strings.IndexByte(all, '{'):]), &env)
	return env.Data
}

func leaderOf(nodes []*node) *node {
	for _, n := range nodes {
		for _, cn := range nodesOf(n) {
			if cn.Leader == 1 {
				for _, m := range nodes {
					if m.name == cn.Name {
						return m
					}
				}
			}
		}
	}
	return nil
}

func setKeyboard(n *node, layout string) (int, string) {
	return n.try("PUT", "/cluster/options", url.Values{"keyboard": {layout}})
}

func keyboardIs(n *node, layout string) bool {
	code, all := n.try("GET", "/cluster/options", nil)
	return code == 200 && strings.Contains(all, `"keyboard":"`+layout+`"`)
}

// TestThreeProcessesOnThreeHosts joins three daemons with pvecm and then
// cuts a link, kills the leader and takes the majority away.
func TestThreeProcessesOnThreeHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster test; skipped in -short mode")
	}
	lab := netns.New(t)
	n1, n2, n3 := newNode(t, lab, "n1"), newNode(t, lab, "n2"), newNode(t, lab, "n3")
	all := []*node{n1, n2, n3}

	if out, err := n1.cli("", "pvecm", "create", "lab"); err != nil {
		t.Fatalf("pvecm create: %v\n%s", err, out)
	}
	out, err := n1.cli("", "pvesh", "get", "/nodes/n1/certificates/info", "--output-format", "json")
	if err != nil {
		t.Fatalf("certificate info: %v\n%s", err, out)
	}
	var certs []struct {
		Filename    string `json:"filename"`
		Fingerprint string `json:"fingerprint"`
	}
	json.Unmarshal([]byte(out), &certs)
	fp := ""
	for _, c := range certs {
		if c.Filename == "pve-ssl.pem" {
			fp = c.Fingerprint
		}
	}
	if fp == "" {
		t.Fatalf("no node certificate in %s", out)
	}
	// The password arrives on standard input (n2) or from a file (n3),
	// never on the command line.
	for _, n := range []*node{n2, n3} {
		args := []string{"pvecm", "add", n1.host.IP, "--fingerprint", fp, "--user", "admin@pve"}
		stdin := password + "\n"
		if n == n3 {
			args, stdin = append(args, "--password-file", filepath.Join(n.dir, "pw")), ""
		}
		out, err := n.cli(stdin, args...)
		if err != nil {
			t.Fatalf("pvecm add on %s: %v\n%s\n%s", n.name, err, out, n.logText())
		}
	}
	eventually(t, "three voters", 60*time.Second, func() bool {
		v := 0
		for _, cn := range nodesOf(n1) {
			v += cn.Voter
		}
		return v == 3
	})
	for _, n := range all {
		eventually(t, "all online on "+n.name, 30*time.Second, func() bool {
			code, s := n.try("GET", "/cluster/status", nil)
			return code == 200 && strings.Count(s, `"online":1`) == 3 && strings.Contains(s, `"quorate":1`)
		})
	}
	if out, err := n2.cli("", "pvecm", "status", "--output-format", "json"); err != nil || !strings.Contains(out, `"name":"n3"`) || !strings.Contains(out, fp) {
		t.Fatalf("pvecm status (with n1's fingerprint %s): %v\n%s", fp, err, out)
	}

	// A configuration written on node 2 is read on node 3.
	if code, s := setKeyboard(n2, "de"); code != 200 {
		t.Fatalf("write on n2: %s", s)
	}
	eventually(t, "the change on n3", 10*time.Second, func() bool { return keyboardIs(n3, "de") })
	// Node 1 answers for node 3 by asking node 3.
	if code, s := n1.try("GET", "/nodes/n3/syslog?limit=1000", nil); code != 200 || !strings.Contains(s, " n3 hearth[") {
		t.Fatalf("syslog of n3 through n1: %s", s)
	}
	if code, s := n1.try("GET", "/nodes/n3/status", nil); code != 200 || !strings.Contains(s, `"cpuinfo"`) {
		t.Fatalf("status of n3 through n1: %s", s)
	}

	// Partition: a follower cut off loses quorum (read-only), the majority
	// keeps writing, and the follower catches up when the link returns.
	leader := leaderOf(all)
	if leader == nil {
		t.Fatal("no leader")
	}
	var follower *node
	for _, n := range all {
		if n != leader {
			follower = n
		}
	}
	follower.host.Cut()
	eventually(t, "the cut-off node to refuse writes", 30*time.Second, func() bool {
		code, s := setKeyboard(follower, "fr")
		return code == 500 && strings.Contains(s, "cluster not ready - no quorum?")
	})
	if !keyboardIs(follower, "de") {
		t.Fatal("the cut-off node cannot read")
	}
	if code, s := setKeyboard(leader, "it"); code != 200 {
		t.Fatalf("write on the majority during the partition: %s", s)
	}
	follower.host.Restore()
	took := eventually(t, "the cut-off node to catch up", 30*time.Second, func() bool { return keyboardIs(follower, "it") })
	t.Logf("a node cut off and restored caught up %v after the link returned", took.Round(time.Millisecond))

	// kill -9 the leader: the others elect a new one and take writes.
	leader = leaderOf(all)
	leader.kill()
	var others []*node
	for _, n := range all {
		if n != leader {
			others = append(others, n)
		}
	}
	took = eventually(t, "writes after the leader was killed", 30*time.Second, func() bool {
		code, _ := setKeyboard(others[0], "es")
		return code == 200
	})
	t.Logf("writes resumed %v after kill -9 of the leader", took.Round(time.Millisecond))

	// Two of three down: writes are refused with a clear error, reads work.
	// The probes change another option: a write refused with "may or may
	// not take effect" (the leader had logged it before it stepped down)
	// is legitimately committed once a majority returns, and must not
	// overwrite the acknowledged value checked below.
	others[1].kill()
	eventually(t, "the last node to refuse writes", 30*time.Second, func() bool {
		code, s := others[0].try("PUT", "/cluster/options", url.Values{"language": {"nl"}})
		return code == 500 && strings.Contains(s, "cluster not ready - no quorum?")
	})
	if !keyboardIs(others[0], "es") {
		t.Fatal("reads without quorum")
	}

	// Everything returns when the nodes come back; nothing is lost.
	done := make(chan struct{})
	go func() { leader.start(); close(done) }()
	others[1].start()
	<-done
	for _, n := range all {
		last := ""
		eventually(t, "the acknowledged write on "+n.name, 60*time.Second, func() bool {
			_, last = n.try("GET", "/cluster/options", nil)
			if strings.Contains(last, `"keyboard":"es"`) {
				return true
			}
			t.Logf("%s answers %.300s", n.name, last)
			return false
		})
	}
	if code, s := setKeyboard(leader, "en-us"); code != 200 {
		t.Fatalf("write after recovery: %s", s)
	}
	var logs bytes.Buffer
	for _, n := range all {
		if strings.Contains(n.logText(), "panic") {
			logs.WriteString(n.logText())
		}
	}
	if logs.Len() > 0 {
		t.Fatalf("a daemon panicked:\n%s", logs.String())
	}
}
