package schema

// Standard parameters used by many endpoints, defined once. Each call
// returns a fresh copy, so callers may adjust it (Opt, Desc) freely.

// Node is the name of a cluster node.
func Node() Schema {
	return Schema{Type: String, Format: "pve-node", Description: "Name of the cluster node."}
}

// VMID is a guest id.
func VMID() Schema {
	return Schema{Type: Integer, Format: "pve-vmid", Minimum: F(VMIDMin), Maximum: F(VMIDMax),
		Description: "Numeric id of the guest, unique in the cluster."}
}

// StorageID is the name of a storage definition.
func StorageID() Schema {
	return Schema{Type: String, Format: "pve-storage-id", Description: "Name of the storage."}
}

// UserID is a user id such as admin@pve.
func UserID() Schema {
	return Schema{Type: String, Format: "pve-userid", MaxLength: 64,
		Description: "User id, as <name>@<realm>."}
}

// Realm is an authentication realm id.
func Realm() Schema {
	return Schema{Type: String, Format: "pve-realm", MaxLength: 32,
		Description: "Authentication realm (domain) id."}
}

// UPID is a task id.
func UPID() Schema {
	return Schema{Type: String, Format: "pve-upid", MaxLength: 512,
		Description: "Task id (UPID)."}
}

// Digest is the SHA-1 of a config file, for optimistic locking.
func Digest() Schema {
	return Schema{Type: String, MaxLength: 64, Optional: true,
		Description: "Refuse the change if the file changed since its digest (SHA-1) was read; protects against concurrent edits."}.WithPattern(`[0-9a-fA-F]{40,64}`)
}
