package cfs

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Defaults for Config. The raft timings let a single voter elect itself
// within about 100-200 ms of Open; clusters spread over slower links will
// want larger values.
const (
	DefaultHeartbeatTimeout   = 100 * time.Millisecond
	DefaultElectionTimeout    = 100 * time.Millisecond
	DefaultLeaderLeaseTimeout = 50 * time.Millisecond
	DefaultCommitTimeout      = 5 * time.Millisecond
	DefaultApplyTimeout       = 10 * time.Second

	// defaultOpenTimeout bounds the wait for the lock on raft.db when the
	// context of Open has no deadline; another process holding it is a
	// configuration error that should surface, not hang.
	defaultOpenTimeout = 10 * time.Second
	// snapshotsRetained is how many snapshots FileSnapshotStore keeps.
	snapshotsRetained = 2
	// logCacheSize is the number of recent log entries kept in memory in
	// front of bolt, which serves replication to followers. Entries can
	// carry whole files (up to 1 MiB), so the cache stays small.
	logCacheSize = 64
	// snapshotThreshold and trailingLogs are lower than raft's defaults:
	// entries may carry whole files, and a snapshot of the small tree is
	// cheap, so the log on disk is kept short.
	snapshotThreshold = 1024
	trailingLogs      = 1024
)

// Config configures a Store. Dir and NodeID are required.
type Config struct {
	// Dir is the state directory: raft.db holds the raft log and stable
	// state, snapshots/ the snapshots. It is created if missing. One
	// process owns it at a time.
	Dir string
	// NodeID is the raft server id, the node's name.
	NodeID string
	// Logger receives the store's messages and raft's. Default
	// slog.Default().
	Logger *slog.Logger
	// MaxFileSize limits each file; default DefaultMaxFileSize.
	MaxFileSize int
	// MaxTotalSize limits the sum of all file sizes; default
	// DefaultMaxTotalSize. Both limits travel inside each transaction, so
	// the node that proposes a write decides which limits it is held to.
	MaxTotalSize int64
	// Transport makes the connection of this node to its peers. It is
	// called again whenever raft is restarted (Reset, Recover), because
	// raft closes its transport when it stops. Nil means an in-memory
	// transport, enough for a single node.
	Transport func() (raft.Transport, error)
	// NoBootstrap leaves a node without raft state empty, waiting for a
	// leader to add it, instead of making it the single voter of a new
	// cluster. Nodes joining a cluster and witnesses start this way.
	NoBootstrap bool
	// Forward hands work to the leader when another node leads; nil makes
	// such writes fail with ErrNotLeader.
	Forward Forwarder
	// Raft timings; zero means the Default... constant of the same name.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
	// ApplyTimeout bounds one Apply while a leader exists; default
	// DefaultApplyTimeout. Without a leader, Apply fails at once.
	ApplyTimeout time.Duration
	// WatchBuffer is how many events each watcher may have queued before
	// it is sent EventOverflow instead; default DefaultWatchBuffer.
	WatchBuffer int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.MaxTotalSize <= 0 {
		c.MaxTotalSize = DefaultMaxTotalSize
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&c.ElectionTimeout, DefaultElectionTimeout)
	def(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	def(&c.CommitTimeout, DefaultCommitTimeout)
	def(&c.ApplyTimeout, DefaultApplyTimeout)
}

// Entry is a file or directory of the tree as returned by Get and List.
// Data is the caller's own copy.
type Entry struct {
	Path    string
	Data    []byte // nil for directories
	Version uint64 // global version of the transaction that last changed it
	MTime   int64  // unix seconds, chosen by the node that proposed the change; a directory keeps the time it was created
	Dir     bool
}

// Store is one node's replica of the configuration tree. Reads are served
// from memory; writes go through raft. Its methods are safe for concurrent
// use.
type Store struct {
	cfg     Config
	rc      *raft.Config
	localID raft.ServerID
	fsm     *fsm
	hub     *hub

	// mu guards raft and bolt, which Reset and Recover replace while
	// readers keep going.
	mu   sync.RWMutex
	raft *raft.Raft
	bolt *raftboltdb.BoltStore

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens the store in cfg.Dir. Without existing raft state it
// bootstraps a cluster whose only voter is this node (unless
// cfg.NoBootstrap); otherwise raft restores the latest snapshot and
// replays the log after it once a leader is elected. A single node runs
// the same raft code as a cluster member, so growing to more nodes changes
// configuration, not code paths.
//
// Open does not wait for the election; call WaitReady before relying on
// reads being current or on writes succeeding. ctx bounds the wait for the
// lock on raft.db, which another process may hold.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" || cfg.NodeID == "" {
		return nil, errors.New("cfs: Config.Dir and Config.NodeID are required")
	}
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cfs: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = snapshotThreshold
	rc.TrailingLogs = trailingLogs
	rc.Logger = HCLog(cfg.Logger, "raft")
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("cfs: raft configuration: %w", err)
	}
	h := newHub(cfg.WatchBuffer)
	s := &Store{cfg: cfg, rc: rc, localID: rc.LocalID, hub: h, fsm: newFSM(cfg.Logger, h), closed: make(chan struct{})}
	if err := s.start(ctx, !cfg.NoBootstrap); err != nil {
		return nil, err
	}
	return s, nil
}

