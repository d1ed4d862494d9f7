package qmp

import (
	"context"
	"fmt"
)

// SnapshotInfo is an internal snapshot stored in an image.
type SnapshotInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	VMStateSize int64  `json:"vm-state-size"`
	DateSec     int64  `json:"date-sec"`
	DateNsec    int64  `json:"date-nsec"`
	VMClockSec  int64  `json:"vm-clock-sec"`
	VMClockNsec int64  `json:"vm-clock-nsec"`
}

// ImageInfo describes an image file as a block node sees it.
type ImageInfo struct {
	Filename        string         `json:"filename"`
	Format          string         `json:"format"`
	VirtualSize     int64          `json:"virtual-size"`
	ActualSize      int64          `json:"actual-size,omitempty"`
	ClusterSize     int64          `json:"cluster-size,omitempty"`
	DirtyFlag       bool           `json:"dirty-flag,omitempty"`
	BackingFilename string         `json:"backing-filename,omitempty"`
	BackingImage    *ImageInfo     `json:"backing-image,omitempty"`
	Snapshots       []SnapshotInfo `json:"snapshots,omitempty"`
}

// BlockDeviceInfo is a block node: the medium behind a drive, or any node
// in query-named-block-nodes.
type BlockDeviceInfo struct {
	NodeName         string    `json:"node-name"`
	File             string    `json:"file"`
	Drv              string    `json:"drv"`
	RO               bool      `json:"ro"`
	Encrypted        bool      `json:"encrypted"`
	BackingFile      string    `json:"backing_file,omitempty"`
	BackingFileDepth int       `json:"backing_file_depth"`
	DetectZeroes     string    `json:"detect_zeroes"`
	Image            ImageInfo `json:"image"`
	BPS              int64     `json:"bps"`
	BPSRd            int64     `json:"bps_rd"`
	BPSWr            int64     `json:"bps_wr"`
	IOPS             int64     `json:"iops"`
	IOPSRd           int64     `json:"iops_rd"`
	IOPSWr           int64     `json:"iops_wr"`
}

// BlockInfo is one drive from query-block. With -blockdev, Device is empty
// and QDev names the guest device.
type BlockInfo struct {
	Device    string           `json:"device"`
	QDev      string           `json:"qdev,omitempty"`
	Type      string           `json:"type"`
	Removable bool             `json:"removable"`
	Locked    bool             `json:"locked"`
	IOStatus  string           `json:"io-status,omitempty"`
	Inserted  *BlockDeviceInfo `json:"inserted,omitempty"`
}

// QueryBlock lists the guest's drives and their media.
func (c *Client) QueryBlock(ctx context.Context) ([]BlockInfo, error) {
	var bs []BlockInfo
	err := c.Execute(ctx, "query-block", nil, &bs)
	return bs, err
}

// QueryNamedBlockNodes lists every block node, attached or not.
func (c *Client) QueryNamedBlockNodes(ctx context.Context) ([]BlockDeviceInfo, error) {
	var ns []BlockDeviceInfo
	err := c.Execute(ctx, "query-named-block-nodes", map[string]bool{"flat": true}, &ns)
	return ns, err
}

// BlockDeviceStats are I/O counters of a drive or node.
type BlockDeviceStats struct {
	RdBytes         int64 `json:"rd_bytes"`
	WrBytes         int64 `json:"wr_bytes"`
	RdOperations    int64 `json:"rd_operations"`
	WrOperations    int64 `json:"wr_operations"`
	FlushOperations int64 `json:"flush_operations"`
	UnmapBytes      int64 `json:"unmap_bytes"`
	WrHighestOffset int64 `json:"wr_highest_offset"`
	FailedRd        int64 `json:"failed_rd_operations"`
	FailedWr        int64 `json:"failed_wr_operations"`
}

// BlockStats is one entry of query-blockstats.
type BlockStats struct {
	Device   string           `json:"device,omitempty"`
	QDev     string           `json:"qdev,omitempty"`
	NodeName string           `json:"node-name,omitempty"`
	Stats    BlockDeviceStats `json:"stats"`
	Parent   *BlockStats      `json:"parent,omitempty"`
	Backing  *BlockStats      `json:"backing,omitempty"`
}

