package vm

import (
	"context"

	"github.com/hearth-virt/hearth/internal/guestconf"
)

// conf is a VM's configuration with what is needed to write it back
// safely; the cluster-tree side lives in guestconf.Repo, shared with
// containers.
type conf = guestconf.Config

func (s *Service) load(vmid int) (*conf, error)      { return s.repo.Load(vmid) }
func (s *Service) lock(vmid int) func()              { return s.repo.Lock(vmid) }
func (s *Service) guestNode(vmid int) (string, bool) { return s.repo.GuestNode(vmid) }

func (s *Service) save(ctx context.Context, c *conf) error { return s.repo.Save(ctx, c) }

func (s *Service) createConf(ctx context.Context, vmid int, f *guestconf.File) (*conf, error) {
	return s.repo.Create(ctx, vmid, f)
}

func (s *Service) removeConf(ctx context.Context, c *conf) error { return s.repo.Remove(ctx, c) }

// checkLock refuses to change a locked VM unless skiplock is given.
func checkLock(c *conf, skip bool) error { return vmRepoMessages.CheckLock(c, skip) }

// checkDigest compares the digest a client read with the current one.
func checkDigest(c *conf, digest string) error { return vmRepoMessages.CheckDigest(c, digest) }

// vmRepoMessages words the lock and digest errors of checkLock and
// checkDigest, which need no store.
var vmRepoMessages = &guestconf.Repo{Noun: "VM"}

func (s *Service) edit(ctx context.Context, vmid int, fn func(c *conf) error) (*conf, error) {
	return s.repo.Edit(ctx, vmid, fn)
}

func (s *Service) setLock(ctx context.Context, vmid int, what string, skip bool) (*conf, error) {
	return s.repo.SetLock(ctx, vmid, what, skip)
}

func (s *Service) clearLock(ctx context.Context, vmid int, what string) error {
	return s.repo.ClearLock(ctx, vmid, what)
}
