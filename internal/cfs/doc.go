// Package cfs keeps Hearth's cluster configuration tree, the counterpart of
// the /etc/pve file system of Proxmox VE: a small tree of files and
// directories that is the same on every node. Changes are transactions of
// file operations, optionally guarded by version or digest preconditions,
// that go through hashicorp/raft and are applied by a deterministic state
// machine to an in-memory tree, so every node serves reads from its own
// memory and sees its own writes as soon as they return. The raft log and
// stable state live in a bolt file and the tree is snapshotted as a whole;
// a node alone is simply a cluster with one voter, running the same code a
// larger cluster does. Followers hand writes and membership changes to the
// leader (Config.Forward) and wait until they have applied the result, so
// every node reads its own writes; Sync makes a read linearizable. Without
// a leader the tree stays readable but refuses writes, watchers learn of
// changes through per-watcher bounded queues, sizes are capped per file and
// in total, and cluster-wide locks with expiry are compare-and-set files
// under priv/lock.
package cfs
