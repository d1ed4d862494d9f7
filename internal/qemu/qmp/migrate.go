package qmp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// MigrationStats are the RAM transfer counters of a migration.
type MigrationStats struct {
	Transferred int64   `json:"transferred"`
	Remaining   int64   `json:"remaining"`
	Total       int64   `json:"total"`
	Duplicate   int64   `json:"duplicate"`
	Normal      int64   `json:"normal"`
	DirtyRate   int64   `json:"dirty-pages-rate"`
	MBps        float64 `json:"mbps"`
}

// MigrationInfo is query-migrate's answer.
type MigrationInfo struct {
	// Status is none, setup, active, completed, failed, cancelling,
	// cancelled, pre-switchover, device, ...
	Status           string          `json:"status"`
	ErrorDesc        string          `json:"error-desc,omitempty"`
	TotalTime        int64           `json:"total-time,omitempty"`        // ms
	Downtime         int64           `json:"downtime,omitempty"`          // ms
	ExpectedDowntime int64           `json:"expected-downtime,omitempty"` // ms
	RAM              *MigrationStats `json:"ram,omitempty"`
}

// QueryMigrate reports the state of the current or last migration.
func (c *Client) QueryMigrate(ctx context.Context) (MigrationInfo, error) {
	var m MigrationInfo
	err := c.Execute(ctx, "query-migrate", nil, &m)
	return m, err
}

// MigrateSetCapabilities turns migration capabilities (events, xbzrle,
// auto-converge, dirty-bitmaps, ...) on or off.
func (c *Client) MigrateSetCapabilities(ctx context.Context, caps map[string]bool) error {
	type capability struct {
		Name  string `json:"capability"`
		State bool   `json:"state"`
	}
	list := make([]capability, 0, len(caps))
	for _, name := range slices.Sorted(maps.Keys(caps)) {
		list = append(list, capability{name, caps[name]})
	}
	return c.Execute(ctx, "migrate-set-capabilities", map[string]any{"capabilities": list}, nil)
}

// MigrateSetParameters sets migration parameters (max-bandwidth,
// downtime-limit, ...).
func (c *Client) MigrateSetParameters(ctx context.Context, params map[string]any) error {
	return c.Execute(ctx, "migrate-set-parameters", params, nil)
}

// Migrate starts sending the VM state to uri: "unix:path", "tcp:host:port",
// "fd:name", or "exec:command", which hibernation uses to write the state
// to a file. It returns once the migration has started; see WaitMigration.
func (c *Client) Migrate(ctx context.Context, uri string) error {
	return c.Execute(ctx, "migrate", map[string]string{"uri": uri}, nil)
}

// MigrateCancel aborts the running migration.
func (c *Client) MigrateCancel(ctx context.Context) error {
	return c.Execute(ctx, "migrate_cancel", nil, nil)
}

// migrationPoll bounds how long WaitMigration trusts events alone: without
// the events capability QEMU sends none, so the status is also polled.
const migrationPoll = 200 * time.Millisecond

// WaitMigration waits until the running migration completes, fails or is
// cancelled and returns its final state; failure and cancellation are
// errors.
func (c *Client) WaitMigration(ctx context.Context) (MigrationInfo, error) {
	sub, cancel := c.Subscribe(Named("MIGRATION"))
	defer cancel()
	tick := time.NewTicker(migrationPoll)
	defer tick.Stop()
	for {
		info, err := c.QueryMigrate(ctx)
		if err != nil {
			return info, err
		}
		switch info.Status {
		case "completed":
			return info, nil
		case "failed":
			msg := info.ErrorDesc
			if msg == "" {
				msg = "no reason given"
			}
			return info, fmt.Errorf("migration failed: %s", msg)
		case "cancelled":
			return info, errors.New("migration was cancelled")
		case "none":
			return info, errors.New("no migration is running")
		}
		select {
		case _, ok := <-sub:
			if !ok {
				return info, fmt.Errorf("waiting for migration: %w", c.Err())
			}
		case <-tick.C:
		case <-ctx.Done():
			return info, fmt.Errorf("waiting for migration: %w", ctx.Err())
		}
	}
}
