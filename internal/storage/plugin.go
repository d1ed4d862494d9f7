// Package storage is Hearth's storage layer: storage.cfg, volume ids, the
// plugin interface every storage type implements, and the service behind
// the /storage and /nodes/{node}/storage API. Each storage type lives in
// a package of its own below this one; the daemon lists them in one
// explicit table.
package storage

import (
	"context"
	"io"
	"log/slog"

	"github.com/hearth-virt/hearth/internal/runner"
)

// Plugin is a storage type: its storage.cfg keys, its capabilities as
// data, and a constructor for configured instances.
type Plugin interface {
	// Type is the storage.cfg section type, such as "dir" or "lvmthin".
	Type() string
	// Info describes what the type can do. It is constant.
	Info() Info
	// Open makes the instance for one storage.cfg section. It checks the
	// options against each other but touches nothing on the host.
	Open(cfg Config, env Env) (Storage, error)
}

// Info is what a storage type can do, as data the service and the UI can
// read instead of asking "is this lvm?".
type Info struct {
	// Content lists the content types the type can hold; DefaultContent
	// is what a new storage of the type holds when content is not given.
	Content        []Content
	DefaultContent []Content
	// Formats are the disk image formats it can store, DefaultFormat the
	// one used when an allocation names none.
	Formats       []string
	DefaultFormat string
	// Shared types are reachable from every node (nfs, rbd, iscsi, …):
	// the same storage id names the same data cluster-wide.
	Shared bool
	// SharedOption types may be marked shared by the administrator (a
	// dir on a cluster file system, lvm on a shared LUN).
	SharedOption bool
	// Snapshots lists the image formats that support volume snapshots on
	// this type ("qcow2" on dir; "raw" and "subvol" on zfs or btrfs).
	Snapshots []string
	// LinkedClones: a clone can share a template's base volume.
	LinkedClones bool
	// Sparse: allocations take space only as it is written.
	Sparse bool
	// Options are the storage.cfg keys the type takes besides type and
	// the id, with their rules. The union of all types' keys, with their
	// value schemas, is declared in api.StorageOptions.
	Options map[string]Option
}

// Option is the rule for one storage.cfg key of a type.
type Option struct {
	Required bool // must be given when the storage is created
	Fixed    bool // cannot change after creation (it names where the data is)
}

// Config is one storage.cfg section, already checked against the schema.
type Config struct {
	ID      string
	Type    string
	Content []Content
	Nodes   []string // empty: every node
	Shared  bool
	Disable bool
	// Props holds every key of the section as written (content, nodes,
	// path, vgname, …), for options the type reads itself.
	Props map[string]string
	// Secret is the password or key the storage needs (cifs password,
	// rbd keyring, …), read from priv/storage/<id>.pw; empty if none.
	Secret string
}

// Get returns a property and whether it is set.
func (c Config) Get(key string) (string, bool) {
	v, ok := c.Props[key]
	return v, ok
}

// Env is what an instance needs from the node it runs on.
type Env struct {
	Node   string
	Runner runner.Runner
	Log    *slog.Logger
	// MountRoot is where network file systems are mounted when the
	// storage names no mount point: <MountRoot>/<storage id>, which is
	// /mnt/pve on a Proxmox VE node. Tests point it elsewhere.
	MountRoot string
	// StateDir is a node-local directory the type may keep state in
	// (iSCSI session bookkeeping, …).
	StateDir string
}