// QueryBlockstats returns I/O counters per drive; with nodes it lists
// every named node instead, which also covers nodes no device uses yet.
func (c *Client) QueryBlockstats(ctx context.Context, nodes bool) ([]BlockStats, error) {
	var args any
	if nodes {
		args = map[string]bool{"query-nodes": true}
	}
	var bs []BlockStats
	err := c.Execute(ctx, "query-blockstats", args, &bs)
	return bs, err
}

// BlockResize grows (or shrinks) the image under node to size bytes.
func (c *Client) BlockResize(ctx context.Context, nodeName string, size int64) error {
	if nodeName == "" {
		return fmt.Errorf("block_resize: a node name is required")
	}
	return c.Execute(ctx, "block_resize", map[string]any{"node-name": nodeName, "size": size}, nil)
}

// BlockdevAdd creates a block node from options, a blockdev-add argument
// object (driver, node-name, file, ...), given as a map or a struct.
func (c *Client) BlockdevAdd(ctx context.Context, options any) error {
	return c.Execute(ctx, "blockdev-add", options, nil)
}

// BlockdevDel removes a block node that nothing uses any more.
func (c *Client) BlockdevDel(ctx context.Context, nodeName string) error {
	return c.Execute(ctx, "blockdev-del", map[string]string{"node-name": nodeName}, nil)
}

// SnapshotSyncOptions are blockdev-snapshot-sync's arguments.
type SnapshotSyncOptions struct {
	NodeName         string `json:"node-name"`          // node to put the overlay on
	SnapshotFile     string `json:"snapshot-file"`      // new overlay image, created by QEMU
	SnapshotNodeName string `json:"snapshot-node-name"` // node name for the overlay
	Format           string `json:"format,omitempty"`   // default qcow2
	// Mode is "absolute-paths" (QEMU creates the file) or "existing".
	Mode string `json:"mode,omitempty"`
}

// BlockdevSnapshotSync puts a new overlay image on top of a node, so the
// node's image stays as it is now (an external snapshot).
func (c *Client) BlockdevSnapshotSync(ctx context.Context, o SnapshotSyncOptions) error {
	return c.Execute(ctx, "blockdev-snapshot-sync", o, nil)
}

// BlockdevSnapshot makes the already-added node overlay the new top of
// node; overlay must have no backing file of its own.
func (c *Client) BlockdevSnapshot(ctx context.Context, node, overlay string) error {
	return c.Execute(ctx, "blockdev-snapshot", map[string]string{"node": node, "overlay": overlay}, nil)
}

// MirrorOptions are blockdev-mirror's arguments.
type MirrorOptions struct {
	JobID  string `json:"job-id"`
	Device string `json:"device"` // source node
	Target string `json:"target"` // target node, already added
	// Sync is full, top or none.
	Sync string `json:"sync"`
	// Replaces names the node the target replaces on completion when it
	// is not Device itself.
	Replaces    string `json:"replaces,omitempty"`
	Speed       int64  `json:"speed,omitempty"` // bytes per second, 0 unlimited
	Granularity int64  `json:"granularity,omitempty"`
	BufSize     int64  `json:"buf-size,omitempty"`
	// CopyMode is background (default) or write-blocking, which keeps the
	// target in step with guest writes so the job converges.
	CopyMode string `json:"copy-mode,omitempty"`
}

// BlockdevMirror starts copying Device to Target as a job. The job reaches
// status "ready" once both are in sync and then needs JobComplete (switch
// to the target) or JobCancel (keep the source). It is created without
// auto-dismiss so its error survives until WaitJob collects it: subscribe
// with SubscribeJob first.
func (c *Client) BlockdevMirror(ctx context.Context, o MirrorOptions) error {
	if o.JobID == "" || o.Device == "" || o.Target == "" {
		return fmt.Errorf("blockdev-mirror: job-id, device and target are all required")
	}
	if o.Sync == "" {
		o.Sync = "full"
	}
	args := struct {
		MirrorOptions
		AutoDismiss bool `json:"auto-dismiss"`
	}{o, false}
	return c.Execute(ctx, "blockdev-mirror", args, nil)
}
