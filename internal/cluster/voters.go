package cluster

import (
	"context"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// wantVoters is how many voters a cluster of n members should have: all
// of them up to three, then three, and five from five members on. More
// voters would slow every write for no gain in safety.
func wantVoters(n int) int {
	switch {
	case n <= 3:
		return n
	case n < 5:
		return 3
	}
	return 5
}

// caughtUpSlack is how far behind the leader's log a node may be and still
// count as healthy enough to vote.
const caughtUpSlack = 1024

// balanceLoop runs on every node but acts only on the leader: it keeps the
// number of voters right and replaces voters that are gone for longer
// than VoterTimeout with healthy non-voters.
func (c *Cluster) balanceLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.BalanceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.cfg.Store.IsLeader() {
			continue
		}
		if err := c.balance(ctx); err != nil {
			c.log.Warn("adjusting voters", "error", err)
		}
	}
}

// balance makes at most one membership change per call, so each change
// is committed before the next one is decided.
func (c *Cluster) balance(ctx context.Context) error {
	g := c.Gossip()
	conf, ok := c.Conf()
	if g == nil || !ok {
		return nil
	}
	servers, err := c.cfg.Store.Servers()
	if err != nil {
		return err
	}
	witness := ""
	if conf.Witness != nil {
		witness = conf.Witness.Name
	}
	leaderApplied := c.cfg.Store.AppliedIndex()
	downSince := map[string]time.Time{}
	for _, m := range g.Members() {
		if !m.Alive {
			downSince[m.Name] = m.DownSince
		}
	}
	healthy := func(s cfs.Server) bool {
		if s.ID == c.cfg.Node || s.ID == witness {
			return true
		}
		st, ok := g.Status(s.ID)
		return g.Alive(s.ID) && ok && st.Applied+caughtUpSlack >= leaderApplied
	}
	goneLong := func(s cfs.Server) bool {
		since, down := downSince[s.ID]
		return s.ID != witness && s.ID != c.cfg.Node && down && time.Since(since) > c.cfg.VoterTimeout
	}
	var voters, spare []cfs.Server
	for _, s := range servers {
		if s.Voter {
			voters = append(voters, s)
		} else if healthy(s) {
			spare = append(spare, s)
		}
	}
	want := wantVoters(len(servers))
	// A voter gone for long gives its vote to a healthy spare.
	for _, v := range voters {
		if goneLong(v) && len(spare) > 0 {
			c.log.Warn("a voter has been gone too long; moving its vote", "gone", v.ID, "to", spare[0].ID)
			return c.cfg.Store.DemoteVoter(ctx, v.ID)
		}
	}
	if len(voters) < want && len(spare) > 0 {
		c.log.Info("promoting a node to voter", "node", spare[0].ID)
		return c.cfg.Store.AddVoter(ctx, spare[0].ID, spare[0].Address)
	}
	if len(voters) > want {
		// Prefer to demote a voter that is not healthy, never ourselves.
		for _, v := range voters {
			if v.ID != c.cfg.Node && !healthy(v) {
				return c.cfg.Store.DemoteVoter(ctx, v.ID)
			}
		}
		for i := len(voters) - 1; i >= 0; i-- {
			if v := voters[i]; v.ID != c.cfg.Node && v.ID != witness {
				return c.cfg.Store.DemoteVoter(ctx, v.ID)
			}
		}
	}
	return nil
}
