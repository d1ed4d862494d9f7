// Package daemon builds and runs a Hearth node: it opens the cluster file
// system, access control, the task runner and the host sampler, binds every
// API declaration to its handler, and serves the API over HTTPS and the
// local root socket. Every dependency is wired here, explicitly.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/access"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/cfsfuse"
	"github.com/hearth-virt/hearth/internal/cluster"
	"github.com/hearth-virt/hearth/internal/hostinfo"
	"github.com/hearth-virt/hearth/internal/logbook"
	"github.com/hearth-virt/hearth/internal/lxc/ct"
	"github.com/hearth-virt/hearth/internal/network/hostnet"
	"github.com/hearth-virt/hearth/internal/network/natnet"
	"github.com/hearth-virt/hearth/internal/qemu/vm"
	"github.com/hearth-virt/hearth/internal/rest"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/task"
	"golang.org/x/sys/unix"
)

// Config is how a node is started.
type Config struct {
	StateDir string // default /var/lib/hearth
	Listen   string // default 0.0.0.0:8006; port 0 picks a free one
	Node     string // default: the short host name
	// Socket is the root-only unix socket of the CLI; default
	// <StateDir>/hearth.sock.
	Socket string
	// InitialPasswordFile holds the first administrator's password; when
	// empty one is generated and saved in <StateDir>/initial-password.
	InitialPasswordFile string
	LogLevel            slog.Level
	Stderr              io.Writer // where log lines also go; nil for none
	// AuthFailDelay overrides the 3 s wait before a 401 (tests).
	AuthFailDelay time.Duration
	// Announce receives the ready message with the URL and the login.
	Announce io.Writer
	// Address is the IP (or host name) other nodes reach this node at;
	// default: the listen address when specific, else the first global
	// address of the host.
	Address string
	// GossipPort is the UDP and TCP port of cluster membership; default
	// 8007, 0 picks a free one.
	GossipPort *int
	// FastGossip shortens failure detection, for clusters in tests.
	FastGossip bool
	// CFSMount is where the configuration tree is mounted as a file system
	// (like /etc/pve); empty means no mount.
	CFSMount string
	// ReadyTimeout bounds the wait for the cluster at start when this node
	// has joined one; after it the node starts with what it has (reads work,
	// changes wait for quorum). Default 30 s.
	ReadyTimeout time.Duration
	// NetworkInterfaces is the interfaces file the network API edits and
	// applies; default /etc/network/interfaces.
	NetworkInterfaces string
	// NetworkNamespace is the path of the network namespace the node
	// configures; empty means its own (tests give one of theirs).
	NetworkNamespace string
	// NATNetwork is BRIDGE[,subnet=CIDR][,dns=0|1] for a NAT network for
	// guests, brought up at start; empty or "none" for none.
	NATNetwork string
	// LocalStorage is the directory of the "local" storage written into
	// the first storage.cfg (the daemon's flag defaults to /var/lib/vz);
	// empty means <StateDir>/vz, which keeps test nodes to themselves.
	LocalStorage string
	// MountRoot is where network storages are mounted (the flag defaults
	// to /mnt/pve); empty means <StateDir>/mnt.
	MountRoot string
	// RunDir holds runtime state that must not survive a reboot (the
	// sockets and pid files of running guests); default /run/hearth,
	// empty in tests means <StateDir>/run.
	RunDir string
	// KVM overrides the detection of /dev/kvm (tests).
	KVM *bool
}

