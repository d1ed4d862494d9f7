package access

import (
	"context"
	"errors"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

var errPending = errors.New("not yet")

func (s *Service) validateRealm(ctx context.Context, sec *sectioncfg.Section, secret string, check bool) error {
	return nil
}
func (s *Service) syncDomain(ctx context.Context, c *api.Call, in *api.RealmSyncParams) (api.Task, error) {
	return api.Task{}, errPending
}
func (s *Service) directoryLogin(ctx context.Context, sec *sectioncfg.Section, name, password string) error {
	return errPending
}
