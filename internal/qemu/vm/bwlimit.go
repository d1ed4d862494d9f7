package vm

import (
	"context"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/datacenter"
)

// bandwidthLimit is the limit in KiB/s (0: none) of an operation (clone,
// move) copying between storages: the lowest limit for the operation of
// the storages involved and of the datacenter. A limit given with the
// call replaces it for those who may change such limits (Sys.Modify on
// /, or Datastore.Allocate on /storage); anyone else can only lower it.
func (s *Service) bandwidthLimit(ctx context.Context, c *api.Call, op string, asked *int64, storages ...string) float64 {
	var limit float64
	seen := map[string]bool{}
	for _, sid := range storages {
		if seen[sid] {
			continue
		}
		seen[sid] = true
		if cfg, _, err := s.o.Storage.Open(ctx, sid); err == nil {
			if l, ok := limitsOf(cfg.Props["bwlimit"]).For(op); ok {
				limit = lowerLimit(limit, l)
			}
		}
	}
	if dc, _, err := datacenter.Read(s.o.Store); err == nil {
		if l, ok := dc.BandwidthLimits().For(op); ok {
			limit = lowerLimit(limit, l)
		}
	}
	if asked == nil {
		return limit
	}
	free := c == nil || c.Perm == nil || (c.User == api.RootUser && c.Token == "") ||
		c.Perm.Has("/", "Sys.Modify") || c.Perm.Has("/storage", "Datastore.Allocate")
	if free || limit == 0 {
		return float64(*asked)
	}
	return lowerLimit(limit, float64(*asked))
}

// limitsOf reads a storage's bwlimit value (clone=<n>,default=<n>,…).
func limitsOf(v string) datacenter.BandwidthLimits {
	out := datacenter.BandwidthLimits{}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && f >= 0 {
			out[strings.TrimSpace(k)] = f
		}
	}
	return out
}