// Storage is one configured storage on this node. Volume names are the
// part of a volume id after "<storage>:". Methods that change volumes
// never overwrite an existing one and clean up what they created when
// they fail half way.
type Storage interface {
	// Activate makes the storage usable on this node (mount, log in to
	// the target, import the pool, create the directory layout). It is
	// idempotent.
	Activate(ctx context.Context) error
	// Deactivate undoes Activate where that makes sense (unmount).
	Deactivate(ctx context.Context) error
	// Status reports the space of the storage. Active false (with a nil
	// error) means reachable but not active.
	Status(ctx context.Context) (Status, error)
	// List returns the volumes, limited to vmid (0: all) and to the given
	// content types (none: all the storage holds).
	List(ctx context.Context, vmid int, content []Content) ([]Volume, error)
	// Alloc creates a disk image (or a subvolume with format "subvol")
	// for vmid of size bytes. name "" picks the next free
	// vm-<vmid>-disk-<n>; a given name must belong to vmid. It returns the
	// new volume name.
	Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error)
	// Free removes a volume and everything it owns (its snapshots).
	Free(ctx context.Context, volname string) error
	// Resize grows (or, where the type allows, shrinks) an image to size bytes.
	Resize(ctx context.Context, volname string, size int64) error
	// Volume reports one volume's size, usage, format and parent.
	Volume(ctx context.Context, volname string) (Volume, error)
	// Attach says how a guest reaches the volume: a path, the QEMU
	// -blockdev protocol node, the LXC mount. snap "" is the current state.
	Attach(ctx context.Context, volname, snap string) (Attachment, error)
}

// Status is the space of a storage in bytes.
type Status struct {
	Active bool
	Total  int64
	Used   int64
	Avail  int64
}

// Volume is one entry of a content listing.
type Volume struct {
	Volname   string
	Content   Content
	Format    string
	Size      int64 // bytes; the virtual size of images
	Used      int64 // bytes actually taken, where known
	VMID      int
	CTime     int64  // seconds since the epoch
	Parent    string // the base volume of a linked clone (volume name)
	Notes     string
	Protected bool
}

// Attachment is how a guest reaches a volume.
type Attachment struct {
	// Path is the local file, device or directory, when there is one.
	Path string
	// Blockdev is QEMU's protocol-layer -blockdev node for the volume, as
	// JSON-ready data: {"driver":"file","filename":…}, host_device, nfs,
	// iscsi or rbd. The guest code adds node names and the format layer.
	Blockdev map[string]any
	// Format is the image format above the protocol layer (raw, qcow2, vmdk).
	Format string
	// Mount is how a container mounts the volume, nil if it cannot.
	Mount *Mount
}

// Mount describes a container mount of a volume.
type Mount struct {
	Source string // device, image file or directory
	FSType string // "" with Bind for directories
	Bind   bool
	// Loop: Source is an image file that needs a loop device.
	Loop    bool
	Options []string
}

// Renamer is implemented by types that can rename a volume, possibly to
// another guest (reassigning a disk).
type Renamer interface {
	Rename(ctx context.Context, volname string, vmid int, name string) (string, error)
}

// Snapshotter is implemented by types with volume snapshots. Which
// formats support them is Info.Snapshots.
type Snapshotter interface {
	Snapshot(ctx context.Context, volname, snap string) error
	Rollback(ctx context.Context, volname, snap string) error
	DeleteSnapshot(ctx context.Context, volname, snap string) error
}

// Cloner is implemented by types with linked clones: CreateBase turns a
// guest's volume into a template base (renaming vm- to base-) and Clone
// makes a copy-on-write child of a base for vmid.
type Cloner interface {
	CreateBase(ctx context.Context, volname string) (string, error)
	Clone(ctx context.Context, volname string, vmid int, snap string) (string, error)
}

// Exporter is implemented by types whose volumes can be streamed out and
// back in (migration, backup). Formats are "raw+size", "qcow2+size",
// "vmdk+size", "tar+size" (subvolumes), "btrfs", "zfs": a stream starts
// with the size as a little-endian uint64 for the +size formats.
type Exporter interface {
	ExportFormats(ctx context.Context, volname string) []string
	Export(ctx context.Context, volname, format, snap string, w io.Writer) error
	Import(ctx context.Context, r io.Reader, vmid int, name, format string) (string, error)
}

// FileStore is implemented by types that keep non-image content as
// files in directories (iso, vztmpl, backup, snippets, import). The
// service writes uploads, downloads and notes there.
type FileStore interface {
	// ContentDir is the directory holding files of the content type.
	ContentDir(c Content) (string, error)
}
