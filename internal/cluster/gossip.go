package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// NodeStatus is what each node tells the others about itself, every few
// seconds, by gossip. It is not stored anywhere: it is the live view.
type NodeStatus struct {
	Node    string    `json:"node"`
	Address string    `json:"address"` // API host:port
	Version string    `json:"version"`
	Uptime  int64     `json:"uptime"`
	CPU     float64   `json:"cpu"`
	MaxCPU  int       `json:"maxcpu"`
	Mem     int64     `json:"mem"`
	MaxMem  int64     `json:"maxmem"`
	Disk    int64     `json:"disk"`
	MaxDisk int64     `json:"maxdisk"`
	Load    [3]string `json:"load"`
	// Applied is the node's position in the replicated log; the leader
	// promotes only nodes that have caught up.
	Applied uint64 `json:"applied"`
	Updated int64  `json:"updated"`
	// Storages is the space of the storages active on the node, for the
	// cluster's resource list. Keys are short: the status travels in
	// UDP packets.
	Storages []StorageUsage `json:"st,omitempty"`
	// Running lists the guests running on the node, so every node shows
	// their state in the cluster's resource list.
	Running []int `json:"run,omitempty"`
}

// StorageUsage is one storage's space on a node.
type StorageUsage struct {
	ID    string `json:"id"`
	Total int64  `json:"t"`
	Used  int64  `json:"u"`
}

// GossipConfig configures membership.
type GossipConfig struct {
	Node string
	// Bind is the host:port to listen on (UDP and TCP); port 0 picks one.
	Bind string
	// Advertise is the address peers use, when it differs from Bind's.
	Advertise string
	// Key encrypts and authenticates gossip (16, 24 or 32 bytes).
	Key []byte
	// Status is called every Interval for the status to broadcast.
	Status   func() NodeStatus
	Interval time.Duration
	Logger   *slog.Logger
	// Fast shortens failure detection, for tests on one machine.
	Fast bool
}

// Gossip is this node's membership: who is alive, and their status.
type Gossip struct {
	cfg  GossipConfig
	ml   *memberlist.Memberlist
	q    *memberlist.TransmitLimitedQueue
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	statuses map[string]NodeStatus
	down     map[string]time.Time // when a node was last seen leaving
	local    []byte
}

// Member is a node as membership sees it.
type Member struct {
	Name   string
	Addr   string // gossip host:port
	Alive  bool
	Status NodeStatus
	// DownSince is when the node was found dead or left (zero if alive).
	DownSince time.Time
}

// StartGossip joins nobody yet: it listens and starts broadcasting.
func StartGossip(cfg GossipConfig) (*Gossip, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	host, portText, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.Bind, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("gossip port %q: %w", portText, err)
	}
	g := &Gossip{cfg: cfg, stop: make(chan struct{}), statuses: map[string]NodeStatus{}, down: map[string]time.Time{}}
	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.SuspicionMult = 2
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 2 * time.Second
	}
	mc.Name = cfg.Node
	mc.BindAddr, mc.BindPort = host, port
	if cfg.Advertise != "" {
		ah, ap, err := net.SplitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.Advertise, err)
		}
		mc.AdvertiseAddr = ah
		mc.AdvertisePort, _ = strconv.Atoi(ap)
	}
	mc.SecretKey = cfg.Key
	mc.Delegate = (*gossipDelegate)(g)
	mc.Events = (*gossipEvents)(g)
	mc.Logger = log.New(&logWriter{l: cfg.Logger}, "", 0)
	g.q = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return g.numNodes() }, RetransmitMult: 3}
	g.refresh()
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("starting gossip on %s: %w", cfg.Bind, err)
	}
	g.ml = ml
	g.wg.Add(1)
	go g.loop()
	return g, nil
}

func (g *Gossip) numNodes() int {
	if g.ml == nil {
		return 1
	}
	return g.ml.NumMembers()
}

// Addr is where this node's gossip listens (host:port).
func (g *Gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Join contacts existing members; one reachable member is enough.
func (g *Gossip) Join(addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	_, err := g.ml.Join(addrs)
	return err
}

// loop refreshes and broadcasts this node's status.
func (g *Gossip) loop() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.refresh()
			g.mu.Lock()
			msg := append([]byte(nil), g.local...)
			g.mu.Unlock()
			g.q.QueueBroadcast(statusBroadcast{node: g.cfg.Node, msg: msg})
		}
	}
}

