package access

import (
	"context"
	"errors"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

var errTFA = errors.New("tfa")

type tfaLock struct {
	until *int64
	totp  *int
}

func (s *Service) tfaLocks(st *state) map[string]tfaLock { return nil }
func (t *txn) dropTFA(string) error                      { return nil }
func (s *Service) tfaChallenge(st *state, userid string) (string, bool, error) {
	return "", false, nil
}
func (s *Service) tfaVerify(ctx context.Context, userid, response string) error { return errTFA }
func (s *Service) directoryLogin(ctx context.Context, sec *sectioncfg.Section, name, password string) error {
	return errTFA
}
func (s *Service) validateRealm(ctx context.Context, sec *sectioncfg.Section, secret string, check bool) error {
	return nil
}
func (s *Service) syncDomain(ctx context.Context, c *api.Call, in *api.RealmSyncParams) (api.Task, error) {
	return api.Task{}, errTFA
}
func (s *Service) userTFATypes(ctx context.Context, c *api.Call, in *api.UserTFAParams) (api.UserTFA, error) {
	return api.UserTFA{}, nil
}
func (s *Service) unlockTFA(ctx context.Context, c *api.Call, in *api.UserIDParam) (int, error) {
	return 0, nil
}
func (s *Service) openIDAuthURL(ctx context.Context, c *api.Call, in *api.OpenIDAuthParams) (string, error) {
	return "", nil
}
func (s *Service) openIDLogin(ctx context.Context, c *api.Call, in *api.OpenIDLoginParams) (api.Ticket, error) {
	return api.Ticket{}, nil
}
func (s *Service) listTFA(ctx context.Context, c *api.Call, in *api.NoParams) ([]api.TFAUserEntries, error) {
	return nil, nil
}
func (s *Service) listUserTFA(ctx context.Context, c *api.Call, in *api.TFAUserParam) ([]api.TFAEntry, error) {
	return nil, nil
}
func (s *Service) addTFA(ctx context.Context, c *api.Call, in *api.TFAAddParams) (api.TFAAdded, error) {
	return api.TFAAdded{}, nil
}
func (s *Service) getTFA(ctx context.Context, c *api.Call, in *api.TFAKey) (api.TFAEntry, error) {
	return api.TFAEntry{}, nil
}
func (s *Service) updateTFA(ctx context.Context, c *api.Call, in *api.TFAEntryParams) (any, error) {
	return nil, nil
}
func (s *Service) deleteTFA(ctx context.Context, c *api.Call, in *api.TFADeleteParams) (any, error) {
	return nil, nil
}