// start opens raft.db in the directory and starts raft on it. The caller
// holds s.mu for writing, or is Open.
func (s *Store) start(ctx context.Context, bootstrap bool) error {
	cfg, rc := s.cfg, s.rc
	openTimeout := defaultOpenTimeout
	if dl, ok := ctx.Deadline(); ok {
		openTimeout = max(time.Until(dl), time.Millisecond)
	}
	boltOpts := *bbolt.DefaultOptions
	boltOpts.Timeout = openTimeout
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db"), BoltOptions: &boltOpts})
	if err != nil {
		return fmt.Errorf("cfs: open raft.db in %s: %w", cfg.Dir, err)
	}
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		bolt.Close()
		return fmt.Errorf("cfs: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, rc.Logger.Named("snapshot"))
	if err != nil {
		bolt.Close()
		return fmt.Errorf("cfs: snapshot store: %w", err)
	}
	trans, err := s.newTransport()
	if err != nil {
		bolt.Close()
		return fmt.Errorf("cfs: transport: %w", err)
	}
	fail := func(err error) error {
		if c, ok := trans.(raft.WithClose); ok {
			_ = c.Close()
		}
		bolt.Close()
		return err
	}
	has, err := raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		return fail(fmt.Errorf("cfs: read raft state: %w", err))
	}
	if !has && bootstrap {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(rc, logs, bolt, snaps, trans, boot); err != nil {
			return fail(fmt.Errorf("cfs: bootstrap: %w", err))
		}
		cfg.Logger.Info("cfs: bootstrapped a new single-node cluster", "node", cfg.NodeID, "dir", cfg.Dir)
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, bolt, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("cfs: start raft: %w", err))
	}
	if has {
		// A node that is not in the stored configuration never elects
		// itself; say why instead of leaving WaitReady to time out.
		if f := r.GetConfiguration(); f.Error() == nil && !inConfig(f.Configuration(), rc.LocalID) {
			cfg.Logger.Warn("cfs: this node is not a member of the stored raft configuration; it waits to be added",
				"node", cfg.NodeID, "dir", cfg.Dir)
		}
	}
	s.raft, s.bolt = r, bolt
	return nil
}

func (s *Store) newTransport() (raft.Transport, error) {
	if s.cfg.Transport == nil {
		_, t := raft.NewInmemTransport(raft.ServerAddress(s.cfg.NodeID))
		return t, nil
	}
	return s.cfg.Transport()
}

// stop shuts raft down (which closes its transport) and closes raft.db.
// The caller holds s.mu for writing.
func (s *Store) stop() error {
	err := s.raft.Shutdown().Error()
	return errors.Join(err, s.bolt.Close())
}

// r returns the running raft instance.
func (s *Store) r() *raft.Raft {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.raft
}

func inConfig(c raft.Configuration, id raft.ServerID) bool {
	for _, srv := range c.Servers {
		if srv.ID == id {
			return true
		}
	}
	return false
}

// Close stops raft, closes the transport and raft.db, and closes every
// watch channel. Reads keep answering from the last state; writes fail
// with ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		err := s.stop()
		s.mu.Unlock()
		s.hub.closeAll()
		s.closeErr = err
	})
	return s.closeErr
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// leader returns the id of the known leader, or "".
func (s *Store) leader() raft.ServerID {
	_, id := s.r().LeaderWithID()
	return id
}

// Quorate reports whether a leader is known, i.e. whether writes can be
// made. Reads work either way.
func (s *Store) Quorate() bool { return !s.isClosed() && s.leader() != "" }

// WaitReady waits until a leader is known and this node has applied every
// entry committed so far, so that its reads include all writes that were
// acknowledged before. On the leader that is checked with a raft barrier.
// It fails with an error matching ErrNoQuorum and the context's error when
// ctx ends first.
func (s *Store) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.isClosed() {
			return ErrClosed
		}
		switch leader := s.leader(); {
		case leader == s.localID:
			err := s.wait(ctx, s.r().Barrier(s.cfg.ApplyTimeout))
			if err == nil {
				return nil
			}
			if ctx.Err() != nil || s.isClosed() {
				return err
			}
			// Leadership was lost during the barrier: look again.
		case leader != "":
			// A follower is current once it applied up to the commit index
			// the leader told it about.
			if r := s.r(); r.AppliedIndex() >= r.CommitIndex() && r.CommitIndex() > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cfs: waiting for readiness: %w (%w)", ErrNoQuorum, ctx.Err())
		case <-tick.C:
		}
	}
}

