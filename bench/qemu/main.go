// Command qemu measures the VM service through the API of a real
// `hearth daemon` process.
//
// Clones: a VM with a qcow2 disk becomes a template, then many linked
// clones of it are asked for at once, each by its own API call; the
// figure is the time until the last clone task has ended, and how many
// failed (on Proxmox VE parallel clones of one template queue on its
// configuration lock and time out).
//
// Lists: with 1,000 VM configurations on the node (the clones, plus VMs
// without disks created through the API), the time of GET
// /nodes/{node}/qemu (qm list) and GET /cluster/resources.
//
// Start: the time from POST …/status/start until the task reports the VM
// running, set against launching the command line GET …/showcmd prints
// by hand (without -daemonize, with -S, then QMP cont): the ratio is what
// the API path costs over running QEMU directly. The VM has no disk.
//
//	go run ./bench/qemu -binary bin/hearth [-clones 50] [-vms 1000] [-starts 5]
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/qmp"
)

const node = "bench"

func main() {
	binary := flag.String("binary", "bin/hearth", "hearth binary to start")
	clones := flag.Int("clones", 50, "linked clones started at once")
	vms := flag.Int("vms", 1000, "VM configurations for the list measurements")
	starts := flag.Int("starts", 5, "starts measured each way")
	flag.Parse()
	if err := run(*binary, *clones, *vms, *starts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(binary string, clones, vms, starts int) error {
	work, err := os.MkdirTemp("/var/tmp", "hearth-bench-qemu-")
	if err != nil {
		return err
	}
	defer func() {
		// Template base volumes are immutable.
		exec.Command("chattr", "-R", "-i", filepath.Join(work, "vz")).Run()
		os.RemoveAll(work)
	}()
	api, stop, err := startDaemon(binary, work)
	if err != nil {
		return err
	}
	defer stop()
	if err := cloneBench(api, clones); err != nil {
		return err
	}
	if err := listBench(api, vms); err != nil {
		return err
	}
	return startBench(api, work, starts)
}

// client calls the API of the daemon as a logged-in administrator.
type client struct {
	http   *http.Client
	base   string
	cookie string
	csrf   string
}

type apiError struct {
	status string
	body   string
}

func (e *apiError) Error() string { return e.status + ": " + e.body }

func (c *client) call(method, path string, v url.Values, out any) error {
	var body io.Reader
	target := c.base + path
	if method == "GET" {
		if len(v) > 0 {
			target += "?" + v.Encode()
		}
	} else {
		body = strings.NewReader(v.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", "PVEAuthCookie="+c.cookie)
	if method != "GET" {
		req.Header.Set("CSRFPreventionToken", c.csrf)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return &apiError{status: resp.Status, body: string(raw)}
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}

// task starts a task and waits for it, polling its status every poll.
func (c *client) task(path string, v url.Values, poll time.Duration) error {
	var upid string
	if err := c.call("POST", path, v, &upid); err != nil {
		return err
	}
	return c.wait(upid, poll)
}

func (c *client) wait(upid string, poll time.Duration) error {
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(poll) {
		var st struct {
			Status     string `json:"status"`
			ExitStatus string `json:"exitstatus"`
		}
		if err := c.call("GET", "/nodes/"+node+"/tasks/"+url.PathEscape(upid)+"/status", nil, &st); err != nil {
			return err
		}
		if st.Status == "stopped" {
			if st.ExitStatus != "OK" {
				return fmt.Errorf("task %s: %s", upid, st.ExitStatus)
			}
			return nil
		}
	}
	return fmt.Errorf("task %s did not finish", upid)
}

func startDaemon(binary, work string) (*client, func(), error) {
	const password = "bench-password-1"
	pw := filepath.Join(work, "pw")
	os.WriteFile(pw, []byte(password+"\n"), 0o600)
	ifaces := filepath.Join(work, "interfaces")
	os.WriteFile(ifaces, []byte("auto lo\niface lo inet loopback\n"), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(binary, "daemon", "--state-dir", filepath.Join(work, "state"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--node", node, "--initial-password-file", pw, "--log-level", "warn", "--cfs-mount", "none",
		"--local-storage", filepath.Join(work, "vz"), "--run-dir", filepath.Join(work, "run"),
		"--network-interfaces", ifaces, "--nat-network", "none", "--gossip-port", "0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			// VMs outlive the daemon on purpose: end the ones it runs.
			pids, _ := filepath.Glob(filepath.Join(work, "run", "qemu", "*.pid"))
			for _, f := range pids {
				data, _ := os.ReadFile(f)
				if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
					if p, err := os.FindProcess(pid); err == nil {
						p.Kill()
					}
				}
			}
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		})
	}
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "URL:") {
		n, err := stdout.Read(buf)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("daemon did not start: %v", err)
		}
		seen.Write(buf[:n])
	}
	go io.Copy(io.Discard, stdout)
	c := &client{http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 64}},
		base: fmt.Sprintf("https://127.0.0.1:%d/api2/json", port)}
	var login struct {
		Ticket string `json:"ticket"`
		CSRF   string `json:"CSRFPreventionToken"`
	}
	if err := c.call("POST", "/access/ticket", url.Values{"username": {"admin@pve"}, "password": {password}}, &login); err != nil {
		stop()
		return nil, nil, fmt.Errorf("login: %w", err)
	}
	c.cookie, c.csrf = login.Ticket, login.CSRF
	return c, stop, nil
}

