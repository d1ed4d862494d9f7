package cfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Kinds of work a node hands to the leader.
const (
	KindApply       = "apply"        // Cmd: an encoded transaction
	KindAddVoter    = "add-voter"    // ID, Addr
	KindAddNonvoter = "add-nonvoter" // ID, Addr
	KindDemote      = "demote"       // ID
	KindRemove      = "remove"       // ID
	KindSync        = "sync"         // nothing: answers the leader's applied index
)

// ForwardRequest is work only the leader can do: commit a transaction or
// change who takes part in the cluster. Followers send it to the leader
// through Config.Forward; the leader runs it with Execute.
type ForwardRequest struct {
	Kind string `json:"kind"`
	Cmd  []byte `json:"cmd,omitempty"`
	ID   string `json:"id,omitempty"`
	Addr string `json:"addr,omitempty"`
}

// ForwardResult is the leader's answer: the global version and the raft
// index of the committed entry, or the error that refused it.
type ForwardResult struct {
	Version uint64     `json:"version"`
	Index   uint64     `json:"index"`
	Err     *WireError `json:"err,omitempty"`
}

// Server is a member of the raft configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Forwarder delivers a request to the leader and returns its answer. An
// error means the request may not have arrived, or its answer was lost.
type Forwarder func(ctx context.Context, leader Server, req ForwardRequest) (ForwardResult, error)

// run does req here when this node leads, or forwards it to the leader,
// and then waits until this node has applied the result, so that what
// the caller wrote is visible to its next read.
func (s *Store) run(ctx context.Context, req ForwardRequest) (ForwardResult, error) {
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	for attempt := 0; ; attempt++ {
		if s.isClosed() {
			return ForwardResult{}, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return ForwardResult{}, err
		}
		addr, id := s.r().LeaderWithID()
		var res ForwardResult
		switch {
		case id == "":
			return ForwardResult{}, ErrNoQuorum
		case id == s.localID:
			res = s.Execute(ctx, req)
		case s.cfg.Forward == nil:
			return ForwardResult{}, fmt.Errorf("%w (the leader is %s)", ErrNotLeader, id)
		default:
			var err error
			var lost bool
			res, lost, err = s.forward(ctx, deadline, Server{ID: string(id), Address: string(addr), Voter: true}, req)
			if lost {
				return ForwardResult{}, fmt.Errorf("%w (lost contact with the leader %s; the write may or may not take effect)", ErrNoQuorum, id)
			}
			if errors.Is(err, ErrLeaderStarting) && time.Now().Before(deadline) {
				if !sleepCtx(ctx, time.Duration(10*(attempt+1))*time.Millisecond) {
					return ForwardResult{}, ctx.Err()
				}
				continue
			}
			if err != nil {
				return ForwardResult{}, fmt.Errorf("cfs: forwarding to the leader %s: %w; the write may or may not take effect", id, err)
			}
		}
		if res.Err != nil {
			err := res.Err.Unwrap()
			// The leader refused before proposing anything (it just lost
			// leadership): safe to try again with whoever leads now.
			if errors.Is(err, ErrNotLeader) && time.Now().Before(deadline) {
				if !sleepCtx(ctx, time.Duration(10*(attempt+1))*time.Millisecond) {
					return ForwardResult{}, ctx.Err()
				}
				continue
			}
			return ForwardResult{}, err
		}
		if res.Index > 0 {
			if err := s.fsm.waitApplied(ctx, res.Index, time.Until(deadline)); err != nil {
				return ForwardResult{}, err
			}
		}
		return res, nil
	}
}

