package netns

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The test itself runs in the machine's own network namespace, which has
// no route to the lab (and must not get one). Its default route even leads
// to a gateway that may answer for any address, so a socket opened there
// could seem to reach a lab host. Dial and Listen therefore create their
// sockets inside the switch namespace, where the bridge carries the lab's
// .1 address.
//
// A socket belongs to the network namespace of the thread that created it,
// for its whole life; the thread may go back afterwards and the socket can
// be used from any goroutine. setns(2) changes only the calling thread, so
// inSwitch runs the socket-creating code on a fresh goroutine locked to its
// OS thread: that thread enters the switch namespace, runs fn, returns to
// the namespace it came from, and only then is unlocked. Should the way
// back fail, the goroutine exits still locked and the runtime destroys the
// thread instead of reusing it in the wrong namespace. While a goroutine is
// locked, the runtime creates new threads from a clean template thread, so
// the namespace does not leak into them either.
func (l *Lab) inSwitch(fn func() error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errClosed
	}
	fd := l.swFD
	l.setnsWG.Add(1) // keeps close from closing fd under us
	l.mu.Unlock()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			l.setnsWG.Done()
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		l.setnsWG.Done()
		if err != nil {
			runtime.UnlockOSThread() // setns failed: the thread did not move
			errc <- fmt.Errorf("netns: setns into the switch: %w", err)
			return
		}
		ferr := fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// Dial connects from the switch namespace, so a test in the machine's own
// namespace can reach lab hosts. The host part of addr must be an IP
// literal or the Name of one of the lab's hosts: a name lookup could run
// on another thread, outside the switch namespace. Neither Block nor
// Partition affect these connections (they filter forwarding between
// ports, not the switch's own traffic); Cut does. Connections still open
// when the test ends are closed by the cleanup.
func (l *Lab) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	addr, err := l.resolve(addr)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	err = l.inSwitch(func() error {
		// One address and no fallback: the dialer connects from this
		// goroutine, not from helper goroutines on other threads.
		var d net.Dialer
		var derr error
		c, derr = d.DialContext(ctx, network, addr)
		return derr
	})
	if err != nil {
		return nil, err
	}
	l.track(c)
	return c, nil
}

// Listen listens in the switch namespace, so a test can offer a service
// to lab hosts at SwitchIP. addr follows the rules of Dial (":0" works).
func (l *Lab) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	addr, err := l.resolve(addr)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	err = l.inSwitch(func() error {
		var lc net.ListenConfig
		var lerr error
		ln, lerr = lc.Listen(ctx, network, addr)
		return lerr
	})
	if err != nil {
		return nil, err
	}
	l.track(ln)
	return ln, nil
}

// resolve maps a lab host name to its IP and refuses other names.
func (l *Lab) resolve(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("netns: %w", err)
	}
	if host == "" || net.ParseIP(host) != nil {
		return addr, nil
	}
	l.mu.Lock()
	h := l.hosts[host]
	l.mu.Unlock()
	if h == nil {
		return "", fmt.Errorf("netns: %q is neither an IP address nor a host of this lab", host)
	}
	return net.JoinHostPort(h.IP, port), nil
}

// track remembers c to close it at cleanup: an open socket keeps the
// switch namespace, with its bridge, alive after its name is deleted.
func (l *Lab) track(c io.Closer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return
	}
	l.closers = append(l.closers, c)
}

// HTTPClient returns a client whose connections are made by Dial, so URLs
// may name lab hosts by IP or by Name ("https://node1:8006/"; with TLS the
// certificate must then match that name, or set tlsConf.ServerName).
// tlsConf may be nil. Proxy settings from the environment are ignored on
// purpose: a proxy could not reach the lab anyway.
func (l *Lab) HTTPClient(tlsConf *tls.Config) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         l.Dial,
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     30 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	l.mu.Lock()
	l.transports = append(l.transports, tr)
	l.mu.Unlock()
	return &http.Client{Transport: tr}
}

// WaitTCP polls, from the switch, until something accepts TCP connections
// on h.IP:port, or ctx ends. It is the readiness check for servers started
// in a host: no fixed sleeps. A Cut host never becomes ready.
func (h *Host) WaitTCP(ctx context.Context, port int) error {
	addr := net.JoinHostPort(h.IP, strconv.Itoa(port))
	delay := 5 * time.Millisecond
	for {
		// Per attempt, because a dead address fails only after ARP gives up
		// (about 3 s), while a refused connection fails at once.
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		var c net.Conn
		err := h.lab.inSwitch(func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(actx, "tcp", addr)
			return err
		})
		cancel()
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netns: %s (%s) not listening: %w (last: %v)", addr, h.Name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}
