package vm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
)

// conf is a VM's configuration as read from the cluster tree, with what
// is needed to write it back safely: the digest of the stored bytes (for
// the API's digest parameter) and the entry version (for the
// compare-and-set of the write).
type conf struct {
	VMID    int
	File    *guestconf.File
	Digest  string
	version uint64
}

// Main returns the current settings.
func (c *conf) Main() *guestconf.Section { return c.File.Main }

func (s *Service) confPath(vmid int) string {
	return "nodes/" + s.o.Node + "/qemu-server/" + strconv.Itoa(vmid) + ".conf"
}

// errNoConfig is the error of every call on a VM this node does not have;
// the text is Proxmox VE's, which scripts match on.
func (s *Service) errNoConfig(vmid int) error {
	return api.Errorf(http.StatusInternalServerError, "Configuration file '%s' does not exist", s.confPath(vmid))
}

// load reads a VM's configuration. Values that do not parse are dropped
// with a log line, as a hand-edited file should not make the VM
// unmanageable.
func (s *Service) load(vmid int) (*conf, error) {
	e, err := s.o.Store.Get(s.confPath(vmid))
	if errors.Is(err, cfs.ErrNotFound) {
		return nil, s.errNoConfig(vmid)
	}
	if err != nil {
		return nil, err
	}
	f, warnings, err := guestconf.Parse(guestconf.KindQemu, e.Data)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		s.o.Log.Warn("VM configuration", "vmid", vmid, "problem", w)
	}
	return &conf{VMID: vmid, File: f, Digest: guestconf.Digest(e.Data), version: e.Version}, nil
}

// save writes c back if nobody changed the file since it was read.
func (s *Service) save(ctx context.Context, c *conf) error {
	data := c.File.Bytes()
	_, err := s.o.Store.Apply(ctx, cfs.Write(s.confPath(c.VMID), data).If(cfs.Cond{Version: c.version}))
	if errors.Is(err, cfs.ErrConflict) {
		return api.Errorf(http.StatusInternalServerError, "VM %d: the configuration changed while it was being updated; try again", c.VMID)
	}
	if err != nil {
		return err
	}
	// The version of the new entry is not returned; read it back so that
	// the caller can keep working with c.
	e, err := s.o.Store.Get(s.confPath(c.VMID))
	if err == nil {
		c.version, c.Digest = e.Version, guestconf.Digest(e.Data)
	}
	return err
}

// createConf writes the configuration of a new VM. It fails when any
// node has a guest with that id: ids are unique in the cluster.
func (s *Service) createConf(ctx context.Context, vmid int, f *guestconf.File) (*conf, error) {
	if node, exists := s.guestNode(vmid); exists {
		return nil, api.ParamError("vmid", "VM %d already exists on node '%s'", vmid, node)
	}
	_, err := s.o.Store.Apply(ctx, cfs.Write(s.confPath(vmid), f.Bytes()).If(cfs.Cond{MustNotExist: true}))
	if errors.Is(err, cfs.ErrConflict) || errors.Is(err, cfs.ErrExist) {
		return nil, api.ParamError("vmid", "VM %d already exists", vmid)
	}
	if err != nil {
		return nil, err
	}
	return s.load(vmid)
}

// guestNode says which node has a guest (VM or container) with vmid.
func (s *Service) guestNode(vmid int) (string, bool) {
	guests, _ := guestconf.List(s.o.Store) // a tree without nodes has no guests
	for _, g := range guests {
		if g.VMID == vmid {
			return g.Node, true
		}
	}
	return "", false
}

// removeConf deletes a VM's configuration.
func (s *Service) removeConf(ctx context.Context, c *conf) error {
	_, err := s.o.Store.Apply(ctx, cfs.Delete(s.confPath(c.VMID)).If(cfs.Cond{Version: c.version}))
	return err
}

// checkLock refuses to change a locked VM unless skiplock is given.
func checkLock(c *conf, skip bool) error {
	if l := c.Main().Value("lock"); l != "" && !skip {
		return api.Errorf(http.StatusInternalServerError, "VM is locked (%s)", l)
	}
	return nil
}

// checkDigest compares the digest a client read with the current one.
func checkDigest(c *conf, digest string) error {
	if digest != "" && digest != c.Digest {
		return api.Errorf(http.StatusInternalServerError, "VM %d: the configuration file changed since it was read (digest mismatch); reload and try again", c.VMID)
	}
	return nil
}

// edit loads, changes and saves a VM's configuration under its lock.
func (s *Service) edit(ctx context.Context, vmid int, fn func(c *conf) error) (*conf, error) {
	unlock := s.lock(vmid)
	defer unlock()
	c, err := s.load(vmid)
	if err != nil {
		return nil, err
	}
	if err := fn(c); err != nil {
		return nil, err
	}
	return c, s.save(ctx, c)
}

// setLock puts lock: <what> into the configuration; clearLock removes it.
// Long operations (clone, snapshot, …) hold such a lock instead of the
// in-process mutex, so that other calls fail fast with "VM is locked"
// rather than waiting, and the lock survives a daemon restart visibly.
func (s *Service) setLock(ctx context.Context, vmid int, what string, skip bool) (*conf, error) {
	return s.edit(ctx, vmid, func(c *conf) error {
		if err := checkLock(c, skip); err != nil {
			return err
		}
		return c.Main().Set("lock", what)
	})
}

func (s *Service) clearLock(ctx context.Context, vmid int, what string) error {
	_, err := s.edit(ctx, vmid, func(c *conf) error {
		if l := c.Main().Value("lock"); l != what {
			return fmt.Errorf("VM %d: expected lock '%s', found '%s'", vmid, what, l)
		}
		c.Main().Delete("lock")
		return nil
	})
	return err
}