// Daemon is a running node.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	book     *logbook.Book
	store    *cfs.Store
	access   *access.Service
	tasks    *task.Runner
	sampler  *hostinfo.Sampler
	host     hostinfo.Reader
	status   statusCache
	api      *rest.Server
	cluster  *cluster.Cluster
	id       *cluster.Identity
	raftNet  *cluster.RaftNet
	mount    *cfsfuse.Server
	storage  *storage.Service
	vms      *vm.Service
	cts      *ct.Service
	guestNet interface{ Close() } // the netlink handle guest ports are plugged with
	network  *hostnet.Service
	natCfg   *natnet.Config

	// newPassword is the generated first password, shown once at start.
	newPassword string

	httpSrv, sockSrv *http.Server
	httpLn, sockLn   net.Listener
	// handler is what the HTTPS listener serves: a "starting" answer until
	// Start, then the API. Consensus traffic is served from the beginning.
	handler  atomic.Pointer[serving]
	httpDone chan struct{}
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// New opens the node's state and prepares every service, creating what a
// first start needs (keys, certificates, the first administrator). It does
// not listen yet; Start does.
func New(ctx context.Context, cfg Config) (d *Daemon, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d = &Daemon{cfg: cfg}
	built := d // the error returns below set d to nil
	defer func() {
		if err != nil {
			built.closeStores()
		}
	}()
	d.book, err = logbook.Open(logbook.Options{Dir: filepath.Join(cfg.StateDir, "log"), Node: cfg.Node, Stderr: cfg.Stderr, Level: cfg.LogLevel})
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	d.log = slog.New(d.book.Handler())

	// Listen first: the consensus address other nodes use must carry the
	// real port, which a ":0" listen address only tells once bound.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	d.httpLn = ln
	advertise, err := cfg.advertise(ln.Addr())
	if err != nil {
		return nil, err
	}
	if d.id, err = cluster.LoadIdentity(filepath.Join(cfg.StateDir, "ssl")); err != nil {
		return nil, err
	}
	d.raftNet = cluster.NewRaftNet(d.id, advertise, d.log.With("component", "raft"))
	d.serveEarly()
	peers := cluster.NewPeers(d.id)
	d.store, err = cfs.Open(ctx, cfs.Config{Dir: filepath.Join(cfg.StateDir, "cfs"), NodeID: cfg.Node, Logger: d.log.With("component", "cfs"),
		Transport: d.raftNet.Transport, Forward: peers.Forward,
		HeartbeatTimeout: raftHeartbeat, ElectionTimeout: raftHeartbeat, LeaderLeaseTimeout: raftHeartbeat / 2})
	if err != nil {
		return nil, fmt.Errorf("cluster file system: %w", err)
	}
	if err := d.waitForTree(ctx); err != nil {
		return nil, err
	}
	if err := d.ensureCertificates(ctx); err != nil {
		return nil, err
	}
	if d.store.Quorate() {
		if err := d.ensureLayout(ctx); err != nil {
			return nil, err
		}
	}
	d.access = access.New(d.store, d.log.With("component", "access"))
	// A node restarting in a cluster may see quorum before it has replayed
	// the tree; the sync makes it read what the cluster has (users, keys)
	// before deciding to create any of it.
	if d.store.Quorate() && d.syncForBootstrap(ctx) {
		if err := d.access.EnsureKeys(ctx, time.Now()); err != nil {
			return nil, err
		}
		if err := d.bootstrapAdmin(ctx); err != nil {
			return nil, err
		}
	}
	d.tasks, err = task.Open(task.Config{Dir: filepath.Join(cfg.StateDir, "tasks"), Node: cfg.Node, Logger: d.log.With("component", "tasks")})
	if err != nil {
		return nil, fmt.Errorf("task runner: %w", err)
	}
	d.sampler = hostinfo.NewSampler(d.host)
	if err := d.sampler.Sample(); err != nil {
		d.log.Warn("cannot read CPU usage", "error", err)
	}
	gossipPort := 8007
	if cfg.GossipPort != nil {
		gossipPort = *cfg.GossipPort
	}
	d.cluster = cluster.New(cluster.Config{
		Node: cfg.Node, Store: d.store, Identity: d.id, Raft: d.raftNet, Peers: peers,
		GossipBind: net.JoinHostPort(cluster.AddrHost(advertise), strconv.Itoa(gossipPort)),
		Status:     d.gossipStatus, Logger: d.log.With("component", "cluster"), Fast: cfg.FastGossip,
	})
	d.access.ClusterName = func() string {
		if conf, ok := d.cluster.Conf(); ok {
			return conf.Name
		}
		return ""
	}
	if err := d.openNetwork(); err != nil {
		return nil, err
	}
	if err := d.openStorage(ctx); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if err := d.openVMs(); err != nil {
		return nil, fmt.Errorf("virtual machines: %w", err)
	}
	d.openCTs()
	extra, err := d.extraHandler()
	if err != nil {
		return nil, err
	}
	d.api, err = rest.New(rest.Config{
		Node:          cfg.Node,
		Routes:        d.routes(),
		Auth:          d.access,
		Tasks:         taskStarter{d.tasks},
		Forwarder:     d.cluster,
		Logger:        d.log.With("component", "api"),
		AuthFailDelay: cfg.AuthFailDelay,
		Extra:         extra,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (c *Config) defaults() error {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/hearth"
	}
	if c.Listen == "" {
		c.Listen = "0.0.0.0:8006"
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.StateDir, "hearth.sock")
	}
	if c.LocalStorage == "" {
		c.LocalStorage = filepath.Join(c.StateDir, "vz")
	}
	if c.RunDir == "" {
		c.RunDir = filepath.Join(c.StateDir, "run")
	}
	if c.MountRoot == "" {
		c.MountRoot = filepath.Join(c.StateDir, "mnt")
	}
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w; give one with --node", err)
		}
		c.Node, _, _ = cutDot(h)
	}
	if err := schema.CheckFormat("pve-node", c.Node); err != nil {
		return fmt.Errorf("node name %q: %w; give a valid one with --node", c.Node, err)
	}
	return nil
}

