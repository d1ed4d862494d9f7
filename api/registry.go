package api

import "slices"

// Version is GET /version.
var Version = Declare[NoParams, VersionInfo](Endpoint{
	Path: "/version", Method: "GET", Name: "version",
	Description: "Read the API version of the server, which clients use to decide what they may call.",
	Perm:        AnyUser(""), Returns: versionReturns(),
	CLI: []Command{{Tool: "pveversion", Cmd: ""}},
})

// All lists every declared endpoint. The daemon binds a handler to each;
// a test checks that none is missing from the router, the CLI or the
// OpenAPI document.
func All() []*Endpoint {
	return append([]*Endpoint{
		Version.E,
		// access
		AccessIndex.E, TicketForm.E, TicketCreate.E, DomainList.E,
		UserList.E, UserCreate.E, UserGet.E, UserUpdate.E, UserDelete.E, UserTFAGet.E, UserUnlockTFA.E,
		TokenList.E, TokenGet.E, TokenCreate.E, TokenUpdate.E, TokenDelete.E, PasswordChange.E, PermissionsGet.E,
		GroupList.E, GroupCreate.E, GroupGet.E, GroupUpdate.E, GroupDelete.E,
		RoleList.E, RoleCreate.E, RoleGet.E, RoleUpdate.E, RoleDelete.E, ACLGet.E, ACLUpdate.E,
		DomainCreate.E, DomainGet.E, DomainUpdate.E, DomainDelete.E, DomainSync.E,
		OpenIDIndex.E, OpenIDAuthURL.E, OpenIDLogin.E,
		TFAList.E, TFAUserList.E, TFAAdd.E, TFAGet.E, TFAUpdate.E, TFADelete.E,
		// pools
		PoolList.E, PoolCreate.E, PoolUpdate.E, PoolDelete.E, PoolGet.E, PoolUpdateOld.E, PoolDeleteOld.E,
		// cluster
		ClusterIndex.E, ClusterStatus.E, ClusterNextID.E, ClusterResources.E,
		ClusterOptionsGet.E, ClusterOptionsSet.E,
		// cluster configuration
		ClusterConfigIndex.E, ClusterCreate.E, ClusterNodes.E, ClusterAddNode.E, ClusterDelNode.E,
		ClusterJoinInfo.E, ClusterJoin.E, ClusterAPIVersion.E, ClusterTotem.E, ClusterExpected.E,
		ClusterQDeviceStatus.E, ClusterQDeviceSetup.E, ClusterQDeviceRemove.E, NodeCertificatesInfo.E,
		// nodes
		NodeList.E, NodeIndex.E, NodeStatusGet.E, NodeVersion.E, NodeTimeGet.E, NodeSyslog.E, NodeJournal.E,
		// network
		NetworkListGet.E, NetworkCreate.E, NetworkApply.E, NetworkRevert.E, NetworkGet.E, NetworkUpdate.E, NetworkDelete.E,
		NATStatusGet.E, NATLeases.E,
		// storage
		StorageList.E, StorageCreate.E, StorageGet.E, StorageUpdate.E, StorageDelete.E,
		NodeStorageList.E, NodeStorageIndex.E, NodeStorageStatus.E, ContentList.E, ContentAlloc.E,
		VolumeGet.E, VolumeUpdate.E, VolumeCopy.E, VolumeDelete.E, VolumePath.E,
		StorageUpload.E, StorageDownload.E, PruneList.E, PruneRun.E, ExtractConfig.E,
		// tasks
		TaskList.E, TaskIndex.E, TaskStop.E, TaskStatusGet.E, TaskLogGet.E,
	}, slices.Concat(QemuEndpoints(), ConsoleEndpoints(), LXCEndpoints())...)
}
