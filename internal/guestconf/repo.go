package guestconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
)

// Repo keeps the configuration files of one kind of guest of one node in
// the cluster tree. A guest's file belongs to the node in whose directory
// it lives and only that node changes it, so the lock that serializes
// changes to one guest is a lock of this process, never a cluster lock;
// different guests never wait on each other. Writes are compare-and-set
// on the entry version, so a change made behind the node's back (by hand
// through the fuse mount) is never overwritten silently.
type Repo struct {
	Store *cfs.Store
	Node  string
	Kind  string // KindQemu or KindLXC
	// Noun names the guest in messages: "VM" or "CT", as Proxmox VE says.
	Noun string
	Log  *slog.Logger

	mu    sync.Mutex
	locks map[int]*sync.Mutex
}

// Config is a guest's configuration as read from the cluster tree, with
// what is needed to write it back safely: the digest of the stored bytes
// (for the API's digest parameter) and the entry version (for the
// compare-and-set of the write).
type Config struct {
	VMID    int
	File    *File
	Digest  string
	version uint64
}

// Main returns the current settings.
func (c *Config) Main() *Section { return c.File.Main }

// Path is the guest's file in the tree.
func (r *Repo) Path(vmid int) string {
	dir := "qemu-server"
	if r.Kind == KindLXC {
		dir = "lxc"
	}
	return "nodes/" + r.Node + "/" + dir + "/" + strconv.Itoa(vmid) + ".conf"
}

// ErrNoConfig is the error of every call on a guest this node does not
// have; the text is Proxmox VE's, which scripts match on.
func (r *Repo) ErrNoConfig(vmid int) error {
	return api.Errorf(http.StatusInternalServerError, "Configuration file '%s' does not exist", r.Path(vmid))
}

// Lock serializes changes to one guest. It returns the unlock function.
func (r *Repo) Lock(vmid int) func() {
	r.mu.Lock()
	if r.locks == nil {
		r.locks = map[int]*sync.Mutex{}
	}
	l, ok := r.locks[vmid]
	if !ok {
		l = &sync.Mutex{}
		r.locks[vmid] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Load reads a guest's configuration. Values that do not parse are
// dropped with a log line, as a hand-edited file should not make the
// guest unmanageable.
func (r *Repo) Load(vmid int) (*Config, error) {
	e, err := r.Store.Get(r.Path(vmid))
	if errors.Is(err, cfs.ErrNotFound) {
		return nil, r.ErrNoConfig(vmid)
	}
	if err != nil {
		return nil, err
	}
	f, warnings, err := Parse(r.Kind, e.Data)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if r.Log != nil {
			r.Log.Warn(r.Noun+" configuration", "vmid", vmid, "problem", w)
		}
	}
	return &Config{VMID: vmid, File: f, Digest: Digest(e.Data), version: e.Version}, nil
}

// Save writes c back if nobody changed the file since it was read.
func (r *Repo) Save(ctx context.Context, c *Config) error {
	_, err := r.Store.Apply(ctx, cfs.Write(r.Path(c.VMID), c.File.Bytes()).If(cfs.Cond{Version: c.version}))
	if errors.Is(err, cfs.ErrConflict) {
		return api.Errorf(http.StatusInternalServerError, "%s %d: the configuration changed while it was being updated; try again", r.Noun, c.VMID)
	}
	if err != nil {
		return err
	}
	// The version of the new entry is not returned; read it back so that
	// the caller can keep working with c.
	e, err := r.Store.Get(r.Path(c.VMID))
	if err == nil {
		c.version, c.Digest = e.Version, Digest(e.Data)
	}
	return err
}

// Create writes the configuration of a new guest. It fails when any node
// has a guest (of any kind) with that id: ids are unique in the cluster.
func (r *Repo) Create(ctx context.Context, vmid int, f *File) (*Config, error) {
	if node, exists := r.GuestNode(vmid); exists {
		return nil, api.ParamError("vmid", "%s %d already exists on node '%s'", r.Noun, vmid, node)
	}
	_, err := r.Store.Apply(ctx, cfs.Write(r.Path(vmid), f.Bytes()).If(cfs.Cond{MustNotExist: true}))
	if errors.Is(err, cfs.ErrConflict) || errors.Is(err, cfs.ErrExist) {
		return nil, api.ParamError("vmid", "%s %d already exists", r.Noun, vmid)
	}
	if err != nil {
		return nil, err
	}
	return r.Load(vmid)
}

// GuestNode says which node has a guest (VM or container) with vmid.
func (r *Repo) GuestNode(vmid int) (string, bool) {
	guests, _ := List(r.Store) // a tree without nodes has no guests
	for _, g := range guests {
		if g.VMID == vmid {
			return g.Node, true
		}
	}
	return "", false
}

// Remove deletes a guest's configuration if it is still the one read.
func (r *Repo) Remove(ctx context.Context, c *Config) error {
	_, err := r.Store.Apply(ctx, cfs.Delete(r.Path(c.VMID)).If(cfs.Cond{Version: c.version}))
	return err
}

// CheckLock refuses to change a locked guest unless skip is given.
func (r *Repo) CheckLock(c *Config, skip bool) error {
	if l := c.Main().Value("lock"); l != "" && !skip {
		return api.Errorf(http.StatusInternalServerError, "%s is locked (%s)", r.Noun, l)
	}
	return nil
}

// CheckDigest compares the digest a client read with the current one.
func (r *Repo) CheckDigest(c *Config, digest string) error {
	if digest != "" && digest != c.Digest {
		return api.Errorf(http.StatusInternalServerError, "%s %d: the configuration file changed since it was read (digest mismatch); reload and try again", r.Noun, c.VMID)
	}
	return nil
}

// Edit loads, changes and saves a guest's configuration under its lock.
func (r *Repo) Edit(ctx context.Context, vmid int, fn func(c *Config) error) (*Config, error) {
	unlock := r.Lock(vmid)
	defer unlock()
	c, err := r.Load(vmid)
	if err != nil {
		return nil, err
	}
	if err := fn(c); err != nil {
		return nil, err
	}
	return c, r.Save(ctx, c)
}

// SetLock puts lock: <what> into the configuration; ClearLock removes it.
// Long operations (clone, snapshot, …) hold such a lock instead of the
// in-process mutex, so that other calls fail fast with "is locked"
// rather than waiting, and the lock survives a daemon restart visibly.
func (r *Repo) SetLock(ctx context.Context, vmid int, what string, skip bool) (*Config, error) {
	return r.Edit(ctx, vmid, func(c *Config) error {
		if err := r.CheckLock(c, skip); err != nil {
			return err
		}
		return c.Main().Set("lock", what)
	})
}

// ClearLock removes the lock SetLock put, and only that one.
func (r *Repo) ClearLock(ctx context.Context, vmid int, what string) error {
	_, err := r.Edit(ctx, vmid, func(c *Config) error {
		if l := c.Main().Value("lock"); l != what {
			return fmt.Errorf("%s %d: expected lock '%s', found '%s'", r.Noun, vmid, what, l)
		}
		c.Main().Delete("lock")
		return nil
	})
	return err
}
