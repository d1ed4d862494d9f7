package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// GossipKeyPath holds the key that encrypts membership traffic.
const GossipKeyPath = "priv/gossip.key"

// Config wires a node's cluster service.
type Config struct {
	Node     string
	Store    *cfs.Store
	Identity *Identity
	Raft     *RaftNet
	Peers    *Peers
	// GossipBind is the host:port membership listens on; port 0 picks one.
	GossipBind string
	// Status reports this node's live status for gossip.
	Status func() NodeStatus
	Logger *slog.Logger
	// VoterTimeout is how long a voter may be gone before another node
	// takes its vote; default 20 s.
	VoterTimeout time.Duration
	// BalanceInterval is how often the leader reviews the voters; default 2 s.
	BalanceInterval time.Duration
	// Fast shortens gossip failure detection (tests on one machine).
	Fast bool
}

// Cluster is this node's part in a cluster: membership, voter balancing,
// forwarding of API calls, and the cluster configuration endpoints.
type Cluster struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	gossip *Gossip
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the service; Start runs it.
func New(cfg Config) *Cluster {
	if cfg.VoterTimeout <= 0 {
		cfg.VoterTimeout = 20 * time.Second
	}
	if cfg.BalanceInterval <= 0 {
		cfg.BalanceInterval = 2 * time.Second
	}
	return &Cluster{cfg: cfg, log: cfg.Logger}
}

// Start joins the membership of the cluster if this node is in one, and
// starts the voter balancing that runs while this node leads.
func (c *Cluster) Start(ctx context.Context) error {
	ctx, c.cancel = context.WithCancel(ctx)
	if conf, ok := c.Conf(); ok {
		if err := c.startGossip(conf); err != nil {
			return err
		}
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.balanceLoop(ctx) }()
	return nil
}

// Close leaves the membership and stops background work.
func (c *Cluster) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	c.mu.Lock()
	g := c.gossip
	c.gossip = nil
	c.mu.Unlock()
	if g != nil {
		return g.Close()
	}
	return nil
}

// Conf reads cluster.conf; false when this node is not in a cluster.
func (c *Cluster) Conf() (*Conf, bool) {
	e, err := c.cfg.Store.Get(ConfPath)
	if err != nil {
		return nil, false
	}
	conf, warnings := ParseConf(e.Data)
	for _, w := range warnings {
		c.log.Warn("cluster.conf: " + w)
	}
	return conf, conf.Name != ""
}

func (c *Cluster) gossipKey() ([]byte, error) {
	e, err := c.cfg.Store.Get(GossipKeyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the gossip key: %w", err)
	}
	return hex.DecodeString(strings.TrimSpace(string(e.Data)))
}

// startGossip starts membership and contacts the other nodes.
func (c *Cluster) startGossip(conf *Conf) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gossip != nil {
		return nil
	}
	key, err := c.gossipKey()
	if err != nil {
		return err
	}
	g, err := StartGossip(GossipConfig{Node: c.cfg.Node, Bind: c.cfg.GossipBind, Key: key, Status: c.cfg.Status,
		Logger: c.log, Fast: c.cfg.Fast, Interval: c.statusInterval()})
	if err != nil {
		return err
	}
	c.gossip = g
	var peers []string
	for _, n := range conf.Nodes {
		if n.Name != c.cfg.Node && n.Gossip != "" {
			peers = append(peers, n.Gossip)
		}
	}
	if err := g.Join(peers); err != nil {
		// Peers may all be down; membership keeps trying on its own
		// when they contact us.
		c.log.Warn("could not reach other nodes by gossip yet", "error", err)
	}
	return nil
}

func (c *Cluster) statusInterval() time.Duration {
	if c.cfg.Fast {
		return 500 * time.Millisecond
	}
	return 5 * time.Second
}

// Gossip returns the membership, or nil when not clustered.
func (c *Cluster) Gossip() *Gossip {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gossip
}

