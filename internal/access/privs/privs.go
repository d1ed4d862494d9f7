package privs

import "sort"

// Privilege names, spelled as Proxmox VE spells them. The API declares its
// permission rules with these constants so a typo fails to compile.
const (
	DatastoreAllocate         = "Datastore.Allocate"
	DatastoreAllocateSpace    = "Datastore.AllocateSpace"
	DatastoreAllocateTemplate = "Datastore.AllocateTemplate"
	DatastoreAudit            = "Datastore.Audit"

	GroupAllocate = "Group.Allocate"

	MappingAudit  = "Mapping.Audit"
	MappingModify = "Mapping.Modify"
	MappingUse    = "Mapping.Use"

	PermissionsModify = "Permissions.Modify"

	PoolAllocate = "Pool.Allocate"
	PoolAudit    = "Pool.Audit"

	RealmAllocate     = "Realm.Allocate"
	RealmAllocateUser = "Realm.AllocateUser"

	SDNAllocate = "SDN.Allocate"
	SDNAudit    = "SDN.Audit"
	SDNUse      = "SDN.Use"

	// SysAccessNetwork is missing from the privilege list of the admin
	// guide but is a real Proxmox VE privilege: the API schema requires it
	// for downloads from arbitrary URLs, and Proxmox VE accepts it in roles.
	SysAccessNetwork = "Sys.AccessNetwork"
	SysAudit         = "Sys.Audit"
	SysConsole       = "Sys.Console"
	SysIncoming      = "Sys.Incoming"
	SysModify        = "Sys.Modify"
	SysPowerMgmt     = "Sys.PowerMgmt"
	SysSyslog        = "Sys.Syslog"

	UserModify = "User.Modify"

	VMAllocate                 = "VM.Allocate"
	VMAudit                    = "VM.Audit"
	VMBackup                   = "VM.Backup"
	VMClone                    = "VM.Clone"
	VMConfigCDROM              = "VM.Config.CDROM"
	VMConfigCPU                = "VM.Config.CPU"
	VMConfigCloudinit          = "VM.Config.Cloudinit"
	VMConfigDisk               = "VM.Config.Disk"
	VMConfigHWType             = "VM.Config.HWType"
	VMConfigMemory             = "VM.Config.Memory"
	VMConfigNetwork            = "VM.Config.Network"
	VMConfigOptions            = "VM.Config.Options"
	VMConsole                  = "VM.Console"
	VMGuestAgentAudit          = "VM.GuestAgent.Audit"
	VMGuestAgentFileRead       = "VM.GuestAgent.FileRead"
	VMGuestAgentFileSystemMgmt = "VM.GuestAgent.FileSystemMgmt"
	VMGuestAgentFileWrite      = "VM.GuestAgent.FileWrite"
	VMGuestAgentUnrestricted   = "VM.GuestAgent.Unrestricted"
	VMMigrate                  = "VM.Migrate"
	VMPowerMgmt                = "VM.PowerMgmt"
	VMReplicate                = "VM.Replicate"
	VMSnapshot                 = "VM.Snapshot"
	VMSnapshotRollback         = "VM.Snapshot.Rollback"
)

// names lists every privilege in byte order; a privilege's index here is
// its bit in a Set, so Set.Names comes out sorted the way Proxmox VE sorts
// privilege lists when it writes user.cfg. Never modified.
var names = [...]string{
	DatastoreAllocate,
	DatastoreAllocateSpace,
	DatastoreAllocateTemplate,
	DatastoreAudit,
	GroupAllocate,
	MappingAudit,
	MappingModify,
	MappingUse,
	PermissionsModify,
	PoolAllocate,
	PoolAudit,
	RealmAllocate,
	RealmAllocateUser,
	SDNAllocate,
	SDNAudit,
	SDNUse,
	SysAccessNetwork,
	SysAudit,
	SysConsole,
	SysIncoming,
	SysModify,
	SysPowerMgmt,
	SysSyslog,
	UserModify,
	VMAllocate,
	VMAudit,
	VMBackup,
	VMClone,
	VMConfigCDROM,
	VMConfigCPU,
	VMConfigCloudinit,
	VMConfigDisk,
	VMConfigHWType,
	VMConfigMemory,
	VMConfigNetwork,
	VMConfigOptions,
	VMConsole,
	VMGuestAgentAudit,
	VMGuestAgentFileRead,
	VMGuestAgentFileSystemMgmt,
	VMGuestAgentFileWrite,
	VMGuestAgentUnrestricted,
	VMMigrate,
	VMPowerMgmt,
	VMReplicate,
	VMSnapshot,
	VMSnapshotRollback,
}

// A Set is a bitset over 64 bits; this fails to compile if the table outgrows it.
var _ = [64 - len(names)]struct{}{}

// index returns the bit of a privilege, or -1 for an unknown name.
func index(name string) int {
	i := sort.SearchStrings(names[:], name)
	if i < len(names) && names[i] == name {
		return i
	}
	return -1
}

// Valid reports whether name is a known privilege.
func Valid(name string) bool { return index(name) >= 0 }

// All returns every privilege name, sorted. The slice is a fresh copy.
func All() []string {
	out := make([]string, len(names))
	copy(out, names[:])
	return out
}
