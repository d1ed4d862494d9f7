package vm

import (
	"context"
	"fmt"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
	"github.com/hearth-virt/hearth/internal/qemu/qmp"
)

// Block nodes of a running VM. A start names a drive's nodes after its
// key (cmdline.NodeName: drive-<key> on top, fmt-<key> below a throttle
// filter, file-<key> for the protocol), but a live move replaces the
// format node by a new one, and node names cannot be reused while the
// old node exists. So the nodes a move creates carry a suffix
// (drive-scsi0-<gen>, file-scsi0-<gen>), and whoever needs a drive's
// nodes later asks QEMU which node the guest device uses now.

// liveDrive is a drive as the running QEMU has it.
type liveDrive struct {
	top  string // the node the guest device is attached to
	drv  string // its driver: a format (qcow2, raw, …) or throttle
	size int64  // virtual size in bytes
}

// findLiveDrive finds the medium of the guest device with id key.
// query-block names a device by its qdev path: the id itself, or the
// inner backend of a virtio-blk device.
func findLiveDrive(ctx context.Context, q *qmp.Client, key string) (*liveDrive, error) {
	blocks, err := q.QueryBlock(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the drives of the running VM: %w", err)
	}
	for _, b := range blocks {
		if b.QDev != key && b.QDev != "/machine/peripheral/"+key+"/virtio-backend" {
			continue
		}
		if b.Inserted == nil {
			return nil, fmt.Errorf("%s has no medium in the running VM", key)
		}
		return &liveDrive{top: b.Inserted.NodeName, drv: b.Inserted.Drv, size: b.Inserted.Image.VirtualSize}, nil
	}
	return nil, fmt.Errorf("%s is not attached to the running VM; a change to it may be pending until the next start", key)
}

// liveNode is the top block node of a running VM's drive, or the name a
// start gives it when QEMU cannot tell.
func liveNode(ctx context.Context, p *proc, key string) string {
	if p == nil {
		return cmdline.NodeName(key)
	}
	return liveTop(ctx, p.qmp, key)
}

// liveTop is liveNode for callers holding the QMP client.
func liveTop(ctx context.Context, q *qmp.Client, key string) string {
	if d, err := findLiveDrive(ctx, q, key); err == nil && d.top != "" {
		return d.top
	}
	return cmdline.NodeName(key)
}

// protocolNodeOf names the protocol node under a format node, following
// the naming of cmdline (drive-K or fmt-K over file-K) and of moves
// (the same with a -<gen> suffix).
func protocolNodeOf(format string) string {
	for _, p := range []string{"drive-", "fmt-"} {
		if rest, ok := strings.CutPrefix(format, p); ok {
			return "file-" + rest
		}
	}
	return ""
}

// namedNodes returns the names of QEMU's named block nodes.
func namedNodes(ctx context.Context, q *qmp.Client) (map[string]bool, error) {
	nodes, err := q.QueryNamedBlockNodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		out[n.NodeName] = true
	}
	return out, nil
}

// formatNodeUnder finds the format node below a drive's throttle filter:
// fmt-<key>, or the fmt-<key>-<gen> node of an earlier move.
func formatNodeUnder(ctx context.Context, q *qmp.Client, key string) (string, error) {
	names, err := namedNodes(ctx, q)
	if err != nil {
		return "", err
	}
	var found []string
	for n := range names {
		if n == "fmt-"+key || strings.HasPrefix(n, "fmt-"+key+"-") {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%s: cannot tell the format node below the I/O limit filter (candidates: %v)", key, found)
	}
	return found[0], nil
}

// dropNodes closes nodes a finished move left behind, parents first: a
// node created with its protocol node inline takes it along, one whose
// protocol node was added on its own (hot-plug) leaves it to be closed
// too. Nodes already gone are skipped.
func dropNodes(ctx context.Context, q *qmp.Client, nodes ...string) error {
	for _, n := range nodes {
		names, err := namedNodes(ctx, q)
		if err != nil {
			return err
		}
		if !names[n] {
			continue
		}
		if err := q.BlockdevDel(ctx, n); err != nil {
			return fmt.Errorf("closing block node %s: %w", n, err)
		}
	}
	return nil
}