// Online reports whether a node is alive, as membership sees it. A
// standalone node sees only itself.
func (c *Cluster) Online(node string) bool {
	if node == c.cfg.Node {
		return true
	}
	g := c.Gossip()
	return g != nil && g.Alive(node)
}

// Status returns the last status a node broadcast.
func (c *Cluster) Status(node string) (NodeStatus, bool) {
	g := c.Gossip()
	if g == nil {
		return NodeStatus{}, false
	}
	return g.Status(node)
}

// Route implements rest.Forwarder: the API address of a node, and a
// client that presents this node's certificate.
func (c *Cluster) Route(node string) (string, *http.Client, error) {
	if conf, ok := c.Conf(); ok {
		if n, ok := conf.Node(node); ok {
			return "https://" + n.Address, c.cfg.Peers.Client(), nil
		}
	}
	return "", nil, fmt.Errorf("node '%s' is not a member of this cluster", node)
}

// AddrHost is the host part of a host:port address.
func AddrHost(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// createCluster makes this standalone node the first member of a cluster.
func (c *Cluster) createCluster(ctx context.Context, name string, nodeID int) error {
	if _, ok := c.Conf(); ok {
		return errors.New("this node is already part of a cluster")
	}
	if guests := c.localGuests(); len(guests) > 0 {
		c.log.Info("creating a cluster on a node with guests", "guests", len(guests))
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if _, err := c.cfg.Store.Apply(ctx, cfs.Write(GossipKeyPath, []byte(hex.EncodeToString(key)+"\n")).If(cfs.Cond{MustNotExist: true})); err != nil && !errors.Is(err, cfs.ErrConflict) {
		return fmt.Errorf("storing the gossip key: %w", err)
	}
	conf := &Conf{Name: name, Created: time.Now().Unix()}
	conf.SetNode(NodeConf{Name: c.cfg.Node, NodeID: nodeID, Address: c.cfg.Raft.Advertise()})
	if err := c.startGossip(conf); err != nil {
		return err
	}
	n, _ := conf.Node(c.cfg.Node)
	n.Gossip = c.Gossip().Addr()
	conf.SetNode(n)
	if _, err := c.cfg.Store.Apply(ctx, cfs.Write(ConfPath, conf.Bytes()).If(cfs.Cond{MustNotExist: true})); err != nil {
		return fmt.Errorf("writing %s: %w", ConfPath, err)
	}
	c.log.Info("created cluster", "cluster", name, "node", c.cfg.Node)
	return nil
}

// localGuests lists the guest configs of this node.
func (c *Cluster) localGuests() []string {
	var out []string
	for _, kind := range []string{"qemu-server", "lxc"} {
		entries, _ := c.cfg.Store.List("nodes/" + c.cfg.Node + "/" + kind)
		for _, e := range entries {
			if strings.HasSuffix(e.Path, ".conf") {
				out = append(out, e.Path[strings.LastIndexByte(e.Path, '/')+1:len(e.Path)-5])
			}
		}
	}
	return out
}

// updateConf changes cluster.conf with a compare-and-set, retrying when
// another node changed it in between.
func (c *Cluster) updateConf(ctx context.Context, change func(*Conf) error, extra ...cfs.Op) error {
	for attempt := 0; attempt < 5; attempt++ {
		if err := c.cfg.Store.Sync(ctx); err != nil {
			return err
		}
		e, err := c.cfg.Store.Get(ConfPath)
		if err != nil {
			return fmt.Errorf("this node is not in a cluster: %w", err)
		}
		conf, _ := ParseConf(e.Data)
		if err := change(conf); err != nil {
			return err
		}
		ops := append([]cfs.Op{cfs.Write(ConfPath, conf.Bytes()).If(cfs.Cond{Version: e.Version})}, extra...)
		_, err = c.cfg.Store.Apply(ctx, ops...)
		var ce *cfs.ConflictError
		if !errors.As(err, &ce) || ce.Path != ConfPath {
			return err
		}
	}
	return fmt.Errorf("%s keeps changing; try again", ConfPath)
}
