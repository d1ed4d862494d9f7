package privs

import (
	"sort"
	"strings"
)

// Names of the built-in roles.
const (
	RoleAdministrator     = "Administrator"
	RoleNoAccess          = "NoAccess"
	RolePVEAdmin          = "PVEAdmin"
	RolePVEAuditor        = "PVEAuditor"
	RolePVEDatastoreAdmin = "PVEDatastoreAdmin"
	RolePVEDatastoreUser  = "PVEDatastoreUser"
	RolePVEMappingAdmin   = "PVEMappingAdmin"
	RolePVEMappingUser    = "PVEMappingUser"
	RolePVEPoolAdmin      = "PVEPoolAdmin"
	RolePVEPoolUser       = "PVEPoolUser"
	RolePVESDNAdmin       = "PVESDNAdmin"
	RolePVESDNUser        = "PVESDNUser"
	RolePVESysAdmin       = "PVESysAdmin"
	RolePVETemplateUser   = "PVETemplateUser"
	RolePVEUserAdmin      = "PVEUserAdmin"
	RolePVEVMAdmin        = "PVEVMAdmin"
	RolePVEVMUser         = "PVEVMUser"
)

// ReservedRolePrefix starts every built-in role but the two special ones;
// custom roles may not use it.
const ReservedRolePrefix = "PVE"

// A category groups the privileges of one area by how much trust they
// need, the way Proxmox VE derives its built-in roles: the area's admin role
// gets admin+user+audit, its user role user+audit, PVEAdmin every area's
// admin+user+audit, PVEAuditor every area's audit. The root tier goes to
// Administrator only. Deriving the roles from one table keeps PVEAdmin and
// PVEAuditor consistent with the per-area roles; roles_test.go pins the
// resulting sets literally.
type category struct {
	root, admin, user, audit Set
	adminRole, userRole      string // empty where Proxmox VE has no such role
}

var categories = [...]category{
	{ // guests
		admin: mustSet(VMAllocate, VMClone, VMConfigCPU, VMConfigDisk, VMConfigHWType,
			VMConfigMemory, VMConfigNetwork, VMConfigOptions, VMMigrate, VMReplicate,
			VMSnapshot, VMSnapshotRollback,
			VMGuestAgentFileRead, VMGuestAgentFileWrite, VMGuestAgentUnrestricted),
		user: mustSet(VMBackup, VMConfigCDROM, VMConfigCloudinit, VMConsole, VMPowerMgmt,
			VMGuestAgentFileSystemMgmt),
		audit:     mustSet(VMAudit, VMGuestAgentAudit),
		adminRole: RolePVEVMAdmin, userRole: RolePVEVMUser,
	},
	{ // nodes and the cluster
		root:      mustSet(SysAccessNetwork, SysIncoming, SysModify, SysPowerMgmt),
		admin:     mustSet(SysConsole, SysSyslog),
		audit:     mustSet(SysAudit),
		adminRole: RolePVESysAdmin,
	},
	{ // storage
		admin:     mustSet(DatastoreAllocate, DatastoreAllocateTemplate),
		user:      mustSet(DatastoreAllocateSpace),
		audit:     mustSet(DatastoreAudit),
		adminRole: RolePVEDatastoreAdmin, userRole: RolePVEDatastoreUser,
	},
	{ // software-defined networking
		admin:     mustSet(SDNAllocate, SDNAudit),
		user:      mustSet(SDNUse),
		audit:     mustSet(SDNAudit),
		adminRole: RolePVESDNAdmin, userRole: RolePVESDNUser,
	},
	{ // users, groups and realms
		root:      mustSet(RealmAllocate),
		admin:     mustSet(GroupAllocate, RealmAllocateUser, UserModify),
		adminRole: RolePVEUserAdmin,
	},
	{ // resource pools
		admin:     mustSet(PoolAllocate),
		audit:     mustSet(PoolAudit),
		adminRole: RolePVEPoolAdmin, userRole: RolePVEPoolUser,
	},
	{ // resource mappings (PCI/USB/directories)
		admin:     mustSet(MappingModify),
		user:      mustSet(MappingUse),
		audit:     mustSet(MappingAudit),
		adminRole: RolePVEMappingAdmin, userRole: RolePVEMappingUser,
	},
	// Permissions.Modify belongs to no category: only Administrator has it.
}

type builtin struct {
	name  string
	privs Set
}

// builtins is sorted by name; computed once from categories, never modified.
var builtins = buildBuiltins()

func buildBuiltins() []builtin {
	var admin, auditor Set
	var out []builtin
	for _, c := range categories {
		all := c.admin | c.user | c.audit
		admin |= all
		auditor |= c.audit
		if c.adminRole != "" {
			out = append(out, builtin{c.adminRole, all})
		}
		if c.userRole != "" {
			out = append(out, builtin{c.userRole, c.user | c.audit})
		}
	}
	out = append(out,
		builtin{RoleAdministrator, fullSet},
		builtin{RoleNoAccess, 0},
		builtin{RolePVEAdmin, admin},
		builtin{RolePVEAuditor, auditor},
		builtin{RolePVETemplateUser, mustSet(VMAudit, VMClone)},
	)
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func findBuiltin(name string) (Set, bool) {
	i := sort.Search(len(builtins), func(i int) bool { return builtins[i].name >= name })
	if i < len(builtins) && builtins[i].name == name {
		return builtins[i].privs, true
	}
	return 0, false
}

// BuiltinRole returns the sorted privileges of a built-in role.
func BuiltinRole(name string) ([]string, bool) {
	s, ok := findBuiltin(name)
	if !ok {
		return nil, false
	}
	return s.Names(), true
}

// BuiltinSet returns the privileges of a built-in role as a Set.
func BuiltinSet(name string) (Set, bool) { return findBuiltin(name) }

// IsBuiltin reports whether name is a built-in role. Built-in roles are
// never written to user.cfg and cannot be changed or deleted.
func IsBuiltin(name string) bool {
	_, ok := findBuiltin(name)
	return ok
}

// BuiltinRoles returns the names of all built-in roles, sorted.
func BuiltinRoles() []string {
	out := make([]string, len(builtins))
	for i, b := range builtins {
		out[i] = b.name
	}
	return out
}

// IsReserved reports whether a custom role may not be created under this
// name: built-in names and the PVE prefix are reserved.
func IsReserved(name string) bool {
	return IsBuiltin(name) || strings.HasPrefix(name, ReservedRolePrefix)
}
