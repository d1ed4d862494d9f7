package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the programs run inside lab hosts: started
// with helperEnv set, TestMain runs the named helper instead of the tests.
const (
	helperEnv  = "NETNS_TEST_HELPER"
	nameEnv    = "NETNS_TEST_NAME"
	noTermEnv  = "NETNS_TEST_IGNORE_TERM"
	echoPort   = 7000
	agentPort  = 8080
	probeLimit = 300 * time.Millisecond
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func runHelper(mode string, args []string) int {
	switch mode {
	case "agent":
		return agent()
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	case "client":
		out, err := echoOnce(args[0], args[1], 2*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Print(out)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", mode)
	return 2
}

// agent serves a TCP echo on echoPort and, on agentPort, HTTP endpoints
// through which a test makes the host act: /whoami, /echo (talk to an
// echo server from this host) and /spawn (start a child).
func agent() int {
	if os.Getenv(noTermEnv) != "" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		// A clean exit on SIGTERM shows Stop's graceful path.
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() { <-term; os.Exit(0) }()
	}
	echo, err := net.Listen("tcp", fmt.Sprintf(":%d", echoPort))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(nameEnv))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		out, err := echoOnce(r.FormValue("addr"), r.FormValue("msg"), probeLimit)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, out)
	})
	mux.HandleFunc("/spawn", func(w http.ResponseWriter, r *http.Request) {
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), helperEnv+"=sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: r.FormValue("setsid") == "1"}
		if err := cmd.Start(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		go func() { _ = cmd.Wait() }()
		fmt.Fprint(w, cmd.Process.Pid)
	})
	err = http.ListenAndServe(fmt.Sprintf(":%d", agentPort), mux)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// echoOnce sends msg to an echo server and returns what came back. The
// connect timeout is what makes a blocked path fail quickly.
func echoOnce(addr, msg string, connect time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, connect)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// startAgent runs the agent helper in h and waits until it serves.
func startAgent(ctx context.Context, t *testing.T, h *Host, env ...string) *Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(ctx, exe)
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=agent", nameEnv + "=" + h.Name}, env...)...)
	cmd.Stderr = os.Stderr
	p := h.Start(cmd)
	for _, port := range []int{echoPort, agentPort} {
		if err := h.WaitTCP(ctx, port); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// get fetches a URL with the lab client and returns the body of a 200.
func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// talk makes from's agent exchange a message with to's echo server.
func talk(ctx context.Context, c *http.Client, from, to *Host) error {
	msg := "hello " + to.Name + " from " + from.Name
	out, err := get(ctx, c, fmt.Sprintf("http://%s:%d/echo?addr=%s:%d&msg=%s",
		from.IP, agentPort, to.IP, echoPort, strings.ReplaceAll(msg, " ", "+")))
	if err != nil {
		return fmt.Errorf("%s -> %s: %w", from.Name, to.Name, err)
	}
	if out != msg {
		return fmt.Errorf("%s -> %s: echoed %q, want %q", from.Name, to.Name, out, msg)
	}
	return nil
}

// eventually polls fn until it succeeds or the deadline passes.
func eventually(ctx context.Context, t *testing.T, fn func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		err := fn()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still failing: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// gone reports whether pid has exited (no such process, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
