// Command api measures the API server: requests per second and latency
// percentiles for GET /version and GET /nodes/{node}/status with a ticket,
// keep-alive connections and 50 concurrent clients, against a real
// `hearth daemon` process. For comparison it runs the same load against a
// minimal Go net/http TLS server (a child process of this program) that
// answers the same paths with the same bytes: the ceiling of what any Go
// HTTPS server could do on this machine.
//
//	go run ./bench/api -binary bin/hearth [-duration 10s] [-clients 50]
package main

import (
	"bufio"
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
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/internal/pki"
)

func main() {
	binary := flag.String("binary", "bin/hearth", "hearth binary to start")
	duration := flag.Duration("duration", 10*time.Second, "load duration per scenario")
	clients := flag.Int("clients", 50, "concurrent clients")
	ceiling := flag.String("serve-ceiling", "", "internal: serve the ceiling server with bodies from this JSON file")
	flag.Parse()
	if *ceiling != "" {
		serveCeiling(*ceiling)
		return
	}
	if err := run(*binary, *duration, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type scenario struct {
	name, path string
}

func run(binary string, duration time.Duration, clients int) error {
	dir, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pwFile := filepath.Join(dir, "pw")
	const password = "bench-password-1"
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	port, err := freePort()
	if err != nil {
		return err
	}
	const node = "bench"
	cmd := exec.Command(binary, "daemon", "--state-dir", filepath.Join(dir, "state"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--node", node, "--initial-password-file", pwFile, "--log-level", "warn")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	if err := waitFor(stdout, "URL:"); err != nil {
		return fmt.Errorf("daemon did not start: %w", err)
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	client := newClient(clients)
	cookie, err := login(client, base, password)
	if err != nil {
		return err
	}
	scenarios := []scenario{{"GET /version", "/api2/json/version"}, {"GET /nodes/{node}/status", "/api2/json/nodes/" + node + "/status"}}

	// The ceiling serves what Hearth answered, byte for byte.
	bodies := map[string]string{}
	for _, s := range scenarios {
		b, err := get(client, base+s.path, cookie)
		if err != nil {
			return err
		}
		bodies[s.path] = b
	}
	bodyFile := filepath.Join(dir, "bodies.json")
	b, _ := json.Marshal(bodies)
	os.WriteFile(bodyFile, b, 0o600)
	self, _ := os.Executable()
	ceil := exec.Command(self, "-serve-ceiling", bodyFile)
	ceilOut, _ := ceil.StdoutPipe()
	ceil.Stderr = os.Stderr
	if err := ceil.Start(); err != nil {
		return err
	}
	defer func() { ceil.Process.Kill(); ceil.Wait() }()
	addrLine, err := bufio.NewReader(ceilOut).ReadString('\n')
	if err != nil {
		return fmt.Errorf("ceiling server: %w", err)
	}
	ceilBase := "https://" + strings.TrimSpace(addrLine)

	fmt.Printf("%d clients, keep-alive, %s per run, GOMAXPROCS of this machine (%d CPUs)\n\n", clients, duration, numCPU())
	fmt.Println("| request | server | req/s | p50 | p99 |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, s := range scenarios {
		h := load(client, base+s.path, cookie, clients, duration)
		c := load(newClient(clients), ceilBase+s.path, cookie, clients, duration)
		fmt.Printf("| %s | hearth | %.0f | %s | %s |\n", s.name, h.rps, h.p50, h.p99)
		fmt.Printf("| %s | net/http ceiling | %.0f | %s | %s |\n", s.name, c.rps, c.p50, c.p99)
		fmt.Printf("| %s | ratio | %.2f | | |\n", s.name, h.rps/c.rps)
	}
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitFor(r io.Reader, marker string) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), marker) {
			go io.Copy(io.Discard, r)
			return nil
		}
	}
	return fmt.Errorf("output ended before %q", marker)
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // a benchmark of loopback servers we started
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, ForceAttemptHTTP2: false,
	}}
}

func login(c *http.Client, base, password string) (string, error) {
	resp, err := c.PostForm(base+"/api2/json/access/ticket", url.Values{"username": {"admin@pve"}, "password": {password}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Ticket string `json:"ticket"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Data.Ticket == "" {
		return "", fmt.Errorf("login failed: %s %v", resp.Status, err)
	}
	return "PVEAuthCookie=" + out.Data.Ticket, nil
}

func get(c *http.Client, u, cookie string) (string, error) {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Cookie", cookie)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), err
}

type stats struct {
	rps      float64
	p50, p99 time.Duration
}

// load runs clients goroutines that each send requests back to back until
// the deadline, recording each latency.
func load(c *http.Client, u, cookie string, clients int, d time.Duration) stats {
	// Warm the connections so the handshakes are not measured.
	var warm sync.WaitGroup
	for i := 0; i < clients; i++ {
		warm.Add(1)
		go func() { defer warm.Done(); get(c, u, cookie) }()
	}
	warm.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Cookie", cookie)
			for ctx.Err() == nil {
				t := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					lat[i] = append(lat[i], time.Since(t))
				}
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return stats{}
	}
	return stats{
		rps: float64(len(all)) / elapsed.Seconds(),
		p50: all[len(all)/2].Round(10 * time.Microsecond),
		p99: all[len(all)*99/100].Round(10 * time.Microsecond),
	}
}

// serveCeiling answers each path with its recorded body over TLS and
// prints the address it listens on.
func serveCeiling(bodyFile string) {
	b, err := os.ReadFile(bodyFile)
	if err != nil {
		panic(err)
	}
	bodies := map[string]string{}
	json.Unmarshal(b, &bodies)
	ca, _, err := pki.NewCA("ceiling", time.Now())
	if err != nil {
		panic(err)
	}
	certPEM, keyPEM, err := ca.NodeCert("ceiling", nil, time.Now())
	if err != nil {
		panic(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		panic(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		io.WriteString(w, body)
	})}
	srv.Serve(ln)
}