func (g *Gossip) refresh() {
	st := g.cfg.Status()
	st.Node, st.Updated = g.cfg.Node, time.Now().Unix()
	b, _ := json.Marshal(st)
	g.mu.Lock()
	g.local = b
	g.statuses[g.cfg.Node] = st
	g.mu.Unlock()
}

// Members lists every node membership has heard of, alive or not.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	alive := map[string]*memberlist.Node{}
	for _, n := range g.ml.Members() {
		if n.State == memberlist.StateAlive {
			alive[n.Name] = n
		}
	}
	seen := map[string]bool{}
	var out []Member
	for name, n := range alive {
		seen[name] = true
		out = append(out, Member{Name: name, Addr: n.Address(), Alive: true, Status: g.statuses[name]})
	}
	for name, since := range g.down {
		if !seen[name] {
			seen[name] = true
			out = append(out, Member{Name: name, DownSince: since, Status: g.statuses[name]})
		}
	}
	return out
}

// Alive reports whether membership sees the node alive now.
func (g *Gossip) Alive(name string) bool {
	if name == g.cfg.Node {
		return true
	}
	for _, n := range g.ml.Members() {
		if n.Name == name {
			return n.State == memberlist.StateAlive
		}
	}
	return false
}

// Status returns the last status a node broadcast.
func (g *Gossip) Status(name string) (NodeStatus, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.statuses[name]
	return st, ok
}

// Close leaves the cluster's gossip gracefully and stops.
func (g *Gossip) Close() error {
	close(g.stop)
	g.wg.Wait()
	err := g.ml.Leave(time.Second)
	return errors.Join(err, g.ml.Shutdown())
}

type gossipDelegate Gossip

func (d *gossipDelegate) NodeMeta(int) []byte { return nil }

func (d *gossipDelegate) NotifyMsg(b []byte) { (*Gossip)(d).merge(b) }

func (d *gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.q.GetBroadcasts(overhead, limit)
}

// LocalState sends every status this node knows, so a node that joins
// sees the whole cluster after one exchange.
func (d *gossipDelegate) LocalState(bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, _ := json.Marshal(d.statuses)
	return b
}

func (d *gossipDelegate) MergeRemoteState(buf []byte, _ bool) {
	var all map[string]NodeStatus
	if json.Unmarshal(buf, &all) != nil {
		return
	}
	g := (*Gossip)(d)
	for _, st := range all {
		g.store(st)
	}
}

func (g *Gossip) merge(b []byte) {
	var st NodeStatus
	if json.Unmarshal(b, &st) == nil {
		g.store(st)
	}
}

// store keeps the newer of two statuses of a node; a node's own status is
// only ever set by itself.
func (g *Gossip) store(st NodeStatus) {
	if st.Node == "" || st.Node == g.cfg.Node {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.statuses[st.Node]; !ok || st.Updated >= old.Updated {
		g.statuses[st.Node] = st
	}
}

type gossipEvents Gossip

func (e *gossipEvents) NotifyJoin(n *memberlist.Node) {
	e.mu.Lock()
	delete(e.down, n.Name)
	e.mu.Unlock()
}

func (e *gossipEvents) NotifyLeave(n *memberlist.Node) {
	e.mu.Lock()
	e.down[n.Name] = time.Now()
	e.mu.Unlock()
}

func (e *gossipEvents) NotifyUpdate(*memberlist.Node) {}

// statusBroadcast is a status message that replaces older ones of the
// same node in the send queue.
type statusBroadcast struct {
	node string
	msg  []byte
}

func (b statusBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(statusBroadcast)
	return ok && o.node == b.node
}
func (b statusBroadcast) Message() []byte { return b.msg }
func (b statusBroadcast) Finished()       {}

// logWriter routes memberlist's "[LEVEL] text" lines into slog.
type logWriter struct{ l *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	// memberlist's INFO lines are about routine connections: debug here.
	level := slog.LevelDebug
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelDebug, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if rest, ok := bytes.CutPrefix([]byte(line), []byte(prefix)); ok {
			line, level = string(bytes.TrimSpace(rest)), l
			break
		}
	}
	w.l.Log(context.Background(), level, line, "component", "gossip")
	return len(p), nil
}