// cloneBench makes a template and n linked clones of it at once.
func cloneBench(c *client, n int) error {
	if err := c.task("/nodes/"+node+"/qemu", url.Values{"vmid": {"100"}, "name": {"template"}, "scsi0": {"local:8,format=qcow2"},
		"memory": {"512"}}, 20*time.Millisecond); err != nil {
		return fmt.Errorf("creating the template VM: %w", err)
	}
	if err := c.task("/nodes/"+node+"/qemu/100/template", nil, 20*time.Millisecond); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	var failed atomic.Int32
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			err := c.task("/nodes/"+node+"/qemu/100/clone", url.Values{"newid": {fmt.Sprint(1000 + i)}, "name": {fmt.Sprintf("clone%d", i)}}, 10*time.Millisecond)
			took[i] = time.Since(t0)
			if err != nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "clone %d: %v\n", 1000+i, err)
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(took)
	fmt.Printf("%-34s %8.2f s total  %3d failed  (one clone: median %.2f s, slowest %.2f s)\n",
		fmt.Sprintf("%d parallel linked clones", n), total.Seconds(), failed.Load(), took[n/2].Seconds(), took[n-1].Seconds())
	if failed.Load() > 0 {
		return fmt.Errorf("%d clones failed", failed.Load())
	}
	return nil
}