func cutDot(h string) (string, string, bool) {
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			return h[:i], h[i+1:], true
		}
	}
	return h, "", false
}

// taskStarter adapts the task runner to the API server.
type taskStarter struct{ r *task.Runner }

func (t taskStarter) Start(user string, tk api.Task) (string, error) {
	u, err := t.r.Start(user, tk)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// Start listens on the API address and the root socket and serves until
// Shutdown. Background work (CPU sampling, key rotation) starts here too.
func (d *Daemon) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(ctx)
	sock, err := listenSocket(d.cfg.Socket)
	if err != nil {
		return err
	}
	d.sockLn = sock
	if err := d.cluster.Start(ctx); err != nil {
		sock.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	if d.cfg.CFSMount != "" {
		if err := os.MkdirAll(d.cfg.CFSMount, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", d.cfg.CFSMount, err)
		}
		m, err := cfsfuse.Mount(ctx, d.store, d.cfg.CFSMount, cfsfuse.Options{Node: d.cfg.Node, Logger: d.log.With("component", "fuse")})
		if err != nil {
			// The API works without the mount; say why it is missing.
			d.log.Warn("the configuration file system is not mounted", "mount", d.cfg.CFSMount, "error", err)
		} else {
			d.mount = m
		}
	}
	d.handler.Store(&serving{h: d.api})
	d.sockSrv = rest.NewHTTPServer(d.api, nil, d.log)
	d.sockSrv.ConnContext = rest.RootConnContext
	serve := func(srv *http.Server, ln net.Listener) {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("server stopped", "error", err)
		}
	}
	if d.store.Quorate() {
		if err := d.storage.EnsureConfig(ctx); err != nil {
			d.log.Warn("cannot write the first storage.cfg", "error", err)
		}
	}
	d.wg.Add(4)
	go serve(d.sockSrv, d.sockLn)
	go func() { defer d.wg.Done(); d.sampler.Run(ctx, 5*time.Second) }()
	go func() { defer d.wg.Done(); d.rotateKeys(ctx) }()
	go func() { defer d.wg.Done(); d.storage.Run(ctx, 10*time.Second) }()
	d.log.Info("node started", "node", d.cfg.Node, "listen", d.httpLn.Addr().String(), "socket", d.cfg.Socket, "version", api.HearthVersion)
	d.startNetwork(ctx)
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.startVMs(ctx) }()
	d.announce()
	return nil
}

// serving wraps the handler of the HTTPS listener.
type serving struct{ h http.Handler }

// serveEarly serves the HTTPS listener from the moment it exists. A node
// that restarts inside a cluster waits for the other nodes to bring its
// tree up to date before anything else starts; they reach it through the
// consensus traffic of this listener, so it cannot wait for the API to be
// ready. API calls get 503 until Start.
func (d *Daemon) serveEarly() {
	starting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the node is starting", http.StatusServiceUnavailable)
	})
	d.handler.Store(&serving{h: starting})
	d.httpSrv = rest.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.handler.Load().h.ServeHTTP(w, r)
	}), nil, d.log)
	d.httpSrv.TLSNextProto[cluster.ALPNRaft] = d.raftNet.Handoff
	d.httpSrv.RegisterOnShutdown(d.raftNet.CloseConns)
	d.httpDone = make(chan struct{})
	go func() {
		defer close(d.httpDone)
		if err := d.httpSrv.Serve(tls.NewListener(d.httpLn, d.id.ServerTLS())); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("server stopped", "error", err)
		}
	}()
}

// listenSocket opens the root-only CLI socket, replacing a stale one.
func listenSocket(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	// The umask keeps the socket private from the moment it exists.
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// rotateKeys replaces the ticket key once it is a day old.
func (d *Daemon) rotateKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := d.access.EnsureKeys(ctx, now); err != nil {
				d.log.Warn("key rotation failed", "error", err)
			}
		}
	}
}

// Addr is the address the API listens on.
func (d *Daemon) Addr() net.Addr { return d.httpLn.Addr() }

// Node is the node's name.
func (d *Daemon) Node() string { return d.cfg.Node }