// forward hands req to leader, and gives up as soon as this node no
// longer sees that leader: a leader that was cut off never answers, and
// the caller should hear "no quorum" quickly rather than at the timeout.
func (s *Store) forward(ctx context.Context, deadline time.Time, leader Server, req ForwardRequest) (ForwardResult, bool, error) {
	fctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var lost atomic.Bool
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if string(s.leader()) != leader.ID {
					lost.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	res, err := s.cfg.Forward(fctx, leader, req)
	close(done)
	return res, err != nil && lost.Load(), err
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Execute does a request as the leader: the handler of forwarded requests
// calls it. A node that does not lead answers ErrNotLeader, which the
// sender retries.
func (s *Store) Execute(ctx context.Context, req ForwardRequest) ForwardResult {
	if s.isClosed() {
		return ForwardResult{Err: wireError(ErrClosed)}
	}
	r := s.r()
	if _, id := r.LeaderWithID(); id != s.localID {
		return ForwardResult{Err: wireError(ErrNotLeader)}
	}
	timeout := s.cfg.ApplyTimeout
	var fut raft.IndexFuture
	switch req.Kind {
	case KindApply:
		fut = r.Apply(req.Cmd, timeout)
	case KindAddVoter:
		fut = r.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, timeout)
	case KindAddNonvoter:
		fut = r.AddNonvoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, timeout)
	case KindDemote:
		fut = r.DemoteVoter(raft.ServerID(req.ID), 0, timeout)
	case KindRemove:
		fut = r.RemoveServer(raft.ServerID(req.ID), 0, timeout)
	case KindSync:
		// The barrier commits through a majority, so it proves this node
		// still leads, and returns once everything before it is applied.
		if err := s.wait(ctx, r.Barrier(timeout)); err != nil {
			return ForwardResult{Err: wireError(err)}
		}
		return ForwardResult{Version: s.fsm.currentVersion(), Index: s.fsm.appliedIndex()}
	default:
		return ForwardResult{Err: wireError(fmt.Errorf("%w: unknown request kind %q", ErrInvalid, req.Kind))}
	}
	if err := s.wait(ctx, fut); err != nil {
		return ForwardResult{Err: wireError(err)}
	}
	res := ForwardResult{Version: s.fsm.currentVersion()}
	// Only transactions reach the state machine; configuration entries do
	// not, so there is nothing for the sender to wait for.
	if req.Kind == KindApply {
		res.Index = fut.Index()
		ar, ok := fut.(raft.ApplyFuture).Response().(applyResult)
		if !ok {
			return ForwardResult{Err: wireError(fmt.Errorf("cfs: unexpected apply response %T", fut.(raft.ApplyFuture).Response()))}
		}
		res.Version = ar.version
		if ar.err != nil {
			res.Err = wireError(ar.err)
		}
	}
	return res
}

// Sync waits until this node has applied every write that was
// acknowledged anywhere in the cluster before the call, so that reads
// which follow are linearizable. Plain reads are local and may lag a
// little behind other nodes' writes.
func (s *Store) Sync(ctx context.Context) error {
	_, err := s.run(ctx, ForwardRequest{Kind: KindSync})
	return err
}

// AddVoter makes a server a voting member (adding it if needed).
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	_, err := s.run(ctx, ForwardRequest{Kind: KindAddVoter, ID: id, Addr: addr})
	return err
}

// AddNonvoter adds a server that receives and applies the whole log but
// does not vote.
func (s *Store) AddNonvoter(ctx context.Context, id, addr string) error {
	_, err := s.run(ctx, ForwardRequest{Kind: KindAddNonvoter, ID: id, Addr: addr})
	return err
}

// DemoteVoter keeps a server as a non-voter.
func (s *Store) DemoteVoter(ctx context.Context, id string) error {
	_, err := s.run(ctx, ForwardRequest{Kind: KindDemote, ID: id})
	return err
}

// RemoveServer removes a server from the cluster.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	_, err := s.run(ctx, ForwardRequest{Kind: KindRemove, ID: id})
	return err
}

// Servers returns the current raft configuration.
func (s *Store) Servers() ([]Server, error) {
	f := s.r().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cfs: raft configuration: %w", err)
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(srv.ID), Address: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
	}
	return out, nil
}

// Leader returns the leader, if one is known.
func (s *Store) Leader() (Server, bool) {
	addr, id := s.r().LeaderWithID()
	return Server{ID: string(id), Address: string(addr), Voter: true}, id != ""
}

// IsLeader reports whether this node leads the cluster.
func (s *Store) IsLeader() bool { return s.leader() == s.localID }

// AppliedIndex is the raft index of the last entry this node applied.
func (s *Store) AppliedIndex() uint64 { return s.r().AppliedIndex() }

// LastContact is when this node last heard from the leader (zero on the
// leader itself).
func (s *Store) LastContact() time.Time { return s.r().LastContact() }

// WireError carries an error of this package across the network with
// enough detail that errors.Is and errors.As work on the other side.
type WireError struct {
	Kind  string `json:"kind"` // "conflict", "limit", "path", "op", or a sentinel name
	Msg   string `json:"msg"`
	Op    string `json:"op,omitempty"`
	Path  string `json:"path,omitempty"`
	Check string `json:"check,omitempty"`
	Have  string `json:"have,omitempty"`
	Want  string `json:"want,omitempty"`
	Size  int64  `json:"size,omitempty"`
	Limit int64  `json:"limit,omitempty"`
	Total bool   `json:"total,omitempty"`
	Inner string `json:"inner,omitempty"` // sentinel wrapped by an "op" error
}

// sentinels by name, for WireError.
var sentinels = map[string]error{
	"notfound": ErrNotFound, "exist": ErrExist, "isdir": ErrIsDir, "notdir": ErrNotDir,
	"notempty": ErrNotEmpty, "invalid": ErrInvalid, "conflict": ErrConflict, "toolarge": ErrTooLarge,
	"noquorum": ErrNoQuorum, "notleader": ErrNotLeader, "closed": ErrClosed,
}

func sentinelName(err error) string {
	for name, s := range sentinels {
		if errors.Is(err, s) {
			return name
		}
	}
	return ""
}

