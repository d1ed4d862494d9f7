package access

import (
	"context"

	"github.com/hearth-virt/hearth/api"
)

// Routes binds the access endpoints served by this package.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		api.TicketCreate.Handle(s.login),
		api.TicketForm.Handle(func(context.Context, *api.Call, *api.NoParams) (any, error) { return nil, nil }),
		api.DomainList.Handle(s.listDomains),
		api.DomainCreate.Handle(s.createDomain),
		api.DomainGet.Handle(s.getDomain),
		api.DomainUpdate.Handle(s.updateDomain),
		api.DomainDelete.Handle(s.deleteDomain),
		api.DomainSync.Handle(s.syncDomain),

		api.UserList.Handle(s.listUsers),
		api.UserCreate.Handle(s.createUser),
		api.UserGet.Handle(s.getUser),
		api.UserUpdate.Handle(s.updateUser),
		api.UserDelete.Handle(s.deleteUser),
		api.UserTFAGet.Handle(s.userTFATypes),
		api.UserUnlockTFA.Handle(s.unlockTFA),
		api.TokenList.Handle(s.listTokens),
		api.TokenGet.Handle(s.getToken),
		api.TokenCreate.Handle(s.createToken),
		api.TokenUpdate.Handle(s.updateToken),
		api.TokenDelete.Handle(s.deleteToken),
		api.PasswordChange.Handle(s.changePassword),
		api.PermissionsGet.Handle(s.permissions),

		api.GroupList.Handle(s.listGroups),
		api.GroupCreate.Handle(s.createGroup),
		api.GroupGet.Handle(s.getGroup),
		api.GroupUpdate.Handle(s.updateGroup),
		api.GroupDelete.Handle(s.deleteGroup),
		api.RoleList.Handle(s.listRoles),
		api.RoleCreate.Handle(s.createRole),
		api.RoleGet.Handle(s.getRole),
		api.RoleUpdate.Handle(s.updateRole),
		api.RoleDelete.Handle(s.deleteRole),
		api.ACLGet.Handle(s.readACL),
		api.ACLUpdate.Handle(s.updateACL),

		api.OpenIDIndex.Handle(func(context.Context, *api.Call, *api.NoParams) ([]api.Child, error) {
			return []api.Child{{Subdir: "auth-url"}, {Subdir: "login"}}, nil
		}),
		api.OpenIDAuthURL.Handle(s.openIDAuthURL),
		api.OpenIDLogin.Handle(s.openIDLogin),

		api.TFAList.Handle(s.listTFA),
		api.TFAUserList.Handle(s.listUserTFA),
		api.TFAAdd.Handle(s.addTFA),
		api.TFAGet.Handle(s.getTFA),
		api.TFAUpdate.Handle(s.updateTFA),
		api.TFADelete.Handle(s.deleteTFA),

		api.PoolList.Handle(s.listPools),
		api.PoolCreate.Handle(s.createPool),
		api.PoolUpdate.Handle(s.updatePool),
		api.PoolDelete.Handle(s.deletePool),
		api.PoolGet.Handle(s.getPool),
		api.PoolUpdateOld.Handle(s.updatePool),
		api.PoolDeleteOld.Handle(s.deletePool),
	}
}
