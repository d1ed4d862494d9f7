// Package netfs is what the network file system storage types (nfs,
// cifs, cephfs, glusterfs) share: reading /proc/self/mountinfo, the mount
// point rules, files holding secrets for mount helpers, and FS, a
// directory store on a mount point that mounts its file system on
// activation, unmounts on deactivation and reports an unreachable server
// as an inactive storage with the reason. Each type supplies a Mounter
// with its own commands.
package netfs