// Shutdown stops serving, waits for requests and tasks (bounded by ctx),
// and closes the state.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if d.cancel != nil {
		d.cancel()
	}
	var errs []error
	for _, srv := range []*http.Server{d.httpSrv, d.sockSrv} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	d.wg.Wait()
	if d.httpDone != nil {
		<-d.httpDone
	}
	if d.vms != nil {
		d.vms.Release()
	}
	if d.guestNet != nil {
		d.guestNet.Close()
	}
	d.stopNetwork()
	if d.mount != nil {
		errs = append(errs, d.mount.Close())
	}
	if d.cluster != nil {
		errs = append(errs, d.cluster.Close())
	}
	if d.tasks != nil {
		errs = append(errs, d.tasks.Shutdown(ctx))
	}
	os.Remove(d.cfg.Socket)
	d.log.Info("node stopped")
	errs = append(errs, d.closeStores())
	return errors.Join(errs...)
}

func (d *Daemon) closeStores() error {
	var errs []error
	if d.sockSrv == nil && d.httpSrv != nil {
		// New failed after serving consensus traffic: stop that too.
		d.httpSrv.Close()
		<-d.httpDone
		d.httpSrv = nil
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
		d.store = nil
	}
	if d.book != nil {
		errs = append(errs, d.book.Close())
		d.book = nil
	}
	return errors.Join(errs...)
}

// raftHeartbeat is how long a follower waits for the leader before it
// calls an election. Large files over TLS on a busy node took more than
// the 100 ms a lone store is happy with and made leaders step down; half
// a second keeps a failover at one to two seconds, still far below the two
// minutes Proxmox VE's HA needs.
const raftHeartbeat = 500 * time.Millisecond

// advertise is the host:port other nodes reach this node's listener at.
func (c *Config) advertise(listened net.Addr) (string, error) {
	_, port, err := net.SplitHostPort(listened.String())
	if err != nil {
		return "", err
	}
	host := c.Address
	if host == "" {
		if h, _, err := net.SplitHostPort(c.Listen); err == nil {
			if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
				host = h
			}
		}
	}
	if host == "" {
		host = "127.0.0.1"
		for _, n := range hostNames() {
			if ip := net.ParseIP(n); ip != nil && ip.To4() != nil {
				host = n
				break
			}
		}
	}
	return net.JoinHostPort(host, port), nil
}

// waitForTree waits until the configuration tree is current. A standalone
// node is ready at once; a node of a cluster needs the others, and when
// they cannot be reached it starts anyway after ReadyTimeout with the tree
// it has, so that reads and node-local work keep going.
func (d *Daemon) waitForTree(ctx context.Context) error {
	timeout := d.cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := d.store.WaitReady(wctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	d.log.Warn("the cluster is not reachable; starting without quorum (read-only until it is)", "error", err)
	return nil
}

// gossipStatus is what this node tells the cluster about itself.
func (d *Daemon) gossipStatus() cluster.NodeStatus {
	st := cluster.NodeStatus{Address: d.raftNet.Advertise(), Version: api.HearthVersion, Applied: d.store.AppliedIndex()}
	if ns, err := d.status.get(d); err == nil {
		st.Uptime, st.CPU, st.MaxCPU = ns.Uptime, ns.CPU, ns.CPUInfo.CPUs
		st.Mem, st.MaxMem, st.Disk, st.MaxDisk = ns.Memory.Used, ns.Memory.Total, ns.RootFS.Used, ns.RootFS.Total
		st.Load = ns.LoadAvg
	}
	for _, u := range d.storage.Usage() {
		if u.Active == 1 {
			st.Storages = append(st.Storages, cluster.StorageUsage{ID: u.Storage, Total: u.Total, Used: u.Used})
		}
	}
	if d.vms != nil {
		for vmid := range d.vms.Running() {
			st.Running = append(st.Running, vmid)
		}
	}
	if d.cts != nil {
		for vmid := range d.cts.Running() {
			st.Running = append(st.Running, vmid)
		}
	}
	slices.Sort(st.Running)
	return st
}

// syncForBootstrap catches the node's tree up with the cluster before
// the first administrator and the ticket keys are checked. A cluster
// that lost quorum again meanwhile has both already: the node then
// starts without, as a node without quorum does.
func (d *Daemon) syncForBootstrap(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.store.Sync(sctx); err != nil {
		d.log.Warn("cannot catch up with the cluster at start; not checking the first administrator and the keys", "error", err)
		return false
	}
	return true
}

// Store is the node's replica of the configuration tree, for tests and
// benchmarks that drive a node directly.
func (d *Daemon) Store() *cfs.Store { return d.store }