// listBench fills the node up to n VM configurations and times the two
// listings.
func listBench(c *client, n int) error {
	var have []struct {
		VMID int `json:"vmid"`
	}
	if err := c.call("GET", "/nodes/"+node+"/qemu", nil, &have); err != nil {
		return err
	}
	ids := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	created := n - len(have)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				err := c.task("/nodes/"+node+"/qemu", url.Values{"vmid": {fmt.Sprint(id)}, "name": {fmt.Sprintf("vm%d", id)},
					"memory": {"512"}, "cores": {"2"}}, 10*time.Millisecond)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range created {
		ids <- 2000 + i
	}
	close(ids)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("creating VMs: %w", err)
	}
	fmt.Printf("%-34s %8.2f s        (%.0f VMs/s through POST /nodes/%s/qemu, 16 at once)\n",
		fmt.Sprintf("create %d VMs without disks", created), time.Since(start).Seconds(), float64(created)/time.Since(start).Seconds(), node)
	for _, q := range []struct {
		name, path string
		v          url.Values
	}{
		{"qm list", "/nodes/" + node + "/qemu", nil},
		{"qm list --full", "/nodes/" + node + "/qemu", url.Values{"full": {"1"}}},
		{"cluster/resources", "/cluster/resources", nil},
		{"cluster/resources type=vm", "/cluster/resources", url.Values{"type": {"vm"}}},
	} {
		var rows []json.RawMessage
		var times []time.Duration
		for range 20 {
			t0 := time.Now()
			if err := c.call("GET", q.path, q.v, &rows); err != nil {
				return err
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		fmt.Printf("%-34s %8.1f ms median  %6.1f ms slowest  (%d rows)\n",
			fmt.Sprintf("%s, %d VMs", q.name, n), ms(times[len(times)/2]), ms(times[len(times)-1]), len(rows))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// startBench times starts through the API against launching the same
// command line by hand.
func startBench(c *client, work string, n int) error {
	const vmid = "9999"
	if err := c.task("/nodes/"+node+"/qemu", url.Values{"vmid": {vmid}, "name": {"starter"}, "memory": {"128"}}, 10*time.Millisecond); err != nil {
		return err
	}
	vmPath := "/nodes/" + node + "/qemu/" + vmid
	// The first start pins the machine version; take it out of the figures.
	if err := c.task(vmPath+"/status/start", nil, 2*time.Millisecond); err != nil {
		return err
	}
	if err := c.task(vmPath+"/status/stop", nil, 10*time.Millisecond); err != nil {
		return err
	}
	var line string
	if err := c.call("GET", vmPath+"/showcmd", nil, &line); err != nil {
		return err
	}
	argv, err := splitShell(line)
	if err != nil {
		return err
	}
	// Run the copy with its runtime files elsewhere, so the daemon never
	// takes it for its VM.
	runDir := filepath.Join(work, "run", "qemu") + "/"
	own := filepath.Join(work, "byhand") + "/"
	os.MkdirAll(own, 0o700)
	var byHand []string
	for _, a := range argv {
		if a == "-daemonize" {
			continue
		}
		byHand = append(byHand, strings.ReplaceAll(a, runDir, own))
	}
	byHand = append(byHand, "-S")
	qmpPath := filepath.Join(own, vmid+".qmp")
	var api, bare []time.Duration
	for range n {
		t0 := time.Now()
		if err := c.task(vmPath+"/status/start", nil, 2*time.Millisecond); err != nil {
			return err
		}
		api = append(api, time.Since(t0))
		if err := c.task(vmPath+"/status/stop", nil, 10*time.Millisecond); err != nil {
			return err
		}
		d, err := launchByHand(byHand, qmpPath)
		if err != nil {
			return err
		}
		bare = append(bare, d)
	}
	slices.Sort(api)
	slices.Sort(bare)
	a, b := api[len(api)/2], bare[len(bare)/2]
	fmt.Printf("%-34s %8.1f ms API    %6.1f ms by hand  API/by hand: %.2f  (medians of %d)\n",
		"start to running (no disk, TCG)", ms(a), ms(b), a.Seconds()/b.Seconds(), n)
	return nil
}

// launchByHand runs QEMU in the foreground, waits for its monitor,
// starts the CPUs and returns the time until then; then it quits QEMU.
func launchByHand(argv []string, qmpPath string) (time.Duration, error) {
	os.Remove(qmpPath)
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var q *qmp.Client
	for {
		var err error
		if q, err = qmp.Dial(ctx, qmpPath); err == nil {
			break
		}
		if ctx.Err() != nil {
			cmd.Process.Kill()
			return 0, fmt.Errorf("QEMU by hand: no monitor: %v\n%s", err, stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	defer q.Close()
	if err := q.Cont(ctx); err != nil {
		cmd.Process.Kill()
		return 0, err
	}
	if st, err := q.QueryStatus(ctx); err != nil || st.Status != "running" {
		cmd.Process.Kill()
		return 0, fmt.Errorf("QEMU by hand: status %v %v", st, err)
	}
	d := time.Since(t0)
	if err := q.Quit(ctx); err != nil {
		cmd.Process.Kill()
	}
	return d, nil
}

// splitShell splits the single-quoted words showcmd prints.
func splitShell(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			in = true
		case ch == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
			in = true
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