// Get returns the entry at path; "" is the root directory.
func (s *Store) Get(path string) (Entry, error) { return s.fsm.get(path) }

// List returns the direct children of dir sorted by name; "" is the root.
func (s *Store) List(dir string) ([]Entry, error) { return s.fsm.list(dir) }

// Version returns the global version: how many transactions this node has
// applied. Refused transactions do not count.
func (s *Store) Version() uint64 { return s.fsm.currentVersion() }

// Watch reports changes of prefix and of every path below it. "" watches
// the whole tree, leading and trailing slashes are ignored, and whole
// segments are matched, so "nodes/a" does not see "nodes/ab". Events
// arrive in the order of the log, after the change is visible to Get.
//
// Each watcher has a bounded queue (Config.WatchBuffer) so that it never
// holds up the state machine. When a slow watcher's queue is full, further
// events are dropped and one EventOverflow is delivered as soon as the
// reader has taken the events queued before it, without waiting for more
// writes; it means "re-read what you care about". A restore from a
// snapshot also delivers EventOverflow. The channel is closed by the
// returned cancel function or by Close.
func (s *Store) Watch(prefix string) (<-chan Event, func()) { return s.hub.watch(prefix) }

// Apply runs ops as one transaction: all of them take effect or none. It
// returns the new global version once this node's state machine applied
// it, so a Get right after sees the write (read-your-writes, also when the
// leader is another node). Preconditions (Op.Cond) are judged against the
// state the transaction is applied to.
//
// Without a known leader Apply fails at once with ErrNoQuorum. With a
// leader on another node the transaction is forwarded to it (Config.Forward).
// If ctx ends or ApplyTimeout passes while waiting for the commit, the
// error says so and the write may still take effect.
func (s *Store) Apply(ctx context.Context, ops ...Op) (uint64, error) {
	cmd, err := s.encode(ops)
	if err != nil {
		return 0, err
	}
	res, err := s.run(ctx, ForwardRequest{Kind: KindApply, Cmd: cmd})
	if err != nil {
		return 0, err
	}
	return res.Version, nil
}

// encode validates ops and frames them as a transaction command. Checks
// that need no tree happen here so that hopeless writes never reach the
// log; the state machine repeats them because the log is input too.
func (s *Store) encode(ops []Op) ([]byte, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("cfs: %w: a transaction needs at least one operation", ErrInvalid)
	}
	c := txnCmd{
		MTime:    time.Now().Unix(),
		MaxFile:  int64(s.cfg.MaxFileSize),
		MaxTotal: s.cfg.MaxTotalSize,
		Ops:      make([]wireOp, len(ops)),
	}
	var sum int64
	for i, o := range ops {
		if err := o.validate(); err != nil {
			return nil, err
		}
		size := int64(len(o.Data))
		if size > c.MaxFile {
			return nil, &LimitError{Path: o.Path, Size: size, Limit: c.MaxFile}
		}
		// Even if every write replaced an existing file, more data than the
		// total limit cannot fit; refusing it here keeps huge entries out
		// of the log.
		if sum += size; sum > c.MaxTotal {
			return nil, &LimitError{Path: o.Path, Size: sum, Limit: c.MaxTotal, Total: true}
		}
		c.Ops[i] = toWire(o)
	}
	return encodeTxn(&c)
}

// wait waits for a raft future, bounded by ctx and ApplyTimeout, and
// translates raft's errors into this package's.
func (s *Store) wait(ctx context.Context, fut raft.Future) error {
	done := make(chan error, 1)
	// raft resolves every future eventually (at the latest on shutdown),
	// so this goroutine ends even if nobody waits for it any more.
	go func() { done <- fut.Error() }()
	timer := time.NewTimer(s.cfg.ApplyTimeout)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("cfs: gave up waiting for the commit; the write may still take effect: %w", ctx.Err())
	case <-timer.C:
		return fmt.Errorf("cfs: no commit within %s; the write may still take effect: %w", s.cfg.ApplyTimeout, context.DeadlineExceeded)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
		// The entry never entered the log.
		if s.leader() == "" {
			return ErrNoQuorum
		}
		return fmt.Errorf("%w (%w)", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("cfs: leadership lost before the commit; the write may or may not take effect: %w (%w)", ErrNoQuorum, err)
	}
	return fmt.Errorf("cfs: raft: %w", err)
}

// Digest returns the lower-case hex SHA-1 of data, the value the Proxmox VE
// API calls `digest` and Cond.Digest compares against. SHA-1 is used for
// compatibility, not for security.
func Digest(data []byte) string {
	sum := sha1.Sum(data)
	return hex.EncodeToString(sum[:])
}