func wireError(err error) *WireError {
	var (
		ce *ConflictError
		le *LimitError
		pe *PathError
		oe *OpError
	)
	w := &WireError{Msg: err.Error()}
	switch {
	case errors.As(err, &ce):
		w.Kind, w.Path, w.Check, w.Have, w.Want = "conflict", ce.Path, ce.Check, ce.Have, ce.Want
	case errors.As(err, &le):
		w.Kind, w.Path, w.Size, w.Limit, w.Total = "limit", le.Path, le.Size, le.Limit, le.Total
	case errors.As(err, &pe):
		w.Kind, w.Path, w.Want = "path", pe.Path, pe.Reason
	case errors.As(err, &oe):
		w.Kind, w.Op, w.Path, w.Inner = "op", oe.Op, oe.Path, sentinelName(oe.Err)
	default:
		w.Kind = sentinelName(err)
	}
	return w
}

// Unwrap rebuilds the error on the receiving side.
func (w *WireError) Unwrap() error {
	switch w.Kind {
	case "conflict":
		return &ConflictError{Path: w.Path, Check: w.Check, Have: w.Have, Want: w.Want}
	case "limit":
		return &LimitError{Path: w.Path, Size: w.Size, Limit: w.Limit, Total: w.Total}
	case "path":
		return &PathError{Path: w.Path, Reason: w.Want}
	case "op":
		inner, ok := sentinels[w.Inner]
		if !ok {
			inner = errors.New(w.Msg)
		}
		return &OpError{Op: w.Op, Path: w.Path, Err: inner}
	}
	if s, ok := sentinels[w.Kind]; ok {
		if s.Error() == w.Msg {
			return s
		}
		return fmt.Errorf("%w (%s)", s, w.Msg)
	}
	return errors.New(w.Msg)
}

func (w *WireError) Error() string { return w.Msg }

// Reset throws this node's tree and raft state away and starts empty,
// waiting for a leader to add it: the first step of joining a cluster.
// The old state directory is kept beside the new one (<dir>.before-join-
// <time>) for the administrator. Holders of the Store keep their handle;
// reads see an empty tree until the cluster's tree has been replicated,
// and watchers get EventOverflow.
func (s *Store) Reset(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.stop(); err != nil {
		s.cfg.Logger.Warn("cfs: stopping raft before the reset", "err", err)
	}
	backup := fmt.Sprintf("%s.before-join-%d", s.cfg.Dir, time.Now().Unix())
	if err := os.Rename(s.cfg.Dir, backup); err != nil {
		return fmt.Errorf("cfs: keeping the old state: %w", err)
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("cfs: %w", err)
	}
	s.fsm.reset()
	s.cfg.Logger.Info("cfs: local state reset to join a cluster", "backup", backup)
	return s.start(ctx, false)
}

// Recover forces a new raft configuration made of the listed voters (and
// every other member as a non-voter), for an operator who has lost the
// majority of the voters for good. It restarts raft on this node; run it
// on each surviving voter with the same list. It can make committed
// writes disappear if the lost voters held writes the survivors did not.
func (s *Store) Recover(ctx context.Context, voters []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cfs: raft configuration: %w", err)
	}
	keep := map[string]bool{}
	for _, v := range voters {
		keep[v] = true
	}
	var conf raft.Configuration
	for _, srv := range f.Configuration().Servers {
		if keep[string(srv.ID)] {
			srv.Suffrage = raft.Voter
			conf.Servers = append(conf.Servers, srv)
			delete(keep, string(srv.ID))
		}
	}
	if len(keep) > 0 || len(conf.Servers) == 0 {
		return fmt.Errorf("cfs: %w: the new voters must be members of the cluster", ErrInvalid)
	}
	if err := s.stop(); err != nil {
		s.cfg.Logger.Warn("cfs: stopping raft before recovery", "err", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(s.cfg.Dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("cfs: open raft.db: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, snapshotsRetained, s.rc.Logger.Named("snapshot"))
	if err != nil {
		bolt.Close()
		return err
	}
	trans, err := s.newTransport()
	if err != nil {
		bolt.Close()
		return err
	}
	// RecoverCluster replays the log into a scratch state machine to take a
	// snapshot; the real one is restored from that snapshot on restart.
	scratch := newFSM(s.cfg.Logger, newHub(1))
	err = raft.RecoverCluster(s.rc, scratch, bolt, bolt, snaps, trans, conf)
	if c, ok := trans.(raft.WithClose); ok {
		c.Close()
	}
	bolt.Close()
	if err != nil {
		return fmt.Errorf("cfs: recover: %w", err)
	}
	s.cfg.Logger.Warn("cfs: raft configuration forced by the operator", "voters", voters)
	return s.start(ctx, false)
}

// TransferLeadership asks raft to hand the leadership to another voter.
// A witness calls it when it finds itself leading, so that the cluster's
// management runs on a real node.
func (s *Store) TransferLeadership() error {
	return s.r().LeadershipTransfer().Error()
}
